//! The cart: an Automerge document with add-wins, observed-remove line quantities.
//!
//! See [`crate::schema`] for the document layout and why it merges the way it does.

use automerge::sync::{self, SyncDoc};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ChangeHash, ObjType, ReadDoc, ROOT};

use crate::cart_id::CartId;
use crate::chunk_bounds;
use crate::chunks::Dependencies;
use crate::error::{CartError, ErrorCode};
use crate::incoming;
use crate::schema;
use crate::validate;
use crate::view::{Details, View};

/// Milliseconds since the Unix epoch; the cart asks it when it orders lines and stamps changes.
pub type Clock = fn() -> i64;

/// The clock of the platform: `SystemTime` natively. On wasm32 the binding passes JavaScript's
/// `Date.now` through [`Cart::with_clock`], since `SystemTime` does not exist there.
pub fn system_clock() -> i64 {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::time::{SystemTime, UNIX_EPOCH};
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
    #[cfg(target_arch = "wasm32")]
    {
        0
    }
}

/// An item to add: what a storefront knows about a product when the shopper adds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    /// Stock-keeping unit; identifies the line.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Price of one unit in the currency's minor unit (cents).
    pub unit_price: i64,
    /// ISO 4217 code such as `EUR`.
    pub currency: String,
    /// How many to add, 1..=999.
    pub quantity: i64,
    /// Optional image: `https:`, `http:` or root-relative URL.
    pub image_url: Option<String>,
    /// Optional variant label such as a size or colour.
    pub variant: Option<String>,
}

impl NewItem {
    /// Checks every field; errs on the first invalid one.
    pub fn validate(&self) -> Result<(), CartError> {
        validate::sku(&self.sku)?;
        validate::name(&self.name)?;
        validate::unit_price(self.unit_price)?;
        validate::currency(&self.currency)?;
        validate::add_quantity(self.quantity)?;
        if let Some(url) = &self.image_url {
            validate::image_url(url)?;
        }
        if let Some(variant) = &self.variant {
            validate::variant(variant)?;
        }
        Ok(())
    }
}

/// One line of the cart as the shopper sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Stock-keeping unit.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Price of one unit in minor units.
    pub unit_price: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Units in the cart; always above zero. Concurrent adds from several devices may take it
    /// past 999; local edits never do.
    pub quantity: i64,
    /// Optional image URL.
    pub image_url: Option<String>,
    /// Optional variant label.
    pub variant: Option<String>,
    /// When the line was (re)added, ms since the epoch; lines are listed in this order.
    pub added_at: i64,
}

impl Line {
    /// `unit_price * quantity`, in minor units.
    pub fn line_total(&self) -> i64 {
        self.unit_price.saturating_mul(self.quantity)
    }
}

/// The sum of the lines in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyTotal {
    /// ISO 4217 code.
    pub currency: String,
    /// Sum of line totals, in minor units.
    pub amount: i64,
}

/// Whether the stored `details` describe `item` as given (the add then needs no new record).
fn same_product(details: &Details, item: &NewItem) -> bool {
    details.name == item.name
        && details.unit_price == item.unit_price
        && details.currency == item.currency
        && details.image_url == item.image_url
        && details.variant == item.variant
}

/// A shopping cart kept as an Automerge document.
///
/// Every operation validates its input first, then makes exactly one Automerge change (or none,
/// on error). Merging two carts, in any order and any number of times, keeps every add that no
/// remove or set-quantity had seen.
///
/// The cart keeps a view of its lines (`view.rs`) that each change updates for the skus
/// it touched, so adding and listing cost the same in a cart of five lines or five hundred.
pub struct Cart {
    id: CartId,
    doc: AutoCommit,
    clock: Clock,
    /// The lines of `doc`; Automerge's diff cursor of `doc` stands where the view was last
    /// brought up to date.
    view: View,
}

impl std::fmt::Debug for Cart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cart")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn random_actor() -> ActorId {
    let mut bytes = [0u8; 16];
    // Without randomness two replicas could share an actor; fall back to the clock and address
    // of this value, which is still unique enough for a single process.
    if getrandom::fill(&mut bytes).is_err() {
        let seed = (system_clock() as u128) ^ ((&bytes as *const _ as usize) as u128);
        bytes = seed.to_le_bytes();
    }
    ActorId::from(bytes.as_slice())
}

