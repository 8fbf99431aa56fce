//! A claim's step under the carts' locks: the anonymous cart's lines added to the customer's
//! cart, then cleared from the anonymous cart, each change stored and sent to every peer of its
//! cart (the rules are in [`crate::claim`]).

use automerge::Automerge;
use cart_core::CartId;

use super::{CartHub, HubState, Hubs};
use crate::apply::{Applied, Checks};
use crate::error::{ReadAtError, Refusal};
use crate::secret::SecretHash;

impl Hubs {
    /// Moves the lines of the stored cart `from` (whose key hashes to `from_secret`) into cart
    /// `into` (created, bound to `into_secret`, when it is not stored), for
    /// `POST /api/carts/claim`. Both carts are locked for the whole step, in cart id order (no
    /// other path holds two carts' locks, so two claims cannot wait on each other), and each
    /// is first caught up with the store.
    ///
    /// Calls `merge(from, into)` with the server's copies for the change that adds `from`'s
    /// lines to `into` and the number of lines it adds; stores it (checked against the schema
    /// and the limits) and sends it to every peer of `into`. Then calls `clear(from)` for the
    /// change that clears `from`'s lines; stores it (checked against the schema only: it
    /// removes lines) and sends it to every peer of `from`. Returns the number of lines added.
    ///
    /// Errs with [`ReadAtError::NotFound`] when `from` is not stored or is bound to another
    /// key, [`ReadAtError::Storage`] when the store fails or `into` is bound to another key
    /// than its customer's, a [`Refusal`] when a change is refused (then it was not stored; a
    /// refused clear comes after a stored merge, which a retry does not repeat), or with what
    /// `merge` or `clear` err with.
    pub async fn claim<E: From<ReadAtError> + From<Refusal>>(
        &self,
        (from, from_secret): (CartId, &SecretHash),
        (into, into_secret): (CartId, &SecretHash),
        merge: impl FnOnce(&Automerge, &Automerge) -> Result<Option<(Vec<u8>, usize)>, E>,
        clear: impl FnOnce(&Automerge) -> Result<Option<Vec<u8>>, E>,
    ) -> Result<usize, E> {
        if from == into {
            // One cart: nothing to move, and one lock, which must not be taken twice.
            return Ok(0);
        }
        let from_hub = self.carts.open(from, CartHub::new);
        let into_hub = self.carts.open(into, CartHub::new);
        let (mut from_state, mut into_state) = if from < into {
            let first = from_hub.state.lock().await;
            (first, into_hub.state.lock().await)
        } else {
            let first = into_hub.state.lock().await;
            (from_hub.state.lock().await, first)
        };
        self.caught_up(from, &mut from_state).await?;
        if from_state.cart.secret.as_ref() != Some(from_secret) {
            return Err(ReadAtError::NotFound.into());
        }
        self.caught_up(into, &mut into_state).await?;
        if into_state
            .cart
            .secret
            .is_some_and(|bound| bound != *into_secret)
        {
            tracing::error!(cart = %into, "a customer cart is bound to another key than the customer's");
            return Err(ReadAtError::Storage.into());
        }
        let mut added = 0;
        if let Some((change, lines)) = merge(&from_state.cart.doc, &into_state.cart.doc)? {
            if self
                .server_change::<E>(into, &mut into_state, into_secret, &change, Checks::Limits)
                .await?
            {
                added = lines;
            }
        }
        if let Some(change) = clear(&from_state.cart.doc)? {
            self.server_change::<E>(
                from,
                &mut from_state,
                from_secret,
                &change,
                Checks::SchemaOnly,
            )
            .await?;
        }
        Ok(added)
    }

    /// Applies and stores `change`, made by the server on cart `cart` (bound, or to be bound,
    /// to `secret`), and sends it to every linked peer. Returns whether it changed the cart.
    async fn server_change<E: From<ReadAtError> + From<Refusal>>(
        &self,
        cart: CartId,
        state: &mut HubState,
        secret: &SecretHash,
        change: &[u8],
        checks: Checks,
    ) -> Result<bool, E> {
        match self
            .applier()
            .server_change(cart, &mut state.cart, secret, change, checks)
            .await?
        {
            Applied::Unchanged => Ok(false),
            Applied::Stored => {
                // Connection ids start at 1: 0 is no peer, so every linked peer is sent it.
                self.after_change(cart, state, 0, *secret).await;
                Ok(true)
            }
            Applied::BoundElsewhere => {
                tracing::error!(%cart, "a cart the server changed is bound to another key");
                Err(ReadAtError::Storage.into())
            }
        }
    }
}
