//! A cart kept in more than one storage, and how it moves back to the preferred one.
//!
//! When a write to the preferred storage fails (IndexedDB after another tab upgraded the
//! database, or Safari losing its connection), the binding keeps writing to a fallback
//! (localStorage, then memory). Those chunks must be read on the next open even when the
//! preferred storage works again, or the adds in them are lost. So opening reads the preferred
//! storage *and* the fallbacks that outlast the page (the browser binding passes localStorage
//! when it opens IndexedDB), and [`plan`] decides, without IO:
//!
//! - which entries to restore the cart from: all of them, each key once;
//! - which fallback entries to copy to the preferred storage ([`Migration::copy`], one batch);
//! - which fallback entries to delete ([`Migration::copied`]), obtainable only once the copy
//!   is durable, so that a crash in between leaves duplicates, never a loss. Duplicates are
//!   harmless: keys are content hashes, and merging a chunk twice changes nothing.
//!
//! A fallback entry is moved only when it is what its key says: a chunk whose bytes hash to its
//! key, or the access secret when the preferred storage has none. Anything else (a corrupt
//! chunk, a different secret) is left where it is; a corrupt chunk is still offered to
//! [`Persister::restore`], which reports it and keeps it.

use std::collections::BTreeMap;

use super::{secret_key, Persister, Restored};
use crate::cart_id::CartId;
use crate::chunks::ChunkKey;
use crate::storage::{has_prefix, Storage, StorageError, StorageKey, StorageOp};

/// What one storage holds under a cart's prefix, as [`Storage::load_range`] returns it.
pub type Entries = Vec<(StorageKey, Vec<u8>)>;

/// The writes that move a cart's fallback entries to the preferred storage: first
/// [`Migration::copy`] to the preferred storage, then, once that is durable, the removes
/// [`Migration::copied`] returns for each fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    copy: Vec<StorageOp>,
    cleanup: Vec<Vec<StorageOp>>,
}

impl Migration {
    /// The puts to apply to the preferred storage as one batch; empty when it already holds
    /// everything.
    pub fn copy(&self) -> &[StorageOp] {
        &self.copy
    }

    /// Whether there is nothing to copy and nothing to delete.
    pub fn is_empty(&self) -> bool {
        self.copy.is_empty() && self.cleanup.iter().all(Vec::is_empty)
    }

    /// Call only once [`Migration::copy`] is durable in the preferred storage (or was empty):
    /// for each fallback, in the order given to [`plan`], the removes of the entries that the
    /// preferred storage now holds.
    pub fn copied(self) -> Vec<Vec<StorageOp>> {
        self.cleanup
    }
}

/// Whether `key` names a chunk of cart `id` holding exactly `bytes`.
fn is_genuine_chunk(id: &CartId, key: &StorageKey, bytes: &[u8]) -> bool {
    matches!(ChunkKey::from_path(id, key), Some(Ok(chunk)) if chunk.holds(bytes))
}

