//! The cart document schema, version 1: every key the document uses, and [`check_document`],
//! which tells whether a document is a valid cart.
//!
//! All keys live directly on the document root; the only nested objects are item details
//! records, which are replaced whole and never edited in place:
//!
//! ```text
//! ROOT
//!   "schema"            : int = 1   schema version, written with the first change
//!   "cartId"            : str       bs58check id of this cart, written with the first change
//!
//! Every "str" may also be a text object: JavaScript's `@automerge/automerge` stores plain
//! JS strings that way, and readers accept both.
//!
//!   "item:<sku>"        : map       item details, replaced whole, last writer wins:
//!                                   name, unitPrice (int, minor units), currency (ISO 4217),
//!                                   imageUrl?, variant?, addedAt (int, ms; orders the lines)
//!   "add:<sku>#<tag>"   : int       one entry per add (observed-remove set), 1..=999
//!   "set:<sku>"         : int       explicit quantity register, 0..=999, last writer wins
//! ```
//!
//! The quantity of a line is `set:<sku>` (0 when absent) plus every `add:<sku>#…` entry. A line
//! is shown while its quantity is above zero. Setting a quantity or removing a line deletes the
//! add entries the writer has seen and writes `set:<sku>`; adds it has not seen survive the
//! merge, so no offline add is ever lost and a removed quantity never resurfaces.
//!
//! Why flat: Automerge keeps only one of two objects put at the same key concurrently, so a
//! per-line or per-cart container created on two offline devices would hide one device's adds.
//! The root always exists, every add has its own key, and so nothing can be hidden that way.
//! Any Automerge client (for example `@automerge/automerge` in JavaScript) can create and edit
//! a cart by writing these keys.

use std::collections::BTreeMap;

use automerge::iter::MapRangeItem;
use automerge::{ObjId, ObjType, ReadDoc, ScalarValue, Value, ROOT};

use crate::cart_id::CartId;
use crate::error::{CartError, ErrorCode};
use crate::validate;

/// The schema version this crate reads and writes.
pub const SCHEMA_VERSION: i64 = 1;

/// Root key: the schema version (int).
pub const SCHEMA: &str = "schema";
/// Root key: the cart id (str).
pub const CART_ID: &str = "cartId";
/// Root key prefix of item details records: `item:<sku>`.
pub const ITEM_PREFIX: &str = "item:";
/// Root key prefix of add entries: `add:<sku>#<tag>`.
pub const ADD_PREFIX: &str = "add:";
/// Root key prefix of explicit quantities: `set:<sku>`.
pub const SET_PREFIX: &str = "set:";

/// Details record key: display name (str).
pub const NAME: &str = "name";
/// Details record key: unit price in minor units (int).
pub const UNIT_PRICE: &str = "unitPrice";
/// Details record key: ISO 4217 currency code (str).
pub const CURRENCY: &str = "currency";
/// Details record key: optional image URL (str).
pub const IMAGE_URL: &str = "imageUrl";
/// Details record key: optional variant label (str).
pub const VARIANT: &str = "variant";
/// Details record key: when the line was (re)added, ms since the epoch (int); orders the lines.
pub const ADDED_AT: &str = "addedAt";

/// Separates the sku from the unique tag in an add key. Skus may contain it: the tag is
/// everything after the last separator and never contains one.
pub const TAG_SEPARATOR: char = '#';

/// The root key of the details record of `sku`.
pub fn item_key(sku: &str) -> String {
    format!("{ITEM_PREFIX}{sku}")
}

/// The root key of the explicit quantity of `sku`.
pub fn set_key(sku: &str) -> String {
    format!("{SET_PREFIX}{sku}")
}

/// The root key of one add entry of `sku` with the unique `tag`.
pub fn add_key(sku: &str, tag: &str) -> String {
    format!("{ADD_PREFIX}{sku}{TAG_SEPARATOR}{tag}")
}

/// The range of root keys that holds every add entry of `sku` (and possibly entries of skus
/// that extend it with `#…`, which [`sku_of_add_key`] tells apart).
pub fn add_keys_of(sku: &str) -> std::ops::Range<String> {
    let after_separator = char::from(TAG_SEPARATOR as u8 + 1);
    add_key(sku, "")..format!("{ADD_PREFIX}{sku}{after_separator}")
}

/// The range of root keys that starts with `prefix`.
pub fn keys_with_prefix(prefix: &str) -> std::ops::Range<String> {
    let mut end = prefix.to_string();
    // Every prefix here ends in ':'; the next character bounds the range.
    if let Some(last) = end.pop() {
        end.push(char::from_u32(last as u32 + 1).unwrap_or(char::MAX));
    }
    prefix.to_string()..end
}

/// The sku of an add key (`add:<sku>#<tag>`), or `None` when the key is not one.
pub fn sku_of_add_key(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(ADD_PREFIX)?;
    rest.rsplit_once(TAG_SEPARATOR).map(|(sku, _)| sku)
}

