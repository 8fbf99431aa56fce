//! [`SqliteStore`]: the embedded [`DocStore`], one SQLite file.
//!
//! - WAL journal with `synchronous=FULL`: every commit is fsynced to the WAL before the call
//!   returns, so a change the server acknowledged survives a crash or a power cut. (`NORMAL`
//!   would only survive a process crash, not a power cut, so it is not used.)
//! - One writing connection, owned by a thread that commits every operation waiting for it as
//!   one transaction (group commit, see `group_commit`): SQLite serialises writers anyway, so
//!   concurrent changes of many carts share one fsync instead of queueing for one each, and the
//!   async runtime never waits on disk. Each operation stays atomic (a savepoint of its own) and
//!   is answered only once its transaction is committed.
//! - Transactions use `BEGIN IMMEDIATE` and a busy timeout, so several processes may share the
//!   file.
//! - A second, read-only connection answers [`DocStore::cart_count`] (for `/metrics`): in WAL mode
//!   it reads the last committed state without waiting for the writing connection, so a scrape
//!   never queues behind an fsync.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cart_core::chunks::{ChunkKey, ChunkKind};
use cart_core::CartId;
use rusqlite::{params, Connection, OptionalExtension};

use super::group_commit::GroupCommit;
use super::shop::{
    from_json, product_rows, to_json, Account, Customer, DeliveryState, DueDelivery, Order,
    OwnerTable, Placed, Product, ShopStore,
};
use super::{random_uuid, DocStore, StoreError};
use crate::secret::SecretHash;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS carts (
    cart_id     TEXT PRIMARY KEY,          -- bs58check cart id
    secret_hash BLOB NOT NULL,             -- SHA-256 of the access key, see secret.rs
    created_at  INTEGER NOT NULL DEFAULT (unixepoch())
);
CREATE TABLE IF NOT EXISTS chunks (
    cart_id TEXT NOT NULL REFERENCES carts (cart_id),
    kind    TEXT NOT NULL CHECK (kind IN ('snapshot', 'incremental')),
    hash    TEXT NOT NULL,                 -- hash of bytes, lowercase hex (cart_core::chunks)
    bytes   BLOB NOT NULL,
    PRIMARY KEY (cart_id, kind, hash)
);
CREATE TABLE IF NOT EXISTS sync_states (
    storage_id TEXT NOT NULL,              -- the peer's storageId
    cart_id    TEXT NOT NULL,
    state      BLOB NOT NULL,              -- automerge sync::State::encode()
    PRIMARY KEY (storage_id, cart_id)
);
CREATE TABLE IF NOT EXISTS products (
    sku      TEXT PRIMARY KEY,
    position INTEGER NOT NULL,             -- catalog order: order of first seeding
    body     TEXT NOT NULL                 -- the Product as JSON
);
CREATE TABLE IF NOT EXISTS orders (
    order_id   TEXT PRIMARY KEY,           -- derived from cart id and heads: one order per checkout
    cart_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,           -- ms since the epoch
    body       TEXT NOT NULL               -- the Order as JSON
);
CREATE INDEX IF NOT EXISTS orders_by_cart ON orders (cart_id);
CREATE TABLE IF NOT EXISTS deliveries (  -- the outbox of the checkout webhook (webhook.rs)
    order_id        TEXT PRIMARY KEY REFERENCES orders (order_id),
    attempts        INTEGER NOT NULL DEFAULT 0, -- attempts begun
    next_attempt_at INTEGER NOT NULL,       -- ms since the epoch: due, or end of the lease
    delivered_at    INTEGER,                -- ms since the epoch; NULL while pending
    last_error      TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_attempt_at)
    WHERE delivered_at IS NULL;
