//! How a cart is kept in a [`Storage`]: a snapshot plus incremental chunks, as automerge-repo
//! keeps documents, with compaction that never deletes another writer's data.
//!
//! ```text
//! ["<cartId>", "snapshot",    "<hash of the bytes>"]   a whole document (Cart::save)
//! ["<cartId>", "incremental", "<hash of the bytes>"]   changes since this writer's last write
//! ["<cartId>", "key"]                                  the cart's access secret (UTF-8)
//! ```
//!
//! The chunk keys and their bookkeeping (what this writer owns, when to compact, what a
//! compaction deletes) are [`crate::chunks`], shared with the server. Loading concatenates
//! every chunk under `["<cartId>"]` and loads them as one document. Each write is one
//! [`Storage::apply`] of one chunk: one IndexedDB transaction with one put. After
//! [`crate::chunks::COMPACT_AFTER`] incremental chunks the next write is a snapshot that also
//! deletes the chunks this [`Persister`] loaded or wrote itself — never chunks another tab
//! wrote after we loaded, so two writers on one storage never lose each other's changes.
//!
//! Chunks that fail to load (corrupt or truncated bytes, another cart's data, a key that is not
//! a chunk key) are skipped and reported, never deleted: the rest of the cart loads, and
//! nothing stored is lost. Nor are chunks deleted whose changes wait on a change the storage
//! does not have ([`crate::chunks::Dependencies::Missing`]).
//!
//! A cart whose writes had to fall back to another storage is read from every storage and moved
//! back to the preferred one by [`migrate`].

pub mod migrate;

use automerge::ChangeHash;

use crate::cart::Cart;
use crate::cart_id::CartId;
use crate::chunks::{ChunkKey, ChunkKind, ChunkLedger, Compaction};
use crate::storage::{Storage, StorageError, StorageKey, StorageOp};

/// Key component of the cart's access secret for the sync server (UTF-8 bytes), kept beside
/// the chunks so that a reopened cart presents the same secret.
pub const KEY: &str = "key";

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
    heads: Vec<ChangeHash>,
    chunk: Written,
}

/// The chunk a [`Write`] stores.
#[derive(Debug)]
enum Written {
    /// Changes since the last write, `size` bytes under `key`.
    Incremental { key: ChunkKey, size: usize },
    /// The whole document, replacing the chunks this writer owns.
    Snapshot(Compaction),
}

impl Write {
    /// The operations to apply, in order, as one batch.
    pub fn ops(&self) -> &[StorageOp] {
        &self.ops
    }

    /// Whether this write is a compacting snapshot rather than an incremental chunk.
    pub fn is_snapshot(&self) -> bool {
        matches!(self.chunk, Written::Snapshot(_))
    }
}

/// Decides what to write for one cart: keeps the [`ChunkLedger`] of what this instance has
/// loaded and stored (and so may compact away) and which document heads are durable.
#[derive(Debug)]
pub struct Persister {
    id: CartId,
    chunks: ChunkLedger,
    saved_heads: Vec<ChangeHash>,
}

/// Where cart `id`'s access secret is stored: `["<cartId>", "key"]`.
fn secret_key(id: &CartId) -> StorageKey {
    vec![id.to_string(), KEY.to_string()]
}

/// A stored chunk whose key parsed, with its bytes.
struct Stored {
    key: ChunkKey,
    bytes: Vec<u8>,
}

impl Persister {
    /// The key prefix under which every chunk of cart `id` lives.
    pub fn prefix(id: &CartId) -> StorageKey {
        vec![id.to_string()]
    }

