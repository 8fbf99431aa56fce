//! The storage layout: reopening, two writers on one storage, compaction, corrupt chunks and
//! failed writes. Runs on MemoryStorage; the browser runs the same scenarios on IndexedDB.

use cart_core::fixtures::item;
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use cart_core::chunks::{ChunkKey, ChunkKind, COMPACT_AFTER};
use cart_core::persist::{self, migrate, Persister};
use cart_core::storage::{
    MemoryStorage, Storage, StorageError, StorageErrorKind, StorageKey, StorageOp,
};
use cart_core::{Cart, CartId};

/// Runs a future whose IO is in memory and so completes without waiting.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("in-memory storage never waits"),
    }
}

fn skus(cart: &Cart) -> Vec<(String, i64)> {
    cart.lines()
        .into_iter()
        .map(|l| (l.sku, l.quantity))
        .collect()
}

fn stored_keys(storage: &MemoryStorage, id: &CartId) -> Vec<StorageKey> {
    block_on(storage.load_range(&Persister::prefix(id)))
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// Adds and flushes one item at a time until the persister has compacted at least once.
fn flush_adds_past_a_compaction(
    storage: &MemoryStorage,
    opened: &mut persist::Restored,
    prefix: &str,
) {
    for i in 0..(COMPACT_AFTER + 2) {
        opened
            .cart
            .add_item(&item(&format!("{prefix}{}", i % 3), 1))
            .unwrap();
        block_on(persist::flush(
            storage,
            &mut opened.persister,
            &mut opened.cart,
        ))
        .unwrap();
    }
}

#[test]
fn memory_storage_passes_the_conformance_suite() {
    block_on(cart_core::storage::conformance::run(&MemoryStorage::new()));
}

#[test]
fn a_reopened_cart_has_everything_that_was_flushed() {
    let storage = MemoryStorage::new();
    let id = CartId::random().unwrap();
    let mut opened = block_on(persist::open(&storage, id)).unwrap();
    assert!(opened.cart.lines().is_empty());
    for sku in ["A", "B", "A"] {
        opened.cart.add_item(&item(sku, 1)).unwrap();
        block_on(persist::flush(
            &storage,
            &mut opened.persister,
            &mut opened.cart,
        ))
        .unwrap();
    }
    let reopened = block_on(persist::open(&storage, id)).unwrap();
    assert_eq!(skus(&reopened.cart), vec![("A".into(), 2), ("B".into(), 1)]);
    assert!(reopened.skipped.is_empty());
}

#[test]
fn an_empty_new_cart_writes_nothing() {
    let storage = MemoryStorage::new();
    let id = CartId::random().unwrap();
    let mut opened = block_on(persist::open(&storage, id)).unwrap();
    block_on(persist::flush(
        &storage,
        &mut opened.persister,
        &mut opened.cart,
    ))
    .unwrap();
    assert!(stored_keys(&storage, &id).is_empty());
}

#[test]
fn compaction_keeps_the_number_of_chunks_bounded() {
    let storage = MemoryStorage::new();
    let id = CartId::random().unwrap();
    let mut opened = block_on(persist::open(&storage, id)).unwrap();
    for i in 0..(3 * COMPACT_AFTER + 5) {
        opened
            .cart
            .add_item(&item(&format!("SKU-{}", i % 7), 1))
            .unwrap();
        block_on(persist::flush(
            &storage,
            &mut opened.persister,
            &mut opened.cart,
        ))
        .unwrap();
    }
    let keys = stored_keys(&storage, &id);
    assert!(
        keys.len() <= COMPACT_AFTER + 1,
        "{} chunks stored",
        keys.len()
    );
    assert_eq!(
        keys.iter()
            .filter(|k| k[1] == ChunkKind::Snapshot.as_str())
            .count(),
        1
    );
    let reopened = block_on(persist::open(&storage, id)).unwrap();
    assert_eq!(reopened.cart.item_count(), (3 * COMPACT_AFTER + 5) as i64);
}

#[test]
fn two_writers_on_one_storage_never_lose_each_others_adds() {
    // Two tabs: both open the same stored cart, then add and compact independently.
    let storage = MemoryStorage::new();
    let id = CartId::random().unwrap();
    let mut first = block_on(persist::open(&storage, id)).unwrap();
    first.cart.add_item(&item("SHARED", 1)).unwrap();
    block_on(persist::flush(
        &storage,
        &mut first.persister,
        &mut first.cart,
    ))
    .unwrap();

    let mut tab_a = block_on(persist::open(&storage, id)).unwrap();
    let mut tab_b = block_on(persist::open(&storage, id)).unwrap();
    for i in 0..(2 * COMPACT_AFTER) {
        tab_a
            .cart
            .add_item(&item(&format!("A{}", i % 5), 1))
            .unwrap();
        block_on(persist::flush(
            &storage,
            &mut tab_a.persister,
            &mut tab_a.cart,
        ))
        .unwrap();
        tab_b
            .cart
            .add_item(&item(&format!("B{}", i % 3), 1))
            .unwrap();
        block_on(persist::flush(
            &storage,
            &mut tab_b.persister,
            &mut tab_b.cart,
        ))
        .unwrap();
    }
    let reopened = block_on(persist::open(&storage, id)).unwrap();
    let total = 1 + 2 * 2 * COMPACT_AFTER as i64;
    assert_eq!(
        reopened.cart.item_count(),
        total,
        "a tab's compaction deleted the other tab's adds"
    );
}

#[test]
fn corrupt_truncated_and_misnamed_chunks_are_skipped_and_kept() {
    let storage = MemoryStorage::new();
    let id = CartId::random().unwrap();
    let mut opened = block_on(persist::open(&storage, id)).unwrap();
    opened.cart.add_item(&item("GOOD", 1)).unwrap();
    block_on(persist::flush(
        &storage,
        &mut opened.persister,
        &mut opened.cart,
    ))
    .unwrap();
    let good = block_on(storage.load_range(&Persister::prefix(&id)))
        .unwrap()
        .remove(0)
        .1;
    // Keys as any chunk's; the bytes do not load.
    let garbage = ChunkKey::of(ChunkKind::Incremental, b"garbage").path(&id);
    let truncated = ChunkKey::of(ChunkKind::Incremental, b"truncated").path(&id);
    // A chunk's path whose hash no writer of offline-cart would write.
    let misnamed = vec![
        id.to_string(),
        ChunkKind::Incremental.as_str().into(),
        "misnamed".into(),
    ];
    block_on(storage.apply(&[
        StorageOp::Put {
            key: garbage.clone(),
            value: b"\x85\x6f\x4a\x83 not a chunk".to_vec(),
        },
        StorageOp::Put {
            key: truncated.clone(),
            value: good[..good.len() - 7].to_vec(),
        },
        StorageOp::Put {
            key: misnamed.clone(),
            value: good.clone(),
        },
    ]))
    .unwrap();

    let mut reopened = block_on(persist::open(&storage, id)).unwrap();
    assert_eq!(skus(&reopened.cart), vec![("GOOD".into(), 1)]);
    let mut skipped: Vec<StorageKey> = reopened.skipped.iter().map(|s| s.key.clone()).collect();
    skipped.sort();
    let mut expected = vec![garbage.clone(), truncated.clone(), misnamed.clone()];
    expected.sort();
    assert_eq!(skipped, expected);

    // The cart keeps accepting adds, and compaction never deletes what it could not load.
    flush_adds_past_a_compaction(&storage, &mut reopened, "MORE");
    let keys = stored_keys(&storage, &id);
    assert!(
        keys.contains(&garbage) && keys.contains(&truncated) && keys.contains(&misnamed),
        "unloadable chunks were deleted"
    );
}

#[test]
fn a_chunk_whose_changes_wait_on_a_missing_change_survives_compaction() {
    let storage = MemoryStorage::new();
    let id = CartId::random().unwrap();
    let mut other = Cart::new(id);
    let base = other.save();
    other.add_item(&item("LOST-BEFORE", 1)).unwrap();
    let missing = other.heads();
    other.add_item(&item("WAITING", 1)).unwrap();
    // Only the second add is stored: the change it builds on never made it to this storage.
    let waiting = other.save_after(&missing);
    let waiting_key = ChunkKey::of(ChunkKind::Incremental, &waiting).path(&id);
    block_on(storage.apply(&[
        StorageOp::Put {
            key: ChunkKey::of(ChunkKind::Snapshot, &base).path(&id),
            value: base,
        },
        StorageOp::Put {
            key: waiting_key.clone(),
            value: waiting,
        },
    ]))
    .unwrap();

    let mut opened = block_on(persist::open(&storage, id)).unwrap();
    flush_adds_past_a_compaction(&storage, &mut opened, "NEW");
    let keys = stored_keys(&storage, &id);
    assert!(
        keys.iter()
            .filter(|k| k[1] == ChunkKind::Snapshot.as_str())
            .count()
            >= 2,
        "the compaction ran: {keys:?}"
    );
    assert!(
        keys.contains(&waiting_key),
        "the chunk holding the waiting change was deleted"
    );
}

/// Storage that fails the next `fail_next` writes, like a full or briefly locked disk.
struct Flaky {
    inner: MemoryStorage,
    fail_next: Cell<usize>,
}

impl Storage for Flaky {
    async fn load_range(
        &self,
        prefix: &[String],
    ) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
        self.inner.load_range(prefix).await
    }

    async fn apply(&self, ops: &[StorageOp]) -> Result<(), StorageError> {
        if self.fail_next.get() > 0 {
            self.fail_next.set(self.fail_next.get() - 1);
            return Err(StorageError::new(
                StorageErrorKind::QuotaExceeded,
                "disk full",
            ));
        }
        self.inner.apply(ops).await
    }
}

