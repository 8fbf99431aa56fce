//! The bookkeeping of a cart's stored chunks, one sans-IO type for the browser
//! ([`crate::persist::Persister`]) and the server (cart-server's `CartState`) alike, as samod's
//! `OnDiskState` is for automerge-repo documents.
//!
//! A cart is stored as automerge-repo stores a document: a set of chunks, each a snapshot (a
//! whole document, `Automerge::save`) or an incremental chunk (changes, `save_after`), keyed by
//! its kind and the hash of its bytes. One key, two spellings of it:
//!
//! ```text
//! browser storage path   ["<cartId>", "snapshot" | "incremental", "<hash>"]   (ChunkKey::path)
//! server chunks row      (cart_id, kind, hash)                                 (ChunkKey::parse)
//!
//! hash = the first 16 bytes of the SHA-256 of the chunk's bytes, 32 lowercase hex digits
//! ```
//!
//! Earlier versions of cart-server keyed their rows by the whole SHA-256 (64 hex digits): those
//! keys parse too and are kept as they are, never rewritten; the next compaction that owns them
//! deletes them. The same bytes stored under both hashes are two chunks holding the same
//! changes, which merge once.
//!
//! A [`ChunkLedger`] is one writer's knowledge of one cart's chunks (a browser tab, a server
//! instance); several writers share one storage and none has exclusive access:
//!
//! - **seen**: the chunks whose bytes are in the writer's document, or wait in its queue for a
//!   dependency. Catching up with other writers reads only the chunks not seen
//!   ([`ChunkLedger::unseen`]).
//! - **owned**: the chunks compaction may delete: those this writer wrote, or loaded into a
//!   document that has every change they depend on. Never a chunk another writer added since,
//!   never one that failed to load, and never one whose changes wait on a dependency the
//!   storage does not have (a snapshot leaves waiting changes out, so deleting the chunk would
//!   lose them). Which waiting chunk holds them cannot be told from outside the document's
//!   queue, so a merge that leaves anything waiting owns none of the chunks it merged.
//! - **incrementals** since the last snapshot and the **bytes** of the chunks known: when to
//!   compact ([`ChunkLedger::should_compact`], [`COMPACT_AFTER`]).
//!
//! A compaction writes one snapshot and deletes the owned chunks
//! ([`ChunkLedger::compaction`]); chunks another writer stored meanwhile survive, so no writer
//! ever loses another's changes.

use std::collections::{BTreeSet, HashSet};
use std::fmt;

use automerge::ReadDoc;
use sha2::{Digest, Sha256};

use crate::cart_id::CartId;
use crate::error::{CartError, ErrorCode};
use crate::storage::StorageKey;

/// How many incremental chunks a writer adds before it compacts them into a snapshot. Small
/// enough that a cold start reads few chunks, large enough that few writes pay for a snapshot.
pub const COMPACT_AFTER: usize = 32;

/// Hex digits of the hash this version writes (the first 16 bytes of the SHA-256).
const HASH_DIGITS: usize = 32;
/// Hex digits of the whole SHA-256, as earlier versions of cart-server keyed their rows.
const FULL_SHA256_DIGITS: usize = 64;

/// Whether a chunk holds a whole document or some changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChunkKind {
    /// A whole saved document (`Automerge::save`).
    Snapshot,
    /// Changes (`Automerge::save_after`).
    Incremental,
}

impl ChunkKind {
    /// The kind as stored: `snapshot` or `incremental`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChunkKind::Snapshot => "snapshot",
            ChunkKind::Incremental => "incremental",
        }
    }

    /// The kind stored as `text`, or `None` for any other text.
    pub fn parse(text: &str) -> Option<ChunkKind> {
        match text {
            "snapshot" => Some(ChunkKind::Snapshot),
            "incremental" => Some(ChunkKind::Incremental),
            _ => None,
        }
    }
}

impl fmt::Display for ChunkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The content hash part of a [`ChunkKey`]: lowercase hex, 32 digits as written now, or 64 as
/// earlier versions of cart-server wrote them (read, never written).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkHash(String);

impl ChunkHash {
    /// The hash of `bytes`: the first 16 bytes of their SHA-256, as 32 lowercase hex digits.
    pub fn of(bytes: &[u8]) -> ChunkHash {
        let digest = Sha256::digest(bytes);
        ChunkHash(crate::hex::encode(&digest[..HASH_DIGITS / 2]))
    }