/// The `add:` entries of exactly `sku` in `doc`: the key range of its adds, less the skus that
/// only extend it (`A#2` when asked for `A`).
pub fn add_entries<'a, D: ReadDoc>(
    doc: &'a D,
    sku: &'a str,
) -> impl Iterator<Item = MapRangeItem<'a>> + 'a {
    doc.map_range(ROOT, add_keys_of(sku))
        .filter(move |entry| sku_of_add_key(&entry.key) == Some(sku))
}

/// Reads an integer that any Automerge implementation may have written: int, uint, or a float
/// with no fraction (JavaScript numbers).
pub fn as_int(value: &Value<'_>) -> Option<i64> {
    match value {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Int(i) => Some(*i),
            ScalarValue::Uint(u) => i64::try_from(*u).ok(),
            ScalarValue::F64(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            _ => None,
        },
        Value::Object(_) => None,
    }
}

/// Reads a string: a plain string, or a text object, which is how `@automerge/automerge` in
/// JavaScript stores an ordinary JS string. `id` is the id [`ReadDoc::get`] or a map range gave with
/// `value`.
pub(crate) fn string_value<D: ReadDoc>(doc: &D, value: &Value<'_>, id: &ObjId) -> Option<String> {
    match value {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(text) => Some(text.to_string()),
            _ => None,
        },
        Value::Object(ObjType::Text) => doc.text(id).ok(),
        Value::Object(_) => None,
    }
}

/// The quantity entries among the `set:` keys in `sets` and the `add:` keys in `adds` of
/// `doc`'s root, as (sku, value); the winning value of each key, non-integers skipped.
/// [`sums`] reads every entry, [`quantity`] the entries of one sku: one rule for both.
fn quantity_entries<'a, D: ReadDoc>(
    doc: &'a D,
    sets: impl std::ops::RangeBounds<String> + 'a,
    adds: impl std::ops::RangeBounds<String> + 'a,
) -> impl Iterator<Item = (String, i64)> + 'a {
    let sets = doc
        .map_range(ROOT, sets)
        .filter_map(|entry| Some((entry.key.strip_prefix(SET_PREFIX)?.to_owned(), entry)));
    let adds = doc
        .map_range(ROOT, adds)
        .filter_map(|entry| Some((sku_of_add_key(&entry.key)?.to_owned(), entry)));
    sets.chain(adds)
        .filter_map(|(sku, entry)| Some((sku, as_int(&entry.value.into())?)))
}

/// The quantity of every line of `doc` whose quantity is above zero, by sku: `set:<sku>` plus
/// every `add:<sku>#…` entry (see the module documentation). These are the lines a shopper
/// sees and the lines the line limit counts; a removed line (`set:<sku>` = 0 and its details
/// record) does not count.
pub fn quantities<D: ReadDoc>(doc: &D) -> BTreeMap<String, i64> {
    let mut quantities = sums(doc);
    quantities.retain(|_, q| *q > 0);
    quantities
}

/// `set:<sku>` plus every `add:<sku>#…` entry, for every sku that has either, whatever the sum
/// (a document that breaks the schema may hold negative values).
pub(crate) fn sums<D: ReadDoc>(doc: &D) -> BTreeMap<String, i64> {
    let mut sums: BTreeMap<String, i64> = BTreeMap::new();
    let entries = quantity_entries(
        doc,
        keys_with_prefix(SET_PREFIX),
        keys_with_prefix(ADD_PREFIX),
    );
    for (sku, q) in entries {
        let sum = sums.entry(sku).or_default();
        *sum = sum.saturating_add(q);
    }
    sums
}

/// The quantity of the line `sku` of `doc` by the rule of `sums`: `set:<sku>` plus every
/// `add:<sku>#…` entry; 0 when it has none, 0 or below when the line is not shown. Reads only
/// the keys of `sku`, so it costs the same in a cart of any size.
pub fn quantity<D: ReadDoc>(doc: &D, sku: &str) -> i64 {
    let set = set_key(sku);
    quantity_entries(doc, set.clone()..=set, add_keys_of(sku))
        .filter(|(of, _)| of == sku)
        .fold(0, |sum, (_, q)| sum.saturating_add(q))
}

/// The sku whose quantity the root key `key` counts towards: `<sku>` of `set:<sku>` and of
/// `add:<sku>#<tag>`; `None` for every other key.
pub fn sku_of_quantity_key(key: &str) -> Option<&str> {
    key.strip_prefix(SET_PREFIX).or_else(|| sku_of_add_key(key))
}

fn violation(path: &str, why: &str) -> CartError {
    CartError::new(
        ErrorCode::SchemaViolation,
        format!("{path} {why}; see the cart document schema in the README"),
    )
}

