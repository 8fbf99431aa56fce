//! The shop's records beside the carts: the catalog, orders, demo accounts and customers' carts,
//! and the [`ShopStore`] trait that keeps them.
//!
//! These are a separate trait from [`super::DocStore`] because they are a different kind of
//! data: carts are Automerge documents synced with clients, these are plain rows the server
//! alone writes. Every store implements both (the server takes one value that is both), and the
//! [`super::conformance`] suite checks both.

use async_trait::async_trait;
use cart_core::chunks::ChunkKey;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::secret::SecretHash;

/// How the storefront draws a product: one of its named shapes in two colours, so the page
/// needs no image files and the catalog carries no markup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Art {
    /// A shape the page knows: `tee`, `cap`, `mug`, `bottle`, `tote`, `notebook`, `socks`,
    /// `star`, `card`, `poster`.
    pub shape: String,
    /// Background colour, `#rrggbb`.
    pub bg: String,
    /// Foreground colour, `#rrggbb`.
    pub fg: String,
}

/// One product of the catalog; one per sku (a product with sizes has one per size).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Product {
    /// Stock-keeping unit: what a cart line is keyed by.
    pub sku: String,
    /// Display name; plain text (it may contain `<` or `&`, which pages must show as text).
    pub name: String,
    /// One sentence for the product card; plain text.
    pub description: String,
    /// Price of one unit in the currency's minor unit (cents).
    pub unit_price: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Whether it can be ordered now; checkout refuses lines of unavailable products.
    pub available: bool,
    /// How to draw it.
    pub art: Art,
    /// Skus of one product in several variants share a group (`TEE` for `TEE-S`, `TEE-M`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The variant of this sku, as the cart's `variant` field holds it (`M`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// What the variants of the group differ in (`Size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant_label: Option<String>,
}

/// One line of an order: what was ordered and at which price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    /// Stock-keeping unit.
    pub sku: String,
    /// The catalog's name of the product.
    pub name: String,
    /// The cart line's variant, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Units ordered: the line's quantity in the cart at the checkout heads.
    pub quantity: i64,
    /// The catalog's price of one unit: the price charged.
    pub unit_price: i64,
    /// The price of one unit the cart line had (what the shopper saw when adding it).
    pub cart_unit_price: i64,
    /// The catalog's currency: the one charged.
    pub currency: String,
    /// Whether the catalog's price or currency differs from the cart line's.
    pub price_changed: bool,
    /// `unit_price * quantity`.
    pub line_total: i64,
}

/// The sum of an order's lines in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Total {
    /// ISO 4217 code.
    pub currency: String,
    /// Minor units.
    pub amount: i64,
}

/// An order, created once per (cart, heads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// `ord_` and 32 hex digits, derived from the cart id and the checkout heads.
    pub id: String,
    /// The cart that was checked out.
    pub cart_id: String,
    /// The cart heads the order was read at (sorted, lowercase hex).
    pub heads: Vec<String>,
    /// The ordered lines, in the cart's order.
    pub lines: Vec<OrderLine>,
    /// Per currency, ordered by code.
    pub totals: Vec<Total>,
    /// When the order was created, ms since the epoch.
    pub created_at: i64,
}

/// What [`ShopStore::place_order`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// The order and its clear were stored; the clear is the chunk with this key.
    Created(ChunkKey),
    /// An order with this id was stored already; here it is. Nothing was written.
    Existing(Order),
}

/// An order leased for one delivery attempt to the shop's webhook
/// ([`ShopStore::take_due_deliveries`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// The order to send.
    pub order: Order,
    /// Attempts begun for this order so far, this one included (1 on the first).
    pub attempts: u32,
}

/// Where the delivery of one order to the shop's webhook stands ([`ShopStore::delivery`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryState {
    /// Attempts begun so far.
    pub attempts: u32,
    /// When the next attempt is due (or the lease of the attempt in flight ends), ms since the
    /// epoch. Meaningless once delivered.
    pub next_attempt_at: i64,
    /// When the shop answered 2xx, ms since the epoch; `None` while pending.
    pub delivered_at: Option<i64>,
    /// Why the last failed attempt failed, for operators.
    pub last_error: Option<String>,
}

/// A demo account: a name and the cart it owns. Not authentication: anyone who knows the name
/// gets the cart and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The account name, trimmed.
    pub name: String,
    /// The account's cart id.
    pub cart_id: String,
    /// The account cart's secret (stored as is: the sign-in hands it out again).
    pub key: String,
}

/// A customer of a real shop, named by the shop's own id (the `sub` of its sign-in token, see
/// [`crate::claim`]), and the cart the server keeps for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// The shop's customer id.
    pub id: String,
    /// The customer's cart id.
    pub cart_id: String,
    /// The customer cart's secret (stored as is: every claim hands it out again, to a caller
    /// holding a token the shop signed).
    pub key: String,
}

/// The tables of cart owners: [`Account`]s and [`Customer`]s are kept alike (an owner, a cart
/// id and its key, the first stored winning), each in its own table so that a demo name never
/// names a shop's customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OwnerTable {
    /// `accounts`, by `name`.
    Accounts,
    /// `customers`, by `customer_id`.
    Customers,
}