/// Plans reading cart `id` from `preferred` (the entries the preferred storage holds) and
/// `fallbacks` (those of each fallback storage, in fallback order).
///
/// Returns the entries to give [`Persister::restore`] (the preferred storage's first, so its
/// access secret wins; then every fallback entry it lacks) and the [`Migration`] that moves the
/// fallback entries to the preferred storage.
pub fn plan(id: &CartId, preferred: Entries, fallbacks: Vec<Entries>) -> (Entries, Migration) {
    let prefix = Persister::prefix(id);
    let secret_key = secret_key(id);
    // Where each key sits in `entries`, so that a repaired entry replaces the broken one.
    let mut index: BTreeMap<StorageKey, usize> = BTreeMap::new();
    let mut entries: Entries = Vec::with_capacity(preferred.len());
    for (key, bytes) in preferred {
        index.insert(key.clone(), entries.len());
        entries.push((key, bytes));
    }
    let mut copy = Vec::new();
    let mut cleanup = Vec::with_capacity(fallbacks.len());
    for fallback in fallbacks {
        let mut removes = Vec::new();
        for (key, bytes) in fallback {
            if !has_prefix(&key, &prefix) {
                continue;
            }
            let held = index.get(&key).map(|&at| &entries[at].1);
            if held == Some(&bytes) {
                // The preferred storage holds (or is about to hold) this very entry.
                removes.push(StorageOp::Remove { key });
                continue;
            }
            let movable = if key == secret_key {
                held.is_none()
            } else {
                is_genuine_chunk(id, &key, &bytes)
            };
            if !movable {
                // Corrupt, another secret, or not ours to move: read it, leave it.
                if key.len() == 3 && held.is_none() {
                    entries.push((key, bytes));
                }
                continue;
            }
            copy.push(StorageOp::Put {
                key: key.clone(),
                value: bytes.clone(),
            });
            removes.push(StorageOp::Remove { key: key.clone() });
            match index.get(&key) {
                // The preferred copy does not match its content hash: the fallback repairs it.
                Some(&at) => entries[at].1 = bytes,
                None => {
                    index.insert(key.clone(), entries.len());
                    entries.push((key, bytes));
                }
            }
        }
        cleanup.push(removes);
    }
    (entries, Migration { copy, cleanup })
}

