//! The server's copy of one stored cart: the Automerge document, its binding (the hash of the
//! key that opens it), and the bookkeeping of the chunks this instance loaded or wrote, which is
//! all that compaction may delete.
//!
//! A [`CartState`] is loaded from the store on first use and re-read while the cart is not
//! stored (another instance may create it); the hub that owns it decides what to store and
//! when, under the cart's lock.

use automerge::{Automerge, ReadDoc};
use cart_core::CartId;

use crate::error::Refusal;
use crate::secret::SecretHash;
use crate::store::{ChunkKey, ChunkKind, DocStore, StoreError};

/// The in-memory copy of one cart, as this instance last loaded or stored it.
pub(crate) struct CartState {
    /// Whether the document was read from the store (or the store said it has no such cart).
    loaded: bool,
    /// The document.
    pub(crate) doc: Automerge,
    /// The binding; `None` while the cart is not stored (a peer may be creating it).
    pub(crate) secret: Option<SecretHash>,
    /// The chunks this instance loaded or wrote: all that compaction may delete.
    chunks: Vec<ChunkKey>,
    /// Incremental chunks among them since the last snapshot.
    incrementals: usize,
    /// The bytes of those chunks (an overestimate of the saved document).
    stored_bytes: usize,
}

impl CartState {
    /// An empty cart, not loaded yet.
    pub(crate) fn new() -> CartState {
        CartState {
            loaded: false,
            doc: Automerge::new(),
            secret: None,
            chunks: Vec::new(),
            incrementals: 0,
            stored_bytes: 0,
        }
    }

    /// Incremental chunks stored since the last snapshot.
    pub(crate) fn incrementals(&self) -> usize {
        self.incrementals
    }

    /// The bytes of the chunks this instance knows of.
    pub(crate) fn stored_bytes(&self) -> usize {
        self.stored_bytes
    }

    /// The store holds the cart under `secret`, not the binding assumed here: keeps that
    /// binding and loads the document again on the next [`CartState::refresh`].
    pub(crate) fn bound_elsewhere(&mut self, secret: Option<SecretHash>) {
        self.secret = secret;
        self.loaded = false;
    }

    /// Loads the cart from `store` when it was not loaded, or re-reads the binding of a cart
    /// that is not stored yet (another instance may have created it). Errs with a storage
    /// [`Refusal`] when the store fails or a stored chunk does not load.
    pub(crate) async fn refresh(
        &mut self,
        cart: CartId,
        store: &(impl DocStore + ?Sized),
    ) -> Result<(), Refusal> {
        if self.loaded && self.secret.is_some() {
            return Ok(());
        }
        let storage = |e: StoreError| {
            tracing::error!(%cart, error = %e, "reading a cart failed");
            Refusal::storage(cart)
        };
        let secret = store.secret_hash(&cart).await.map_err(storage)?;
        if secret.is_none() {
            self.loaded = true;
            return Ok(());
        }
        let chunks = store.load_chunks(&cart).await.map_err(storage)?;
        let mut doc = Automerge::new();
        let mut keys = Vec::with_capacity(chunks.len());
        let mut incrementals = 0;
        let mut bytes = 0usize;
        for chunk in chunks {
            doc.load_incremental(&chunk.bytes).map_err(|e| {
                tracing::error!(%cart, chunk = %chunk.key.hash, error = %e, "a stored chunk does not load");
                Refusal::storage(cart)
            })?;
            if chunk.key.kind == ChunkKind::Incremental {
                incrementals += 1;
            }
            bytes = bytes.saturating_add(chunk.bytes.len());
            keys.push(chunk.key);
        }
        // A chunk whose changes wait on a dependency the store does not have loads into the
        // queue, not the document: a snapshot would leave those changes out, so compaction must
        // not delete that chunk. Which chunk it is cannot be told from outside the queue, so
        // then none of the loaded chunks is owned (compaction only adds a snapshot).
        let waiting = doc.get_missing_deps(&[]);
        if !waiting.is_empty() {
            tracing::warn!(
                %cart,
                missing = waiting.len(),
                "stored changes wait on changes the store does not have; keeping every stored chunk"
            );
            keys.clear();
        }
        self.doc = doc;
        self.chunks = keys;
        self.incrementals = incrementals;
        self.stored_bytes = bytes;
        self.secret = secret;
        self.loaded = true;
        Ok(())
    }

    /// Counts an incremental chunk of `size` bytes this instance stored under `key`.
    pub(crate) fn note_stored(&mut self, key: ChunkKey, size: usize) {
        self.chunks.push(key);
        self.incrementals += 1;
        self.stored_bytes = self.stored_bytes.saturating_add(size);
    }

    /// Replaces every chunk this instance knows of with `snapshot` in `store`. A failure is
    /// logged; the chunks stay and the cart stays complete.
    pub(crate) async fn compact(
        &mut self,
        cart: CartId,
        store: &(impl DocStore + ?Sized),
        snapshot: Vec<u8>,
    ) {
        let size = snapshot.len();
        match store.compact(&cart, snapshot, &self.chunks).await {
            Ok(key) => {
                self.chunks = vec![key];
                self.incrementals = 0;
                self.stored_bytes = size;
            }
            Err(e) => tracing::warn!(%cart, error = %e, "compaction failed; chunks kept"),
        }
    }
}