CREATE TABLE IF NOT EXISTS accounts (
    name       TEXT PRIMARY KEY,           -- demo sign-in name, trimmed
    cart_id    TEXT NOT NULL,
    cart_key   TEXT NOT NULL,              -- handed out again on every sign-in (a demo, see README)
    created_at INTEGER NOT NULL DEFAULT (unixepoch())
);
CREATE TABLE IF NOT EXISTS customers (
    customer_id TEXT PRIMARY KEY,          -- the shop's customer id (sign-in token's sub)
    cart_id     TEXT NOT NULL,
    cart_key    TEXT NOT NULL,             -- handed out again on every claim with a valid token
    created_at  INTEGER NOT NULL DEFAULT (unixepoch())
);
";

/// A [`DocStore`] in one SQLite file (WAL, `synchronous=FULL`).
#[derive(Clone)]
pub struct SqliteStore {
    writer: GroupCommit,
    reader: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    /// Opens (creating when missing) the database at `path` and its parent directory, and
    /// creates the tables.
    ///
    /// Errs when the directory or file cannot be created or is not a SQLite database.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let for_task = path.clone();
        let (conn, reader) =
            tokio::task::spawn_blocking(move || -> Result<(Connection, Connection), StoreError> {
                if let Some(dir) = for_task.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        backend(format!("cannot create directory {}: {e}", dir.display()))
                    })?;
                }
                let conn = Connection::open(&for_task).map_err(backend)?;
                conn.busy_timeout(Duration::from_secs(10))
                    .map_err(backend)?;
                conn.pragma_update(None, "journal_mode", "WAL")
                    .map_err(backend)?;
                conn.pragma_update(None, "synchronous", "FULL")
                    .map_err(backend)?;
                conn.pragma_update(None, "foreign_keys", "ON")
                    .map_err(backend)?;
                conn.execute_batch(SCHEMA).map_err(backend)?;
                let reader = Connection::open_with_flags(
                    &for_task,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(backend)?;
                reader
                    .busy_timeout(Duration::from_secs(10))
                    .map_err(backend)?;
                Ok((conn, reader))
            })
            .await
            .map_err(backend)??;
        Ok(SqliteStore {
            writer: GroupCommit::start(conn)?,
            reader: Arc::new(Mutex::new(reader)),
            path,
        })
    }

    /// The file this store uses.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The journal mode and `synchronous` level in force (`("wal", 2)` means WAL with FULL), so
    /// operators and tests can check the durability settings.
    pub async fn durability(&self) -> Result<(String, i64), StoreError> {
        self.with_conn(|conn| {
            let mode: String = conn
                .query_row("PRAGMA journal_mode", [], |row| row.get(0))
                .map_err(backend)?;
            let level: i64 = conn
                .query_row("PRAGMA synchronous", [], |row| row.get(0))
                .map_err(backend)?;
            Ok((mode, level))
        })
        .await
    }

    /// Runs `work` atomically on the writing connection (in the writer's next transaction)
    /// and resolves once that transaction is committed.
    async fn with_conn<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.run(work).await
    }

    /// Runs `work` on the read-only connection on a blocking thread.
    async fn with_reader<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let reader = Arc::clone(&self.reader);
        tokio::task::spawn_blocking(move || {
            let guard = reader
                .lock()
                .map_err(|_| backend("the sqlite reader lock was poisoned"))?;
            work(&guard)
        })
        .await
        .map_err(backend)?
    }
}

fn stored_secret(conn: &Connection, cart: &str) -> Result<Option<SecretHash>, StoreError> {
    let bytes: Option<Vec<u8>> = conn
        .query_row(
            "SELECT secret_hash FROM carts WHERE cart_id = ?1",
            params![cart],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend)?;
    bytes
        .map(|b| {
            SecretHash::from_slice(&b)
                .ok_or_else(|| backend(format!("secret hash of cart {cart} is not 32 bytes")))
        })
        .transpose()
}

