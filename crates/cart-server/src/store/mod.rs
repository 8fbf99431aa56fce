//! Where carts live: the [`DocStore`] trait, its embedded implementation [`SqliteStore`], the
//! scale-out [`PostgresStore`], and the [`conformance`] suite every implementation must pass.
//!
//! A cart is stored like automerge-repo stores a document: a set of chunks, each either a
//! snapshot (a whole saved document) or an incremental chunk (changes), keyed by a
//! [`ChunkKey`]: its kind and the hash of its bytes, the key the browser uses too
//! ([`cart_core::chunks`]), in the columns `kind` and `hash`. Rows an earlier server keyed by
//! the whole SHA-256 read back as they are. Loading concatenates every chunk of the cart. Compaction writes one snapshot and
//! deletes exactly the chunks the compacting server had loaded or written itself, so chunks
//! another server instance added in the meantime survive.
//!
//! # Scaling out: [`PostgresStore`]
//!
//! The trait assumes no exclusive access: several stateless server instances may share one
//! store. [`PostgresStore`] keeps the same tables in PostgreSQL and gives the guarantees across
//! instances (see its module). It also tells the instances about each other's changes: every
//! write of a cart's chunks (append, compaction, an order's clear) sends
//! `NOTIFY cart_changes, '<cart id>'` in its transaction, so the notice goes out exactly when the
//! change commits, and [`DocStore::change_feed`] hands the instance a [`ChangeFeed`] fed by one
//! connection that `LISTEN`s (see `postgres_feed`). The hubs ([`crate::hub`]) load the chunks
//! they have not seen of a cart they have open and send them to their peers.
//! [`ShopStore::place_order`] locks the cart's row, so checkouts of one cart are serialised
//! across instances, and the hub reads the chunks it has not seen before pricing, so that an
//! order on one instance always sees the clears of orders placed on another.

pub mod conformance;
mod group_commit;
pub mod postgres;
pub mod postgres_feed;
pub mod shop;
pub mod sqlite;

use std::collections::HashSet;
use std::fmt;

use async_trait::async_trait;
use cart_core::chunks::ChunkKey;
use cart_core::CartId;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::secret::SecretHash;

pub use postgres::PostgresStore;
pub use shop::ShopStore;
pub use sqlite::SqliteStore;

/// A store of carts ([`DocStore`]) and of the shop's records ([`ShopStore`]) in one: what the
/// server runs on.
pub trait Store: DocStore + ShopStore {}

impl<T: DocStore + ShopStore> Store for T {}

/// One stored chunk of a cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Its key.
    pub key: ChunkKey,
    /// The Automerge bytes.
    pub bytes: Vec<u8>,
}

