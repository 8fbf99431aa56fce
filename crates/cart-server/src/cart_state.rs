//! The server's copy of one stored cart: the Automerge document, its binding (the hash of the
//! key that opens it), and the bookkeeping of the chunks this instance loaded or wrote, which is
//! all that compaction may delete.
//!
//! A [`CartState`] is loaded from the store on first use and re-read while the cart is not
//! stored (another instance may create it); the hub that owns it decides what to store and
//! when, under the cart's lock. When another instance stores a change of the cart,
//! [`CartState::catch_up`] merges the chunks this copy has not seen, told apart by their
//! content-hash keys.

use std::collections::HashSet;

use automerge::{Automerge, ReadDoc};
use cart_core::{schema, CartId};

use crate::error::Refusal;
use crate::secret::SecretHash;
use crate::store::{Chunk, ChunkKey, ChunkKind, DocStore, StoreError};

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
    /// The keys of the stored chunks whose bytes are in the document (or its queue of changes
    /// waiting for a dependency): what [`CartState::catch_up`] need not load again.
    seen: HashSet<ChunkKey>,
    /// Incremental chunks among them since the last snapshot.
    incrementals: usize,
    /// The bytes of those chunks (an overestimate of the saved document).
    stored_bytes: usize,
    /// The skus whose quantity is above zero (the lines the line limit counts): read once on
    /// load, then kept up to date from the skus each stored change touched.
    lines: HashSet<String>,
}

/// The lines of a cart after a change, from the skus it touched: what [`CartState::keep_lines`]
/// records once the change is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineUpdate {
    /// The number of lines after the change.
    pub(crate) count: usize,
    /// Each touched sku and whether it is a line after the change.
    touched: Vec<(String, bool)>,
}

impl CartState {
    /// An empty cart, not loaded yet.
    pub(crate) fn new() -> CartState {
        CartState {
            loaded: false,
            doc: Automerge::new(),
            secret: None,
            chunks: Vec::new(),
            seen: HashSet::new(),
            incrementals: 0,
            stored_bytes: 0,
            lines: HashSet::new(),
        }
    }

    /// The number of lines of the cart as last stored (skus whose quantity is above zero).
    pub(crate) fn line_count(&self) -> usize {
        self.lines.len()
    }