    /// The hash stored as `text`.
    ///
    /// Errs with [`ErrorCode::CorruptData`] unless `text` is 32 or 64 lowercase hex digits.
    pub fn parse(text: &str) -> Result<ChunkHash, CartError> {
        let hex = text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if hex && (text.len() == HASH_DIGITS || text.len() == FULL_SHA256_DIGITS) {
            Ok(ChunkHash(text.to_owned()))
        } else {
            Err(CartError::new(
                ErrorCode::CorruptData,
                format!(
                    "{text:?} is not a chunk hash: expected {HASH_DIGITS} (or, from older servers, {FULL_SHA256_DIGITS}) lowercase hex digits; the entry was not written by offline-cart and is left as it is"
                ),
            ))
        }
    }

    /// The hash as stored: lowercase hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChunkHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key of one stored chunk: its kind and the hash of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkKey {
    kind: ChunkKind,
    hash: ChunkHash,
}

impl ChunkKey {
    /// The key of a chunk of `kind` holding `bytes`. Every writer keys new chunks this way.
    pub fn of(kind: ChunkKind, bytes: &[u8]) -> ChunkKey {
        ChunkKey {
            kind,
            hash: ChunkHash::of(bytes),
        }
    }

    /// The key stored as the columns `kind` and `hash` (a server's chunks row).
    ///
    /// Errs with [`ErrorCode::CorruptData`] when `kind` is not `snapshot` or `incremental`, or
    /// `hash` is not a [`ChunkHash`].
    pub fn parse(kind: &str, hash: &str) -> Result<ChunkKey, CartError> {
        let kind = ChunkKind::parse(kind).ok_or_else(|| {
            CartError::new(
                ErrorCode::CorruptData,
                format!(
                    "{kind:?} is not a chunk kind: expected \"snapshot\" or \"incremental\"; the entry was not written by offline-cart and is left as it is"
                ),
            )
        })?;
        Ok(ChunkKey {
            kind,
            hash: ChunkHash::parse(hash)?,
        })
    }

    /// Whether the chunk is a snapshot or incremental.
    pub fn kind(&self) -> ChunkKind {
        self.kind
    }

    /// The hash of the chunk's bytes.
    pub fn hash(&self) -> &ChunkHash {
        &self.hash
    }

    /// Whether `bytes` are what this key says: a chunk of this kind keyed now would get this
    /// key. A chunk keyed by an older server's full SHA-256 never matches.
    pub fn holds(&self, bytes: &[u8]) -> bool {
        *self == ChunkKey::of(self.kind, bytes)
    }

    /// The storage path of this chunk of cart `cart`: `["<cartId>", "<kind>", "<hash>"]`.
    pub fn path(&self, cart: &CartId) -> StorageKey {
        vec![
            cart.to_string(),
            self.kind.as_str().to_owned(),
            self.hash.0.clone(),
        ]
    }

    /// The key of a chunk of cart `cart` stored at `path`, or `None` when `path` is not shaped
    /// like a chunk's path of that cart (another cart's, the access secret, anything else).
    ///
    /// Errs with [`ErrorCode::CorruptData`] when `path` has a chunk's shape under `cart` but
    /// its hash is not a [`ChunkHash`].
    pub fn from_path(cart: &CartId, path: &[String]) -> Option<Result<ChunkKey, CartError>> {
        match path {
            [id, kind, hash] if *id == cart.to_string() => {
                let kind = ChunkKind::parse(kind)?;
                Some(ChunkHash::parse(hash).map(|hash| ChunkKey { kind, hash }))
            }
            _ => None,
        }
    }
}

impl fmt::Display for ChunkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.hash)
    }
}

/// Whether a document has every change its merged chunks depend on: decides whether the
/// chunks merged into it may be owned ([`ChunkLedger::merged`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependencies {
    /// Nothing waits in the document's queue: a snapshot of it holds every merged change.
    Complete,
    /// Some changes wait for a dependency the storage does not have: a snapshot would leave
    /// them out.
    Missing,
}

impl Dependencies {
    /// Whether `doc` has every change its merged chunks depend on (nothing waits in its
    /// queue).
    pub fn of(doc: &impl ReadDoc) -> Dependencies {
        if doc.get_missing_deps(&[]).is_empty() {
            Dependencies::Complete
        } else {
            Dependencies::Missing
        }
    }
}