fn random_tag() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        bytes = (system_clock() as u64).to_le_bytes();
    }
    crate::hex::encode(&bytes)
}

fn corrupt(e: automerge::AutomergeError) -> CartError {
    CartError::new(
        ErrorCode::CorruptData,
        format!("the bytes are not an automerge cart document ({e}); pass the output of save()"),
    )
}

/// Checks that `bytes` parse completely as Automerge data (a document, or changes) with valid
/// checksums. Changes that build on changes found elsewhere pass: only the bytes are judged.
/// Automerge's incremental loading skips a corrupt trailing chunk with no more than a log line,
/// so whoever must not take such bytes silently checks them first.
///
/// Before Automerge parses anything, the bytes must stay within [`crate::chunk_bounds`]: a few
/// bytes that would expand to millions of operations are refused in time linear in their size.
///
/// Errs with [`ErrorCode::ChangeTooLarge`] or [`ErrorCode::CorruptData`].
pub fn check_automerge_bytes(bytes: &[u8]) -> Result<(), CartError> {
    chunk_bounds::check_bounds(bytes)?;
    check_bounded_automerge_bytes(bytes)
}

/// [`check_automerge_bytes`] without its first step, for bytes a caller has already checked
/// against [`crate::chunk_bounds`] (the server checks the change chunks of a sync message
/// together, with [`chunk_bounds::check_sync_message`]). Never call it on unchecked bytes:
/// Automerge's load would expand them.
///
/// Errs with [`ErrorCode::CorruptData`].
pub fn check_bounded_automerge_bytes(bytes: &[u8]) -> Result<(), CartError> {
    incoming::parse(bytes).map(|_| ())
}

fn wrong_cart(id: &CartId, other: &str) -> CartError {
    CartError::new(
        ErrorCode::WrongCart,
        format!("the bytes belong to cart {other}, not {id}; merge only copies of the same cart"),
    )
}

/// Errs when `doc` says it is a cart other than `id`: any value of `cartId`, including values
/// that lost a conflict (merging another cart's document leaves both ids there, and which one
/// `get` shows depends on the actors). Documents that do not say (no `cartId` yet) pass.
fn check_cart_id(doc: &AutoCommit, id: &CartId) -> Result<(), CartError> {
    let expected = id.to_string();
    for (value, obj) in doc.get_all(ROOT, schema::CART_ID).unwrap_or_default() {
        match schema::string_value(doc, &value, &obj) {
            Some(other) if other != expected => return Err(wrong_cart(id, &other)),
            _ => {}
        }
    }
    Ok(())
}

impl Cart {
    /// A new, empty cart with id `id` and a fresh random actor. The document stays empty (no
    /// change at all) until the first edit, so opening a cart costs nothing to merge.
    pub fn new(id: CartId) -> Cart {
        let doc = AutoCommit::new().with_actor(random_actor());
        Cart::with_doc(id, doc, system_clock)
    }

    /// Loads cart `id` from bytes written by [`Cart::save`] (or any concatenation of saves and
    /// incremental saves).
    ///
    /// The bytes are bounded first ([`chunk_bounds::check_bounds`]): stored bytes can be
    /// corrupted or written by another script of the origin, and automerge panics on some
    /// malformed columns, which would abort the browser module.
    ///
    /// Errs with [`ErrorCode::CorruptData`] when the bytes are not Automerge data,
    /// [`ErrorCode::ChangeTooLarge`] when they expand beyond the bounds, and
    /// [`ErrorCode::WrongCart`] when they belong to another cart.
    pub fn load(id: CartId, bytes: &[u8]) -> Result<Cart, CartError> {
        chunk_bounds::check_bounds(bytes)?;
        let mut doc = AutoCommit::load(bytes).map_err(corrupt)?;
        check_cart_id(&doc, &id)?;
        doc.set_actor(random_actor());
        Ok(Cart::with_doc(id, doc, system_clock))
    }

