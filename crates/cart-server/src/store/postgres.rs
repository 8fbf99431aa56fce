//! [`PostgresStore`]: the scale-out store. Several stateless `cart-server` instances share one
//! PostgreSQL database through it.
//!
//! What each guarantee rests on (all of it plain SQL, no extension):
//! - **Migrations** are versioned (`schema_migrations`) and applied at start in one transaction
//!   that first takes a transaction-level advisory lock, so instances starting at once apply
//!   each migration exactly once and every other instance waits, then finds nothing to do.
//! - **Appends are idempotent**: chunks are keyed by `(cart_id, kind, SHA-256 of the bytes)` and
//!   inserted with `ON CONFLICT DO NOTHING`, so the same chunk stored by two instances at once
//!   is stored once and both calls succeed.
//! - **Binding a cart to its key is atomic**: `INSERT INTO carts ... ON CONFLICT DO NOTHING`
//!   then reading the row back in the same transaction; of two instances creating one cart with
//!   different secrets, the second waits on the first's uncommitted row and then sees it.
//! - **Compaction deletes only the chunks it names** (those the compacting instance read), in
//!   key order so that two compactions of one cart never deadlock; chunks another instance
//!   appended meanwhile are not named and survive.
//! - **Orders are exactly-once**: `orders.order_id` is the primary key, and placing an order
//!   locks its cart's row (`SELECT ... FOR UPDATE`), so checkouts of one cart are serialised
//!   across instances, not only by the hub of one instance.
//! - **Each order is handed to the webhook by one instance at a time**: its delivery row is
//!   inserted with the order; instances lease due rows with `FOR UPDATE SKIP LOCKED` and move
//!   their next attempt past the lease in the same statement.
//! - **Other instances hear of each change**: every write of a cart's chunks runs
//!   `SELECT pg_notify('cart_changes', <cart id>)` in its transaction, so the notice is sent
//!   when, and only if, the change commits; [`DocStore::change_feed`] listens (see
//!   `postgres_feed`).
//! - **Durability**: a call returns after `COMMIT`, which PostgreSQL makes durable with its
//!   default `synchronous_commit = on`.
//!
//! Connections come from a pool ([`POOL_SIZE`] at most); TLS is not built in (`sslmode=disable`
//! or `prefer` work, `require` is refused): reach the database over a private network or a
//! local TLS proxy.

use std::collections::HashSet;
use std::error::Error;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use cart_core::chunks::{ChunkKey, ChunkKind};
use cart_core::CartId;
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::config::Host;
use tokio_postgres::{Config, NoTls};
use tokio_util::sync::CancellationToken;

use super::shop::{
    from_json, product_rows, to_json, Account, Customer, DeliveryState, DueDelivery, Order,
    OwnerTable, Placed, Product, ShopStore,
};
use super::{postgres_feed, random_uuid, ChangeFeed, DocStore, StoreError};
use crate::secret::SecretHash;

/// Most connections one instance holds open. A sync message costs one short transaction, so a
/// few connections serve many WebSockets; several instances times this must stay below the
/// server's `max_connections` (100 by default).
pub const POOL_SIZE: usize = 16;

/// How long connecting, or waiting for a free pooled connection, may take before the call fails
/// (and the server answers `storage`), instead of hanging while the database is away.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The advisory lock key the migrations run under ("offline-cart migrations"; any constant
/// works as long as every instance uses the same one).
const MIGRATION_LOCK: i64 = 0x6f63_6172_745f_6d31;

/// One versioned step of the schema, applied once and recorded in `schema_migrations`.
struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

