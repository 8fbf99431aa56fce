//! Per-cart hubs: the one in-memory copy of each open cart (`crate::cart_state`) and the peers
//! linked to it ([`crate::link`]). The hub routes: each message goes to the cart it is about,
//! under that cart's lock, and on to the module that does the work.
//!
//! All work on one cart runs under that cart's lock, in message order: apply an incoming sync
//! message to the cart, check what it changed and store it durably (`crate::apply`, which undoes
//! a refused change), then queue the reply to the sender and a sync message for every other
//! peer of the cart, so they receive the change live. Nothing is sent that acknowledges a change
//! before the store has it. A refused message leaves the cart, the store and the sender's sync
//! state exactly as they were.
//!
//! A hub exists while a peer is linked to its cart or a message about it is being handled: each
//! handled message holds an [`OpenCart`] guard from the [`crate::open_carts`] registry and each
//! link a [`crate::open_carts::Hold`]; the last one dropped drops the hub, and the next load reads the store again.
//!
//! # Several server instances
//!
//! With one store shared by several instances ([`crate::store::PostgresStore`]), each instance
//! keeps its own hubs, and the store's [`crate::store::ChangeFeed`] reports every cart whose
//! chunks any instance stored. [`Hubs::follow`] takes each report: for a cart this instance has
//! open, it merges the chunks the hub has not seen ([`CartState::catch_up`]) and, when that
//! changed the cart, queues a sync message for every linked peer, as after a local change. A
//! report of this instance's own change finds nothing new and sends nothing; a report about a
//! cart that is not open opens nothing. After the feed reconnects, every open cart is read
//! again, since the reports sent meanwhile are lost.
//! Secret binding is safe across instances: [`crate::store::DocStore::append_chunk`] binds
//! atomically, and a pending hub re-reads the binding from the store on every message.

use std::collections::hash_map;
use std::collections::HashMap;
use std::sync::Arc;

use automerge::sync::Message as AutomergeSync;
use automerge::{Automerge, ChangeHash, ReadDoc};
use cart_core::wire::{self as protocol, Message};
use cart_core::CartId;

use crate::apply::{Applied, Applier, Cleared};
use crate::cart_state::CartState;
use crate::error::{ReadAtError, Refusal};
use crate::limits::Limits;
use crate::link::{Link, PeerContext};
use crate::metrics::Metrics;
use crate::open_carts::{OpenCart, OpenCarts};
use crate::secret::SecretHash;
use crate::store::shop::Order;
use crate::store::{FeedEvent, Store, StoreError};

/// A peer linked to a cart, keeping its hub open.
type PeerLink = Link<CartHub>;

/// What a hub guards with its lock: the cart and the peers linked to it.
struct HubState {
    /// The server's copy of the cart.
    cart: CartState,
    /// The linked peers by connection id.
    links: HashMap<u64, PeerLink>,
}

/// The hub of one cart.
pub struct CartHub {
    id: CartId,
    state: tokio::sync::Mutex<HubState>,
}

impl CartHub {
    /// The hub of `cart` before anything is loaded from the store.
    fn new(id: CartId) -> CartHub {
        CartHub {
            id,
            state: tokio::sync::Mutex::new(HubState {
                cart: CartState::new(),
                links: HashMap::new(),
            }),
        }
    }
}

/// All open carts of this server instance.
pub struct Hubs {
    store: Arc<dyn Store>,
    limits: Limits,
    metrics: Arc<Metrics>,
    server_peer_id: String,
    /// A cart is open while a peer is linked to it or a message about it is being handled.
    carts: OpenCarts<CartHub>,
}

impl std::fmt::Debug for Hubs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hubs")
            .field("server_peer_id", &self.server_peer_id)
            .finish_non_exhaustive()
    }
}

fn doc_unavailable(server: &str, peer: &str, cart: &CartId) -> Message {
    Message::DocUnavailable(protocol::DocUnavailable {
        sender_id: server.to_string(),
        target_id: peer.to_string(),
        document_id: cart.to_string(),
    })
}

impl Hubs {
    /// Hubs over `store`, enforcing `limits`, answering as peer `server_peer_id`.
    pub fn new(
        store: Arc<dyn Store>,
        limits: Limits,
        metrics: Arc<Metrics>,
        server_peer_id: String,
    ) -> Hubs {
        Hubs {
            store,
            limits,
            metrics,
            server_peer_id,
            carts: OpenCarts::new(),
        }
    }