    /// A cart over `doc`, with its view read in full.
    fn with_doc(id: CartId, mut doc: AutoCommit, clock: Clock) -> Cart {
        let view = View::read(&doc);
        doc.update_diff_cursor();
        Cart {
            id,
            doc,
            clock,
            view,
        }
    }

    /// Replaces the clock (milliseconds since the epoch) used to order lines and stamp changes.
    pub fn with_clock(mut self, clock: Clock) -> Cart {
        self.clock = clock;
        self
    }

    /// The id of this cart.
    pub fn id(&self) -> &CartId {
        &self.id
    }

    /// Adds `item.quantity` units of `item.sku`, creating the line if the cart has none.
    ///
    /// The item details (name, price, currency, image, variant) replace the stored ones when they
    /// differ. Errs when any field is invalid, the line would exceed 999 units, or the line is
    /// new and the cart already has [`validate::MAX_LINES`] lines; then nothing changes.
    pub fn add_item(&mut self, item: &NewItem) -> Result<(), CartError> {
        self.add_item_tagged(item, &random_tag()).map(|_| ())
    }

    /// [`Cart::add_item`] with the add's tag given by the caller: the add is stored at
    /// `add:<sku>#<tag>`. Adding again with a tag this cart already shows changes nothing and
    /// returns `Ok(false)`, so an add queued before the cart was ready (an outbox) can be
    /// replayed after a crash, or by two tabs, and still counts once. Returns `Ok(true)` when the
    /// add was made.
    ///
    /// Errs like [`Cart::add_item`], and with [`ErrorCode::InvalidItem`] for a tag that is not
    /// 1 to 64 ASCII letters, digits, `-` or `_`.
    pub fn add_item_tagged(&mut self, item: &NewItem, tag: &str) -> Result<bool, CartError> {
        item.validate()?;
        validate::add_tag(tag)?;
        let key = schema::add_key(&item.sku, tag);
        if self.doc.get(ROOT, key.as_str()).ok().flatten().is_some() {
            return Ok(false);
        }
        let current = self.quantity(&item.sku);
        if current == 0 && self.view.line_count() >= validate::MAX_LINES {
            return Err(CartError::new(
                ErrorCode::TooManyLines,
                format!(
                    "the cart already has {} lines, the most it can hold; remove a line before adding {:?}",
                    validate::MAX_LINES,
                    item.sku
                ),
            ));
        }
        if current + item.quantity > validate::MAX_QUANTITY {
            return Err(CartError::new(
                ErrorCode::InvalidQuantity,
                format!(
                    "the line for sku {:?} would hold {} units, at most {} are allowed; use setQuantity to change it",
                    item.sku,
                    current + item.quantity,
                    validate::MAX_QUANTITY
                ),
            ));
        }
        let details = self.view.details(&item.sku);
        let added_at = match details {
            Some(d) if current > 0 => d.added_at,
            _ => self.next_added_at(),
        };
        let record =
            (current == 0 || !details.is_some_and(|d| same_product(d, item))).then(|| Details {
                name: item.name.clone(),
                unit_price: item.unit_price,
                currency: item.currency.clone(),
                image_url: item.image_url.clone(),
                variant: item.variant.clone(),
                added_at,
            });
        self.change(|cart| {
            if let Some(details) = &record {
                cart.write_details(details, &item.sku)?;
            }
            cart.doc.put(ROOT, key, item.quantity)?;
            Ok(())
        })?;
        self.view.added(&item.sku, item.quantity, record);
        Ok(true)
    }

    /// Sets the quantity of the line for `sku` to `quantity`; 0 removes the line.
    ///
    /// Adds made concurrently on other devices are kept on top of the new quantity. Errs when
    /// the quantity is outside 0..=999 or, for a non-zero quantity, when the cart has no such
    /// line (use [`Cart::add_item`] to create one).
    pub fn set_quantity(&mut self, sku: &str, quantity: i64) -> Result<(), CartError> {
        validate::sku(sku)?;
        validate::set_quantity(quantity)?;
        if quantity == 0 {
            self.remove_item(sku)?;
            return Ok(());
        }
        if self.quantity(sku) == 0 {
            return Err(CartError::new(
                ErrorCode::UnknownItem,
                format!("the cart has no line for sku {sku:?}; use addItem to add it"),
            ));
        }
        self.change(|cart| cart.write_quantity(sku, quantity))?;
        self.view.quantity_set(&self.doc, sku, quantity);
        Ok(())
    }

