//! Several server instances over one store.
//!
//! With one store shared by several instances ([`crate::store::PostgresStore`]), each instance
//! keeps its own hubs, and the store's [`crate::store::ChangeFeed`] reports every cart whose
//! chunks any instance stored. [`Hubs::follow`] takes each report: for a cart this instance has
//! open, it merges the chunks the hub has not seen
//! ([`crate::cart_state::CartState::catch_up`]) and, when that changed the cart, queues a sync
//! message for every linked peer, as after a local change. A
//! report of this instance's own change finds nothing new and sends nothing; a report about a
//! cart that is not open opens nothing. After the feed reconnects, every open cart is read
//! again, since the reports sent meanwhile are lost.
//!
//! Secret binding is safe across instances: [`crate::store::DocStore::append_chunk`] binds
//! atomically, and a pending hub re-reads the binding from the store on every message.

use cart_core::CartId;

use super::{HubState, Hubs};
use crate::error::{ReadAtError, Refusal};
use crate::store::FeedEvent;

impl Hubs {
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

    /// [`Hubs::catch_up`] for the HTTP API's steps under a cart's lock (checkout, claim): a
    /// store failure is [`ReadAtError::Storage`] (and logged where it happened).
    pub(super) async fn caught_up(
        &self,
        cart: CartId,
        state: &mut HubState,
    ) -> Result<(), ReadAtError> {
        self.catch_up(cart, state)
            .await
            .map_err(|_| ReadAtError::Storage)
    }

    /// Merges what the store has of `cart` and the hub has not
    /// ([`crate::cart_state::CartState::catch_up`]), and sends it on to every linked peer
    /// (unlinking the peers of another key when the cart was bound meanwhile). Errs with a storage [`Refusal`] when the store fails; nothing changed.
    pub(super) async fn catch_up(&self, cart: CartId, state: &mut HubState) -> Result<(), Refusal> {
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
}
