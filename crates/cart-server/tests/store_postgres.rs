//! The store conformance suite against PostgresStore on a real PostgreSQL, each check in a
//! database of its own (so checks run in parallel), the migration checks, and two server
//! instances on one database: what one stores the other serves, and a change acknowledged by
//! one reaches the other's clients live (`LISTEN/NOTIFY`), also after the listening
//! connections were cut; two instances' webhook deliverers send each order once.
//!
//! Needs `TEST_DATABASE_URL`, a URL whose user may create databases; the `cart_test_*` databases
//! are left behind, so point it at a throwaway server. `scripts/postgres.mjs` starts a
//! throwaway cluster (removed afterwards) and sets it:
//!
//! ```sh
//! node scripts/postgres.mjs cargo test -p cart-server --test store_postgres
//! ```

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use automerge::ChangeHash;
use cart_core::CartId;
use cart_server::secret::CartKey;
use cart_server::store::conformance::Harness;
use cart_server::store::postgres_feed::APPLICATION_NAME;
use cart_server::store::shop::Order;
use cart_server::store::{DocStore, PostgresStore, ShopStore};
use cart_server::webhook::{RetryPolicy, Webhook, WebhookSecret, WebhookUrl};
use cart_server::{serve, AppState, ServerOptions};
use support::receiver::{receiver_at, SECRET};
use support::{Replica, SyncEnd, KEY};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_postgres::{Client, Config, NoTls};

/// The server the tests run on; unset is a failure that says how to run them, never a skip.
fn server() -> Config {
    let url = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "TEST_DATABASE_URL is not set: these tests need a real PostgreSQL. Run them under \
             `node scripts/postgres.mjs cargo test -p cart-server --test store_postgres` \
             (a throwaway PostgreSQL 15 cluster; `bash scripts/setup.sh` installs it where \
             missing), or set TEST_DATABASE_URL to a server whose user may create databases"
        )
    });
    url.parse()
        .unwrap_or_else(|e| panic!("TEST_DATABASE_URL does not parse: {e}"))
}

/// A client on `config`, its connection driven by a task of the test's runtime.
async fn client(config: &Config) -> Client {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to TEST_DATABASE_URL's server: {e}"));
    tokio::spawn(connection);
    client
}