impl OwnerTable {
    /// The table and its owner column, for SQL.
    pub(super) fn names(self) -> (&'static str, &'static str) {
        match self {
            OwnerTable::Accounts => ("accounts", "name"),
            OwnerTable::Customers => ("customers", "customer_id"),
        }
    }
}

/// A record as the stores keep it: JSON text.
pub(super) fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
}

/// A record read back from its JSON text; `what` names it in the error.
pub(super) fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Backend(format!("a stored {what} does not parse: {e}")))
}

/// The `(sku, body)` rows of `products`, in their order.
pub(super) fn product_rows(products: &[Product]) -> Result<Vec<(String, String)>, StoreError> {
    products
        .iter()
        .map(|p| Ok((p.sku.clone(), to_json(p)?)))
        .collect()
}

/// Durable storage of the catalog, orders and demo accounts.
///
/// Same guarantees as [`super::DocStore`]: a write is durable when the call returns `Ok`, several
/// handles may use one store at once, and a failed call changes nothing.
#[async_trait]
pub trait ShopStore: Send + Sync + 'static {
    /// Inserts every product whose sku is not in the catalog yet; never changes or duplicates a
    /// stored product. Returns how many it inserted. Products are listed in the order they were
    /// first seeded.
    async fn seed_catalog(&self, products: &[Product]) -> Result<usize, StoreError>;

    /// Inserts `product` or replaces the stored product of its sku (keeping its position).
    async fn put_product(&self, product: &Product) -> Result<(), StoreError>;

    /// Replaces the whole catalog with `products`, in their order, in one transaction: a
    /// product not in `products` is gone, and a concurrent reader sees the old catalog or the
    /// new one, never a mix. `products` must not repeat a sku (the caller checks).
    async fn replace_catalog(&self, products: &[Product]) -> Result<(), StoreError>;

    /// Every product, in catalog order.
    async fn catalog(&self) -> Result<Vec<Product>, StoreError>;

    /// Stores `order` and, in the same transaction, `clear` (the change that clears the ordered
    /// lines) as an incremental chunk of the order's cart, as [`super::DocStore::append_chunk`]
    /// would, and a pending delivery of the order to the shop's webhook, due at once (the
    /// outbox [`crate::webhook`] sends from): all or nothing.
    ///
    /// When an order with its id is stored already, returns it as [`Placed::Existing`] and
    /// writes nothing (its clear was stored with it). Exactly one of several concurrent calls
    /// with the same id creates it. Errs with [`StoreError::UnknownCart`] when the order's cart
    /// is not stored and [`StoreError::SecretMismatch`] when it is bound to another secret than
    /// `secret`; then nothing is written.
    async fn place_order(
        &self,
        order: &Order,
        secret: &SecretHash,
        clear: Vec<u8>,
    ) -> Result<Placed, StoreError>;

    /// The order with id `id`.
    async fn order(&self, id: &str) -> Result<Option<Order>, StoreError>;

    /// Leases at most `limit` pending deliveries due at `now` (ms since the epoch), oldest due
    /// first: each one's attempts grow by one and its next attempt moves to `lease_until`, in
    /// one statement, so another instance sharing the store does not take it again before
    /// then, and a lease that is never settled (the instance died) runs out and the delivery is
    /// retried. Concurrent callers never lease the same delivery.
    async fn take_due_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError>;

    /// Records that the shop took order `order_id` (answered 2xx) at `at`: it is never sent
    /// again. Does nothing to a delivery already delivered.
    async fn delivery_succeeded(&self, order_id: &str, at: i64) -> Result<(), StoreError>;

    /// Records that attempt number `attempt` (the [`DueDelivery::attempts`] of its lease) to
    /// deliver `order_id` failed with `error`, and that the next is due at `retry_at`. Does
    /// nothing to a delivery already delivered, or leased again since (a late answer to a lease
    /// that ran out must not cut short the lease of the caller now sending it).
    async fn delivery_failed(
        &self,
        order_id: &str,
        attempt: u32,
        retry_at: i64,
        error: &str,
    ) -> Result<(), StoreError>;

    /// When the earliest pending delivery is due (ms since the epoch), or `None` when every
    /// order was delivered: how long the deliverer may sleep.
    async fn next_delivery_at(&self) -> Result<Option<i64>, StoreError>;

    /// Where the delivery of order `order_id` stands; `None` for an unknown order.
    async fn delivery(&self, order_id: &str) -> Result<Option<DeliveryState>, StoreError>;

    /// How many orders cart `cart_id` has.
    async fn order_count(&self, cart_id: &str) -> Result<u64, StoreError>;

    /// The account named `fresh.name`, created as `fresh` when there is none. Concurrent calls
    /// for one name all get the same account.
    async fn account(&self, fresh: &Account) -> Result<Account, StoreError>;

    /// The customer with id `fresh.id` and their cart, created as `fresh` when there is none.
    /// Concurrent calls for one customer all get the same cart.
    async fn customer(&self, fresh: &Customer) -> Result<Customer, StoreError>;
}