/// Checks that `doc` is a valid cart `id` of schema version [`SCHEMA_VERSION`]: no root key
/// outside the schema, `cartId` (when present) is `id`, and every details record, add entry and
/// set quantity passes the same validation as the cart's own operations. Conflicting values are
/// checked too, since any of them may be the one shown after a later change. This is
/// [`check_root_key`] for every root key.
///
/// Errs with [`ErrorCode::SchemaViolation`] naming the first offending key.
pub fn check_document<D: ReadDoc>(doc: &D, id: &CartId) -> Result<(), CartError> {
    doc.keys(ROOT)
        .try_for_each(|key| check_root_key(doc, id, &key))
}

/// Checks the root key `key` of `doc`, cart `id`, by the rules of [`check_document`]: every
/// value it holds, conflicting values included, and for an `item:` key the details record of
/// each. A key `doc` does not hold passes. A change that touched only some root keys (directly
/// or inside their details records) leaves the others as they were, so checking the touched
/// ones tells whether the changed document passes [`check_document`].
///
/// Errs with [`ErrorCode::SchemaViolation`] naming the key.
pub fn check_root_key<D: ReadDoc>(doc: &D, id: &CartId, key: &str) -> Result<(), CartError> {
    let path = format!("{key:?}");
    let values = doc.get_all(ROOT, key).unwrap_or_default();
    for (value, obj) in values {
        if key == SCHEMA {
            if as_int(&value) != Some(SCHEMA_VERSION) {
                return Err(violation(&path, "must be 1"));
            }
        } else if key == CART_ID {
            let expected_id = id.to_string();
            let stored = string_value(doc, &value, &obj)
                .ok_or_else(|| violation(&path, "must be a string"))?;
            if stored != expected_id {
                return Err(violation(
                    &path,
                    &format!("must be the id of this cart, {expected_id}, got {stored:?}"),
                ));
            }
        } else if let Some(sku) = key.strip_prefix(ITEM_PREFIX) {
            validate::sku(sku).map_err(|e| violation(&path, e.message()))?;
            if !matches!(value, Value::Object(ObjType::Map)) {
                return Err(violation(&path, "must be a map"));
            }
            check_details(doc, &obj, &path)?;
        } else if let Some(sku) = key.strip_prefix(SET_PREFIX) {
            validate::sku(sku).map_err(|e| violation(&path, e.message()))?;
            let quantity = as_int(&value).ok_or_else(|| violation(&path, "must be an integer"))?;
            validate::set_quantity(quantity).map_err(|e| violation(&path, e.message()))?;
        } else if key.starts_with(ADD_PREFIX) {
            let sku = sku_of_add_key(key)
                .ok_or_else(|| violation(&path, "must be \"add:<sku>#<tag>\""))?;
            validate::sku(sku).map_err(|e| violation(&path, e.message()))?;
            let quantity = as_int(&value).ok_or_else(|| violation(&path, "must be an integer"))?;
            validate::add_quantity(quantity).map_err(|e| violation(&path, e.message()))?;
        } else {
            return Err(violation(&path, "is not a key of the cart schema"));
        }
    }
    Ok(())
}

fn check_details<D: ReadDoc>(doc: &D, record: &ObjId, path: &str) -> Result<(), CartError> {
    let get = |key: &str| doc.get(record, key).ok().flatten().map(|(v, _)| v);
    let text = |key: &str| -> Result<Option<String>, CartError> {
        match doc.get(record, key).ok().flatten() {
            None => Ok(None),
            Some((value, id)) => string_value(doc, &value, &id)
                .map(Some)
                .ok_or_else(|| violation(&format!("{path}.{key}"), "must be a string")),
        }
    };
    let required = |key: &str, value: Option<String>| {
        value.ok_or_else(|| violation(&format!("{path}.{key}"), "is required"))
    };
    let invalid = |key: &str, e: CartError| violation(&format!("{path}.{key}"), e.message());
    validate::name(&required(NAME, text(NAME)?)?).map_err(|e| invalid(NAME, e))?;
    validate::currency(&required(CURRENCY, text(CURRENCY)?)?).map_err(|e| invalid(CURRENCY, e))?;
    let price = get(UNIT_PRICE)
        .as_ref()
        .and_then(as_int)
        .ok_or_else(|| violation(&format!("{path}.{UNIT_PRICE}"), "must be an integer"))?;
    validate::unit_price(price).map_err(|e| invalid(UNIT_PRICE, e))?;
    if let Some(url) = text(IMAGE_URL)? {
        validate::image_url(&url).map_err(|e| invalid(IMAGE_URL, e))?;
    }
    if let Some(variant) = text(VARIANT)? {
        validate::variant(&variant).map_err(|e| invalid(VARIANT, e))?;
    }
    if let Some(v) = get(ADDED_AT) {
        as_int(&v).ok_or_else(|| violation(&format!("{path}.{ADDED_AT}"), "must be an integer"))?;
    }
    Ok(())
}
