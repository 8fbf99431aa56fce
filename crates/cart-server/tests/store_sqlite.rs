//! The DocStore conformance suite against SqliteStore, each check on a real SQLite file in a
//! temporary directory.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use cart_core::CartId;
use cart_server::store::conformance::Harness;
use cart_server::store::SqliteStore;
use tempfile::TempDir;

struct SqliteHarness {
    dir: TempDir,
    next: AtomicUsize,
}

impl SqliteHarness {
    fn new() -> SqliteHarness {
        SqliteHarness {
            dir: tempfile::tempdir().expect("a temporary directory"),
            next: AtomicUsize::new(0),
        }
    }
}

impl Harness for SqliteHarness {
    type Store = SqliteStore;

    async fn fresh(&self) -> SqliteStore {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self
            .dir
            .path()
            .join(format!("nested/dir/carts-{n}.sqlite3"));
        SqliteStore::open(path)
            .await
            .expect("open a new sqlite file")
    }

    async fn another_handle(&self, store: &SqliteStore) -> SqliteStore {
        SqliteStore::open(store.path())
            .await
            .expect("open the same sqlite file again")
    }

    async fn break_chunk_writes(&self, store: &SqliteStore) {
        support::break_chunk_writes(store.path());
    }

    async fn insert_chunk_row(
        &self,
        store: &SqliteStore,
        cart: &CartId,
        kind: &str,
        hash: &str,
        bytes: Vec<u8>,
    ) {
        rusqlite::Connection::open(store.path())
            .expect("open the sqlite file")
            .execute(
                "INSERT INTO chunks (cart_id, kind, hash, bytes) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![cart.to_string(), kind, hash, bytes],
            )
            .expect("insert the row");
    }
}

cart_server::store_conformance_tests!(SqliteHarness::new());

#[tokio::test]
async fn the_database_uses_wal_with_full_sync() {
    let harness = SqliteHarness::new();
    let store = harness.fresh().await;
    let (mode, level) = store.durability().await.expect("read pragmas");
    assert_eq!(mode.to_lowercase(), "wal");
    assert_eq!(level, 2, "synchronous must be FULL (2)");
}
