//! Applying a change to an open cart: a peer's sync message, a checkout's clear or a change the
//! server made itself (a claim's merge and clear) goes into the cart's document in place, the
//! root keys it touched are checked, and the change is stored, or undone.
//!
//! # In place, checked by what it touched
//!
//! A cart may hold 2 MiB; copying it for every add and checking every key of the copy made an
//! add cost in proportion to the cart. Instead the change is applied to the cart's own document,
//! the operations of the new changes ([`Automerge::get_changes`] since the heads before, the
//! same changes that are then stored) name the root keys they wrote (an operation inside an
//! `item:` details record, or inside a text object in it, counts for the record's root key,
//! found through the object's parents), and only those keys are checked, with
//! [`schema::check_root_key`], the rule [`schema::check_document`] applies to every key. The
//! line count is kept in [`CartState`] and updated from the quantities of the touched skus
//! ([`schema::quantity`]). Operations name every key whose values a change can alter, losing
//! conflicting values included (Automerge's patches leave out a value that loses to a key that
//! already has a conflict, which is why they are not used here); the property test below checks
//! the verdict against [`admission::admit`] on the whole document.
//!
//! # Undoing a refused change
//!
//! Without a copy made beforehand, a change that is refused (schema, line limit, size limit,
//! invalid Automerge) or that the store did not take is undone by reading the cart again from the
//! store ([`CartState::restore`]): the stored chunks are exactly the accepted cart. That costs a
//! load of the whole cart, which is right for refusals, as they come only from hostile or buggy
//! peers. It cannot become unbounded work: each refusal needs one sync message with changes, and
//! the bytes read to undo it are charged to the sending connection's byte bucket
//! ([`Refusal::undone`], [`crate::limits::RateLimit::charge`]) as if the peer had sent the whole
//! cart, so a connection makes the server read at most `--bytes-per-second` (1 MiB by default)
//! of carts a second after its burst, on top of the message rate. `benches/apply.rs` prints
//! what a refused add costs.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::sync::{Message as AutomergeSync, State as SyncState, SyncDoc};
use automerge::{ActorId, Automerge, Change, ChangeHash, ObjId, Prop, ReadDoc, ROOT};
use cart_core::chunks::ChunkKey;
use cart_core::{schema, CartId};

use crate::admission;
use crate::cart_state::{CartState, LineUpdate};
use crate::error::{ErrorKind, ReadAtError, Refusal};
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::secret::SecretHash;
use crate::store::shop::{Order, Placed};
use crate::store::{Store, StoreError};

/// What applying a sync message did to the cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// The cart is as it was: the message had no changes, only changes the cart has, or only
    /// changes that wait for a dependency.
    Unchanged,
    /// The changes were admitted and stored; the cart has them.
    Stored,
    /// The store holds the cart under another key (another instance created it first):
    /// nothing was stored and the cart was read again from the store.
    BoundElsewhere,
}

/// What a checkout's clear did.
#[derive(Debug)]
pub(crate) enum Cleared {
    /// The order and the clear were stored; the cart has the clear.
    Stored,
    /// The order was stored already (a racing checkout): this clear was not, and the cart is
    /// as it was.
    Existing(Order),
}

/// What a change is checked against before it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checks {
    /// The schema, the line limit and the size limit: for changes that may add.
    Limits,
    /// The schema only: for a change that only removes lines, which a cart at a limit must
    /// still take.
    SchemaOnly,
}

/// A change applied to the cart and admitted, not stored yet.
struct Admitted {
    /// The new changes, as [`Automerge::save_after`] writes them.
    bytes: Vec<u8>,
    /// The lines after the change.
    lines: LineUpdate,
}

/// The root keys a change touched.
#[derive(Debug, PartialEq, Eq)]
enum Touched {
    /// Exactly these keys (a key the change deleted included).
    Keys(BTreeSet<String>),
    /// Unknown (an object's place could not be found): check everything.
    All,
}