/// What a compaction writes and deletes: the snapshot's key and the owned chunks it replaces
/// (never the snapshot itself). Produced by [`ChunkLedger::compaction`]; once durable, report
/// it with [`ChunkLedger::compacted`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compaction {
    /// The key of the new snapshot.
    pub snapshot: ChunkKey,
    /// The size of the snapshot in bytes.
    pub size: usize,
    /// The chunks to delete in the same batch, sorted (so that concurrent compactions lock
    /// rows in one order).
    pub deletes: Vec<ChunkKey>,
}

/// One writer's bookkeeping of one cart's stored chunks (see the [module](self) docs): what it
/// has seen, what it owns and may compact away, and when to compact. Performs no IO: the
/// caller reads and writes, and reports here what became durable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkLedger {
    seen: HashSet<ChunkKey>,
    owned: BTreeSet<ChunkKey>,
    incrementals: usize,
    bytes: usize,
}

impl ChunkLedger {
    /// The ledger of a writer that knows of no chunk (a new cart, or before the first read).
    pub fn new() -> ChunkLedger {
        ChunkLedger::default()
    }

    /// Records chunks (key and size in bytes) whose bytes were just merged into the document,
    /// read from storage when opening the cart or catching up. They are seen and counted; they
    /// are owned only when `dependencies` is [`Dependencies::Complete`] after the merge.
    /// Chunks that failed to load are not reported here, so they are never deleted.
    pub fn merged(
        &mut self,
        chunks: impl IntoIterator<Item = (ChunkKey, usize)>,
        dependencies: Dependencies,
    ) {
        for (key, size) in chunks {
            self.count(&key, size);
            self.seen.insert(key.clone());
            if dependencies == Dependencies::Complete {
                self.owned.insert(key);
            }
        }
    }