    /// Removes the line for `sku`: the units this replica has seen. Returns whether there was a
    /// line to remove. Units added concurrently elsewhere survive the merge as a new line.
    pub fn remove_item(&mut self, sku: &str) -> Result<bool, CartError> {
        validate::sku(sku)?;
        if self.quantity(sku) == 0 {
            return Ok(false);
        }
        self.change(|cart| cart.write_quantity(sku, 0))?;
        self.view.quantity_set(&self.doc, sku, 0);
        Ok(true)
    }

    /// Removes every line this replica can see, in one change. Returns how many lines it removed.
    pub fn clear(&mut self) -> Result<usize, CartError> {
        let skus: Vec<String> = self.view.skus().map(str::to_owned).collect();
        if skus.is_empty() {
            return Ok(0);
        }
        self.change(|cart| {
            for sku in &skus {
                cart.write_quantity(sku, 0)?;
            }
            Ok(())
        })?;
        for sku in &skus {
            self.view.quantity_set(&self.doc, sku, 0);
        }
        Ok(skus.len())
    }

    /// The cart as it was at `heads` (hashes of changes of this cart), as a separate copy with
    /// its own random actor: reading it shows the lines as they were then, and editing it does
    /// not touch this cart. Returns `None` when a hash is not a change this cart has (sync
    /// first).
    pub fn at(&mut self, heads: &[ChangeHash]) -> Option<Cart> {
        let doc = self.doc.fork_at(heads).ok()?.with_actor(random_actor());
        Some(Cart::with_doc(self.id, doc, self.clock))
    }

    /// The change that removes every line this cart shows, made by `actor`, as bytes to merge
    /// into any copy of the cart; `None` when the cart has no line. The cart itself is
    /// unchanged.
    ///
    /// Like [`Cart::clear`], the change deletes exactly the add entries present here and sets
    /// each line's quantity to 0: adds made concurrently elsewhere survive the merge, and a copy
    /// that still had these lines does not bring them back. The change depends only on the
    /// cart's state and `actor` (its time is 0), so making it again for the same state and actor
    /// gives the same bytes and hash, and merging it twice changes nothing. Use `actor` for
    /// nothing else.
    pub fn clear_change(&mut self, actor: ActorId) -> Result<Option<Vec<u8>>, CartError> {
        let heads = self.doc.get_heads();
        let doc = self.doc.fork_at(&heads).map_err(corrupt)?.with_actor(actor);
        let mut copy = Cart::with_doc(self.id, doc, || 0);
        if copy.clear()? == 0 {
            return Ok(None);
        }
        Ok(Some(copy.doc.save_after(&heads)))
    }

    /// The lines with a quantity above zero, first added first (ties by sku).
    ///
    /// Lines whose stored details are missing or invalid (written by a foreign client that broke
    /// the schema) are left out rather than shown wrong.
    pub fn lines(&self) -> Vec<Line> {
        self.view
            .lines()
            .map(|line| Line {
                sku: line.sku.to_owned(),
                name: line.details.name.clone(),
                unit_price: line.details.unit_price,
                currency: line.details.currency.clone(),
                quantity: line.quantity,
                image_url: line.details.image_url.clone(),
                variant: line.details.variant.clone(),
                added_at: line.details.added_at,
            })
            .collect()
    }

    /// The sum of line totals per currency, ordered by currency code.
    pub fn totals(&self) -> Vec<CurrencyTotal> {
        self.view
            .totals()
            .map(|(currency, amount)| CurrencyTotal {
                currency: currency.to_owned(),
                amount,
            })
            .collect()
    }

    /// The number of units in the cart (the sum of all line quantities).
    pub fn item_count(&self) -> i64 {
        self.view.item_count()
    }

