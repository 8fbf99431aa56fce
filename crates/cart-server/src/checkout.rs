//! Checkout: an order from a cart as it was at the heads the shopper saw, created once, and the
//! merge-safe clear of the ordered lines, stored together. Every unit is ordered once.
//!
//! 1. The order id is derived from the cart id and the sorted request heads ([`order_id`]), so
//!    the same request always means the same order. Everything below runs under the cart's lock
//!    ([`crate::hub::Hubs::place_order`]), so checkouts of one cart happen one after another.
//!    The server must have every change the heads name (else `sync_first`). An order already
//!    stored under the id is returned as it is (`repeated`).
//! 2. The cart is read at the request's heads *plus the clear of every earlier order* that
//!    they do not include ([`read_at`]). Devices A and B both hold a tee at H0; B adds a mug
//!    (Y on H0); A checks out at H0. B's checkout at \[Y\] then orders the mug alone: the
//!    tee's units were taken by A's order, whose clear is merged first. Merging a clear also
//!    brings in the changes it was made on, which B may not have seen: the units they hold were
//!    ordered and are cleared, and any other edit among them (say A removed a line) counts as
//!    it does in the merged cart. Adds concurrent with the earlier checkout stay; units an
//!    earlier order took are gone. The order records the heads it was read at.
//! 3. Every line is re-priced from the catalog ([`price_lines`]): the catalog's price wins and
//!    a difference is reported per line; unknown or unavailable skus refuse the whole
//!    checkout, and a cart with no line left is `empty_cart`.
//! 4. The ordered lines are cleared by a change made on the cart *at the heads the order was
//!    read at* ([`cart_core::Cart::clear_change`]): it deletes exactly the add entries present
//!    there and sets each line's quantity to 0, so adds made later or concurrently survive and
//!    a device that still holds the old lines does not bring them back. Its actor is derived
//!    from the cart and those heads ([`clear_actor_at`]), which is how step 2 tells clears
//!    from other changes. The order row and the clear are stored in one transaction
//!    ([`crate::store::ShopStore::place_order`]): no order exists without its clear. The clear
//!    is then merged and sent to every peer live. Only the schema checks it: it removes
//!    lines, so a cart at its size limit is still cleared.

use std::collections::{BTreeMap, HashMap};

use automerge::{ActorId, Automerge, ChangeHash};
use cart_core::cart::system_clock;
use cart_core::{Cart, CartId, Line};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::api::ApiError;
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
    format!("ord_{}", cart_core::hex::encode(&digest[..16]))
}

/// The actor of the change that clears the lines of an order read at `heads` (in any order) of
/// cart `cart`: the first 16 bytes of `SHA-256("offline-cart checkout clear v1\0" ||
/// order_id(cart, heads))`. Used for that change only, so the change is the same every time it
/// is made, and a change whose actor is `clear_actor_at(cart, its deps)` is a checkout's clear.
pub fn clear_actor_at(cart: &CartId, heads: &[ChangeHash]) -> ActorId {
    let mut hasher = Sha256::new();
    hasher.update(b"offline-cart checkout clear v1\0");
    hasher.update(order_id(cart, heads).as_bytes());
    let digest = hasher.finalize();
    ActorId::from(&digest[..16])
}

/// `heads` plus the hash of every checkout clear in `doc` (cart `cart`) that `heads` do not
/// include: the heads to read the cart at so that no unit an earlier order took is ordered
/// again. Sorted, without duplicates.
pub fn read_at(doc: &Automerge, cart: &CartId, heads: &[ChangeHash]) -> Vec<ChangeHash> {
    let clears = doc
        .get_changes_meta(heads)
        .into_iter()
        .filter(|change| *change.actor == clear_actor_at(cart, &change.deps))
        .map(|change| change.hash);
    let mut read_at = heads.to_vec();
    read_at.extend(clears);
    normalize_heads(&read_at)
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
    let id = order_id(&cart, &heads);
    let catalog = state.shop().catalog().await.map_err(|e| {
        tracing::error!(%cart, error = %e, "reading the catalog for a checkout failed");
        ApiError::storage()
    })?;
    let (order, created) = state
        .hubs()
        .place_order(cart, &secret, &heads, &id, |doc| {
            order_of(doc, cart, &heads, &id, &catalog, system_clock())
        })
        .await?;
    if created {
        state.metrics().order_created();
        state.order_placed();
        tracing::info!(%cart, order = %order.id, "order created");
    }
    Ok(Checkout {
        order,
        repeated: !created,
    })
}

/// Order `id` of cart `cart` (the server's copy `doc`) requested at `heads`, created at
/// `created_at`, and the change that clears its lines: steps 2 to 4 of the module
/// documentation.
///
/// Errs with `empty_cart`, `lines_refused`, or `storage` when `doc` does not read as a cart.
pub fn order_of(
    doc: &Automerge,
    cart: CartId,
    heads: &[ChangeHash],
    id: &str,
    catalog: &[Product],
    created_at: i64,
) -> Result<(Order, Vec<u8>), ApiError> {
    let corrupt = |why: String| {
        tracing::error!(%cart, %why, "the stored cart does not read as a cart");
        ApiError::storage()
    };
    let then = doc
        .fork_at(&read_at(doc, &cart, heads))
        .map_err(|e| corrupt(e.to_string()))?;
    let read_at = then.get_heads();
    let mut at = Cart::load(cart, &then.save()).map_err(|e| corrupt(e.to_string()))?;
    let lines = at.lines();
    if lines.is_empty() {
        return Err(ApiError::empty_cart());
    }
    let priced = price_lines(&lines, catalog).map_err(ApiError::lines_refused)?;
    let clear = at
        .clear_change(clear_actor_at(&cart, &read_at))
        .map_err(|e| corrupt(e.to_string()))?
        .ok_or_else(|| corrupt("a cart with lines made no clear".to_string()))?;
    let order = Order {
        id: id.to_string(),
        cart_id: cart.to_string(),
        heads: read_at.iter().map(|h| h.to_string()).collect(),
        totals: totals(&priced),
        lines: priced,
        created_at,
    };
    Ok((order, clear))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cart_core::fixtures::item;

    fn hash(n: u8) -> ChangeHash {
        ChangeHash([n; 32])
    }

    #[test]
    fn carts_are_read_with_the_clears_their_heads_missed_and_nothing_else() {
        let id = CartId::from_bytes([3; 16]);
        let mut device = Cart::new(id);
        device.add_item(&item("TEE", 1)).unwrap();
        let h0 = device.heads();
        // The server has H0, an order's clear made at H0, and a device's mug on H0 (Y).
        let mut server = Automerge::load(&device.save()).unwrap();
        let clear = device
            .clear_change(clear_actor_at(&id, &h0))
            .unwrap()
            .unwrap();
        server.load_incremental(&clear).unwrap();
        let clear_hash = server.get_heads()[0];
        device.add_item(&item("MUG", 1)).unwrap();
        let y = device.heads();
        server.load_incremental(&device.save()).unwrap();

        assert_eq!(
            read_at(&server, &id, &y),
            normalize_heads(&[y[0], clear_hash])
        );
        assert_eq!(
            read_at(&server, &id, &[clear_hash]),
            [clear_hash],
            "Y is no clear"
        );
        let everything = server.get_heads();
        assert_eq!(read_at(&server, &id, &everything), everything);
        assert_eq!(
            read_at(&server, &CartId::from_bytes([4; 16]), &y),
            y,
            "a clear is a clear of its own cart only"
        );
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