#[test]
fn changes_of_a_failed_write_go_out_with_the_next_one() {
    let storage = Flaky {
        inner: MemoryStorage::new(),
        fail_next: Cell::new(0),
    };
    let id = CartId::random().unwrap();
    let mut opened = block_on(persist::open(&storage, id)).unwrap();
    opened.cart.add_item(&item("A", 1)).unwrap();
    block_on(persist::flush(
        &storage,
        &mut opened.persister,
        &mut opened.cart,
    ))
    .unwrap();

    storage.fail_next.set(1);
    opened.cart.add_item(&item("B", 1)).unwrap();
    let err = block_on(persist::flush(
        &storage,
        &mut opened.persister,
        &mut opened.cart,
    ))
    .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::QuotaExceeded);
    assert!(opened.persister.has_unsaved(&mut opened.cart));

    opened.cart.add_item(&item("C", 1)).unwrap();
    block_on(persist::flush(
        &storage,
        &mut opened.persister,
        &mut opened.cart,
    ))
    .unwrap();
    assert!(!opened.persister.has_unsaved(&mut opened.cart));
    let reopened = block_on(persist::open(&storage.inner, id)).unwrap();
    assert_eq!(
        skus(&reopened.cart),
        vec![("A".into(), 1), ("B".into(), 1), ("C".into(), 1)]
    );
}