/// Applies changes to open carts, storing them in `store` within `limits`.
pub(crate) struct Applier<'a> {
    pub(crate) store: &'a dyn Store,
    pub(crate) limits: &'a Limits,
    pub(crate) metrics: &'a Metrics,
}

impl Applier<'_> {
    /// Applies `message` from a peer whose key hashes to `secret` to `state`, cart `cart`,
    /// updating the peer's `sync` state (which the caller keeps only on success). Changes that
    /// pass [`admission`] and the size limit are stored before this returns.
    ///
    /// Errs with a [`Refusal`] when the message does not apply, the change breaks the schema or
    /// a limit, or the store fails; the cart is then as the store has it (see the module
    /// documentation) and nothing was stored.
    pub(crate) async fn sync_message(
        &self,
        cart: CartId,
        state: &mut CartState,
        secret: &SecretHash,
        sync: &mut SyncState,
        message: AutomergeSync,
    ) -> Result<Applied, Refusal> {
        let before = state.doc.get_heads();
        let has_changes = !message.changes.is_empty();
        let applied = std::panic::catch_unwind(AssertUnwindSafe(|| {
            state.doc.receive_sync_message(sync, message)
        }));
        let failure = match applied {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("the automerge library could not apply it".to_string()),
        };
        if let Some(why) = failure {
            // Without changes a sync message does not touch the document.
            let read = if has_changes {
                self.undo(cart, state).await
            } else {
                0
            };
            return Err(Refusal::new(
                ErrorKind::InvalidAutomerge,
                format!(
                    "the sync message for cart {cart} could not be applied ({why}); nothing was changed, send changes made by automerge"
                ),
            )
            .about(cart)
            .undone(read));
        }
        if state.doc.get_heads() == before {
            return Ok(Applied::Unchanged);
        }
        match self
            .admit_and_store(cart, state, secret, &before, Checks::Limits)
            .await
        {
            Ok(applied) => Ok(applied),
            Err(refusal) => Err(refusal.undone(self.undo(cart, state).await)),
        }
    }

    /// Admits the changes applied to `state` since `before` (with `checks`) and stores them.
    async fn admit_and_store(
        &self,
        cart: CartId,
        state: &mut CartState,
        secret: &SecretHash,
        before: &[ChangeHash],
        checks: Checks,
    ) -> Result<Applied, Refusal> {
        let limits = (checks == Checks::Limits).then_some(self.limits);
        let admitted = admit_applied(state, &cart, before, limits)?;
        let max = self.limits.max_document_bytes;
        let mut snapshot = None;
        if state.stored_bytes().saturating_add(admitted.bytes.len()) > max {
            // The stored chunks overestimate the saved size; measure exactly before refusing.
            let whole = state.doc.save();
            if limits.is_some() && whole.len() > max {
                return Err(Refusal::new(
                    ErrorKind::DocumentTooLarge,
                    format!(
                        "the change to cart {cart} was refused and nothing of it was stored: the saved cart would take {} bytes, at most {max} are allowed; a cart keeps the history of every edit, so removing lines does not make room: check this cart out or start a new one",
                        whole.len()
                    ),
                )
                .about(cart));
            }
            snapshot = Some(whole);
        }
        let size = admitted.bytes.len();
        let started = Instant::now();
        match self.store.append_chunk(&cart, secret, admitted.bytes).await {
            Ok(key) => self.keep(state, key, size, admitted.lines, started.elapsed()),
            Err(StoreError::SecretMismatch) => {
                // Another instance created the cart with another key first.
                self.undo(cart, state).await;
                return Ok(Applied::BoundElsewhere);
            }
            Err(e) => {
                tracing::error!(%cart, error = %e, "storing a change failed");
                return Err(Refusal::storage(cart));
            }
        }
        let snapshot = snapshot.or_else(|| state.should_compact().then(|| state.doc.save()));
        if let Some(snapshot) = snapshot {
            state.compact(cart, self.store, snapshot).await;
        }
        Ok(Applied::Stored)
    }

    /// Applies `change`, a change the server made itself (a claim's merge into the customer's
    /// cart, or the clear of the anonymous cart after it), to `state`, checks it with `checks`
    /// and stores it as [`Applier::sync_message`] stores a peer's: when the cart is not stored
    /// yet, the store binds it to `secret`. Returns [`Applied::Unchanged`] when the cart has the
    /// change already.
    ///
    /// Errs with a [`Refusal`] when the change does not apply, breaks the schema or (with
    /// [`Checks::Limits`]) a limit, or the store fails; the cart is then as the store has it
    /// and nothing was stored.
    pub(crate) async fn server_change(
        &self,
        cart: CartId,
        state: &mut CartState,
        secret: &SecretHash,
        change: &[u8],
        checks: Checks,
    ) -> Result<Applied, Refusal> {
        let before = state.doc.get_heads();
        if let Err(e) = state.doc.load_incremental(change) {
            tracing::error!(%cart, error = %e, "a change the server made does not apply");
            self.undo(cart, state).await;
            return Err(Refusal::storage(cart));
        }
        if state.doc.get_heads() == before {
            return Ok(Applied::Unchanged);
        }
        match self
            .admit_and_store(cart, state, secret, &before, checks)
            .await
        {
            Ok(applied) => Ok(applied),
            Err(refusal) => {
                self.undo(cart, state).await;
                Err(refusal)
            }
        }
    }

    /// Applies `clear`, the change a checkout made to clear the lines of `order`, to `state`,
    /// checks the keys it touched against the schema only (it removes lines, so neither the
    /// size limit nor the line limit may refuse it) and stores it with `order` in one
    /// transaction ([`crate::store::ShopStore::place_order`]).
    ///
    /// Errs with [`ReadAtError::Storage`] when the clear does not apply or the store fails;
    /// then nothing was stored and the cart is as the store has it.
    pub(crate) async fn clear(
        &self,
        cart: CartId,
        state: &mut CartState,
        secret: &SecretHash,
        order: &Order,
        clear: &[u8],
    ) -> Result<Cleared, ReadAtError> {
        let before = state.doc.get_heads();
        let admitted = state
            .doc
            .load_incremental(clear)
            .map_err(|e| e.to_string())
            .and_then(|_| admit_applied(state, &cart, &before, None).map_err(|r| r.to_string()));
        let admitted = match admitted {
            Ok(admitted) => admitted,
            Err(why) => {
                tracing::error!(%cart, %why, "a checkout's clear does not apply");
                self.undo(cart, state).await;
                return Err(ReadAtError::Storage);
            }
        };
        let size = admitted.bytes.len();
        let started = Instant::now();
        match self.store.place_order(order, secret, admitted.bytes).await {
            Ok(Placed::Created(key)) => {
                self.keep(state, key, size, admitted.lines, started.elapsed())
            }
            Ok(Placed::Existing(order)) => {
                self.undo(cart, state).await;
                return Ok(Cleared::Existing(order));
            }
            Err(e) => {
                tracing::error!(%cart, error = %e, "storing an order failed");
                self.undo(cart, state).await;
                return Err(ReadAtError::Storage);
            }
        }
        if state.stored_bytes() > self.limits.max_document_bytes {
            let snapshot = state.doc.save();
            state.compact(cart, self.store, snapshot).await;
        }
        Ok(Cleared::Stored)
    }

    /// Records a stored chunk of `size` bytes, which the store took `took` to write, and the
    /// lines after it.
    fn keep(
        &self,
        state: &mut CartState,
        key: ChunkKey,
        size: usize,
        lines: LineUpdate,
        took: Duration,
    ) {
        self.metrics.change_stored(took);
        state.note_stored(key, size);
        state.keep_lines(lines);
    }

    /// Undoes a change applied to `state` but not stored: reads the cart again from the store.
    /// Returns the bytes read, which the peer that sent a refused change pays for from its
    /// byte rate ([`Refusal::undone`]).
    async fn undo(&self, cart: CartId, state: &mut CartState) -> usize {
        if state.restore(cart, self.store).await.is_err() {
            tracing::warn!(%cart, "the cart is read again from the store before its next use");
        }
        state.stored_bytes()
    }
}