    /// The lines after a change applied to [`CartState::doc`] that touched the quantities of
    /// `skus` (and no others): reads the quantity of each touched sku, nothing else.
    pub(crate) fn lines_after<'a>(&self, skus: impl IntoIterator<Item = &'a str>) -> LineUpdate {
        let mut count = self.line_count();
        let mut touched: Vec<(String, bool)> = Vec::new();
        for sku in skus {
            if touched.iter().any(|(seen, _)| seen == sku) {
                continue;
            }
            let line = schema::quantity(&self.doc, sku) > 0;
            match (self.lines.contains(sku), line) {
                (false, true) => count += 1,
                (true, false) => count -= 1,
                _ => {}
            }
            touched.push((sku.to_owned(), line));
        }
        LineUpdate { count, touched }
    }

    /// Every line read again from [`CartState::doc`]: the update for a change whose touched
    /// skus are not known.
    pub(crate) fn lines_read_again(&self) -> LineUpdate {
        let now = schema::quantities(&self.doc);
        let gone = self.lines.iter().filter(|sku| !now.contains_key(*sku));
        let touched = gone
            .map(|sku| (sku.clone(), false))
            .chain(now.keys().map(|sku| (sku.clone(), true)))
            .collect();
        LineUpdate {
            count: now.len(),
            touched,
        }
    }

    /// Records the lines of a stored change (see [`CartState::lines_after`]).
    pub(crate) fn keep_lines(&mut self, update: LineUpdate) {
        for (sku, line) in update.touched {
            if line {
                self.lines.insert(sku);
            } else {
                self.lines.remove(&sku);
            }
        }
        debug_assert_eq!(self.lines.len(), update.count);
    }

    /// Throws the document away and reads the cart again from `store`: undoes a change applied
    /// to [`CartState::doc`] that was refused or not stored, since the store holds exactly the
    /// accepted cart. Costs a load of the whole cart, which is why only refusals take this
    /// path (see [`crate::apply`]). Changes that waited in the document for a missing
    /// dependency are dropped too; they were never acknowledged, and the next sync message
    /// asks the peer for them again. When the store fails the cart stays empty and unloaded,
    /// so nothing is sent from it before it is read again; errs with a storage [`Refusal`].
    pub(crate) async fn restore(
        &mut self,
        cart: CartId,
        store: &(impl DocStore + ?Sized),
    ) -> Result<(), Refusal> {
        *self = CartState::new();
        self.refresh(cart, store).await
    }

    /// Whether the document is the cart as the store had it when it was last read or written;
    /// false after a failed [`CartState::restore`] until the next [`CartState::refresh`].
    pub(crate) fn is_loaded(&self) -> bool {
        self.loaded
    }

    /// Incremental chunks stored since the last snapshot.
    pub(crate) fn incrementals(&self) -> usize {
        self.incrementals
    }

    /// The bytes of the chunks this instance knows of.
    pub(crate) fn stored_bytes(&self) -> usize {
        self.stored_bytes
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
        let seen = keys.iter().cloned().collect();
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
        self.lines = schema::quantities(&doc).into_keys().collect();
        self.doc = doc;
        self.chunks = keys;
        self.seen = seen;
        self.incrementals = incrementals;
        self.stored_bytes = bytes;
        self.secret = secret;
        self.loaded = true;
        Ok(())
    }

    /// Brings the copy up to the store after another instance stored a change: loads the cart
    /// when it was not loaded or not stored yet (as [`CartState::refresh`]), otherwise merges
    /// the stored chunks whose keys it has not seen. Returns whether the document or its
    /// binding changed. Errs with a storage [`Refusal`] when the store fails or a chunk does
    /// not load; the copy is then as it was.
    pub(crate) async fn catch_up(
        &mut self,
        cart: CartId,
        store: &(impl DocStore + ?Sized),
    ) -> Result<bool, Refusal> {
        let heads = self.doc.get_heads();
        let secret = self.secret;
        if !self.loaded || self.secret.is_none() {
            self.refresh(cart, store).await?;
            return Ok(self.secret != secret || self.doc.get_heads() != heads);
        }
        let chunks = store
            .load_chunks_unseen(&cart, &self.seen)
            .await
            .map_err(|e| {
                tracing::error!(%cart, error = %e, "reading a cart's new chunks failed");
                Refusal::storage(cart)
            })?;
        let stored: HashSet<ChunkKey> = chunks.iter().map(|(key, _)| key.clone()).collect();
        let fresh: Vec<Chunk> = chunks
            .into_iter()
            .filter_map(|(key, bytes)| bytes.map(|bytes| Chunk { key, bytes }))
            .collect();
        if fresh.is_empty() {
            self.seen = stored;
            return Ok(false);
        }
        let mut doc = self.doc.clone();
        for chunk in &fresh {
            doc.load_incremental(&chunk.bytes).map_err(|e| {
                tracing::error!(%cart, chunk = %chunk.key.hash, error = %e, "a stored chunk does not load");
                Refusal::storage(cart)
            })?;
        }
        // As in `refresh`: a chunk whose changes wait on a missing dependency is not owned,
        // since a snapshot would leave those changes out.
        let complete = doc.get_missing_deps(&[]).is_empty();
        for chunk in fresh {
            if chunk.key.kind == ChunkKind::Incremental {
                self.incrementals += 1;
            }
            self.stored_bytes = self.stored_bytes.saturating_add(chunk.bytes.len());
            if complete {
                self.chunks.push(chunk.key);
            }
        }
        self.doc = doc;
        self.seen = stored;
        let lines = self.lines_read_again();
        self.keep_lines(lines);
        Ok(self.doc.get_heads() != heads)
    }

    /// Counts an incremental chunk of `size` bytes this instance stored under `key`.
    pub(crate) fn note_stored(&mut self, key: ChunkKey, size: usize) {
        self.seen.insert(key.clone());
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
                for gone in &self.chunks {
                    self.seen.remove(gone);
                }
                self.seen.insert(key.clone());
                self.chunks = vec![key];
                self.incrementals = 0;
                self.stored_bytes = size;
            }
            Err(e) => tracing::warn!(%cart, error = %e, "compaction failed; chunks kept"),
        }
    }
}
