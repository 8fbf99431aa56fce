//! The lines of a cart, kept up to date as its document changes (a materialized view).
//!
//! Reading the lines from the document means walking every root key and every details record:
//! cheap for five lines, tens of milliseconds for five hundred, and the cart needs them on every
//! add (the line limit, the ordering stamp) and every listing. So the cart keeps this view, and
//! after each change refreshes only the skus the change touched ([`touched_sku`] of each of
//! Automerge's patches): an add, a merge of another device's edits, a sync message or a load
//! costs what it changes, not what the cart holds.
//!
//! The view holds exactly what a fresh read of the document gives ([`View::read`]); the property
//! tests in `tests/merge_properties.rs` check that after every operation and merge.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::{ObjType, Patch, PatchAction, Prop, ReadDoc, Value, ROOT};

use crate::schema::{self, as_int};

/// The details record of one line (`item:<sku>`), as far as it is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Details {
    pub name: String,
    pub unit_price: i64,
    pub currency: String,
    pub image_url: Option<String>,
    pub variant: Option<String>,
    pub added_at: i64,
}

/// Sum of the lines of one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Sum {
    lines: usize,
    amount: i128,
}

/// The cart's lines and what is derived from them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct View {
    /// `set:<sku>` plus the add entries of every sku where that is not 0. Only a schema
    /// violation makes one negative; keeping it exact lets local edits update it by delta.
    quantities: HashMap<String, i64>,
    /// How many of `quantities` are above zero: the lines the line limit counts (a line whose
    /// details record is missing or invalid counts, though it is not shown).
    positive: usize,
    /// The details of every sku whose quantity is above zero and whose record is valid.
    details: HashMap<String, Details>,
    /// The shown lines (a quantity above zero and valid details) in listing order.
    order: BTreeSet<(i64, String)>,
    /// Units of the shown lines.
    item_count: i128,
    /// Line totals of the shown lines, per currency.
    totals: BTreeMap<String, Sum>,
}

/// A shown line: its quantity and details.
pub(crate) struct LineRef<'a> {
    pub sku: &'a str,
    pub quantity: i64,
    pub details: &'a Details,
}

impl View {
    /// The view of `doc`, read in full.
    pub fn read<D: ReadDoc>(doc: &D) -> View {
        let mut view = View::default();
        for (sku, quantity) in schema::sums(doc) {
            let details = if quantity > 0 {
                read_details(doc, &sku)
            } else {
                None
            };
            view.put(sku, quantity, details);
        }
        view
    }

    /// Reads `sku` again from `doc`, replacing what the view held for it.
    pub fn refresh<D: ReadDoc>(&mut self, doc: &D, sku: &str) {
        self.take(sku);
        let quantity = schema::quantity(doc, sku);
        let details = if quantity > 0 {
            read_details(doc, sku)
        } else {
            None
        };
        self.put(sku.to_owned(), quantity, details);
    }

    /// Applies Automerge's `patches` (what changes made elsewhere did to the document, now
    /// `doc`): every sku they touch is read again.
    pub fn apply<D: ReadDoc>(&mut self, doc: &D, patches: &[Patch]) {
        let touched: BTreeSet<&str> = patches.iter().filter_map(touched_sku).collect();
        for sku in touched {
            self.refresh(doc, sku);
        }
    }

    /// This replica wrote a new add entry of `quantity` for `sku`, and `details` when it wrote
    /// a new details record too. The view follows without reading the document.
    pub fn added(&mut self, sku: &str, quantity: i64, details: Option<Details>) {
        let (before, old) = self.take(sku);
        self.put(
            sku.to_owned(),
            before.saturating_add(quantity),
            details.or(old),
        );
    }

    /// This replica deleted every add entry of `sku` it saw and wrote `set:<sku>` = `quantity`,
    /// so `quantity` is the line's quantity now; `doc` is read only for details the view did
    /// not keep (a line that was at or below zero and comes back).
    pub fn quantity_set<D: ReadDoc>(&mut self, doc: &D, sku: &str, quantity: i64) {
        let (_, details) = self.take(sku);
        let details = match details {
            Some(d) if quantity > 0 => Some(d),
            None if quantity > 0 => read_details(doc, sku),
            _ => None,
        };
        self.put(sku.to_owned(), quantity, details);
    }

    /// The quantity of `sku`: `set:<sku>` plus its add entries, 0 when it has none.
    pub fn quantity(&self, sku: &str) -> i64 {
        self.quantities.get(sku).copied().unwrap_or(0)
    }

    /// The details of `sku`, when its quantity is above zero and its record is valid.
    pub fn details(&self, sku: &str) -> Option<&Details> {
        self.details.get(sku)
    }

    /// The skus whose quantity is above zero (the lines the line limit counts), in no order.
    pub fn skus(&self) -> impl Iterator<Item = &str> {
        self.quantities
            .iter()
            .filter(|(_, q)| **q > 0)
            .map(|(sku, _)| sku.as_str())
    }