/// Admits the changes applied to `state`'s document since `before`, cart `cart`: the root keys
/// they touched pass the schema and, with `limits`, the cart is within the line limit. Returns
/// the changes' bytes and the lines after them.
///
/// Errs with [`ErrorKind::SchemaViolation`] or [`ErrorKind::TooManyLines`].
fn admit_applied(
    state: &CartState,
    cart: &CartId,
    before: &[ChangeHash],
    limits: Option<&Limits>,
) -> Result<Admitted, Refusal> {
    let changes = state.doc.get_changes(before);
    let lines = match touched_root_keys(&state.doc, &changes) {
        Touched::Keys(keys) => {
            admission::check_touched_keys(&state.doc, cart, keys.iter().map(String::as_str))?;
            state.lines_after(
                keys.iter()
                    .filter_map(|key| schema::sku_of_quantity_key(key)),
            )
        }
        Touched::All => {
            admission::check_schema(&state.doc, cart)?;
            state.lines_read_again()
        }
    };
    if let Some(limits) = limits {
        admission::check_line_count(lines.count, cart, limits)?;
    }
    let bytes = changes
        .iter()
        .flat_map(Change::raw_bytes)
        .copied()
        .collect();
    Ok(Admitted { bytes, lines })
}

/// The root keys the operations of `changes`, applied to `doc`, wrote: the key itself for an
/// operation on the root, the root key an object hangs from for an operation inside it.
fn touched_root_keys(doc: &Automerge, changes: &[Change]) -> Touched {
    std::panic::catch_unwind(AssertUnwindSafe(|| root_keys_of(doc, changes)))
        .ok()
        .flatten()
        .map_or(Touched::All, Touched::Keys)
}

