//! Checkout: an order from a cart as it was at the heads the shopper saw, created once, and the
//! merge-safe clear of the ordered lines.
//!
//! 1. The cart is read at the request's heads ([`crate::hub::Hubs::cart_at`]); the server must
//!    have every change they name (else `sync_first`).
//! 2. The order id is derived from the cart id and the sorted heads ([`order_id`]), so the same
//!    request always means the same order. An order already stored under that id is returned
//!    as it is (`repeated`).
//! 3. Otherwise every line is re-priced from the catalog ([`price_lines`]): the catalog's price
//!    wins and a difference is reported per line; unknown or unavailable skus refuse the whole
//!    checkout. The order is inserted under its id; of concurrent identical checkouts exactly
//!    one inserts, the others read its order back.
//! 4. The ordered lines are cleared by a change made on the cart *at the checkout heads*
//!    ([`cart_core::Cart::clear_change`]): it deletes exactly the add entries present there and
//!    sets each line's quantity to 0, so adds made later or concurrently survive and a device
//!    that still holds the old lines does not bring them back. The change is made by an actor
//!    derived from the order id with time 0, so every retry makes the identical change and
//!    merging it again is a no-op: a repeated checkout re-applies it, which also finishes a
//!    clear that a crash interrupted after the order was stored. The change goes through
//!    [`crate::hub::Hubs::apply_server_changes`]: admitted, stored, and sent to every peer live.

use std::collections::{BTreeMap, HashMap};

use automerge::{ActorId, ChangeHash};
use cart_core::{CartId, Line};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::api::ApiError;
use crate::hub::ReadAtError;
use crate::secret::CartKey;
use crate::store::shop::{Order, OrderLine, Product, Total};
use crate::AppState;

/// The most heads a checkout request may name.
pub const MAX_HEADS: usize = 64;

/// What a checkout returns: the order, and whether an earlier identical request created it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkout {
    /// The order.
    pub order: Order,
    /// True when the order already existed (this request created nothing).
    pub repeated: bool,
}

/// A cart line the catalog refuses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedLine {
    /// The line's sku.
    pub sku: String,
    /// `unknown_sku` or `unavailable`.
    pub reason: &'static str,
    /// What to do about it.
    pub message: String,
}

/// `heads` sorted and without duplicates: the form orders are derived from and stored with.
pub fn normalize_heads(heads: &[ChangeHash]) -> Vec<ChangeHash> {
    let mut heads = heads.to_vec();
    heads.sort();
    heads.dedup();
    heads
}

/// The id of the order of cart `cart` at `heads` (in any order, duplicates ignored):
/// `ord_` and the first 32 hex digits of `SHA-256("offline-cart order v1\0" || cart id bytes ||
/// sorted heads)`.
pub fn order_id(cart: &CartId, heads: &[ChangeHash]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"offline-cart order v1\0");
    hasher.update(cart.as_bytes());
    for head in normalize_heads(heads) {
        hasher.update(head.0);
    }
    let digest = hasher.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("ord_{hex}")
}

/// The actor of the change that clears the lines of order `order_id`: used for that change
/// only, so the change is the same every time it is made.
pub fn clear_actor(order_id: &str) -> ActorId {
    let mut hasher = Sha256::new();
    hasher.update(b"offline-cart checkout clear v1\0");
    hasher.update(order_id.as_bytes());
    let digest = hasher.finalize();
    ActorId::from(&digest[..16])
}

/// Prices `lines` from `catalog`: the catalog's name, price and currency win. Errs with every
/// line whose sku the catalog does not have or has as unavailable.
pub fn price_lines(
    lines: &[Line],
    catalog: &[Product],
) -> Result<Vec<OrderLine>, Vec<RefusedLine>> {
    let by_sku: HashMap<&str, &Product> = catalog.iter().map(|p| (p.sku.as_str(), p)).collect();
    let mut priced = Vec::with_capacity(lines.len());
    let mut refused = Vec::new();
    for line in lines {
        match by_sku.get(line.sku.as_str()) {
            None => refused.push(RefusedLine {
                sku: line.sku.clone(),
                reason: "unknown_sku",
                message: format!(
                    "the catalog has no product {:?}; remove the line and check out again",
                    line.sku
                ),
            }),
            Some(product) if !product.available => refused.push(RefusedLine {
                sku: line.sku.clone(),
                reason: "unavailable",
                message: format!(
                    "{:?} cannot be ordered now; remove the line and check out again",
                    product.name
                ),
            }),
            Some(product) => priced.push(OrderLine {
                sku: line.sku.clone(),
                name: product.name.clone(),
                variant: line.variant.clone(),
                quantity: line.quantity,
                unit_price: product.unit_price,
                cart_unit_price: line.unit_price,
                currency: product.currency.clone(),
                price_changed: product.unit_price != line.unit_price
                    || product.currency != line.currency,
                line_total: product.unit_price.saturating_mul(line.quantity),
            }),
        }
    }
    if refused.is_empty() {
        Ok(priced)
    } else {
        Err(refused)
    }
}

