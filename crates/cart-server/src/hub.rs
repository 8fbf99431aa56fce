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
//! link a [`crate::open_carts::Hold`]; the last one dropped drops the hub, and the next load
//! reads the store again.
//!
//! Three more jobs run under the same lock, each in a module of its own: following what other
//! server instances store (`hub/follow.rs`), placing an order with the clear of its lines
//! (`hub/order.rs`), and a sign-in's claim, which moves an anonymous cart's lines into a
//! customer's cart under both carts' locks (`hub/claim.rs`).

use std::collections::hash_map;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use automerge::sync::Message as AutomergeSync;
use cart_core::wire::{self as protocol, Message};
use cart_core::CartId;

use crate::apply::{Applied, Applier};
use crate::cart_state::CartState;
use crate::error::Refusal;
use crate::limits::Limits;
use crate::link::{Link, PeerContext};
use crate::metrics::Metrics;
use crate::open_carts::{OpenCart, OpenCarts};
use crate::secret::SecretHash;
use crate::store::Store;

mod claim;
mod follow;
mod order;
#[cfg(test)]
mod tests;

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
        let started = Instant::now();
        let applied = self
            .applier()
            .sync_message(cart, &mut state.cart, &secret, &mut sync, message)
            .await;
        self.metrics.sync_applied(started.elapsed());
        let applied = applied?;
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

    /// Queues the answer to a sync message from `conn_id`: always a sync message, even when
    /// there is nothing new (the heartbeat contract, see the crate README).
    fn reply(&self, cart: CartId, state: &mut HubState, conn_id: u64) {
        if let Some(link) = state.links.get_mut(&conn_id) {
            link.queue(cart, true);
        }
    }

    /// The sync message due for connection `conn_id` and `cart`, generated now from the cart as
    /// it is and the link's sync state; called by the connection's writer for each
    /// [`crate::mailbox::Outbound::SyncDue`]. `None` when the link is gone or there is nothing to say.
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
