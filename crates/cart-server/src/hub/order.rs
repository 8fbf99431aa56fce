//! Checkout's step under the cart's lock: the order and the clear of its lines, stored
//! together and sent to every peer of the cart (the rules are in [`crate::checkout`]).

use automerge::{Automerge, ChangeHash, ReadDoc};
use cart_core::CartId;

use super::{CartHub, Hubs};
use crate::apply::Cleared;
use crate::error::ReadAtError;
use crate::secret::SecretHash;
use crate::store::shop::Order;
use crate::store::StoreError;

impl Hubs {
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
        self.caught_up(cart, state).await?;
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
}