    /// The quantity of the line for `sku` (0 when there is none).
    pub fn quantity(&self, sku: &str) -> i64 {
        self.view.quantity(sku)
    }

    /// The heads of the document: the hashes of the changes nothing else depends on yet.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Whether every change merged into the cart has its dependencies, or some wait for
    /// changes the cart has not seen (a stored chunk whose predecessor is missing). Waiting
    /// changes are not in [`Cart::save`], so the chunks that hold them must be kept.
    pub fn dependencies(&self) -> Dependencies {
        Dependencies::of(&self.doc)
    }

    /// The whole document, compressed. Loading it gives back this cart with all its history.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// The changes that are not in `heads` or their history: what to write after a save or
    /// chunk that held the document at `heads`. Empty when there is nothing new. Concatenated
    /// after that save, the bytes load into the current document.
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// Merges the changes of `other`, another replica of this cart.
    ///
    /// Errs with [`ErrorCode::WrongCart`] when `other` is a different cart.
    pub fn merge(&mut self, other: &mut Cart) -> Result<(), CartError> {
        if other.id != self.id {
            return Err(wrong_cart(&self.id, &other.id.to_string()));
        }
        self.doc.merge(&mut other.doc).map_err(corrupt)?;
        self.update_view();
        Ok(())
    }

    /// Merges Automerge bytes of this cart: a [`Cart::save`] from another device, an incremental
    /// save, or a stored chunk. Returns whether the cart changed.
    ///
    /// The bytes are checked before anything is merged: they must parse completely (see
    /// [`check_automerge_bytes`]: within [`crate::chunk_bounds`], else
    /// [`ErrorCode::ChangeTooLarge`]) and, merged, must not make this another cart. On error
    /// (too large, not Automerge data, or another cart's) the cart is untouched. Changes that
    /// build on others this cart has (an incremental save after an earlier one) merge like
    /// whole documents.
    pub fn merge_bytes(&mut self, bytes: &[u8]) -> Result<bool, CartError> {
        chunk_bounds::check_bounds(bytes)?;
        let changes = incoming::parse(bytes)?;
        let before = self.doc.get_heads();
        let merged = self
            .doc
            .apply_changes(changes)
            .map_err(corrupt)
            .and_then(|()| check_cart_id(&self.doc, &self.id));
        if let Err(e) = merged {
            self.restore(&before);
            return Err(e);
        }
        self.update_view();
        Ok(self.doc.get_heads() != before)
    }

    /// Puts the document back as it was at `heads` (its own heads before a merge it must not
    /// keep), with its actor. This copies the document, so only a refused merge pays for it;
    /// merges that pass are applied in place.
    fn restore(&mut self, heads: &[ChangeHash]) {
        let actor = self.doc.get_actor().clone();
        if let Ok(doc) = self.doc.fork_at(heads) {
            *self = Cart::with_doc(self.id, doc.with_actor(actor), self.clock);
        }
    }

    /// The next Automerge sync message for the peer whose state is `state`, or `None` when the
    /// peer is known to have everything.
    pub fn generate_sync_message(&mut self, state: &mut sync::State) -> Option<sync::Message> {
        self.doc.sync().generate_sync_message(state)
    }

    /// Applies a sync message from the peer whose state is `state`; returns whether the cart
    /// changed.
    ///
    /// Errs with [`ErrorCode::ChangeTooLarge`] when its changes would expand beyond
    /// [`crate::chunk_bounds`] (checked before Automerge loads them) and with
    /// [`ErrorCode::CorruptData`] when its bloom filter asks for absurd work
    /// ([`chunk_bounds::check_sync_message`]) or Automerge cannot apply it; the cart is
    /// unchanged then.
    pub fn receive_sync_message(
        &mut self,
        state: &mut sync::State,
        message: sync::Message,
    ) -> Result<bool, CartError> {
        chunk_bounds::check_sync_message(&message)?;
        let before = self.doc.get_heads();
        self.doc
            .sync()
            .receive_sync_message(state, message)
            .map_err(corrupt)?;
        self.update_view();
        Ok(self.doc.get_heads() != before)
    }

