//! How a cart is kept in a [`Storage`]: a snapshot plus incremental chunks, as automerge-repo
//! keeps documents, with compaction that never deletes another writer's data.
//!
//! ```text
//! ["<cartId>", "snapshot",    "<sha256 of the bytes>"]   a whole document (Cart::save)
//! ["<cartId>", "incremental", "<sha256 of the bytes>"]   changes since this writer's last write
//! ```
//!
//! Loading concatenates every chunk under `["<cartId>"]` and loads them as one document. Each
//! write is one [`Storage::apply`] of one chunk: one IndexedDB transaction with one put. After
//! [`COMPACT_AFTER`] incremental chunks the next write is a snapshot that also deletes the
//! chunks this [`Persister`] loaded or wrote itself — never chunks another tab wrote after we
//! loaded, so two writers on one storage never lose each other's changes.
//!
//! Chunks that fail to load (corrupt or truncated bytes, another cart's data) are skipped and
//! reported, never deleted: the rest of the cart loads, and nothing stored is lost.
//!
//! A cart whose writes had to fall back to another storage is read from every storage and moved
//! back to the preferred one by [`migrate`].

pub mod migrate;

use std::collections::BTreeSet;

use automerge::ChangeHash;
use sha2::{Digest, Sha256};

use crate::cart::Cart;
use crate::cart_id::CartId;
use crate::storage::{Storage, StorageError, StorageKey, StorageOp};

/// Key component of snapshot chunks.
pub const SNAPSHOT: &str = "snapshot";
/// Key component of incremental chunks.
pub const INCREMENTAL: &str = "incremental";
/// Key component of the cart's access secret for the sync server (UTF-8 bytes), kept beside
/// the chunks so that a reopened cart presents the same secret.
pub const KEY: &str = "key";
/// How many incremental chunks a writer adds before it compacts them into a snapshot. Small
/// enough that a cold start reads few chunks, large enough that few writes pay for a snapshot.
pub const COMPACT_AFTER: usize = 32;

/// A stored chunk that could not be loaded; it stays in storage untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedChunk {
    /// The chunk's storage key.
    pub key: StorageKey,
    /// Why it was skipped.
    pub reason: String,
}

/// A cart read back from storage.
#[derive(Debug)]
pub struct Restored {
    /// The cart, holding every chunk that loaded.
    pub cart: Cart,
    /// The persister that continues writing this cart.
    pub persister: Persister,
    /// Chunks that did not load.
    pub skipped: Vec<SkippedChunk>,
    /// The cart's access secret, if one was stored.
    pub key: Option<String>,
}

/// One write to storage, produced by [`Persister::next_write`]. Apply [`Write::ops`] as one
/// batch, then report success with [`Persister::committed`]; on failure simply drop it and the
/// next write will contain its changes again.
#[derive(Debug)]
pub struct Write {
    ops: Vec<StorageOp>,
    key: StorageKey,
    heads: Vec<ChangeHash>,
    snapshot: bool,
}

impl Write {
    /// The operations to apply, in order, as one batch.
    pub fn ops(&self) -> &[StorageOp] {
        &self.ops
    }

    /// Whether this write is a compacting snapshot rather than an incremental chunk.
    pub fn is_snapshot(&self) -> bool {
        self.snapshot
    }
}

/// Decides what to write for one cart: remembers what this instance has stored (and so may
/// compact away) and which document heads are durable.
#[derive(Debug)]
pub struct Persister {
    id: CartId,
    owned: BTreeSet<StorageKey>,
    saved_heads: Vec<ChangeHash>,
    chunks_since_snapshot: usize,
}

/// Where cart `id`'s access secret is stored: `["<cartId>", "key"]`.
fn secret_key(id: &CartId) -> StorageKey {
    vec![id.to_string(), KEY.to_string()]
}

fn content_key(id: &CartId, kind: &str, bytes: &[u8]) -> StorageKey {
    let digest = Sha256::digest(bytes);
    let hash: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    vec![id.to_string(), kind.to_string(), hash]
}

impl Persister {
    /// The key prefix under which every chunk of cart `id` lives.
    pub fn prefix(id: &CartId) -> StorageKey {
        vec![id.to_string()]
    }