/// Inserts an incremental chunk (keyed `hash`) of `cart` unless it is stored already.
fn insert_incremental(
    conn: &Connection,
    cart: &str,
    hash: &str,
    bytes: &[u8],
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO chunks (cart_id, kind, hash, bytes) VALUES (?1, 'incremental', ?2, ?3)
         ON CONFLICT DO NOTHING",
        params![cart, hash, bytes],
    )
    .map_err(backend)?;
    Ok(())
}

fn stored_order(conn: &Connection, id: &str) -> Result<Option<Order>, StoreError> {
    let body: Option<String> = conn
        .query_row(
            "SELECT body FROM orders WHERE order_id = ?1",
            params![id],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend)?;
    body.map(|b| from_json(&b, "order")).transpose()
}

#[async_trait]
impl DocStore for SqliteStore {
    async fn storage_id(&self) -> Result<String, StoreError> {
        let fresh = random_uuid()?;
        self.with_conn(move |conn| {
            conn.execute(
                "INSERT INTO meta (name, value) VALUES ('storage_id', ?1) ON CONFLICT (name) DO NOTHING",
                params![fresh],
            )
            .map_err(backend)?;
            let id: String = conn
                .query_row(
                    "SELECT value FROM meta WHERE name = 'storage_id'",
                    [],
                    |row| row.get(0),
                )
                .map_err(backend)?;
            Ok(id)
        })
        .await
    }

    async fn secret_hash(&self, cart: &CartId) -> Result<Option<SecretHash>, StoreError> {
        let cart = cart.to_string();
        self.with_conn(move |conn| stored_secret(conn, &cart)).await
    }