    /// How many skus have a quantity above zero.
    pub fn line_count(&self) -> usize {
        self.positive
    }

    /// The shown lines, first added first (ties by sku).
    pub fn lines(&self) -> impl Iterator<Item = LineRef<'_>> {
        self.order.iter().filter_map(|(_, sku)| {
            Some(LineRef {
                sku,
                quantity: *self.quantities.get(sku)?,
                details: self.details.get(sku)?,
            })
        })
    }

    /// The latest `addedAt` of the shown lines.
    pub fn latest_added_at(&self) -> Option<i64> {
        self.order.last().map(|(added_at, _)| *added_at)
    }

    /// Units of the shown lines.
    pub fn item_count(&self) -> i64 {
        clamp(self.item_count)
    }

    /// The sum of the shown lines per currency, ordered by currency code.
    pub fn totals(&self) -> impl Iterator<Item = (&str, i64)> {
        self.totals
            .iter()
            .map(|(currency, sum)| (currency.as_str(), clamp(sum.amount)))
    }

    /// Puts `sku` in with `quantity` and, when the quantity is above zero, `details`.
    fn put(&mut self, sku: String, quantity: i64, details: Option<Details>) {
        if quantity == 0 {
            return;
        }
        if quantity > 0 {
            self.positive += 1;
            if let Some(d) = details {
                self.order.insert((d.added_at, sku.clone()));
                self.item_count += i128::from(quantity);
                let sum = self.totals.entry(d.currency.clone()).or_default();
                sum.lines += 1;
                sum.amount += line_total(d.unit_price, quantity);
                self.details.insert(sku.clone(), d);
            }
        }
        self.quantities.insert(sku, quantity);
    }

    /// Takes `sku` out; returns its quantity (0 when it had none) and details.
    fn take(&mut self, sku: &str) -> (i64, Option<Details>) {
        let Some(quantity) = self.quantities.remove(sku) else {
            return (0, None);
        };
        if quantity > 0 {
            self.positive -= 1;
        }
        let Some(d) = self.details.remove(sku) else {
            return (quantity, None);
        };
        self.order.remove(&(d.added_at, sku.to_owned()));
        self.item_count -= i128::from(quantity);
        if let Some(sum) = self.totals.get_mut(&d.currency) {
            sum.lines -= 1;
            sum.amount -= line_total(d.unit_price, quantity);
            if sum.lines == 0 {
                self.totals.remove(&d.currency);
            }
        }
        (quantity, Some(d))
    }
}

/// `unit_price * quantity`, exact: sums are kept in `i128` and clamped only when read, so that
/// removing a line takes away exactly what adding it put in.
fn line_total(unit_price: i64, quantity: i64) -> i128 {
    i128::from(unit_price) * i128::from(quantity)
}

fn clamp(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

/// The sku whose line `patch` may have changed: the root key it touches (`item:<sku>`,
/// `set:<sku>`, `add:<sku>#<tag>`), directly or inside that key's details record. `None` for
/// the schema keys and keys outside the schema.
pub(crate) fn touched_sku(patch: &Patch) -> Option<&str> {
    let key = match patch.path.first() {
        Some((_, Prop::Map(key))) => key.as_str(),
        Some((_, Prop::Seq(_))) => return None,
        None => match &patch.action {
            PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => key.as_str(),
            PatchAction::Conflict {
                prop: Prop::Map(key),
            }
            | PatchAction::Increment {
                prop: Prop::Map(key),
                ..
            } => key.as_str(),
            _ => return None,
        },
    };
    key.strip_prefix(schema::ITEM_PREFIX)
        .or_else(|| schema::sku_of_quantity_key(key))
}

/// The details record of `sku` in `doc`, when it is there and valid enough to show. Reads the
/// record in one pass over its keys (a lookup per field costs several times more, and a cold
/// start reads every record).
pub(crate) fn read_details<D: ReadDoc>(doc: &D, sku: &str) -> Option<Details> {
    let (Value::Object(ObjType::Map), record) = doc.get(ROOT, schema::item_key(sku)).ok()?? else {
        return None;
    };
    let (mut name, mut unit_price, mut currency) = (None, None, None);
    let (mut image_url, mut variant, mut added_at) = (None, None, None);
    for entry in doc.map_range(&record, ..) {
        let value: Value<'_> = entry.value.clone().into();
        let text = || schema::string_value(doc, &value, &entry.id());
        match entry.key.as_ref() {
            schema::NAME => name = text(),
            schema::UNIT_PRICE => unit_price = as_int(&value),
            schema::CURRENCY => currency = text(),
            schema::IMAGE_URL => image_url = text(),
            schema::VARIANT => variant = text(),
            schema::ADDED_AT => added_at = as_int(&value),
            _ => {}
        }
    }
    Some(Details {
        name: name?,
        unit_price: unit_price?,
        currency: currency?,
        image_url,
        variant,
        added_at: added_at.unwrap_or(0),
    })
}