#[test]
fn a_fresh_persister_moves_the_whole_cart_to_another_storage() {
    let old = MemoryStorage::new();
    let id = CartId::random().unwrap();
    let mut opened = block_on(persist::open(&old, id)).unwrap();
    opened.cart.add_item(&item("A", 1)).unwrap();
    opened.cart.add_item(&item("B", 1)).unwrap();
    block_on(persist::flush(
        &old,
        &mut opened.persister,
        &mut opened.cart,
    ))
    .unwrap();

    let new = MemoryStorage::new();
    let mut persister = Persister::fresh(id);
    let write = persister.next_write(&mut opened.cart).unwrap();
    assert!(write.is_snapshot());
    block_on(new.apply(write.ops())).unwrap();
    persister.committed(write);
    let reopened = block_on(persist::open(&new, id)).unwrap();
    assert_eq!(skus(&reopened.cart), skus(&opened.cart));
}

/// `writes` flushed to `preferred` until it fails once; then, as the browser binding does, a
/// fresh persister writes the rest to `fallback`. Returns the cart as it was last flushed.
fn add_with_one_failed_write(preferred: &Flaky, fallback: &Flaky, id: CartId) -> Cart {
    let mut opened =
        block_on(migrate::open(preferred, std::slice::from_ref(fallback), id)).unwrap();
    opened.cart.add_item(&item("BEFORE", 1)).unwrap();
    block_on(persist::flush(
        preferred,
        &mut opened.persister,
        &mut opened.cart,
    ))
    .unwrap();
    preferred.fail_next.set(1);
    opened.cart.add_item(&item("FAILED", 1)).unwrap();
    block_on(persist::flush(
        preferred,
        &mut opened.persister,
        &mut opened.cart,
    ))
    .unwrap_err();
    let mut persister = Persister::fresh(id);
    block_on(persist::flush(fallback, &mut persister, &mut opened.cart)).unwrap();
    opened.cart.add_item(&item("AFTER", 1)).unwrap();
    block_on(persist::flush(fallback, &mut persister, &mut opened.cart)).unwrap();
    opened.cart
}