    /// Rebuilds cart `id` from the chunks [`Storage::load_range`] returned for its prefix.
    ///
    /// Tries the fast path first (all chunks as one document); when that fails, loads chunk by
    /// chunk, snapshots first, and reports the ones that fail. An entry with a chunk's path
    /// whose hash is malformed is reported too, and never loaded or deleted.
    pub fn restore(id: CartId, entries: Vec<(StorageKey, Vec<u8>)>) -> Restored {
        let secret = secret_key(&id);
        let mut key = None;
        let mut chunks = Vec::new();
        let mut skipped = Vec::new();
        for (path, bytes) in entries {
            if path == secret {
                key = key.or_else(|| String::from_utf8(bytes).ok());
                continue;
            }
            match ChunkKey::from_path(&id, &path) {
                Some(Ok(key)) => chunks.push(Stored { key, bytes }),
                Some(Err(e)) => skipped.push(SkippedChunk {
                    key: path,
                    reason: e.message().to_string(),
                }),
                None => {}
            }
        }
        // Snapshots first: incremental chunks usually depend on them.
        chunks.sort_by_key(|chunk| chunk.key.kind() != ChunkKind::Snapshot);
        let whole: Vec<u8> = chunks
            .iter()
            .flat_map(|chunk| chunk.bytes.iter().copied())
            .collect();
        let (mut cart, merged) = match Cart::load(id, &whole) {
            Ok(cart) if !chunks.is_empty() => (cart, chunks),
            _ => Self::restore_chunk_by_chunk(id, chunks, &mut skipped),
        };
        let mut ledger = ChunkLedger::new();
        ledger.merged(
            merged
                .into_iter()
                .map(|chunk| (chunk.key, chunk.bytes.len())),
            cart.dependencies(),
        );
        let saved_heads = cart.heads();
        Restored {
            cart,
            persister: Persister {
                id,
                chunks: ledger,
                saved_heads,
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

    /// Merges `chunks` one by one into a new cart; returns it and the chunks that merged, and
    /// adds the others to `skipped`.
    fn restore_chunk_by_chunk(
        id: CartId,
        chunks: Vec<Stored>,
        skipped: &mut Vec<SkippedChunk>,
    ) -> (Cart, Vec<Stored>) {
        let mut cart = Cart::new(id);
        let mut merged = Vec::new();
        for chunk in chunks {
            match cart.merge_bytes(&chunk.bytes) {
                Ok(_) => merged.push(chunk),
                Err(e) => skipped.push(SkippedChunk {
                    key: chunk.key.path(&id),
                    reason: e.message().to_string(),
                }),
            }
        }
        (cart, merged)
    }

    /// A persister for a cart that has nothing in storage yet (a new cart, or a new backend
    /// after the old one failed): its first write is a full snapshot.
    pub fn fresh(id: CartId) -> Persister {
        Persister {
            id,
            chunks: ChunkLedger::new(),
            saved_heads: Vec::new(),
        }
    }

    /// The next write that makes every change of `cart` durable, or `None` when storage already
    /// holds them all. It is a snapshot replacing the chunks this persister owns when nothing
    /// is stored yet or [`ChunkLedger::should_compact`] says so, otherwise an incremental chunk.
    pub fn next_write(&mut self, cart: &mut Cart) -> Option<Write> {
        let heads = cart.heads();
        if heads == self.saved_heads {
            return None;
        }
        if self.saved_heads.is_empty() || self.chunks.should_compact() {
            let bytes = cart.save();
            let compaction = self.chunks.compaction(&bytes);
            let mut ops = vec![StorageOp::Put {
                key: compaction.snapshot.path(&self.id),
                value: bytes,
            }];
            ops.extend(compaction.deletes.iter().map(|gone| StorageOp::Remove {
                key: gone.path(&self.id),
            }));
            Some(Write {
                ops,
                heads,
                chunk: Written::Snapshot(compaction),
            })
        } else {
            let bytes = cart.save_after(&self.saved_heads);
            let key = ChunkKey::of(ChunkKind::Incremental, &bytes);
            let size = bytes.len();
            let ops = vec![StorageOp::Put {
                key: key.path(&self.id),
                value: bytes,
            }];
            Some(Write {
                ops,
                heads,
                chunk: Written::Incremental { key, size },
            })
        }
    }

    /// Records that `write` is durable.
    pub fn committed(&mut self, write: Write) {
        match write.chunk {
            Written::Snapshot(compaction) => self.chunks.compacted(compaction),
            Written::Incremental { key, size } => self.chunks.stored(key, size),
        }
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