/// Every migration, in order. Append new ones; never edit one that has shipped.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "carts, chunks, sync states, catalog, orders and accounts",
        sql: "
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- Catalog writers lock this row, so products seeded by two instances at once get distinct
-- positions.
INSERT INTO meta (name, value) VALUES ('catalog_writer', '');
CREATE TABLE carts (
    cart_id     TEXT PRIMARY KEY,             -- bs58check cart id
    secret_hash BYTEA NOT NULL,               -- SHA-256 of the access key, see secret.rs
    created_at  TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE chunks (
    cart_id TEXT NOT NULL REFERENCES carts (cart_id),
    kind    TEXT NOT NULL CHECK (kind IN ('snapshot', 'incremental')),
    hash    TEXT NOT NULL,                    -- hash of bytes, lowercase hex (cart_core::chunks)
    bytes   BYTEA NOT NULL,
    seq     BIGINT GENERATED BY DEFAULT AS IDENTITY, -- load order: order of insertion
    PRIMARY KEY (cart_id, kind, hash)
);
CREATE TABLE sync_states (
    storage_id TEXT NOT NULL,                 -- the peer's storageId
    cart_id    TEXT NOT NULL,
    state      BYTEA NOT NULL,                -- automerge sync::State::encode()
    PRIMARY KEY (storage_id, cart_id)
);
CREATE TABLE products (
    sku      TEXT PRIMARY KEY,
    position BIGINT NOT NULL,                 -- catalog order: order of first seeding
    body     TEXT NOT NULL                    -- the Product as JSON
);
CREATE TABLE orders (
    order_id   TEXT PRIMARY KEY,              -- derived from cart id and heads: one per checkout
    cart_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,               -- ms since the epoch
    body       TEXT NOT NULL                  -- the Order as JSON
);
CREATE INDEX orders_by_cart ON orders (cart_id);
CREATE TABLE accounts (
    name       TEXT PRIMARY KEY,              -- demo sign-in name, trimmed
    cart_id    TEXT NOT NULL,
    cart_key   TEXT NOT NULL,                 -- handed out again on every sign-in (a demo)
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP
);
",
    },
    Migration {
        version: 2,
        name: "customers' carts",
        sql: "
CREATE TABLE customers (
    customer_id TEXT PRIMARY KEY,             -- the shop's customer id (sign-in token's sub)
    cart_id     TEXT NOT NULL,
    cart_key    TEXT NOT NULL,                -- handed out again on every claim with a valid token
    created_at  TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP
);
",
    },
    Migration {
        version: 3,
        name: "the checkout webhook's outbox",
        // Orders placed before this migration are not queued: they predate the webhook.
        sql: "
CREATE TABLE deliveries (
    order_id        TEXT PRIMARY KEY REFERENCES orders (order_id),
    attempts        INTEGER NOT NULL DEFAULT 0, -- attempts begun
    next_attempt_at BIGINT NOT NULL,            -- ms since the epoch: due, or end of the lease
    delivered_at    BIGINT,                     -- ms since the epoch; NULL while pending
    last_error      TEXT
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE delivered_at IS NULL;
",
    },
];

/// A [`DocStore`] and [`ShopStore`] in a PostgreSQL database, shared by any number of server
/// instances.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    config: Config,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("database", &describe(&self.config))
            .finish()
    }
}

/// `host:port/database as user`, for messages and logs: never the password.
pub fn describe(config: &Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports
                .get(i)
                .or_else(|| ports.first())
                .copied()
                .unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(dir) => format!("{}:{port} (unix socket)", dir.display()),
            }
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "localhost:5432".to_string()
    } else {
        hosts.join(",")
    };
    let user = config.get_user().unwrap_or("(default user)");
    match config.get_dbname() {
        Some(db) => format!("{hosts}/{db} as {user}"),
        None => format!("{hosts} (default database) as {user}"),
    }
}

/// A backend error with its whole chain of causes (tokio-postgres puts the server's message in
/// the source, behind a bare "db error").
fn backend(e: impl Error) -> StoreError {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    StoreError::Backend(text)
}

impl PostgresStore {
    /// Connects to the database a `postgres://` (or `postgresql://`) URL names, and applies the
    /// migrations it lacks.
    ///
    /// Errs when the URL does not parse, the database cannot be reached (the message names the
    /// host, port, database and user, never the password), or a migration fails.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let config = Config::from_str(url).map_err(|e| {
            StoreError::Backend(format!("DATABASE_URL is not a valid PostgreSQL URL: {e}"))
        })?;
        PostgresStore::open(config).await
    }

    /// As [`PostgresStore::connect`], with parsed settings.
    pub async fn open(mut config: Config) -> Result<PostgresStore, StoreError> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(backend)?;
        let store = PostgresStore { pool, config };
        let mut client = store.client().await.map_err(|e| {
            StoreError::Backend(format!(
                "cannot connect to PostgreSQL at {}: {}",
                describe(&store.config),
                match e {
                    StoreError::Backend(why) => why,
                    other => other.to_string(),
                }
            ))
        })?;
        migrate(&mut client).await?;
        Ok(store)
    }

    /// The connection settings this store uses (their `Debug` hides the password), so that
    /// tests and tools can open another handle on the same database.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A pooled connection; the error of a failed connect is PostgreSQL's, without the pool's
    /// wrapping.
    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => backend(e),
            other => backend(other),
        })
    }
}