/// The settings of a new, empty database on the test server, unique to this process and call.
async fn new_database() -> Config {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let server = server();
    let name = format!(
        "cart_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    client(&server)
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
    let mut config = server;
    config.dbname(&name);
    config
}

struct PostgresHarness;

impl Harness for PostgresHarness {
    type Store = PostgresStore;

    async fn fresh(&self) -> PostgresStore {
        PostgresStore::open(new_database().await)
            .await
            .expect("open a store on a new database")
    }

    async fn another_handle(&self, store: &PostgresStore) -> PostgresStore {
        PostgresStore::open(store.config().clone())
            .await
            .expect("open the same database again")
    }

    async fn break_chunk_writes(&self, store: &PostgresStore) {
        client(store.config())
            .await
            .batch_execute(
                "CREATE FUNCTION no_chunks() RETURNS trigger LANGUAGE plpgsql
                     AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$;
                 CREATE TRIGGER no_chunks BEFORE INSERT ON chunks
                     FOR EACH ROW EXECUTE FUNCTION no_chunks();",
            )
            .await
            .expect("create the failing trigger");
    }

    async fn insert_chunk_row(
        &self,
        store: &PostgresStore,
        cart: &CartId,
        kind: &str,
        hash: &str,
        bytes: Vec<u8>,
    ) {
        client(store.config())
            .await
            .execute(
                "INSERT INTO chunks (cart_id, kind, hash, bytes) VALUES ($1, $2, $3, $4)",
                &[&cart.to_string(), &kind, &hash, &bytes],
            )
            .await
            .expect("insert the row");
    }
}

cart_server::store_conformance_tests!(PostgresHarness);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_at_once_apply_each_migration_once() {
    let database = new_database().await;
    let opened =
        futures_util::future::join_all((0..6).map(|_| PostgresStore::open(database.clone()))).await;
    let stores: Vec<PostgresStore> = opened
        .into_iter()
        .map(|s| s.expect("every instance starts"))
        .collect();
    let rows = client(&database)
        .await
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .expect("read schema_migrations");
    let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        versions,
        [1, 2, 3],
        "each migration is applied and recorded once"
    );
    let ids = futures_util::future::join_all(stores.iter().map(|s| s.storage_id())).await;
    let first = ids[0].as_ref().expect("storage id").clone();
    assert!(ids.iter().all(|id| id.as_ref().ok() == Some(&first)));
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_server_is_refused() {
    let database = new_database().await;
    drop(
        PostgresStore::open(database.clone())
            .await
            .expect("migrate"),
    );
    client(&database)
        .await
        .batch_execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
        .await
        .expect("record a future migration");
    let refused = PostgresStore::open(database)
        .await
        .expect_err("an older server must not run on a newer schema");
    assert!(
        refused.to_string().contains("schema version 999"),
        "{refused}"
    );
}

/// A server instance on `store` at a loopback port: its `/sync` URL with [`KEY`], and what
/// stops it (dropping the sender stops it too).
async fn instance(store: PostgresStore) -> (String, oneshot::Sender<()>) {
    let state = AppState::new(Arc::new(store), ServerOptions::default())
        .await
        .expect("start an instance");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "ws://{}/sync?key={KEY}",
        listener.local_addr().expect("address")
    );
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(
        listener,
        state,
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
    ));
    (url, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_serves_what_the_first_acknowledged() {
    let database = new_database().await;
    let (first, _stop_first) =
        instance(PostgresStore::open(database.clone()).await.expect("open")).await;
    let mut phone = Replica::with_items(&["TEE"]);
    let mut client = support::Client::connect_url(&first, "phone", Some("phone-storage")).await;
    for n in 0..40 {
        phone.add(&format!("SKU-{n}"), 1);
        // sync() returns once the server's heads include ours: the change is acknowledged.
        client.sync(&mut phone, false).await.expect("sync");
    }
    let store = PostgresStore::open(database).await.expect("another handle");
    let chunks = store.load_chunks(&phone.cart).await.expect("load").len();
    assert!(chunks < 40, "compaction replaced chunks ({chunks} stored)");

    let (second, _stop_second) = instance(store).await;
    let mut laptop = Replica::empty(phone.cart);
    let mut other = support::Client::connect_url(&second, "laptop", None).await;
    other
        .sync(&mut laptop, true)
        .await
        .expect("sync with the second instance");
    assert_eq!(laptop.doc.get_heads(), phone.doc.get_heads());
    assert_eq!(laptop.lines().len(), 41);
}

/// Receives from the server into `replica`, answering as a peer does, until the replica's heads
/// are `heads`; each message is awaited at most [`support::WAIT`], so a change that never
/// arrives fails the test.
async fn receive_until(client: &mut support::Client, replica: &mut Replica, heads: &[ChangeHash]) {
    while replica.doc.get_heads() != heads {
        client
            .receive_into(replica)
            .await
            .expect("the server syncs");
    }
}

/// Two instances on one new database, a phone on the first holding a cart with one line, and a
/// laptop on the second that has synced it.
struct TwoInstances {
    database: Config,
    /// The first instance's `/sync` URL.
    first: String,
    phone: Replica,
    on_first: support::Client,
    laptop: Replica,
    on_second: support::Client,
    /// Dropping these stops the instances.
    _stops: [oneshot::Sender<()>; 2],
}

async fn two_instances() -> TwoInstances {
    let database = new_database().await;
    let (first, stop_first) =
        instance(PostgresStore::open(database.clone()).await.expect("open")).await;
    let (second, stop_second) =
        instance(PostgresStore::open(database.clone()).await.expect("open")).await;
    let mut phone = Replica::with_items(&["TEE"]);
    let mut on_first = support::Client::connect_url(&first, "phone", Some("phone-storage")).await;
    on_first.sync(&mut phone, false).await.expect("sync");
    let mut laptop = Replica::empty(phone.cart);
    let mut on_second = support::Client::connect_url(&second, "laptop", None).await;
    on_second
        .sync(&mut laptop, true)
        .await
        .expect("the laptop gets the cart from the second instance");
    assert_eq!(laptop.doc.get_heads(), phone.doc.get_heads());
    TwoInstances {
        database,
        first,
        phone,
        on_first,
        laptop,
        on_second,
        _stops: [stop_first, stop_second],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_acknowledged_by_one_instance_reaches_a_client_of_the_other_live() {
    let TwoInstances {
        mut phone,
        mut on_first,
        mut laptop,
        mut on_second,
        _stops,
        ..
    } = two_instances().await;
    for sku in ["MUG", "CAP", "SOCKS"] {
        phone.add(sku, 2);
        on_first
            .sync(&mut phone, false)
            .await
            .expect("acknowledged");
        // The laptop sends nothing: what arrives was pushed by the second instance.
        receive_until(&mut on_second, &mut laptop, &phone.doc.get_heads()).await;
    }
    assert_eq!(laptop.lines(), phone.lines());
    assert_eq!(laptop.lines().len(), 4);
}

/// The backend pids of the listening connections on `database`.
async fn feed_backends(database: &Config) -> Vec<i32> {
    let rows = client(database)
        .await
        .query(
            "SELECT pid FROM pg_stat_activity
             WHERE application_name = $1 AND datname = current_database() ORDER BY pid",
            &[&APPLICATION_NAME],
        )
        .await
        .expect("read pg_stat_activity");
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_its_listening_connection_is_cut_an_instance_listens_again_and_catches_up() {
    let TwoInstances {
        database,
        mut phone,
        mut on_first,
        mut laptop,
        mut on_second,
        _stops,
        ..
    } = two_instances().await;
    let cut = feed_backends(&database).await;
    assert_eq!(cut.len(), 2, "one listening connection per instance");
    client(&database)
        .await
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1 AND datname = current_database()",
            &[&APPLICATION_NAME],
        )
        .await
        .expect("terminate the listening connections");

    // A change while the instances may not be listening: its notice can be lost, and the
    // second instance re-reads its open carts once it listens again.
    phone.add("MUG", 1);
    on_first
        .sync(&mut phone, false)
        .await
        .expect("acknowledged");
    receive_until(&mut on_second, &mut laptop, &phone.doc.get_heads()).await;

    // Both listen again on new connections (waited for, at most `support::WAIT`)...
    let waited = tokio::time::timeout(support::WAIT, async {
        loop {
            let now = feed_backends(&database).await;
            if now.len() == 2 && now.iter().all(|pid| !cut.contains(pid)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the instances did not listen again");

    // ...and a change made now reaches the laptop through the new connection.
    phone.add("CAP", 3);
    on_first
        .sync(&mut phone, false)
        .await
        .expect("acknowledged");
    receive_until(&mut on_second, &mut laptop, &phone.doc.get_heads()).await;
    assert_eq!(laptop.lines(), phone.lines());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_refuses_writes_nothing_is_acknowledged_and_the_device_keeps_its_change()
{
    let TwoInstances {
        database,
        first,
        mut phone,
        on_first,
        mut laptop,
        mut on_second,
        _stops,
    } = two_instances().await;
    let mut on_first = on_first;
    PostgresHarness
        .break_chunk_writes(&PostgresStore::open(database.clone()).await.expect("open"))
        .await;
    phone.add("MUG", 1);
    let refused = on_first
        .sync(&mut phone, false)
        .await
        .expect_err("a change the database did not take is not acknowledged");
    match refused {
        SyncEnd::Refused(error) => assert_eq!(error.code.as_deref(), Some("storage")),
        other => panic!("expected a storage error, got {other:?}"),
    }
    let pending = phone.doc.get_heads();
    assert_ne!(phone.state.their_heads.as_ref(), Some(&pending));

    // The database takes writes again; the device, connecting again, syncs what it kept, and
    // the laptop on the other instance receives it live.
    client(&database)
        .await
        .batch_execute("DROP TRIGGER no_chunks ON chunks")
        .await
        .expect("mend chunk writes");
    let mut phone = phone.restarted();
    drop(on_first);
    let mut on_first = support::Client::connect_url(&first, "phone", Some("phone-storage")).await;
    on_first
        .sync(&mut phone, false)
        .await
        .expect("acknowledged now");
    receive_until(&mut on_second, &mut laptop, &pending).await;
    assert_eq!(laptop.lines(), phone.lines());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_hand_each_order_to_the_webhook_once() {
    let database = new_database().await;
    let store = PostgresStore::open(database.clone()).await.expect("open");
    let cart = CartId::random().expect("a cart id");
    let secret = CartKey::parse(Some(KEY)).expect("a key").hash_for(&cart);
    store
        .append_chunk(&cart, &secret, vec![1])
        .await
        .expect("store the cart");
    // Orders waiting before either instance starts, more than one lease takes at once.
    let ids: Vec<String> = (0..40).map(|n| format!("ord_{n:02}")).collect();
    for (n, id) in (2_u8..).zip(&ids) {
        let order = Order {
            id: id.clone(),
            cart_id: cart.to_string(),
            heads: Vec::new(),
            lines: Vec::new(),
            totals: Vec::new(),
            created_at: 1,
        };
        store
            .place_order(&order, &secret, vec![n])
            .await
            .expect("place an order");
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/orders", listener.local_addr().expect("address"));
    let (receiver, _stop) = receiver_at(listener, 0).await;
    let webhook = Webhook::new(
        WebhookUrl::parse(&url).expect("a URL"),
        WebhookSecret::parse(SECRET).expect("a secret"),
        RetryPolicy::default(),
    )
    .expect("a webhook");
    let mut instances = Vec::new();
    for _ in 0..2 {
        let handle = PostgresStore::open(database.clone()).await.expect("open");
        let options = ServerOptions {
            webhook: Some(webhook.clone()),
            ..ServerOptions::default()
        };
        instances.push(
            AppState::new(Arc::new(handle), options)
                .await
                .expect("start an instance"),
        );
    }
    tokio::time::timeout(support::WAIT, async {
        while store
            .next_delivery_at()
            .await
            .expect("read the outbox")
            .is_some()
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("every order delivered in time");
    let mut keys: Vec<String> = receiver
        .got()
        .into_iter()
        .map(|r| r.idempotency_key)
        .collect();
    keys.sort();
    assert_eq!(keys, ids, "each order sent once, by one of the instances");
    let delivered: u64 = instances
        .iter()
        .map(|i| i.metrics().webhook_deliveries("delivered"))
        .sum();
    assert_eq!(delivered, 40);
    for instance in &instances {
        instance.begin_shutdown();
        instance.connections_closed().await;
    }
}
