//! The server's copy of one stored cart: the Automerge document, its binding (the hash of the
//! key that opens it), and the bookkeeping of the chunks this instance loaded or wrote, which is
//! all that compaction may delete.
//!
//! A [`CartState`] is loaded from the store on first use and re-read while the cart is not
//! stored (another instance may create it); the hub that owns it decides what to store and
//! when, under the cart's lock. When another instance stores a change of the cart,
//! [`CartState::catch_up`] merges the chunks this copy has not seen, told apart by their
//! content-hash keys. Which chunks those are, which this instance owns (and so compaction may
//! delete) and when to compact is kept by a [`ChunkLedger`], the bookkeeping the browser's
//! storage uses too.

use std::collections::HashSet;

use automerge::{Automerge, ReadDoc};
use cart_core::chunks::{ChunkKey, ChunkLedger, Dependencies};
use cart_core::{schema, CartId};

use crate::error::Refusal;
use crate::secret::SecretHash;
use crate::store::{DocStore, StoreError};

/// The in-memory copy of one cart, as this instance last loaded or stored it.
pub(crate) struct CartState {
    /// Whether the document was read from the store (or the store said it has no such cart).
    loaded: bool,
    /// The document.
    pub(crate) doc: Automerge,
    /// The binding; `None` while the cart is not stored (a peer may be creating it).
    pub(crate) secret: Option<SecretHash>,
    /// The stored chunks whose bytes are in the document (or its queue of changes waiting for
    /// a dependency), the ones this instance owns (all that compaction may delete), and the
    /// incrementals and bytes since the last snapshot.
    chunks: ChunkLedger,
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
            chunks: ChunkLedger::new(),
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

    /// Incremental chunks stored since the last snapshot (the tests compare it).
    #[cfg(test)]
    pub(crate) fn incrementals(&self) -> usize {
        self.chunks.incrementals()
    }

    /// Whether enough incremental chunks piled up that the next stored change should be
    /// followed by a compaction ([`ChunkLedger::should_compact`]).
    pub(crate) fn should_compact(&self) -> bool {
        self.chunks.should_compact()
    }

    /// The bytes of the chunks this instance knows of since the last snapshot (an overestimate
    /// of the saved document).
    pub(crate) fn stored_bytes(&self) -> usize {
        self.chunks.stored_bytes()
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
        let mut merged = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            load_chunk(&mut doc, cart, &chunk.key, &chunk.bytes)?;
            merged.push((chunk.key, chunk.bytes.len()));
        }
        // A chunk whose changes wait on a dependency the store does not have loads into the
        // queue, not the document: the ledger then owns none of the loaded chunks, so
        // compaction only adds a snapshot (see `cart_core::chunks`).
        let dependencies = Dependencies::of(&doc);
        if dependencies == Dependencies::Missing {
            tracing::warn!(
                %cart,
                missing = doc.get_missing_deps(&[]).len(),
                "stored changes wait on changes the store does not have; keeping every stored chunk"
            );
        }
        let mut ledger = ChunkLedger::new();
        ledger.merged(merged, dependencies);
        self.lines = schema::quantities(&doc).into_keys().collect();
        self.doc = doc;
        self.chunks = ledger;
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
        let listing = store
            .load_chunks_unseen(&cart, self.chunks.seen())
            .await
            .map_err(|e| {
                tracing::error!(%cart, error = %e, "reading a cart's new chunks failed");
                Refusal::storage(cart)
            })?;
        let keys: Vec<&ChunkKey> = listing.iter().map(|(key, _)| key).collect();
        let unseen: HashSet<&ChunkKey> = self.chunks.unseen(keys.iter().copied()).collect();
        let mut doc = None;
        let mut merged = Vec::new();
        for (key, bytes) in &listing {
            if !unseen.contains(key) {
                continue;
            }
            let Some(bytes) = bytes else {
                tracing::error!(%cart, chunk = %key, "the store sent no bytes for a chunk this instance has not seen");
                return Err(Refusal::storage(cart));
            };
            let doc = doc.get_or_insert_with(|| self.doc.clone());
            load_chunk(doc, cart, key, bytes)?;
            merged.push((key.clone(), bytes.len()));
        }
        if let Some(doc) = doc {
            // As in `refresh`: chunks whose changes wait on a missing dependency are not owned.
            self.chunks.merged(merged, Dependencies::of(&doc));
            self.doc = doc;
        }
        self.chunks.listed(keys);
        if self.doc.get_heads() == heads {
            return Ok(false);
        }
        let lines = self.lines_read_again();
        self.keep_lines(lines);
        Ok(true)
    }

    /// Counts an incremental chunk of `size` bytes this instance stored under `key`.
    pub(crate) fn note_stored(&mut self, key: ChunkKey, size: usize) {
        self.chunks.stored(key, size);
    }

    /// Replaces every chunk this instance owns with `snapshot` in `store`. A failure is
    /// logged; the chunks stay and the cart stays complete.
    pub(crate) async fn compact(
        &mut self,
        cart: CartId,
        store: &(impl DocStore + ?Sized),
        snapshot: Vec<u8>,
    ) {
        let compaction = self.chunks.compaction(&snapshot);
        match store.compact(&cart, snapshot, &compaction.deletes).await {
            Ok(key) => {
                debug_assert_eq!(
                    key, compaction.snapshot,
                    "stores key chunks as cart-core does"
                );
                self.chunks.compacted(compaction);
            }
            Err(e) => tracing::warn!(%cart, error = %e, "compaction failed; chunks kept"),
        }
    }
}

/// Loads the stored chunk `key` of `cart` into `doc`. Errs with a storage [`Refusal`] when its
/// bytes do not load.
fn load_chunk(
    doc: &mut Automerge,
    cart: CartId,
    key: &ChunkKey,
    bytes: &[u8],
) -> Result<(), Refusal> {
    doc.load_incremental(bytes).map(|_| ()).map_err(|e| {
        tracing::error!(%cart, chunk = %key, error = %e, "a stored chunk does not load");
        Refusal::storage(cart)
    })
}