    /// Rebuilds cart `id` from the chunks [`Storage::load_range`] returned for its prefix.
    ///
    /// Tries the fast path first (all chunks as one document); when that fails, loads chunk by
    /// chunk, snapshots first, and reports the ones that fail.
    pub fn restore(id: CartId, entries: Vec<(StorageKey, Vec<u8>)>) -> Restored {
        let kind = |key: &StorageKey| key.get(1).cloned().unwrap_or_default();
        let key = entries
            .iter()
            .find(|(k, _)| k.len() == 2 && kind(k) == KEY)
            .and_then(|(_, bytes)| String::from_utf8(bytes.clone()).ok());
        let mut chunks: Vec<(StorageKey, Vec<u8>)> = entries
            .into_iter()
            .filter(|(k, _)| k.len() == 3 && (kind(k) == SNAPSHOT || kind(k) == INCREMENTAL))
            .collect();
        // Snapshots first: incremental chunks usually depend on them.
        chunks.sort_by_key(|(key, _)| key.get(1).map(String::as_str) != Some(SNAPSHOT));
        let incremental = chunks
            .iter()
            .filter(|(key, _)| key.get(1).map(String::as_str) == Some(INCREMENTAL))
            .count();
        let whole: Vec<u8> = chunks
            .iter()
            .flat_map(|(_, bytes)| bytes.iter().copied())
            .collect();
        let (mut cart, owned, skipped) = match Cart::load(id, &whole) {
            Ok(cart) if !chunks.is_empty() => (
                cart,
                chunks.into_iter().map(|(key, _)| key).collect(),
                Vec::new(),
            ),
            _ => Self::restore_chunk_by_chunk(id, chunks),
        };
        let saved_heads = cart.heads();
        Restored {
            cart,
            persister: Persister {
                id,
                owned,
                saved_heads,
                chunks_since_snapshot: incremental,
            },
            skipped,
            key,
        }
    }

    /// The write that stores `key` as the access secret of cart `id`.
    pub fn key_write(id: &CartId, key: &str) -> StorageOp {
        StorageOp::Put {
            key: secret_key(id),
            value: key.as_bytes().to_vec(),
        }
    }

    fn restore_chunk_by_chunk(
        id: CartId,
        chunks: Vec<(StorageKey, Vec<u8>)>,
    ) -> (Cart, BTreeSet<StorageKey>, Vec<SkippedChunk>) {
        let mut cart = Cart::new(id);
        let mut owned = BTreeSet::new();
        let mut skipped = Vec::new();
        for (key, bytes) in chunks {
            match cart.merge_bytes(&bytes) {
                Ok(_) => {
                    owned.insert(key);
                }
                Err(e) => skipped.push(SkippedChunk {
                    key,
                    reason: e.message().to_string(),
                }),
            }
        }
        (cart, owned, skipped)
    }

    /// A persister for a cart that has nothing in storage yet (a new cart, or a new backend
    /// after the old one failed): its first write is a full snapshot.
    pub fn fresh(id: CartId) -> Persister {
        Persister {
            id,
            owned: BTreeSet::new(),
            saved_heads: Vec::new(),
            chunks_since_snapshot: 0,
        }
    }

    /// The next write that makes every change of `cart` durable, or `None` when storage already
    /// holds them all.
    pub fn next_write(&mut self, cart: &mut Cart) -> Option<Write> {
        let heads = cart.heads();
        if heads == self.saved_heads {
            return None;
        }
        let snapshot = self.saved_heads.is_empty() || self.chunks_since_snapshot >= COMPACT_AFTER;
        if snapshot {
            let bytes = cart.save();
            let key = content_key(&self.id, SNAPSHOT, &bytes);
            let mut ops = vec![StorageOp::Put {
                key: key.clone(),
                value: bytes,
            }];
            ops.extend(
                self.owned
                    .iter()
                    .filter(|owned| **owned != key)
                    .map(|owned| StorageOp::Remove { key: owned.clone() }),
            );
            Some(Write {
                ops,
                key,
                heads,
                snapshot,
            })
        } else {
            let bytes = cart.save_after(&self.saved_heads);
            let key = content_key(&self.id, INCREMENTAL, &bytes);
            let ops = vec![StorageOp::Put {
                key: key.clone(),
                value: bytes,
            }];
            Some(Write {
                ops,
                key,
                heads,
                snapshot,
            })
        }
    }

    /// Records that `write` is durable.
    pub fn committed(&mut self, write: Write) {
        if write.snapshot {
            self.owned.clear();
            self.chunks_since_snapshot = 0;
        } else {
            self.chunks_since_snapshot += 1;
        }
        self.owned.insert(write.key);
        self.saved_heads = write.heads;
    }

    /// Records that the document at `heads` is durable although this persister did not write
    /// it: another writer of the same storage (another tab) stored the changes just merged.
    /// Call it only when nothing of this writer's own was unsaved before that merge.
    pub fn mark_durable(&mut self, heads: Vec<ChangeHash>) {
        self.saved_heads = heads;
    }

    /// Whether some changes of `cart` are not yet durable.
    pub fn has_unsaved(&self, cart: &mut Cart) -> bool {
        cart.heads() != self.saved_heads
    }
}

/// Loads cart `id` from `storage`: [`Storage::load_range`] then [`Persister::restore`].
pub async fn open<S: Storage>(storage: &S, id: CartId) -> Result<Restored, StorageError> {
    let chunks = storage.load_range(&Persister::prefix(&id)).await?;
    Ok(Persister::restore(id, chunks))
}

/// Writes every change of `cart` that storage does not hold yet.
pub async fn flush<S: Storage>(
    storage: &S,
    persister: &mut Persister,
    cart: &mut Cart,
) -> Result<(), StorageError> {
    while let Some(write) = persister.next_write(cart) {
        storage.apply(write.ops()).await?;
        persister.committed(write);
    }
    Ok(())
}