    /// How many changes of this cart are not in the history of `heads`: what a peer whose
    /// heads are `heads` is missing. Unknown hashes in `heads` count as nothing known.
    pub fn changes_missing_from(&mut self, heads: &[ChangeHash]) -> usize {
        let known: Vec<ChangeHash> = heads
            .iter()
            .filter(|h| self.doc.get_change_meta_by_hash(h).is_some())
            .copied()
            .collect();
        // Metadata only: Automerge 0.12 rebuilds whole changes from its operations, which would
        // make this cost the size of the document rather than the number of changes missing.
        self.doc.get_changes_meta(&known).len()
    }

    /// The underlying Automerge document, for sync and inspection.
    pub fn doc(&self) -> &AutoCommit {
        &self.doc
    }

    /// Brings the view up to date with every change since it last was: Automerge's patches
    /// since the diff cursor name the skus to read again.
    fn update_view(&mut self) {
        let patches = self.doc.diff_incremental();
        self.view.apply(&self.doc, &patches);
    }

    /// An ordering stamp after every line already in the cart, so that lines added on one device
    /// keep their order even within one millisecond or with a clock that went back.
    fn next_added_at(&self) -> i64 {
        let latest = self.view.latest_added_at().unwrap_or(i64::MIN);
        (self.clock)().max(latest.saturating_add(1))
    }

    fn write_details(
        &mut self,
        details: &Details,
        sku: &str,
    ) -> Result<(), automerge::AutomergeError> {
        let record = self
            .doc
            .put_object(ROOT, schema::item_key(sku), ObjType::Map)?;
        self.doc.put(&record, schema::NAME, details.name.as_str())?;
        self.doc
            .put(&record, schema::UNIT_PRICE, details.unit_price)?;
        self.doc
            .put(&record, schema::CURRENCY, details.currency.as_str())?;
        if let Some(url) = &details.image_url {
            self.doc.put(&record, schema::IMAGE_URL, url.as_str())?;
        }
        if let Some(variant) = &details.variant {
            self.doc.put(&record, schema::VARIANT, variant.as_str())?;
        }
        self.doc.put(&record, schema::ADDED_AT, details.added_at)?;
        Ok(())
    }

    /// Deletes the add entries of `sku` this replica has seen and writes the explicit quantity.
    fn write_quantity(
        &mut self,
        sku: &str,
        quantity: i64,
    ) -> Result<(), automerge::AutomergeError> {
        let seen: Vec<String> = schema::add_entries(&self.doc, sku)
            .map(|entry| entry.key.into_owned())
            .collect();
        for key in seen {
            self.doc.delete(ROOT, key.as_str())?;
        }
        self.doc.put(ROOT, schema::set_key(sku), quantity)?;
        Ok(())
    }

    /// Writes the schema version and cart id with the first change this document makes.
    fn write_header(&mut self) -> Result<(), automerge::AutomergeError> {
        if self.doc.get(ROOT, schema::SCHEMA)?.is_none() {
            self.doc.put(ROOT, schema::SCHEMA, schema::SCHEMA_VERSION)?;
            self.doc.put(ROOT, schema::CART_ID, self.id.to_string())?;
        }
        Ok(())
    }

    /// Runs `edit` as one Automerge change; on error rolls every operation of it back. The
    /// caller updates the view, which knows what the edit did without reading it back; the
    /// diff cursor moves past the change so later merges report only their own patches.
    fn change(
        &mut self,
        edit: impl FnOnce(&mut Cart) -> Result<(), automerge::AutomergeError>,
    ) -> Result<(), CartError> {
        match self.write_header().and_then(|()| edit(self)) {
            Ok(()) => {
                let seconds = (self.clock)() / 1000;
                self.doc
                    .commit_with(CommitOptions::default().with_time(seconds));
                self.doc.update_diff_cursor();
                Ok(())
            }
            Err(e) => {
                self.doc.rollback();
                Err(CartError::new(
                    ErrorCode::CorruptData,
                    format!("the cart document refused the change ({e}); nothing was changed"),
                ))
            }
        }
    }
}