/// Why a store operation failed.
#[derive(Debug, Clone)]
pub enum StoreError {
    /// The cart is bound to another secret; nothing was written.
    SecretMismatch,
    /// The operation needs a cart that is not stored.
    UnknownCart,
    /// The backend failed (IO, SQL, corrupt rows); the text is for the log only.
    Backend(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::SecretMismatch => f.write_str("the cart is bound to another secret"),
            StoreError::UnknownCart => f.write_str("the cart is not stored"),
            StoreError::Backend(why) => write!(f, "storage backend failed: {why}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// What a [`ChangeFeed`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedEvent {
    /// Some instance (this one included) stored a change of this cart.
    Changed(CartId),
    /// The feed (re)connected: notices sent while it was not listening are lost, so every open
    /// cart may have changed.
    Resumed,
}

/// The changes other instances store, as they commit: what [`DocStore::change_feed`] returns.
/// It ends when the feed is stopped.
pub type ChangeFeed = mpsc::Receiver<FeedEvent>;

/// Durable storage of carts, their secret hashes and peers' sync states.
///
/// Guarantees every implementation gives (checked by [`conformance`]):
/// - When a writing method returns `Ok`, the write is durable (on disk, or committed in the
///   database): the server acknowledges a change only after that.
/// - No exclusive access is assumed: several handles (processes, server instances) may use one
///   store at once, and nothing one of them wrote is lost through another.
/// - A failed call changes nothing.
#[async_trait]
pub trait DocStore: Send + Sync + 'static {
    /// The id of this store, created on first use and stable afterwards. The server announces it
    /// as its `storageId`, so clients can persist their sync state with it.
    async fn storage_id(&self) -> Result<String, StoreError>;

    /// The secret hash cart `cart` is bound to, or `None` when the cart is not stored.
    async fn secret_hash(&self, cart: &CartId) -> Result<Option<SecretHash>, StoreError>;

    /// Every chunk of `cart`, snapshots first; empty when the cart is not stored. The same
    /// query as [`DocStore::load_chunks_unseen`] with nothing seen, so every row has its bytes.
    async fn load_chunks(&self, cart: &CartId) -> Result<Vec<Chunk>, StoreError> {
        let rows = self.load_chunks_unseen(cart, &HashSet::new()).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(key, bytes)| bytes.map(|bytes| Chunk { key, bytes }))
            .collect())
    }

    /// The key of every chunk of `cart`, in [`DocStore::load_chunks`]'s order, each with its
    /// bytes unless its key is in `seen` (then `None`): what an instance holding the chunks of
    /// `seen` needs to catch up with other instances' writes without reading again the bytes it
    /// has. Empty when the cart is not stored.
    async fn load_chunks_unseen(
        &self,
        cart: &CartId,
        seen: &HashSet<ChunkKey>,
    ) -> Result<Vec<(ChunkKey, Option<Vec<u8>>)>, StoreError>;

    /// Stores `bytes` as an incremental chunk of `cart` and returns its key. When the cart is
    /// not stored yet, binds it to `secret` in the same transaction.
    ///
    /// Storing the same bytes twice keeps one chunk. Errs with [`StoreError::SecretMismatch`]
    /// (writing nothing) when the cart is bound to another secret.
    async fn append_chunk(
        &self,
        cart: &CartId,
        secret: &SecretHash,
        bytes: Vec<u8>,
    ) -> Result<ChunkKey, StoreError>;

    /// Stores `snapshot` as a snapshot chunk of `cart`, then deletes the chunks in `replaces`
    /// (never the new snapshot itself, and never a chunk not listed), in one transaction.
    /// Returns the snapshot's key.
    ///
    /// Errs with [`StoreError::UnknownCart`] when the cart is not stored.
    async fn compact(
        &self,
        cart: &CartId,
        snapshot: Vec<u8>,
        replaces: &[ChunkKey],
    ) -> Result<ChunkKey, StoreError>;

    /// The sync state last saved for the peer storage `storage_id` and `cart`.
    async fn load_sync_state(
        &self,
        storage_id: &str,
        cart: &CartId,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// Saves (replacing) the sync state of the peer storage `storage_id` for `cart`.
    async fn save_sync_state(
        &self,
        storage_id: &str,
        cart: &CartId,
        state: Vec<u8>,
    ) -> Result<(), StoreError>;

    /// How many carts are stored.
    async fn cart_count(&self) -> Result<u64, StoreError>;

    /// Answers `Ok` when the store serves queries now: one cheap read of the carts table (no
    /// count, no lock). What `/readyz` asks before saying the instance can take traffic.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Starts reporting the carts whose chunks any instance sharing this store changes, until
    /// `stop` is cancelled or the feed is dropped; reconnects by itself (reporting
    /// [`FeedEvent::Resumed`] each time it listens again). `None`, the default, for a store only
    /// one instance uses (a SQLite file): nobody else writes, so there is nothing to hear.
    fn change_feed(&self, _stop: CancellationToken) -> Option<ChangeFeed> {
        None
    }
}

/// A random id in the form of a UUID v4 (what automerge-repo uses for storage ids).
pub fn random_uuid() -> Result<String, StoreError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| StoreError::Backend(format!("no secure random source: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = cart_core::hex::encode(&b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_have_the_v4_shape() {
        let id = random_uuid().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, random_uuid().unwrap());
    }
}