/// Applies every migration the database lacks, under the migration lock, in one transaction:
/// all of them or none.
async fn migrate(client: &mut Object) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(backend)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(backend)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP
         )",
    )
    .await
    .map_err(backend)?;
    let applied: Vec<i32> = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await
        .map_err(backend)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    if let Some(newer) = applied.iter().copied().filter(|v| *v > known).max() {
        return Err(StoreError::Backend(format!(
            "the database has schema version {newer}, newer than this cart-server knows ({known}); \
             run a cart-server at least as new as the one that migrated it"
        )));
    }
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        tx.batch_execute(migration.sql).await.map_err(|e| {
            StoreError::Backend(format!(
                "migration {} ({}) failed: {}",
                migration.version,
                migration.name,
                backend(e)
            ))
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await
        .map_err(backend)?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied a migration"
        );
    }
    tx.commit().await.map_err(backend)
}

async fn stored_secret(
    client: &impl GenericClient,
    cart: &str,
    lock: bool,
) -> Result<Option<SecretHash>, StoreError> {
    let sql = if lock {
        "SELECT secret_hash FROM carts WHERE cart_id = $1 FOR UPDATE"
    } else {
        "SELECT secret_hash FROM carts WHERE cart_id = $1"
    };
    let row = client.query_opt(sql, &[&cart]).await.map_err(backend)?;
    row.map(|row| {
        let bytes: &[u8] = row.get(0);
        SecretHash::from_slice(bytes).ok_or_else(|| {
            StoreError::Backend(format!("secret hash of cart {cart} is not 32 bytes"))
        })
    })
    .transpose()
}

/// Inserts an incremental chunk (keyed `hash`) of `cart` unless it is stored already.
async fn insert_incremental(
    client: &impl GenericClient,
    cart: &str,
    hash: &str,
    bytes: &[u8],
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO chunks (cart_id, kind, hash, bytes) VALUES ($1, 'incremental', $2, $3)
             ON CONFLICT DO NOTHING",
            &[&cart, &hash, &bytes],
        )
        .await
        .map_err(backend)?;
    Ok(())
}

/// Tells every listening instance that `cart` changed, once the transaction of `client`
/// commits (PostgreSQL sends notices at commit and drops them on rollback).
async fn notify(client: &impl GenericClient, cart: &str) -> Result<(), StoreError> {
    client
        .execute(
            "SELECT pg_notify($1, $2)",
            &[&postgres_feed::CHANNEL, &cart],
        )
        .await
        .map_err(backend)?;
    Ok(())
}