/// Loads cart `id` from `preferred` and from every storage in `fallbacks`, restores it from all
/// their chunks, and moves the fallbacks' chunks to `preferred`: one batch of puts there, then,
/// only after that batch succeeded, the removes in each fallback.
///
/// Errs only when `preferred` cannot be read. A fallback that cannot be read counts as empty; a
/// copy or removal that fails leaves the fallback's entries where they are, to be moved on a
/// later open. Either way the returned cart holds every chunk that was read.
pub async fn open<S: Storage>(
    preferred: &S,
    fallbacks: &[S],
    id: CartId,
) -> Result<Restored, StorageError> {
    let prefix = Persister::prefix(&id);
    let held = preferred.load_range(&prefix).await?;
    let mut found = Vec::with_capacity(fallbacks.len());
    for fallback in fallbacks {
        found.push(fallback.load_range(&prefix).await.unwrap_or_default());
    }
    let (entries, migration) = plan(&id, held, found);
    let restored = Persister::restore(id, entries);
    if migration.copy().is_empty() || preferred.apply(migration.copy()).await.is_ok() {
        for (fallback, removes) in fallbacks.iter().zip(migration.copied()) {
            if !removes.is_empty() {
                // Should this fail, the copies stay behind as harmless duplicates.
                let _ = fallback.apply(&removes).await;
            }
        }
    }
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunks::ChunkKind;
    use crate::persist::KEY;

    fn id() -> CartId {
        CartId::from_bytes([7; 16])
    }

    fn chunk(kind: ChunkKind, bytes: &[u8]) -> (StorageKey, Vec<u8>) {
        (ChunkKey::of(kind, bytes).path(&id()), bytes.to_vec())
    }

    fn secret(value: &str) -> (StorageKey, Vec<u8>) {
        (
            vec![id().to_string(), KEY.to_string()],
            value.as_bytes().to_vec(),
        )
    }

    fn put((key, value): &(StorageKey, Vec<u8>)) -> StorageOp {
        StorageOp::Put {
            key: key.clone(),
            value: value.clone(),
        }
    }

    fn remove((key, _): &(StorageKey, Vec<u8>)) -> StorageOp {
        StorageOp::Remove { key: key.clone() }
    }

    #[test]
    fn nothing_in_any_fallback_means_nothing_to_move() {
        let snapshot = chunk(ChunkKind::Snapshot, b"whole");
        let (entries, migration) = plan(&id(), vec![snapshot.clone()], vec![vec![], vec![]]);
        assert_eq!(entries, vec![snapshot]);
        assert!(migration.is_empty());
        assert_eq!(migration.copied(), vec![vec![], vec![]]);
    }

    #[test]
    fn a_fallback_chunk_is_read_copied_and_deleted_only_after_the_copy() {
        let before = chunk(ChunkKind::Snapshot, b"before the failure");
        let after = chunk(ChunkKind::Snapshot, b"written to the fallback");
        let (entries, migration) = plan(&id(), vec![before.clone()], vec![vec![after.clone()]]);
        assert_eq!(entries, vec![before, after.clone()]);
        assert_eq!(migration.copy(), &[put(&after)]);
        assert_eq!(migration.copied(), vec![vec![remove(&after)]]);
    }

    #[test]
    fn a_chunk_already_in_the_preferred_storage_is_only_deleted_from_the_fallback() {
        // A crash after the copy and before the removes left the same chunk in both.
        let both = chunk(ChunkKind::Incremental, b"copied before the crash");
        let (entries, migration) = plan(&id(), vec![both.clone()], vec![vec![both.clone()]]);
        assert_eq!(entries, vec![both.clone()], "read once");
        assert!(migration.copy().is_empty());
        assert_eq!(migration.copied(), vec![vec![remove(&both)]]);
    }

    #[test]
    fn a_chunk_in_two_fallbacks_is_copied_once_and_deleted_from_both() {
        let twice = chunk(ChunkKind::Incremental, b"in localstorage and in memory");
        let (entries, migration) = plan(
            &id(),
            vec![],
            vec![vec![twice.clone()], vec![twice.clone()]],
        );
        assert_eq!(entries, vec![twice.clone()]);
        assert_eq!(migration.copy(), &[put(&twice)]);
        assert_eq!(
            migration.copied(),
            vec![vec![remove(&twice)], vec![remove(&twice)]]
        );
    }

    #[test]
    fn a_corrupt_fallback_chunk_is_read_but_neither_copied_nor_deleted() {
        let (key, _) = chunk(ChunkKind::Incremental, b"the real bytes");
        let corrupt = (key, b"truncated".to_vec());
        let (entries, migration) = plan(&id(), vec![], vec![vec![corrupt.clone()]]);
        assert_eq!(entries, vec![corrupt], "restore reports it as skipped");
        assert!(migration.is_empty());
    }

    #[test]
    fn a_genuine_fallback_chunk_repairs_a_corrupt_preferred_copy() {
        let good = chunk(ChunkKind::Snapshot, b"the real bytes");
        let corrupt = (good.0.clone(), b"torn".to_vec());
        let (entries, migration) = plan(&id(), vec![corrupt], vec![vec![good.clone()]]);
        assert_eq!(entries, vec![good.clone()]);
        assert_eq!(migration.copy(), &[put(&good)]);
        assert_eq!(migration.copied(), vec![vec![remove(&good)]]);
    }

    #[test]
    fn the_secret_moves_only_when_the_preferred_storage_has_none() {
        let (entries, migration) = plan(&id(), vec![], vec![vec![secret("fallback")]]);
        assert_eq!(entries, vec![secret("fallback")]);
        assert_eq!(migration.copy(), &[put(&secret("fallback"))]);
        assert_eq!(migration.copied(), vec![vec![remove(&secret("fallback"))]]);

        let (entries, migration) = plan(
            &id(),
            vec![secret("preferred")],
            vec![vec![secret("fallback")]],
        );
        assert_eq!(
            entries,
            vec![secret("preferred")],
            "the preferred secret wins"
        );
        assert!(
            migration.is_empty(),
            "the other secret is kept, not deleted"
        );
    }

    #[test]
    fn another_carts_entries_are_left_alone() {
        let other = CartId::from_bytes([9; 16]);
        let bytes = b"another cart".to_vec();
        let foreign = (
            ChunkKey::of(ChunkKind::Snapshot, &bytes).path(&other),
            bytes,
        );
        let (entries, migration) = plan(&id(), vec![], vec![vec![foreign]]);
        assert!(entries.is_empty());
        assert!(migration.is_empty());
    }
}