/// The sums of `lines` per currency, ordered by currency code.
pub fn totals(lines: &[OrderLine]) -> Vec<Total> {
    let mut sums: BTreeMap<&str, i64> = BTreeMap::new();
    for line in lines {
        let sum = sums.entry(line.currency.as_str()).or_default();
        *sum = sum.saturating_add(line.line_total);
    }
    sums.into_iter()
        .map(|(currency, amount)| Total {
            currency: currency.to_string(),
            amount,
        })
        .collect()
}

fn now_ms() -> i64 {
    cart_core::cart::system_clock()
}

/// Checks out cart `cart` at `heads` for the holder of `key`; see the module documentation.
///
/// Errs with `not_found` (unknown cart or wrong key), `sync_first`, `empty_cart`,
/// `lines_refused` or `storage`.
pub async fn checkout(
    state: &AppState,
    cart: CartId,
    key: &CartKey,
    heads: &[ChangeHash],
) -> Result<Checkout, ApiError> {
    let heads = normalize_heads(heads);
    let secret = key.hash_for(&cart);
    let mut at = match state.hubs().cart_at(cart, &secret, &heads).await {
        Ok(at) => at,
        Err(ReadAtError::NotFound) => return Err(ApiError::cart_not_found()),
        Err(ReadAtError::MissingChanges(missing)) => {
            return Err(ApiError::sync_first(missing.len()))
        }
        Err(ReadAtError::Storage) => return Err(ApiError::storage()),
    };
    let id = order_id(&cart, &heads);
    let shop = state.shop();
    let storage = |e: crate::store::StoreError| {
        tracing::error!(%cart, error = %e, "checkout storage failed");
        ApiError::storage()
    };
    let (order, repeated) = match shop.order(&id).await.map_err(storage)? {
        Some(order) => (order, true),
        None => {
            let lines = at.lines();
            if lines.is_empty() {
                return Err(ApiError::empty_cart());
            }
            let catalog = shop.catalog().await.map_err(storage)?;
            let priced = price_lines(&lines, &catalog).map_err(ApiError::lines_refused)?;
            let order = Order {
                id: id.clone(),
                cart_id: cart.to_string(),
                heads: heads.iter().map(|h| h.to_string()).collect(),
                totals: totals(&priced),
                lines: priced,
                created_at: now_ms(),
            };
            let (order, created) = shop.create_order(&order).await.map_err(storage)?;
            if created {
                state.metrics().order_created();
                tracing::info!(%cart, order = %order.id, "order created");
            }
            (order, !created)
        }
    };
    let change = at.clear_change(clear_actor(&order.id)).map_err(|e| {
        tracing::error!(%cart, error = %e, "making the checkout's clear failed");
        ApiError::storage()
    })?;
    if let Some(change) = change {
        state
            .hubs()
            .apply_server_changes(cart, &change)
            .await
            .map_err(|refusal| {
                tracing::error!(%cart, %refusal, "storing the checkout's clear failed");
                ApiError::storage()
            })?;
    }
    Ok(Checkout { order, repeated })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> ChangeHash {
        ChangeHash([n; 32])
    }

    #[test]
    fn order_ids_ignore_the_order_of_heads_but_not_the_cart() {
        let cart = CartId::from_bytes([1; 16]);
        let id = order_id(&cart, &[hash(1), hash(2)]);
        assert!(id.starts_with("ord_") && id.len() == 36, "{id}");
        assert_eq!(id, order_id(&cart, &[hash(2), hash(1), hash(2)]));
        assert_ne!(id, order_id(&cart, &[hash(1)]));
        assert_ne!(
            id,
            order_id(&CartId::from_bytes([2; 16]), &[hash(1), hash(2)])
        );
    }
}