    /// Records that the storage now holds exactly the chunks of `listing`: a seen chunk that is
    /// not listed was deleted by another writer's compaction and is forgotten. Call it with the
    /// complete listing read while catching up, after [`ChunkLedger::merged`] for its unseen
    /// chunks.
    pub fn listed<'a>(&mut self, listing: impl IntoIterator<Item = &'a ChunkKey>) {
        let listed: HashSet<&ChunkKey> = listing.into_iter().collect();
        self.seen.retain(|key| listed.contains(key));
    }

    /// The chunks of `listing` (the keys a storage holds for the cart) whose bytes this writer
    /// has not seen: what catching up must read and merge.
    pub fn unseen<'a>(
        &'a self,
        listing: impl IntoIterator<Item = &'a ChunkKey>,
    ) -> impl Iterator<Item = &'a ChunkKey> {
        listing.into_iter().filter(|key| !self.seen.contains(key))
    }

    /// Whether the bytes of chunk `key` are in this writer's document.
    pub fn has_seen(&self, key: &ChunkKey) -> bool {
        self.seen.contains(key)
    }

    /// The chunks whose bytes are in this writer's document (see [`ChunkLedger::unseen`]).
    pub fn seen(&self) -> &HashSet<ChunkKey> {
        &self.seen
    }

    /// Records that this writer stored an incremental chunk of `size` bytes under `key`: it is
    /// seen, owned and counted towards the next compaction.
    pub fn stored(&mut self, key: ChunkKey, size: usize) {
        self.count(&key, size);
        self.seen.insert(key.clone());
        self.owned.insert(key);
    }

    /// Whether enough incremental chunks piled up since the last snapshot that the next write
    /// should be a compaction ([`COMPACT_AFTER`]).
    pub fn should_compact(&self) -> bool {
        self.incrementals >= COMPACT_AFTER
    }

    /// The compaction that stores `snapshot` (the whole document) and deletes every owned chunk
    /// but the snapshot itself. Changes nothing until [`ChunkLedger::compacted`].
    pub fn compaction(&self, snapshot: &[u8]) -> Compaction {
        let key = ChunkKey::of(ChunkKind::Snapshot, snapshot);
        Compaction {
            deletes: self.owned.iter().filter(|k| **k != key).cloned().collect(),
            snapshot: key,
            size: snapshot.len(),
        }
    }

    /// Records that `compaction` is durable: its deleted chunks are gone, the snapshot is the
    /// one owned chunk, and counting starts again. Chunks owned after the compaction was
    /// planned are kept (they were not deleted).
    pub fn compacted(&mut self, compaction: Compaction) {
        for gone in &compaction.deletes {
            self.seen.remove(gone);
            self.owned.remove(gone);
        }
        self.seen.insert(compaction.snapshot.clone());
        self.owned.insert(compaction.snapshot);
        self.incrementals = 0;
        self.bytes = compaction.size;
    }

    /// The chunks a compaction would delete, in key order.
    pub fn owned(&self) -> impl Iterator<Item = &ChunkKey> {
        self.owned.iter()
    }

    /// Incremental chunks this writer merged or stored since its last snapshot.
    pub fn incrementals(&self) -> usize {
        self.incrementals
    }

    /// The bytes of the chunks this writer merged or stored since its last snapshot, the
    /// snapshot included: an overestimate of the saved document.
    pub fn stored_bytes(&self) -> usize {
        self.bytes
    }

    fn count(&mut self, key: &ChunkKey, size: usize) {
        if key.kind == ChunkKind::Incremental {
            self.incrementals += 1;
        }
        self.bytes = self.bytes.saturating_add(size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: ChunkKind, bytes: &str) -> ChunkKey {
        ChunkKey::of(kind, bytes.as_bytes())
    }

    fn cart() -> CartId {
        CartId::from_bytes([3; 16])
    }

    #[test]
    fn hashes_are_the_first_half_of_the_sha256_in_lowercase_hex() {
        assert_eq!(
            ChunkHash::of(b"").as_str(),
            "e3b0c44298fc1c149afbf4c8996fb924"
        );
    }

    #[test]
    fn the_storage_path_is_the_one_earlier_browser_versions_wrote() {
        // As `persist` keyed chunks before this module existed: IndexedDB and localStorage
        // entries written then must read back under the same key.
        assert_eq!(
            ChunkKey::of(ChunkKind::Snapshot, b"").path(&cart()),
            vec![
                cart().to_string(),
                "snapshot".to_owned(),
                "e3b0c44298fc1c149afbf4c8996fb924".to_owned()
            ]
        );
    }

    #[test]
    fn a_key_survives_its_path_and_its_columns() {
        let original = key(ChunkKind::Incremental, "changes");
        let path = original.path(&cart());
        assert_eq!(path[0], cart().to_string());
        assert_eq!(path[1], "incremental");
        assert_eq!(
            ChunkKey::from_path(&cart(), &path).map(|k| k.ok()),
            Some(Some(original.clone()))
        );
        let parsed = ChunkKey::parse(original.kind().as_str(), original.hash().as_str());
        assert_eq!(parsed.ok(), Some(original));
    }

    #[test]
    fn an_older_servers_full_sha256_key_parses_but_does_not_hold_its_bytes() {
        let full = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let old = ChunkKey::parse("snapshot", full).expect("the full SHA-256 parses");
        assert_eq!(old.hash().as_str(), full);
        assert!(!old.holds(b""));
        assert!(ChunkKey::of(ChunkKind::Snapshot, b"").holds(b""));
    }

    #[test]
    fn malformed_keys_are_refused_with_what_was_expected() {
        for (kind, hash) in [
            ("delta", "e3b0c44298fc1c149afbf4c8996fb924"),
            ("snapshot", "E3B0C44298FC1C149AFBF4C8996FB924"),
            ("snapshot", "e3b0c44298fc1c149afbf4c8996fb92"),
            ("incremental", "garbage"),
        ] {
            let err = ChunkKey::parse(kind, hash).expect_err("malformed");
            assert_eq!(err.code(), ErrorCode::CorruptData, "{kind} {hash}");
        }
    }

    #[test]
    fn only_chunk_shaped_paths_of_the_cart_are_chunk_paths() {
        let ours = key(ChunkKind::Snapshot, "doc").path(&cart());
        let theirs = key(ChunkKind::Snapshot, "doc").path(&CartId::from_bytes([4; 16]));
        let secret = vec![cart().to_string(), "key".to_owned()];
        let sync = vec![cart().to_string(), "sync-state".to_owned(), "x".to_owned()];
        let torn = vec![cart().to_string(), "snapshot".to_owned(), "x".to_owned()];
        assert!(matches!(ChunkKey::from_path(&cart(), &ours), Some(Ok(_))));
        assert!(ChunkKey::from_path(&cart(), &theirs).is_none());
        assert!(ChunkKey::from_path(&cart(), &secret).is_none());
        assert!(ChunkKey::from_path(&cart(), &sync).is_none());
        assert!(matches!(ChunkKey::from_path(&cart(), &torn), Some(Err(_))));
    }

    #[test]
    fn compaction_deletes_only_chunks_this_writer_loaded_or_wrote() {
        let mut ledger = ChunkLedger::new();
        let loaded = key(ChunkKind::Snapshot, "loaded");
        let written = key(ChunkKind::Incremental, "written");
        let theirs = key(ChunkKind::Incremental, "another writer's");
        ledger.merged([(loaded.clone(), 10)], Dependencies::Complete);
        ledger.stored(written.clone(), 3);
        // Another writer's chunk is in the storage's listing, but was never merged here.
        let listing = [loaded.clone(), written.clone(), theirs.clone()];
        ledger.listed(&listing);

        let compaction = ledger.compaction(b"the whole document");
        assert_eq!(compaction.deletes, {
            let mut both = vec![loaded, written];
            both.sort();
            both
        });
        assert!(!compaction.deletes.contains(&theirs));
        ledger.compacted(compaction.clone());
        assert_eq!(
            ledger.owned().collect::<Vec<_>>(),
            vec![&compaction.snapshot]
        );
        assert_eq!(ledger.incrementals(), 0);
        assert_eq!(ledger.stored_bytes(), compaction.size);
    }

    #[test]
    fn chunks_merged_while_changes_wait_on_a_missing_dependency_are_not_owned() {
        let mut ledger = ChunkLedger::new();
        let complete = key(ChunkKind::Snapshot, "complete");
        let waiting = key(ChunkKind::Incremental, "waits for a change nobody stored");
        ledger.merged([(complete.clone(), 5)], Dependencies::Complete);
        ledger.merged([(waiting.clone(), 5)], Dependencies::Missing);
        assert!(ledger.has_seen(&waiting), "seen: not read again");
        assert_eq!(ledger.incrementals(), 1, "counted towards compaction");
        assert_eq!(
            ledger.compaction(b"snapshot").deletes,
            vec![complete],
            "the waiting chunk is kept"
        );
    }

    #[test]
    fn a_compaction_never_deletes_its_own_snapshot() {
        let mut ledger = ChunkLedger::new();
        ledger.merged(
            [(ChunkKey::of(ChunkKind::Snapshot, b"same"), 4)],
            Dependencies::Complete,
        );
        let compaction = ledger.compaction(b"same");
        assert!(compaction.deletes.is_empty());
    }

    #[test]
    fn unseen_chunks_are_those_listed_but_not_merged_or_stored() {
        let mut ledger = ChunkLedger::new();
        let mine = key(ChunkKind::Incremental, "mine");
        let loaded = key(ChunkKind::Snapshot, "loaded");
        let new = key(ChunkKind::Incremental, "new from another writer");
        ledger.merged([(loaded.clone(), 1)], Dependencies::Missing);
        ledger.stored(mine.clone(), 1);
        let listing = [loaded, new.clone(), mine];
        assert_eq!(ledger.unseen(&listing).collect::<Vec<_>>(), vec![&new]);
    }

    #[test]
    fn seen_chunks_another_writer_compacted_away_are_forgotten() {
        let mut ledger = ChunkLedger::new();
        let gone = key(ChunkKind::Incremental, "compacted by another writer");
        let snapshot = key(ChunkKind::Snapshot, "their snapshot");
        ledger.merged([(gone.clone(), 1)], Dependencies::Complete);
        ledger.merged([(snapshot.clone(), 1)], Dependencies::Complete);
        ledger.listed([&snapshot]);
        assert!(!ledger.has_seen(&gone));
        assert!(ledger.has_seen(&snapshot));
    }

    #[test]
    fn compaction_is_due_after_compact_after_incrementals_and_snapshots_do_not_count() {
        let mut ledger = ChunkLedger::new();
        ledger.merged(
            [(key(ChunkKind::Snapshot, "s"), 100)],
            Dependencies::Complete,
        );
        for n in 0..COMPACT_AFTER {
            assert!(!ledger.should_compact(), "after {n}");
            ledger.stored(key(ChunkKind::Incremental, &n.to_string()), 10);
        }
        assert!(ledger.should_compact());
        assert_eq!(ledger.stored_bytes(), 100 + 10 * COMPACT_AFTER);
    }
}