    /// The store the hubs write to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// How many carts have a hub now (open carts).
    pub fn open_carts(&self) -> usize {
        self.carts.len()
    }

    /// Handles a `request` (`request` = true) or `sync` message from `peer` about `cart`.
    ///
    /// Sends, through the peer's mailbox, the reply sync message, or `doc-unavailable` when the
    /// peer's key does not open the cart (or, for `request`, the cart is not stored: the peer
    /// then stays linked and is sent the cart once a change with its key creates it), and sends
    /// accepted changes to every other peer of the cart. Errs with a [`Refusal`] (and changes
    /// nothing) when the message is not valid Automerge, the change breaks the schema or a limit,
    /// or the store fails.
    pub async fn receive(
        &self,
        peer: &PeerContext,
        cart: CartId,
        request: bool,
        message: AutomergeSync,
    ) -> Result<(), Refusal> {
        let hub = self.carts.open(cart, CartHub::new);
        self.receive_in(&hub, peer, request, message).await
    }

    async fn receive_in(
        &self,
        hub: &OpenCart<CartHub>,
        peer: &PeerContext,
        request: bool,
        message: AutomergeSync,
    ) -> Result<(), Refusal> {
        let cart = hub.id;
        let mut guard = hub.state.lock().await;
        let state = &mut *guard;
        state.cart.refresh(cart, &*self.store).await?;
        let secret = peer.key.hash_for(&cart);
        // A `request` for a cart not stored yet is told so, but its peer stays linked: the cart
        // is sent to it the moment a device with its key creates it (a second device may open
        // a shared link before the first device's changes have arrived). The request itself is
        // not applied: it comes from an empty copy and has nothing to give.
        let waiting = match state.cart.secret {
            Some(bound) if bound != secret => {
                self.unavailable(cart, state, peer);
                return Ok(());
            }
            Some(_) => false,
            None => request,
        };
        if let hash_map::Entry::Vacant(vacant) = state.links.entry(peer.conn_id) {
            vacant.insert(Link::open(&*self.store, cart, peer, secret, hub.hold()).await);
        }
        if waiting {
            peer.mailbox
                .send(doc_unavailable(&self.server_peer_id, &peer.peer_id, &cart));
            return Ok(());
        }
        let Some(link) = state.links.get_mut(&peer.conn_id) else {
            return Ok(());
        };
        let mut sync = link.sync.clone();
        let applied = self
            .applier()
            .sync_message(cart, &mut state.cart, &secret, &mut sync, message)
            .await?;
        if applied == Applied::BoundElsewhere {
            self.unavailable(cart, state, peer);
            return Ok(());
        }
        if let Some(link) = state.links.get_mut(&peer.conn_id) {
            link.sync = sync;
        }
        if applied == Applied::Stored {
            self.after_change(cart, state, peer.conn_id, secret).await;
        }
        self.reply(cart, state, peer.conn_id);
        self.persist_sync_state(cart, state, peer.conn_id).await;
        Ok(())
    }