async fn stored_order(client: &impl GenericClient, id: &str) -> Result<Option<Order>, StoreError> {
    let row = client
        .query_opt("SELECT body FROM orders WHERE order_id = $1", &[&id])
        .await
        .map_err(backend)?;
    row.map(|row| from_json(row.get(0), "order")).transpose()
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

#[async_trait]
impl DocStore for PostgresStore {
    async fn storage_id(&self) -> Result<String, StoreError> {
        let fresh = random_uuid()?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute(
            "INSERT INTO meta (name, value) VALUES ('storage_id', $1) ON CONFLICT (name) DO NOTHING",
            &[&fresh],
        )
        .await
        .map_err(backend)?;
        let row = tx
            .query_one("SELECT value FROM meta WHERE name = 'storage_id'", &[])
            .await
            .map_err(backend)?;
        let id: String = row.get(0);
        tx.commit().await.map_err(backend)?;
        Ok(id)
    }

    async fn secret_hash(&self, cart: &CartId) -> Result<Option<SecretHash>, StoreError> {
        let client = self.client().await?;
        stored_secret(&client, &cart.to_string(), false).await
    }

    async fn load_chunks_unseen(
        &self,
        cart: &CartId,
        seen: &HashSet<ChunkKey>,
    ) -> Result<Vec<(ChunkKey, Option<Vec<u8>>)>, StoreError> {
        let seen: Vec<String> = seen
            .iter()
            .map(|key| format!("{}:{}", key.kind(), key.hash()))
            .collect();
        let client = self.client().await?;
        // The bytes of a seen chunk are not sent at all: the row carries NULL instead.
        let statement = client
            .prepare_cached(
                "SELECT kind, hash,
                        CASE WHEN kind || ':' || hash = ANY($2) THEN NULL ELSE bytes END
                 FROM chunks WHERE cart_id = $1
                 ORDER BY CASE kind WHEN 'snapshot' THEN 0 ELSE 1 END, seq",
            )
            .await
            .map_err(backend)?;
        let rows = client
            .query(&statement, &[&cart.to_string(), &seen])
            .await
            .map_err(backend)?;
        rows.into_iter()
            .map(|row| {
                let key = ChunkKey::parse(row.get(0), row.get(1)).map_err(backend)?;
                Ok((key, row.get(2)))
            })
            .collect()
    }

    async fn append_chunk(
        &self,
        cart: &CartId,
        secret: &SecretHash,
        bytes: Vec<u8>,
    ) -> Result<ChunkKey, StoreError> {
        let cart = cart.to_string();
        let key = ChunkKey::of(ChunkKind::Incremental, &bytes);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // A racing creator's uncommitted row makes this wait; afterwards the row read back is
        // whichever secret committed first.
        tx.execute(
            "INSERT INTO carts (cart_id, secret_hash) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&cart, &secret.as_bytes().as_slice()],
        )
        .await
        .map_err(backend)?;
        match stored_secret(&tx, &cart, false).await? {
            Some(stored) if stored == *secret => {}
            Some(_) => return Err(StoreError::SecretMismatch),
            None => return Err(StoreError::Backend(format!("cart {cart} vanished"))),
        }
        insert_incremental(&tx, &cart, key.hash().as_str(), &bytes).await?;
        notify(&tx, &cart).await?;
        tx.commit().await.map_err(backend)?;
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
        // Sorted, so that two compactions of one cart lock the rows they delete in one order.
        let mut doomed: Vec<&ChunkKey> = replaces.iter().filter(|k| **k != key).collect();
        doomed.sort();
        doomed.dedup();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        if stored_secret(&tx, &cart, false).await?.is_none() {
            return Err(StoreError::UnknownCart);
        }
        tx.execute(
            "INSERT INTO chunks (cart_id, kind, hash, bytes) VALUES ($1, 'snapshot', $2, $3)
             ON CONFLICT DO NOTHING",
            &[&cart, &key.hash().as_str(), &snapshot],
        )
        .await
        .map_err(backend)?;
        let delete = tx
            .prepare_cached("DELETE FROM chunks WHERE cart_id = $1 AND kind = $2 AND hash = $3")
            .await
            .map_err(backend)?;
        for old in doomed {
            tx.execute(
                &delete,
                &[&cart, &old.kind().as_str(), &old.hash().as_str()],
            )
            .await
            .map_err(backend)?;
        }
        notify(&tx, &cart).await?;
        tx.commit().await.map_err(backend)?;
        Ok(key)
    }

    async fn load_sync_state(
        &self,
        storage_id: &str,
        cart: &CartId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT state FROM sync_states WHERE storage_id = $1 AND cart_id = $2",
                &[&storage_id, &cart.to_string()],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn save_sync_state(
        &self,
        storage_id: &str,
        cart: &CartId,
        state: Vec<u8>,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO sync_states (storage_id, cart_id, state) VALUES ($1, $2, $3)
                 ON CONFLICT (storage_id, cart_id) DO UPDATE SET state = excluded.state",
                &[&storage_id, &cart.to_string(), &state],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn cart_count(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT count(*) FROM carts", &[])
            .await
            .map_err(backend)?;
        Ok(count(row.get(0)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .query_one("SELECT EXISTS (SELECT 1 FROM carts)", &[])
            .await
            .map_err(backend)?;
        Ok(())
    }

    fn change_feed(&self, stop: CancellationToken) -> Option<ChangeFeed> {
        Some(postgres_feed::spawn(self.config.clone(), stop))
    }
}

/// The statement that inserts a product at the end of the catalog; `conflict` says what a
/// stored sku does.
fn insert_product(conflict: &str) -> String {
    format!(
        "INSERT INTO products (sku, position, body)
         VALUES ($1, (SELECT coalesce(max(position), 0) + 1 FROM products), $2)
         ON CONFLICT (sku) {conflict}"
    )
}

/// Takes the catalog writers' lock until the end of `tx`.
async fn lock_catalog(tx: &impl GenericClient) -> Result<(), StoreError> {
    tx.execute(
        "SELECT value FROM meta WHERE name = 'catalog_writer' FOR UPDATE",
        &[],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl ShopStore for PostgresStore {
    async fn seed_catalog(&self, products: &[Product]) -> Result<usize, StoreError> {
        let rows = product_rows(products)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        lock_catalog(&tx).await?;
        let insert = tx
            .prepare(&insert_product("DO NOTHING"))
            .await
            .map_err(backend)?;
        let mut inserted = 0;
        for (sku, body) in &rows {
            inserted += tx.execute(&insert, &[sku, body]).await.map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(usize::try_from(inserted).unwrap_or(usize::MAX))
    }

    async fn replace_catalog(&self, products: &[Product]) -> Result<(), StoreError> {
        let rows = product_rows(products)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        lock_catalog(&tx).await?;
        tx.execute("DELETE FROM products", &[])
            .await
            .map_err(backend)?;
        let insert = tx
            .prepare("INSERT INTO products (sku, position, body) VALUES ($1, $2, $3)")
            .await
            .map_err(backend)?;
        for (position, (sku, body)) in (1_i64..).zip(&rows) {
            tx.execute(&insert, &[sku, &position, body])
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn put_product(&self, product: &Product) -> Result<(), StoreError> {
        let body = to_json(product)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        lock_catalog(&tx).await?;
        tx.execute(
            &insert_product("DO UPDATE SET body = excluded.body"),
            &[&product.sku, &body],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn catalog(&self) -> Result<Vec<Product>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT body FROM products ORDER BY position, sku", &[])
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| from_json(row.get(0), "product"))
            .collect()
    }

    async fn place_order(
        &self,
        order: &Order,
        secret: &SecretHash,
        clear: Vec<u8>,
    ) -> Result<Placed, StoreError> {
        let body = to_json(order)?;
        let key = ChunkKey::of(ChunkKind::Incremental, &clear);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // Locking the cart's row serialises the checkouts of one cart across instances.
        let stored = stored_secret(&tx, &order.cart_id, true).await?;
        if let Some(existing) = stored_order(&tx, &order.id).await? {
            return Ok(Placed::Existing(existing));
        }
        match stored {
            None => return Err(StoreError::UnknownCart),
            Some(stored) if stored != *secret => return Err(StoreError::SecretMismatch),
            Some(_) => {}
        }
        let inserted = tx
            .execute(
                "INSERT INTO orders (order_id, cart_id, created_at, body) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (order_id) DO NOTHING",
                &[&order.id, &order.cart_id, &order.created_at, &body],
            )
            .await
            .map_err(backend)?;
        if inserted == 0 {
            // Another cart's checkout holds this id (ids derive from the cart id, so only a
            // forged order gets here); the stored order stands.
            return match stored_order(&tx, &order.id).await? {
                Some(existing) => Ok(Placed::Existing(existing)),
                None => Err(StoreError::Backend(format!(
                    "order {} neither inserted nor stored",
                    order.id
                ))),
            };
        }
        insert_incremental(&tx, &order.cart_id, key.hash().as_str(), &clear).await?;
        tx.execute(
            "INSERT INTO deliveries (order_id, next_attempt_at) VALUES ($1, $2)",
            &[&order.id, &order.created_at],
        )
        .await
        .map_err(backend)?;
        notify(&tx, &order.cart_id).await?;
        tx.commit().await.map_err(backend)?;
        Ok(Placed::Created(key))
    }

    async fn order(&self, id: &str) -> Result<Option<Order>, StoreError> {
        let client = self.client().await?;
        stored_order(&client, id).await
    }

    async fn take_due_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client().await?;
        // SKIP LOCKED: rows another instance is leasing right now are left to it, so two
        // instances never take one delivery at once; the lease then keeps it from being taken
        // again until it runs out.
        let rows = client
            .query(
                "WITH due AS (
                     SELECT order_id FROM deliveries
                     WHERE delivered_at IS NULL AND next_attempt_at <= $1
                     ORDER BY next_attempt_at, order_id LIMIT $3
                     FOR UPDATE SKIP LOCKED)
                 UPDATE deliveries d SET attempts = d.attempts + 1, next_attempt_at = $2
                 FROM due JOIN orders o ON o.order_id = due.order_id
                 WHERE d.order_id = due.order_id
                 RETURNING d.attempts, o.body",
                &[&now, &lease_until, &limit],
            )
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                let attempts: i32 = row.get(0);
                Ok(DueDelivery {
                    attempts: u32::try_from(attempts).unwrap_or_default(),
                    order: from_json(row.get(1), "order")?,
                })
            })
            .collect()
    }

    async fn delivery_succeeded(&self, order_id: &str, at: i64) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE deliveries SET delivered_at = $2, last_error = NULL
                 WHERE order_id = $1 AND delivered_at IS NULL",
                &[&order_id, &at],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delivery_failed(
        &self,
        order_id: &str,
        attempt: u32,
        retry_at: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        let attempt = i32::try_from(attempt).unwrap_or(i32::MAX);
        let client = self.client().await?;
        client
            .execute(
                "UPDATE deliveries SET next_attempt_at = $2, last_error = $3
                 WHERE order_id = $1 AND attempts = $4 AND delivered_at IS NULL",
                &[&order_id, &retry_at, &error, &attempt],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn next_delivery_at(&self) -> Result<Option<i64>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT min(next_attempt_at) FROM deliveries WHERE delivered_at IS NULL",
                &[],
            )
            .await
            .map_err(backend)?;
        Ok(row.get(0))
    }

    async fn delivery(&self, order_id: &str) -> Result<Option<DeliveryState>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT attempts, next_attempt_at, delivered_at, last_error
                 FROM deliveries WHERE order_id = $1",
                &[&order_id],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|row| {
            let attempts: i32 = row.get(0);
            DeliveryState {
                attempts: u32::try_from(attempts).unwrap_or_default(),
                next_attempt_at: row.get(1),
                delivered_at: row.get(2),
                last_error: row.get(3),
            }
        }))
    }

    async fn order_count(&self, cart_id: &str) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM orders WHERE cart_id = $1",
                &[&cart_id],
            )
            .await
            .map_err(backend)?;
        Ok(count(row.get(0)))
    }

    async fn account(&self, fresh: &Account) -> Result<Account, StoreError> {
        let (cart_id, key) = self
            .first_cart(
                OwnerTable::Accounts,
                &fresh.name,
                &fresh.cart_id,
                &fresh.key,
            )
            .await?;
        Ok(Account {
            name: fresh.name.clone(),
            cart_id,
            key,
        })
    }

    async fn customer(&self, fresh: &Customer) -> Result<Customer, StoreError> {
        let (cart_id, key) = self
            .first_cart(OwnerTable::Customers, &fresh.id, &fresh.cart_id, &fresh.key)
            .await?;
        Ok(Customer {
            id: fresh.id.clone(),
            cart_id,
            key,
        })
    }
}

impl PostgresStore {
    /// The cart id and key of `owner` in `table`, stored as `cart_id` and `key` when it has
    /// none, in one transaction: the first writer wins, every later or racing one (on any
    /// instance) reads what it stored.
    async fn first_cart(
        &self,
        table: OwnerTable,
        owner: &str,
        cart_id: &str,
        key: &str,
    ) -> Result<(String, String), StoreError> {
        let (table, column) = table.names();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute(
            &format!(
                "INSERT INTO {table} ({column}, cart_id, cart_key) VALUES ($1, $2, $3)
                 ON CONFLICT ({column}) DO NOTHING"
            ),
            &[&owner, &cart_id, &key],
        )
        .await
        .map_err(backend)?;
        let row = tx
            .query_one(
                &format!("SELECT cart_id, cart_key FROM {table} WHERE {column} = $1"),
                &[&owner],
            )
            .await
            .map_err(backend)?;
        let found = (row.get(0), row.get(1));
        tx.commit().await.map_err(backend)?;
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_name_host_port_database_and_user_but_never_the_password() {
        let config = Config::from_str("postgres://shop:hunter2@db.internal:6543/carts").unwrap();
        let text = describe(&config);
        assert_eq!(text, "db.internal:6543/carts as shop");
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        for (i, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, i32::try_from(i + 1).unwrap());
        }
    }

    #[tokio::test]
    async fn an_unreachable_database_is_an_error_naming_where_without_the_password() {
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        let error = PostgresStore::connect("postgres://shop:hunter2@127.0.0.1:1/carts")
            .await
            .expect_err("nothing listens on port 1");
        let text = error.to_string();
        assert!(text.contains("127.0.0.1:1/carts as shop"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