fn flaky() -> Flaky {
    Flaky {
        inner: MemoryStorage::new(),
        fail_next: Cell::new(0),
    }
}

#[test]
fn adds_written_to_a_fallback_are_read_back_and_moved_to_the_preferred_storage() {
    let (preferred, fallback) = (flaky(), flaky());
    let id = CartId::random().unwrap();
    let cart = add_with_one_failed_write(&preferred, &fallback, id);
    let all = vec![
        ("BEFORE".into(), 1),
        ("FAILED".into(), 1),
        ("AFTER".into(), 1),
    ];
    assert_eq!(skus(&cart), all);
    let preferred_alone = block_on(persist::open(&preferred, id)).unwrap();
    assert_eq!(skus(&preferred_alone.cart), vec![("BEFORE".into(), 1)]);

    let reopened = block_on(migrate::open(
        &preferred,
        std::slice::from_ref(&fallback),
        id,
    ))
    .unwrap();
    assert_eq!(skus(&reopened.cart), all);
    assert!(reopened.skipped.is_empty());
    assert!(
        stored_keys(&fallback.inner, &id).is_empty(),
        "the fallback copies are deleted once the preferred storage holds them"
    );
    let preferred_alone = block_on(persist::open(&preferred, id)).unwrap();
    assert_eq!(skus(&preferred_alone.cart), all);
}

#[test]
fn a_failed_copy_leaves_the_fallback_untouched_and_the_next_open_moves_it() {
    let (preferred, fallback) = (flaky(), flaky());
    let id = CartId::random().unwrap();
    add_with_one_failed_write(&preferred, &fallback, id);
    let in_fallback = stored_keys(&fallback.inner, &id);

    preferred.fail_next.set(1);
    let reopened = block_on(migrate::open(
        &preferred,
        std::slice::from_ref(&fallback),
        id,
    ))
    .unwrap();
    assert_eq!(
        reopened.cart.item_count(),
        3,
        "the cart opens whole all the same"
    );
    assert_eq!(
        stored_keys(&fallback.inner, &id),
        in_fallback,
        "nothing is deleted from a fallback before the copy succeeded"
    );

    let reopened = block_on(migrate::open(
        &preferred,
        std::slice::from_ref(&fallback),
        id,
    ))
    .unwrap();
    assert_eq!(reopened.cart.item_count(), 3);
    assert!(stored_keys(&fallback.inner, &id).is_empty());
}

#[test]
fn a_crash_between_the_copy_and_the_removes_leaves_harmless_duplicates() {
    let (preferred, fallback) = (flaky(), flaky());
    let id = CartId::random().unwrap();
    add_with_one_failed_write(&preferred, &fallback, id);
    // The copy happened, the removes did not.
    let prefix = Persister::prefix(&id);
    let held = block_on(preferred.load_range(&prefix)).unwrap();
    let found = block_on(fallback.load_range(&prefix)).unwrap();
    let (_, migration) = migrate::plan(&id, held, vec![found]);
    block_on(preferred.apply(migration.copy())).unwrap();

    let reopened = block_on(migrate::open(
        &preferred,
        std::slice::from_ref(&fallback),
        id,
    ))
    .unwrap();
    assert_eq!(
        skus(&reopened.cart),
        vec![
            ("BEFORE".into(), 1),
            ("FAILED".into(), 1),
            ("AFTER".into(), 1)
        ],
        "chunks read twice count once"
    );
    assert!(stored_keys(&fallback.inner, &id).is_empty());
}

#[test]
fn the_secret_written_to_a_fallback_moves_with_the_cart() {
    let (preferred, fallback) = (flaky(), flaky());
    let id = CartId::random().unwrap();
    block_on(fallback.apply(&[Persister::key_write(&id, "secret")])).unwrap();
    let reopened = block_on(migrate::open(
        &preferred,
        std::slice::from_ref(&fallback),
        id,
    ))
    .unwrap();
    assert_eq!(reopened.key.as_deref(), Some("secret"));
    assert_eq!(
        block_on(persist::open(&preferred, id))
            .unwrap()
            .key
            .as_deref(),
        Some("secret")
    );
}