    async fn load_chunks_unseen(
        &self,
        cart: &CartId,
        seen: &HashSet<ChunkKey>,
    ) -> Result<Vec<(ChunkKey, Option<Vec<u8>>)>, StoreError> {
        let cart = cart.to_string();
        let seen = seen.clone();
        self.with_conn(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT kind, hash, bytes FROM chunks WHERE cart_id = ?1
                     ORDER BY kind = 'incremental', rowid",
                )
                .map_err(backend)?;
            let mut rows = stmt.query(params![cart]).map_err(backend)?;
            let mut chunks = Vec::new();
            while let Some(row) = rows.next().map_err(backend)? {
                let kind: String = row.get(0).map_err(backend)?;
                let hash: String = row.get(1).map_err(backend)?;
                let key = ChunkKey::parse(&kind, &hash).map_err(backend)?;
                // SQLite reads a blob's pages only when the column is asked for.
                let bytes = if seen.contains(&key) {
                    None
                } else {
                    Some(row.get(2).map_err(backend)?)
                };
                chunks.push((key, bytes));
            }
            Ok(chunks)
        })
        .await
    }

    async fn append_chunk(
        &self,
        cart: &CartId,
        secret: &SecretHash,
        bytes: Vec<u8>,
    ) -> Result<ChunkKey, StoreError> {
        let cart = cart.to_string();
        let secret = *secret;
        let key = ChunkKey::of(ChunkKind::Incremental, &bytes);
        let hash = key.hash().to_string();
        self.with_conn(move |conn| {
            match stored_secret(conn, &cart)? {
                Some(stored) if stored != secret => return Err(StoreError::SecretMismatch),
                Some(_) => {}
                None => {
                    conn.execute(
                        "INSERT INTO carts (cart_id, secret_hash) VALUES (?1, ?2)",
                        params![cart, secret.as_bytes().as_slice()],
                    )
                    .map_err(backend)?;
                }
            }
            insert_incremental(conn, &cart, &hash, &bytes)?;
            Ok(())
        })
        .await?;
        Ok(key)
    }

    async fn compact(
        &self,
        cart: &CartId,
        snapshot: Vec<u8>,
        replaces: &[ChunkKey],
    ) -> Result<ChunkKey, StoreError> {
        let cart = cart.to_string();
        let key = ChunkKey::of(ChunkKind::Snapshot, &snapshot);
        let hash = key.hash().to_string();
        let doomed: Vec<ChunkKey> = replaces.iter().filter(|k| **k != key).cloned().collect();
        self.with_conn(move |conn| {
            if stored_secret(conn, &cart)?.is_none() {
                return Err(StoreError::UnknownCart);
            }
            conn.execute(
                "INSERT INTO chunks (cart_id, kind, hash, bytes) VALUES (?1, 'snapshot', ?2, ?3)
                 ON CONFLICT DO NOTHING",
                params![cart, hash, snapshot],
            )
            .map_err(backend)?;
            for old in &doomed {
                conn.execute(
                    "DELETE FROM chunks WHERE cart_id = ?1 AND kind = ?2 AND hash = ?3",
                    params![cart, old.kind().as_str(), old.hash().as_str()],
                )
                .map_err(backend)?;
            }
            Ok(())
        })
        .await?;
        Ok(key)
    }

    async fn load_sync_state(
        &self,
        storage_id: &str,
        cart: &CartId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let cart = cart.to_string();
        let storage_id = storage_id.to_string();
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT state FROM sync_states WHERE storage_id = ?1 AND cart_id = ?2",
                params![storage_id, cart],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn save_sync_state(
        &self,
        storage_id: &str,
        cart: &CartId,
        state: Vec<u8>,
    ) -> Result<(), StoreError> {
        let cart = cart.to_string();
        let storage_id = storage_id.to_string();
        self.with_conn(move |conn| {
            conn.execute(
                "INSERT INTO sync_states (storage_id, cart_id, state) VALUES (?1, ?2, ?3)
                 ON CONFLICT (storage_id, cart_id) DO UPDATE SET state = excluded.state",
                params![storage_id, cart, state],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn cart_count(&self) -> Result<u64, StoreError> {
        self.with_reader(|conn| {
            let n: i64 = conn
                .query_row("SELECT count(*) FROM carts", [], |row| row.get(0))
                .map_err(backend)?;
            Ok(u64::try_from(n).unwrap_or_default())
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.with_reader(|conn| {
            conn.query_row("SELECT EXISTS (SELECT 1 FROM carts)", [], |row| {
                row.get::<_, bool>(0)
            })
            .map_err(backend)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl ShopStore for SqliteStore {
    async fn seed_catalog(&self, products: &[Product]) -> Result<usize, StoreError> {
        let rows = product_rows(products)?;
        self.with_conn(move |conn| {
            let mut inserted = 0;
            for (sku, body) in &rows {
                inserted += conn
                    .execute(
                        "INSERT INTO products (sku, position, body)
                         VALUES (?1, (SELECT coalesce(max(position), 0) + 1 FROM products), ?2)
                         ON CONFLICT (sku) DO NOTHING",
                        params![sku, body],
                    )
                    .map_err(backend)?;
            }
            Ok(inserted)
        })
        .await
    }

    async fn put_product(&self, product: &Product) -> Result<(), StoreError> {
        let sku = product.sku.clone();
        let body = to_json(product)?;
        self.with_conn(move |conn| {
            conn.execute(
                "INSERT INTO products (sku, position, body)
                 VALUES (?1, (SELECT coalesce(max(position), 0) + 1 FROM products), ?2)
                 ON CONFLICT (sku) DO UPDATE SET body = excluded.body",
                params![sku, body],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn replace_catalog(&self, products: &[Product]) -> Result<(), StoreError> {
        let rows = product_rows(products)?;
        // One job of the writer: its own savepoint, so all of it or nothing.
        self.with_conn(move |conn| {
            conn.execute("DELETE FROM products", []).map_err(backend)?;
            let mut insert = conn
                .prepare_cached("INSERT INTO products (sku, position, body) VALUES (?1, ?2, ?3)")
                .map_err(backend)?;
            for (position, (sku, body)) in (1_i64..).zip(&rows) {
                insert
                    .execute(params![sku, position, body])
                    .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn catalog(&self) -> Result<Vec<Product>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT body FROM products ORDER BY position, sku")
                .map_err(backend)?;
            let rows = stmt
                .query_map([], |row| row.get::<_, String>(0))
                .map_err(backend)?;
            let mut products = Vec::new();
            for row in rows {
                products.push(from_json(&row.map_err(backend)?, "product")?);
            }
            Ok(products)
        })
        .await
    }

    async fn place_order(
        &self,
        order: &Order,
        secret: &SecretHash,
        clear: Vec<u8>,
    ) -> Result<Placed, StoreError> {
        let body = to_json(order)?;
        let (id, cart, created_at) = (order.id.clone(), order.cart_id.clone(), order.created_at);
        let secret = *secret;
        let key = ChunkKey::of(ChunkKind::Incremental, &clear);
        let hash = key.hash().to_string();
        self.with_conn(move |conn| {
            if let Some(existing) = stored_order(conn, &id)? {
                return Ok(Placed::Existing(existing));
            }
            match stored_secret(conn, &cart)? {
                None => return Err(StoreError::UnknownCart),
                Some(stored) if stored != secret => return Err(StoreError::SecretMismatch),
                Some(_) => {}
            }
            conn.execute(
                "INSERT INTO orders (order_id, cart_id, created_at, body) VALUES (?1, ?2, ?3, ?4)",
                params![id, cart, created_at, body],
            )
            .map_err(backend)?;
            insert_incremental(conn, &cart, &hash, &clear)?;
            conn.execute(
                "INSERT INTO deliveries (order_id, next_attempt_at) VALUES (?1, ?2)",
                params![id, created_at],
            )
            .map_err(backend)?;
            Ok(Placed::Created(key))
        })
        .await
    }

    async fn order(&self, id: &str) -> Result<Option<Order>, StoreError> {
        let id = id.to_string();
        self.with_conn(move |conn| stored_order(conn, &id)).await
    }

    async fn take_due_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_conn(move |conn| {
            let leased: Vec<(String, u32)> = {
                let mut stmt = conn
                    .prepare_cached(
                        "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?2
                         WHERE order_id IN (
                             SELECT order_id FROM deliveries
                             WHERE delivered_at IS NULL AND next_attempt_at <= ?1
                             ORDER BY next_attempt_at, order_id LIMIT ?3)
                         RETURNING order_id, attempts",
                    )
                    .map_err(backend)?;
                let rows = stmt
                    .query_map(params![now, lease_until, limit], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .map_err(backend)?;
                rows.collect::<Result<_, _>>().map_err(backend)?
            };
            leased
                .into_iter()
                .map(|(id, attempts)| {
                    let order = stored_order(conn, &id)?
                        .ok_or_else(|| backend(format!("delivery of unknown order {id}")))?;
                    Ok(DueDelivery { order, attempts })
                })
                .collect()
        })
        .await
    }

    async fn delivery_succeeded(&self, order_id: &str, at: i64) -> Result<(), StoreError> {
        let id = order_id.to_string();
        self.with_conn(move |conn| {
            conn.execute(
                "UPDATE deliveries SET delivered_at = ?2, last_error = NULL
                 WHERE order_id = ?1 AND delivered_at IS NULL",
                params![id, at],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn delivery_failed(
        &self,
        order_id: &str,
        attempt: u32,
        retry_at: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        let (id, error) = (order_id.to_string(), error.to_string());
        self.with_conn(move |conn| {
            conn.execute(
                "UPDATE deliveries SET next_attempt_at = ?2, last_error = ?3
                 WHERE order_id = ?1 AND attempts = ?4 AND delivered_at IS NULL",
                params![id, retry_at, error, attempt],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn next_delivery_at(&self) -> Result<Option<i64>, StoreError> {
        self.with_conn(|conn| {
            conn.query_row(
                "SELECT min(next_attempt_at) FROM deliveries WHERE delivered_at IS NULL",
                [],
                |row| row.get(0),
            )
            .map_err(backend)
        })
        .await
    }

    async fn delivery(&self, order_id: &str) -> Result<Option<DeliveryState>, StoreError> {
        let id = order_id.to_string();
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT attempts, next_attempt_at, delivered_at, last_error
                 FROM deliveries WHERE order_id = ?1",
                params![id],
                |row| {
                    Ok(DeliveryState {
                        attempts: row.get(0)?,
                        next_attempt_at: row.get(1)?,
                        delivered_at: row.get(2)?,
                        last_error: row.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn order_count(&self, cart_id: &str) -> Result<u64, StoreError> {
        let cart = cart_id.to_string();
        self.with_conn(move |conn| {
            let n: i64 = conn
                .query_row(
                    "SELECT count(*) FROM orders WHERE cart_id = ?1",
                    params![cart],
                    |row| row.get(0),
                )
                .map_err(backend)?;
            Ok(u64::try_from(n).unwrap_or_default())
        })
        .await
    }

    async fn account(&self, fresh: &Account) -> Result<Account, StoreError> {
        let fresh = fresh.clone();
        self.with_conn(move |conn| {
            let (cart_id, key) = first_cart(
                conn,
                OwnerTable::Accounts,
                &fresh.name,
                &fresh.cart_id,
                &fresh.key,
            )?;
            Ok(Account {
                name: fresh.name,
                cart_id,
                key,
            })
        })
        .await
    }

    async fn customer(&self, fresh: &Customer) -> Result<Customer, StoreError> {
        let fresh = fresh.clone();
        self.with_conn(move |conn| {
            let (cart_id, key) = first_cart(
                conn,
                OwnerTable::Customers,
                &fresh.id,
                &fresh.cart_id,
                &fresh.key,
            )?;
            Ok(Customer {
                id: fresh.id,
                cart_id,
                key,
            })
        })
        .await
    }
}

/// The cart id and key of `owner` in `table`, stored as `cart_id` and `key` when it has none:
/// the first writer wins, every later or racing one reads what it stored.
fn first_cart(
    conn: &Connection,
    table: OwnerTable,
    owner: &str,
    cart_id: &str,
    key: &str,
) -> Result<(String, String), StoreError> {
    let (table, column) = table.names();
    conn.execute(
        &format!(
            "INSERT INTO {table} ({column}, cart_id, cart_key) VALUES (?1, ?2, ?3)
             ON CONFLICT ({column}) DO NOTHING"
        ),
        params![owner, cart_id, key],
    )
    .map_err(backend)?;
    conn.query_row(
        &format!("SELECT cart_id, cart_key FROM {table} WHERE {column} = ?1"),
        params![owner],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .map_err(backend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counting_carts_does_not_wait_for_the_writing_connection() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path().join("c.sqlite3"))
            .await
            .expect("open");
        let cart = CartId::from_bytes([7; 16]);
        store
            .append_chunk(&cart, &SecretHash::from_bytes([1; 32]), vec![1, 2, 3])
            .await
            .expect("append");
        // A write in progress holds the writing connection (here: until the count is done).
        let (locked, is_locked) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let writer = store.writer.clone();
        let writing = tokio::spawn(async move {
            writer
                .run(move |_| {
                    let _ = locked.send(());
                    let _ = released.recv();
                    Ok(())
                })
                .await
        });
        tokio::task::spawn_blocking(move || is_locked.recv())
            .await
            .expect("the waiting task ends")
            .expect("the writing connection is held");
        let counted = tokio::time::timeout(Duration::from_secs(10), store.cart_count()).await;
        let _ = release.send(());
        writing
            .await
            .expect("the write ends")
            .expect("the write succeeds");
        assert_eq!(
            counted.expect("answered while a write held the lock").ok(),
            Some(1)
        );
    }
}