    /// What applies changes to this instance's carts.
    fn applier(&self) -> Applier<'_> {
        Applier {
            store: &*self.store,
            limits: &self.limits,
            metrics: &self.metrics,
        }
    }

    /// After a stored change: bind the cart, drop peers of another key, and send the change to
    /// every other peer.
    async fn after_change(
        &self,
        cart: CartId,
        state: &mut HubState,
        sender: u64,
        secret: SecretHash,
    ) {
        if state.cart.secret.is_none() {
            state.cart.secret = Some(secret);
            self.drop_strangers(cart, state, secret);
        }
        self.broadcast(cart, state, sender);
    }

    /// Unlinks, with `doc-unavailable`, every peer whose key is not the one the cart is now
    /// bound to (`secret`).
    fn drop_strangers(&self, cart: CartId, state: &mut HubState, secret: SecretHash) {
        let strangers: Vec<u64> = state
            .links
            .iter()
            .filter(|(_, link)| link.secret != secret)
            .map(|(id, _)| *id)
            .collect();
        for id in strangers {
            if let Some(link) = state.links.remove(&id) {
                link.mailbox
                    .send(doc_unavailable(&self.server_peer_id, &link.peer_id, &cart));
            }
        }
    }

    /// Queues a sync message for every linked peer but `sender` (0: every peer).
    fn broadcast(&self, cart: CartId, state: &mut HubState, sender: u64) {
        for (id, link) in state.links.iter_mut() {
            if *id != sender {
                link.queue(cart, false);
            }
        }
    }

    /// Acts on one report of the store's [`crate::store::ChangeFeed`]: a cart changed (by
    /// another instance, or by this one), or the feed reconnected and any open cart may have.
    pub async fn follow(&self, event: FeedEvent) {
        match event {
            FeedEvent::Changed(cart) => self.changed_elsewhere(cart).await,
            FeedEvent::Resumed => {
                for cart in self.carts.ids() {
                    self.changed_elsewhere(cart).await;
                }
            }
        }
    }

    /// Catches up an open `cart` with the store after another instance changed it, and sends
    /// what it merged to every linked peer (and `doc-unavailable` to peers of another key when
    /// the cart was created elsewhere). Does nothing when the cart is not open; a store failure
    /// is logged and leaves the cart as it was (the next report or message reads it again).
    async fn changed_elsewhere(&self, cart: CartId) {
        let Some(hub) = self.carts.get(cart) else {
            return;
        };
        let mut guard = hub.state.lock().await;
        // A failure is logged where it happens; nothing changed.
        let _ = self.catch_up(cart, &mut guard).await;
    }

    /// Merges what the store has of `cart` and the hub has not ([`CartState::catch_up`]), and
    /// sends it on to every linked peer (unlinking the peers of another key when the cart was
    /// bound meanwhile). Errs with a storage [`Refusal`] when the store fails; nothing changed.
    async fn catch_up(&self, cart: CartId, state: &mut HubState) -> Result<(), Refusal> {
        let unbound = state.cart.secret.is_none();
        if !state.cart.catch_up(cart, &*self.store).await? {
            return Ok(());
        }
        if let (true, Some(secret)) = (unbound, state.cart.secret) {
            self.drop_strangers(cart, state, secret);
        }
        self.broadcast(cart, state, 0);
        Ok(())
    }

    /// Queues the answer to a sync message from `conn_id`: always a sync message, even when
    /// there is nothing new (the heartbeat contract, see the crate README).
    fn reply(&self, cart: CartId, state: &mut HubState, conn_id: u64) {
        if let Some(link) = state.links.get_mut(&conn_id) {
            link.queue(cart, true);
        }
    }

    /// The sync message due for connection `conn_id` and `cart`, generated now from the cart as
    /// it is and the link's sync state; called by the connection's writer for each
    /// [`Outbound::SyncDue`]. `None` when the link is gone or there is nothing to say.
    pub async fn next_sync(&self, conn_id: u64, cart: CartId) -> Option<Message> {
        let hub = self.carts.get(cart)?;
        let mut guard = hub.state.lock().await;
        let HubState { cart: copy, links } = &mut *guard;
        if !copy.is_loaded() {
            // A refused change whose undo could not read the store left the cart empty.
            copy.refresh(cart, &*self.store).await.ok()?;
        }
        links
            .get_mut(&conn_id)
            .and_then(|link| link.due_message(&self.server_peer_id, cart, &copy.doc))
    }

    /// Tells `peer` the cart is unavailable and unlinks it if it was linked.
    fn unavailable(&self, cart: CartId, state: &mut HubState, peer: &PeerContext) {
        state.links.remove(&peer.conn_id);
        peer.mailbox
            .send(doc_unavailable(&self.server_peer_id, &peer.peer_id, &cart));
    }

    /// Saves the sync state of the peer of `conn_id` (see [`Link::save_sync_state`]), for a
    /// stored cart only.
    async fn persist_sync_state(&self, cart: CartId, state: &mut HubState, conn_id: u64) {
        if state.cart.secret.is_none() {
            return;
        }
        if let Some(link) = state.links.get_mut(&conn_id) {
            link.save_sync_state(cart, &*self.store).await;
        }
    }

    /// Places the order `order_id` of the stored cart `cart` for a caller holding the key whose
    /// hash is `secret`, ordering the cart as the server has it at `heads` (the HTTP API's
    /// checkout; see [`crate::checkout`]). Everything runs under the cart's lock, so checkouts
    /// of one cart happen one after another and each sees the clears of the earlier ones.
    ///
    /// When the order is stored already, returns it and `false`. Otherwise calls
    /// `make(doc)` with the server's copy of the cart for the order and the change that clears
    /// its lines, stores both in one transaction ([`crate::store::ShopStore::place_order`]),
    /// merges the clear and sends it to every peer linked to the cart, and returns the order
    /// and `true`. The clear is checked against the schema only: it removes lines, so neither
    /// the size limit nor the line limit may refuse it.
    ///
    /// Errs with [`ReadAtError::NotFound`] when the cart is not stored or is bound to another
    /// key (the two look the same), [`ReadAtError::MissingChanges`] when the server does not
    /// have every change in `heads`, [`ReadAtError::Storage`] when the store fails (then
    /// nothing was stored), or with what `make` errs with.
    pub async fn place_order<E: From<ReadAtError>>(
        &self,
        cart: CartId,
        secret: &SecretHash,
        heads: &[ChangeHash],
        order_id: &str,
        make: impl FnOnce(&Automerge) -> Result<(Order, Vec<u8>), E>,
    ) -> Result<(Order, bool), E> {
        let hub = self.carts.open(cart, CartHub::new);
        let mut guard = hub.state.lock().await;
        let state = &mut *guard;
        // Caught up, not only loaded: an order placed on another instance must be seen with
        // its clear, even before the change feed reports it.
        self.catch_up(cart, state)
            .await
            .map_err(|_| ReadAtError::Storage)?;
        if state.cart.secret.as_ref() != Some(secret) {
            return Err(ReadAtError::NotFound.into());
        }
        let missing: Vec<ChangeHash> = heads
            .iter()
            .filter(|h| state.cart.doc.get_change_by_hash(h).is_none())
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(ReadAtError::MissingChanges(missing).into());
        }
        let storage = |e: StoreError| {
            tracing::error!(%cart, error = %e, "storing an order failed");
            ReadAtError::Storage
        };
        if let Some(order) = self.store.order(order_id).await.map_err(storage)? {
            return Ok((order, false));
        }
        let (order, clear) = make(&state.cart.doc)?;
        let cleared = self
            .applier()
            .clear(cart, &mut state.cart, secret, &order, &clear)
            .await?;
        if let Cleared::Existing(order) = cleared {
            return Ok((order, false));
        }
        // Connection ids start at 1: 0 is no peer, so every linked peer is sent the clear.
        self.after_change(cart, state, 0, *secret).await;
        Ok((order, true))
    }

    /// Relays an `ephemeral` message from `peer` to every other peer linked to its cart, with
    /// `targetId` set to each recipient. Ignored when `peer` is not linked to the cart (so
    /// nothing reveals whether the cart exists).
    pub async fn relay_ephemeral(
        &self,
        peer: &PeerContext,
        cart: CartId,
        message: protocol::Ephemeral,
    ) {
        let Some(hub) = self.carts.get(cart) else {
            return;
        };
        let state = hub.state.lock().await;
        if !state.links.contains_key(&peer.conn_id) {
            return;
        }
        for (id, link) in &state.links {
            if *id == peer.conn_id {
                continue;
            }
            let mut copy = message.clone();
            copy.target_id = link.peer_id.clone();
            if link.mailbox.send(Message::Ephemeral(copy)) {
                self.metrics.ephemeral_relayed();
            }
        }
    }

    /// Unlinks connection `conn_id` from `cart`, saving its sync state first. Does nothing when
    /// it is not linked.
    pub async fn leave(&self, conn_id: u64, cart: CartId) {
        let Some(hub) = self.carts.get(cart) else {
            return;
        };
        let mut guard = hub.state.lock().await;
        let state = &mut *guard;
        self.persist_sync_state(cart, state, conn_id).await;
        if !state.cart.is_loaded() && state.cart.refresh(cart, &*self.store).await.is_err() {
            // Nothing can be sent from a cart the store does not give back; the link goes.
            state.links.remove(&conn_id);
            return;
        }
        if let Some(mut link) = state.links.remove(&conn_id) {
            // A queued sync message would find the link gone: queue it made, so a change
            // acknowledged just before the peer leaves (or the server shuts down) still
            // reaches it. Dropping the link releases its hold on the cart.
            if let Some(message) = link.due_message(&self.server_peer_id, cart, &state.cart.doc) {
                link.mailbox.send(message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    use automerge::sync::{State as SyncState, SyncDoc};

    use super::*;
    use crate::error::ErrorKind;
    use crate::mailbox::{Mailbox, Outbound, OutboxBytes};
    use crate::secret::CartKey;
    use crate::store::SqliteStore;

    /// Hubs over a new SQLite file (kept until the returned directory drops), and one peer.
    async fn hubs_and_peer() -> (
        tempfile::TempDir,
        Hubs,
        PeerContext,
        mpsc::Receiver<Outbound>,
    ) {
        hubs_and_peer_within(Limits::default()).await
    }

    /// [`hubs_and_peer`] enforcing `limits`.
    async fn hubs_and_peer_within(
        limits: Limits,
    ) -> (
        tempfile::TempDir,
        Hubs,
        PeerContext,
        mpsc::Receiver<Outbound>,
    ) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (hubs, peer, rx) = instance(&dir.path().join("hub.sqlite3"), limits, 1).await;
        (dir, hubs, peer, rx)
    }

    /// A server instance's hubs over the SQLite file `db` (any number may share one file, as
    /// instances share one PostgreSQL database), and one peer with connection id `conn_id`.
    async fn instance(
        db: &std::path::Path,
        limits: Limits,
        conn_id: u64,
    ) -> (Hubs, PeerContext, mpsc::Receiver<Outbound>) {
        let store = SqliteStore::open(db).await.expect("a SQLite store");
        let hubs = Hubs::new(
            Arc::new(store),
            limits,
            Arc::new(Metrics::default()),
            "server".to_string(),
        );
        let (peer, rx) = peer_of(&hubs, conn_id);
        (hubs, peer, rx)
    }

    /// A peer of `hubs` with connection id `conn_id`, holding the test key, and its mailbox.
    fn peer_of(hubs: &Hubs, conn_id: u64) -> (PeerContext, mpsc::Receiver<Outbound>) {
        let (tx, rx) = mpsc::channel(16);
        let peer = PeerContext {
            conn_id,
            peer_id: format!("peer-{conn_id}"),
            storage_id: None,
            key: CartKey::parse(Some("hub-test-key-0123456789")).expect("a valid key"),
            mailbox: Mailbox::new(
                tx,
                Arc::new(OutboxBytes::new(
                    hubs.limits.outbox_bytes,
                    Arc::clone(&hubs.metrics),
                )),
                CancellationToken::new(),
            ),
        };
        (peer, rx)
    }

    /// The first sync message of a peer with an empty cart.
    fn hello() -> AutomergeSync {
        Automerge::new()
            .generate_sync_message(&mut SyncState::new())
            .expect("a first sync message")
    }

    #[tokio::test]
    async fn a_cart_stays_open_while_a_peer_is_linked_and_closes_when_it_leaves() {
        let (_dir, hubs, peer, mut rx) = hubs_and_peer().await;
        let cart = CartId::from_bytes([7; 16]);
        hubs.receive(&peer, cart, false, hello())
            .await
            .expect("an empty sync message is accepted");
        assert_eq!(hubs.open_carts(), 1, "the linked peer keeps the cart open");
        assert_eq!(rx.try_recv().ok(), Some(Outbound::SyncDue(cart)));
        assert!(hubs.next_sync(peer.conn_id, cart).await.is_some());
        assert_eq!(hubs.open_carts(), 1);
        hubs.leave(peer.conn_id, cart).await;
        assert_eq!(hubs.open_carts(), 0, "the last link out closes the cart");
        assert!(hubs.next_sync(peer.conn_id, cart).await.is_none());
        assert_eq!(
            hubs.open_carts(),
            0,
            "asking about a closed cart opens nothing"
        );
    }

    #[tokio::test]
    async fn a_refused_peer_leaves_no_cart_open() {
        let (_dir, hubs, peer, _rx) = hubs_and_peer().await;
        let cart = CartId::from_bytes([8; 16]);
        let mut shopper = cart_core::Cart::new(cart);
        shopper.add_item(&item("A")).expect("add");
        hubs.receive(&peer, cart, false, changes_since(&mut shopper, &[]))
            .await
            .expect("the cart is stored");
        hubs.leave(peer.conn_id, cart).await;
        // A peer with another key asks for it: `doc-unavailable`, and nothing stays open.
        let (mut stranger, mut stranger_rx) = peer_of(&hubs, 2);
        stranger.key = CartKey::parse(Some("another-key-0123456789")).expect("a valid key");
        hubs.receive(&stranger, cart, true, hello())
            .await
            .expect("a request is answered");
        assert!(matches!(stranger_rx.try_recv(), Ok(Outbound::Frame(_))));
        assert_eq!(hubs.open_carts(), 0);
    }

    #[tokio::test]
    async fn a_peer_that_asks_before_the_cart_is_stored_is_sent_it_once_a_device_creates_it() {
        let (_dir, hubs, laptop, mut laptop_rx) = hubs_and_peer().await;
        let cart = CartId::from_bytes([13; 16]);
        // The laptop opens the shared link first: the server has nothing yet and says so.
        let (mut copy, mut sync) = (Automerge::new(), SyncState::new());
        let request = copy
            .generate_sync_message(&mut sync)
            .expect("a first message");
        hubs.receive(&laptop, cart, true, request)
            .await
            .expect("a request is answered");
        assert!(matches!(laptop_rx.try_recv(), Ok(Outbound::Frame(_))));
        assert_eq!(hubs.open_carts(), 1, "the asking peer stays linked");

        // Then the phone's first change arrives and creates the cart.
        let (phone, _phone_rx) = peer_of(&hubs, 2);
        let mut shopper = cart_core::Cart::new(cart);
        shopper.add_item(&item("A")).expect("add");
        hubs.receive(&phone, cart, false, changes_since(&mut shopper, &[]))
            .await
            .expect("the first line is stored");
        let sent = answer_due(&hubs, &laptop, &mut laptop_rx, &mut copy, &mut sync).await;
        assert!(sent > 0, "the cart was sent to the laptop");
        assert_eq!(copy.get_heads(), shopper.heads(), "the laptop has the cart");
    }

    #[tokio::test]
    async fn a_message_dropped_while_it_waits_for_the_cart_releases_it() {
        let (_dir, hubs, peer, _rx) = hubs_and_peer().await;
        let cart = CartId::from_bytes([9; 16]);
        let busy = hubs.carts.open(cart, CartHub::new);
        let locked = busy.state.lock().await;
        let mut receiving = Box::pin(hubs.receive(&peer, cart, false, hello()));
        assert!(
            (&mut receiving).now_or_never().is_none(),
            "it waits for the lock"
        );
        drop(receiving);
        drop(locked);
        drop(busy);
        assert_eq!(
            hubs.open_carts(),
            0,
            "the dropped message released the cart"
        );
    }

    /// A sync message carrying the changes of `doc` since `since`.
    fn changes_since(doc: &mut cart_core::Cart, since: &[ChangeHash]) -> AutomergeSync {
        carrying(doc.heads(), doc.save_after(since))
    }

    fn item(sku: &str) -> cart_core::NewItem {
        cart_core::NewItem {
            sku: sku.into(),
            name: format!("product {sku}"),
            unit_price: 100,
            currency: "EUR".into(),
            quantity: 1,
            image_url: None,
            variant: None,
        }
    }

    /// What a refused change must leave as it was: the hub's copy of a cart (its changes, the
    /// lines it counts, the chunks it knows of), the sync state of the peer, and the chunks the
    /// store holds.
    #[derive(Debug, PartialEq, Eq)]
    struct Snapshot {
        heads: Vec<ChangeHash>,
        changes: Vec<ChangeHash>,
        lines: usize,
        stored_bytes: usize,
        incrementals: usize,
        sync: Vec<u8>,
        chunks: Vec<crate::store::Chunk>,
    }

    async fn snapshot(hubs: &Hubs, cart: CartId, peer: &PeerContext) -> Snapshot {
        let hub = hubs.carts.get(cart).expect("the cart is open");
        let state = hub.state.lock().await;
        let mut changes: Vec<ChangeHash> = state
            .cart
            .doc
            .get_changes(&[])
            .iter()
            .map(|c| c.hash())
            .collect();
        changes.sort();
        Snapshot {
            heads: state.cart.doc.get_heads(),
            changes,
            lines: state.cart.line_count(),
            stored_bytes: state.cart.stored_bytes(),
            incrementals: state.cart.incrementals(),
            sync: state.links[&peer.conn_id].sync.encode(),
            chunks: hubs.store.load_chunks(&cart).await.expect("the chunks"),
        }
    }

    /// A sync message carrying `changes` of a cart whose heads are then `heads`.
    fn carrying(heads: Vec<ChangeHash>, changes: Vec<u8>) -> AutomergeSync {
        AutomergeSync {
            heads,
            need: Vec::new(),
            have: Vec::new(),
            changes: vec![changes].into(),
            flags: None,
            version: automerge::sync::MessageVersion::V1,
        }
    }

    #[tokio::test]
    async fn a_refused_change_leaves_the_cart_and_the_store_as_they_were_and_the_next_is_accepted()
    {
        let limits = Limits {
            max_lines: 2,
            ..Limits::default()
        };
        let (_dir, hubs, peer, _rx) = hubs_and_peer_within(limits).await;
        let cart = CartId::from_bytes([10; 16]);
        let mut shopper = cart_core::Cart::new(cart);
        shopper.add_item(&item("A")).expect("add");
        hubs.receive(&peer, cart, false, changes_since(&mut shopper, &[]))
            .await
            .expect("a valid first line is accepted");
        let accepted = shopper.heads();
        let before = snapshot(&hubs, cart, &peer).await;
        assert_eq!(before.heads, accepted);
        assert_eq!(before.lines, 1);

        // Two more lines: over the line limit.
        let mut greedy = cart_core::Cart::load(cart, &shopper.save()).expect("load");
        greedy.add_item(&item("B")).expect("add");
        greedy.add_item(&item("C")).expect("add");
        let over_limit = changes_since(&mut greedy, &accepted);

        // A value outside the schema.
        let mut forger = automerge::AutoCommit::load(&shopper.save()).expect("load");
        automerge::transaction::Transactable::put(&mut forger, automerge::ROOT, "add:A#x", 5000)
            .expect("put");
        forger.commit();
        let outside_schema = carrying(forger.get_heads(), forger.save_after(&accepted));

        for (message, kind) in [
            (over_limit, ErrorKind::TooManyLines),
            (outside_schema, ErrorKind::SchemaViolation),
        ] {
            let refused = hubs
                .receive(&peer, cart, false, message)
                .await
                .expect_err("the change is refused");
            assert_eq!(refused.kind(), kind);
            assert_eq!(snapshot(&hubs, cart, &peer).await, before, "after {kind:?}");
            assert!(
                refused.undo_bytes() > 0,
                "the peer is charged for the cart read again"
            );
        }

        // The next valid change: one more line, within the limit only if the refused lines
        // left no trace in the kept line count.
        shopper.add_item(&item("B")).expect("add");
        hubs.receive(&peer, cart, false, changes_since(&mut shopper, &accepted))
            .await
            .expect("a second line is accepted");
        let after = snapshot(&hubs, cart, &peer).await;
        assert_eq!(after.heads, shopper.heads());
        assert_eq!(after.lines, 2);
        assert_eq!(
            after.chunks.len(),
            before.chunks.len() + 1,
            "one more chunk stored"
        );
    }

    #[tokio::test]
    async fn a_change_over_the_size_limit_leaves_the_cart_and_the_store_as_they_were() {
        let mut shopper = cart_core::Cart::new(CartId::from_bytes([11; 16]));
        shopper.add_item(&item("A")).expect("add");
        let first = shopper.save();
        let limits = Limits {
            max_document_bytes: first.len() + 64,
            ..Limits::default()
        };
        let (_dir, hubs, peer, _rx) = hubs_and_peer_within(limits).await;
        let cart = *shopper.id();
        hubs.receive(&peer, cart, false, carrying(shopper.heads(), first))
            .await
            .expect("a cart within the size limit is accepted");
        let accepted = shopper.heads();
        let before = snapshot(&hubs, cart, &peer).await;

        for sku in ["B", "C", "D", "E", "F"] {
            shopper.add_item(&item(sku)).expect("add");
        }
        let refused = hubs
            .receive(&peer, cart, false, changes_since(&mut shopper, &accepted))
            .await
            .expect_err("a cart over the size limit is refused");
        assert_eq!(refused.kind(), ErrorKind::DocumentTooLarge);
        assert_eq!(snapshot(&hubs, cart, &peer).await, before);
    }

    /// Plays a peer's part for `replica` with its sync `state` until `hubs` has nothing more
    /// to send it: takes each due sync message, applies it and answers it. Returns how many
    /// sync messages the hubs sent.
    async fn answer_due(
        hubs: &Hubs,
        peer: &PeerContext,
        rx: &mut mpsc::Receiver<Outbound>,
        replica: &mut Automerge,
        state: &mut SyncState,
    ) -> usize {
        let mut sent = 0;
        while let Ok(outbound) = rx.try_recv() {
            let Outbound::SyncDue(cart) = outbound else {
                panic!("only sync messages are due, got {outbound:?}");
            };
            let Some(Message::Sync(sync)) = hubs.next_sync(peer.conn_id, cart).await else {
                continue;
            };
            sent += 1;
            let message = AutomergeSync::decode(&sync.data).expect("a valid sync message");
            replica
                .receive_sync_message(state, message)
                .expect("the hub's changes apply");
            if let Some(answer) = replica.generate_sync_message(state) {
                hubs.receive(peer, cart, false, answer)
                    .await
                    .expect("the answer is accepted");
            }
        }
        sent
    }

    #[tokio::test]
    async fn a_change_stored_by_another_instance_reaches_this_instances_peers_once_reported() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = dir.path().join("shared.sqlite3");
        let (here, phone, mut phone_rx) = instance(&db, Limits::default(), 1).await;
        let (there, laptop, mut laptop_rx) = instance(&db, Limits::default(), 2).await;
        let cart = CartId::from_bytes([12; 16]);
        let mut shopper = cart_core::Cart::new(cart);
        shopper.add_item(&item("A")).expect("add");
        here.receive(&phone, cart, false, changes_since(&mut shopper, &[]))
            .await
            .expect("the first line is stored");

        // The laptop joins the cart on the other instance and gets the first line.
        let (mut copy, mut sync) = (Automerge::new(), SyncState::new());
        let hello = copy
            .generate_sync_message(&mut sync)
            .expect("a first message");
        there
            .receive(&laptop, cart, true, hello)
            .await
            .expect("the request is answered");
        answer_due(&there, &laptop, &mut laptop_rx, &mut copy, &mut sync).await;
        assert_eq!(copy.get_heads(), shopper.heads());

        // A second line on the phone's instance: the laptop hears nothing until it is reported.
        let before = shopper.heads();
        shopper.add_item(&item("B")).expect("add");
        here.receive(&phone, cart, false, changes_since(&mut shopper, &before))
            .await
            .expect("the second line is stored");
        assert!(laptop_rx.try_recv().is_err(), "no report yet, nothing due");

        // The report of the phone's instance's own change finds nothing new there, so its
        // peer is sent nothing more.
        while phone_rx.try_recv().is_ok() {}
        here.follow(FeedEvent::Changed(cart)).await;
        assert!(phone_rx.try_recv().is_err(), "nothing new, nothing due");

        there.follow(FeedEvent::Changed(cart)).await;
        let sent = answer_due(&there, &laptop, &mut laptop_rx, &mut copy, &mut sync).await;
        assert!(sent > 0, "the change was sent to the laptop");
        assert_eq!(
            copy.get_heads(),
            shopper.heads(),
            "the laptop has both lines"
        );
        assert_eq!(
            cart_core::schema::quantities(&copy).len(),
            2,
            "and reads them as two lines"
        );

        // Reported again (the instance's own change, or a duplicate): nothing more is sent.
        there.follow(FeedEvent::Changed(cart)).await;
        assert!(laptop_rx.try_recv().is_err(), "nothing new, nothing due");

        // After the feed reconnects every open cart is read again: a change whose report was
        // lost still arrives.
        let before = shopper.heads();
        shopper.add_item(&item("C")).expect("add");
        here.receive(&phone, cart, false, changes_since(&mut shopper, &before))
            .await
            .expect("the third line is stored");
        there.follow(FeedEvent::Resumed).await;
        answer_due(&there, &laptop, &mut laptop_rx, &mut copy, &mut sync).await;
        assert_eq!(
            copy.get_heads(),
            shopper.heads(),
            "the laptop has all three lines"
        );
    }

    #[tokio::test]
    async fn a_report_about_a_cart_that_is_not_open_opens_nothing() {
        let (_dir, hubs, _peer, _rx) = hubs_and_peer().await;
        hubs.follow(FeedEvent::Changed(CartId::from_bytes([13; 16])))
            .await;
        hubs.follow(FeedEvent::Resumed).await;
        assert_eq!(hubs.open_carts(), 0);
    }
}