fn root_keys_of(doc: &Automerge, changes: &[Change]) -> Option<BTreeSet<String>> {
    let mut keys = BTreeSet::new();
    // The root key of each object the changes wrote into or made, by object id.
    let mut places: HashMap<(u64, ActorId), String> = HashMap::new();
    for change in changes {
        let change = change.decode();
        for (n, op) in (change.start_op.get()..).zip(change.operations) {
            let key = match op.obj {
                ObjectId::Root => match op.key {
                    Key::Map(key) => key.to_string(),
                    Key::Seq(_) => return None,
                },
                ObjectId::Id(OpId(counter, actor)) => match places.entry((counter, actor)) {
                    Entry::Occupied(place) => place.get().clone(),
                    Entry::Vacant(place) => {
                        let (counter, actor) = place.key().clone();
                        let key = root_key_of(doc, &ObjId::Id(counter, actor, 0))?;
                        place.insert(key).clone()
                    }
                },
            };
            if let OpType::Make(_) = op.action {
                places.insert((n, change.actor_id.clone()), key.clone());
            }
            keys.insert(key);
        }
    }
    Some(keys)
}

/// The root key the object `obj` of `doc` hangs from, however deep.
fn root_key_of(doc: &Automerge, obj: &ObjId) -> Option<String> {
    let top = doc.parents(obj).ok()?.last()?;
    match top.prop {
        Prop::Map(key) if top.obj == ROOT => Some(key),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::AutoCommit;
    use cart_core::fixtures::item;
    use cart_core::Cart;
    use proptest::prelude::*;

    /// One edit a peer may make, valid or not.
    #[derive(Debug, Clone)]
    enum Edit {
        /// A valid add through the cart's own operation.
        Add(u8),
        /// `set:<sku>` = quantity (valid 0..=999).
        Set(u8, i64),
        /// `add:<sku>#<tag>` = quantity (valid 1..=999).
        AddEntry(u8, u8, i64),
        /// Deletes `set:<sku>` and `add:<sku>#<tag>`.
        Remove(u8, u8),
        /// `unitPrice` of the details record of `sku`, when it has one (valid >= 0).
        Price(u8, i64),
        /// Appends text to the `name` text object of `sku`'s record, made one when needed.
        NameText(u8, String),
        /// A key outside the schema.
        Stranger(u8),
        /// `cartId` of another cart.
        ForeignId,
        /// A string where a map belongs.
        ItemNotAMap(u8),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        let sku = 0u8..6;
        prop_oneof![
            4 => sku.clone().prop_map(Edit::Add),
            2 => (sku.clone(), -2i64..1002).prop_map(|(s, q)| Edit::Set(s, q)),
            2 => (sku.clone(), 0u8..3, -2i64..1002).prop_map(|(s, t, q)| Edit::AddEntry(s, t, q)),
            2 => (sku.clone(), 0u8..3).prop_map(|(s, t)| Edit::Remove(s, t)),
            1 => (sku.clone(), -5i64..5).prop_map(|(s, p)| Edit::Price(s, p)),
            1 => (sku.clone(), "[a-z]{0,3}").prop_map(|(s, t)| Edit::NameText(s, t)),
            1 => sku.clone().prop_map(Edit::Stranger),
            1 => Just(Edit::ForeignId),
            1 => sku.prop_map(Edit::ItemNotAMap),
        ]
    }

    fn sku(n: u8) -> String {
        format!("S{n}")
    }

    fn apply_edit(doc: &mut AutoCommit, edit: &Edit) {
        match edit {
            Edit::Add(s) => {
                // A replica with invalid edits of its own does not load as a cart.
                if let Ok(mut cart) = Cart::load(cart_id(), &doc.save()) {
                    let heads = cart.heads();
                    if cart.add_item(&item(&sku(*s), 1)).is_ok() {
                        doc.load_incremental(&cart.save_after(&heads))
                            .expect("the add applies");
                    }
                }
            }
            Edit::Set(s, q) => {
                doc.put(ROOT, schema::set_key(&sku(*s)), *q).expect("put");
            }
            Edit::AddEntry(s, t, q) => {
                doc.put(ROOT, schema::add_key(&sku(*s), &format!("t{t}")), *q)
                    .expect("put");
            }
            Edit::Remove(s, t) => {
                for key in [
                    schema::set_key(&sku(*s)),
                    schema::add_key(&sku(*s), &format!("t{t}")),
                ] {
                    if doc.get(ROOT, &key).expect("get").is_some() {
                        doc.delete(ROOT, &key).expect("delete");
                    }
                }
            }
            Edit::Price(s, p) => {
                if let Some(record) = record_of(doc, *s) {
                    doc.put(&record, schema::UNIT_PRICE, *p).expect("put");
                }
            }
            Edit::NameText(s, t) => {
                if let Some(record) = record_of(doc, *s) {
                    let text = match doc.get(&record, schema::NAME).ok().flatten() {
                        Some((automerge::Value::Object(automerge::ObjType::Text), id)) => id,
                        _ => doc
                            .put_object(&record, schema::NAME, automerge::ObjType::Text)
                            .expect("a text object"),
                    };
                    doc.splice_text(&text, 0, 0, t).expect("splice");
                }
            }
            Edit::Stranger(s) => {
                doc.put(ROOT, format!("stranger{s}"), 1).expect("put");
            }
            Edit::ForeignId => {
                let other = CartId::from_bytes([9; 16]).to_string();
                doc.put(ROOT, schema::CART_ID, other).expect("put");
            }
            Edit::ItemNotAMap(s) => {
                doc.put(ROOT, schema::item_key(&sku(*s)), "a string")
                    .expect("put");
            }
        }
        doc.commit();
    }

    /// The details record of `sku(s)` in `doc`, when its winning value is a map.
    fn record_of(doc: &AutoCommit, s: u8) -> Option<ObjId> {
        match doc.get(ROOT, schema::item_key(&sku(s))).expect("get") {
            Some((automerge::Value::Object(automerge::ObjType::Map), record)) => Some(record),
            _ => None,
        }
    }

    fn cart_id() -> CartId {
        CartId::from_bytes([3; 16])
    }

    /// A cart state holding `doc` as loaded (what the store would give).
    fn loaded(doc: &Automerge) -> CartState {
        let mut state = CartState::new();
        state.doc = doc.clone();
        let lines = state.lines_read_again();
        state.keep_lines(lines);
        state
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

        /// The incremental check (touched keys, kept line count) refuses exactly what
        /// `admission::admit` on the whole changed document refuses, change after change, on
        /// two replicas whose edits meet (conflicting values included).
        #[test]
        fn the_touched_keys_check_refuses_exactly_what_the_whole_document_check_refuses(
            steps in proptest::collection::vec((any::<bool>(), proptest::collection::vec(edit(), 1..4)), 1..12),
        ) {
            let limits = Limits { max_lines: 3, ..Limits::default() };
            let mut base = Cart::new(cart_id());
            base.add_item(&item("S0", 1)).expect("add");
            let mut accepted = Automerge::load(&base.save()).expect("load");
            let mut state = loaded(&accepted);
            let mut replicas = [AutoCommit::load(&accepted.save()).expect("load"), AutoCommit::load(&accepted.save()).expect("load")];
            replicas[1].set_actor(ActorId::random());
            for (which, edits) in steps {
                let replica = &mut replicas[usize::from(which)];
                for edit in &edits {
                    apply_edit(replica, edit);
                }
                let before = state.doc.get_heads();
                // Every change of the replica; the ones the cart has are skipped.
                let changes = replica.document().save_after(&[]);
                state.doc.load_incremental(&changes).expect("the changes apply");
                let incremental = admit_applied(&state, &cart_id(), &before, Some(&limits));
                let whole = admission::admit(&state.doc, &cart_id(), &limits);
                prop_assert_eq!(
                    incremental.as_ref().err().map(|r| r.kind()),
                    whole.as_ref().err().map(|r| r.kind()),
                    "edits {:?}: incremental {:?}, whole {:?}", edits, incremental.as_ref().err(), whole.err()
                );
                match incremental {
                    Ok(admitted) => {
                        state.keep_lines(admitted.lines);
                        prop_assert_eq!(state.line_count(), admission::line_count(&state.doc));
                        accepted = state.doc.clone();
                    }
                    Err(_) => {
                        // As the server does: back to the accepted cart, and the peer starts
                        // again from it.
                        state = loaded(&accepted);
                        *replica = AutoCommit::load(&accepted.save()).expect("load");
                        if which { replica.set_actor(ActorId::random()); }
                    }
                }
            }
        }
    }

    #[test]
    fn an_edit_inside_a_details_record_touches_its_root_key() {
        let mut doc = AutoCommit::new();
        let record = doc
            .put_object(ROOT, "item:A", automerge::ObjType::Map)
            .expect("a record");
        doc.put(ROOT, "set:B", 2).expect("put");
        doc.commit();
        let before = doc.get_heads();
        doc.put(&record, schema::UNIT_PRICE, 7).expect("put");
        doc.delete(ROOT, "set:B").expect("delete");
        doc.commit();
        let changes = doc.document().get_changes(&before);
        let keys = ["item:A", "set:B"].map(String::from).into_iter().collect();
        assert_eq!(
            touched_root_keys(doc.document(), &changes),
            Touched::Keys(keys)
        );
    }
}
