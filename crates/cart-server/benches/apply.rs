//! What the server's apply path costs, beside the path it replaced (issue 13): one sync message
//! carrying one add (a new line: its details record and its add entry, as the browser module
//! writes them) on carts of 0, 100 and 450 lines, accepted and stored; and one refused add (a
//! quantity of 5000 at `set:FORGED`), which leaves the cart as it was.
//!
//! ```sh
//! cargo bench -p cart-server --bench apply
//! ```
//!
//! - `accepted` / `refused`: [`Hubs::receive`], the server's path: the message is applied to
//!   the open cart in place, the root keys it touched are checked, the change is stored in
//!   SQLite; a refused change is undone by reading the cart again from the store.
//! - `accepted before` / `refused before`: the path it replaced, written out here as the
//!   reference: clone the whole document, apply the message to the clone, check the whole clone
//!   ([`admission::admit`]), store the changes in the same SQLite store, adopt the clone; a
//!   refused change drops the clone.
//!
//! Both store through [`SqliteStore`] and compact into one snapshot after every
//! [`COMPACT_AFTER`] incremental chunks, as a running server does. Accepted adds are timed in
//! batches of that many on a fresh server and a fresh cart of the given size (setting one up is
//! not timed), so each batch pays one compaction and the cart grows by at most one batch. The
//! SQLite file lives in `/dev/shm` when there is one, so the figures are the server's work
//! rather than the disk's fsync. Compare the lines of one run: absolute times vary with the
//! machine's load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::sync::{Message as AutomergeSync, State as SyncState, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ObjType, ROOT};
use cart_core::chunks::{ChunkLedger, COMPACT_AFTER};
use cart_core::fixtures::sync_carrying;
use cart_core::{schema, CartId};
use cart_server::admission;
use cart_server::hub::Hubs;
use cart_server::limits::Limits;
use cart_server::link::PeerContext;
use cart_server::mailbox::{Mailbox, Outbound, OutboxBytes};
use cart_server::metrics::Metrics;
use cart_server::secret::{CartKey, SecretHash};
use cart_server::store::{DocStore, SqliteStore};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const SIZES: [usize; 3] = [0, 100, 450];

/// Accepted adds timed on one server before a fresh one is set up.
const BATCH: u64 = COMPACT_AFTER as u64;

fn cart_id() -> CartId {
    CartId::from_bytes([5; 16])
}

/// Adds are new skus, so the line limit is raised out of the way.
fn limits() -> Limits {
    Limits {
        max_lines: 1_000_000,
        ..Limits::default()
    }
}

fn key() -> CartKey {
    CartKey::parse(Some("bench-key-0123456789")).expect("a key")
}

/// Writes a new line `sku` to `doc` as one change: its details record and `quantity` at the
/// root key `key`; returns the sync message with it.
fn line(doc: &mut AutoCommit, sku: &str, key: String, quantity: i64) -> AutomergeSync {
    let before = doc.get_heads();
    let record = doc
        .put_object(ROOT, schema::item_key(sku), ObjType::Map)
        .expect("a details record");
    doc.put(&record, schema::NAME, format!("product {sku}"))
        .expect("put");
    doc.put(&record, schema::UNIT_PRICE, 1250).expect("put");
    doc.put(&record, schema::CURRENCY, "EUR").expect("put");
    doc.put(&record, schema::ADDED_AT, 1_700_000_000_000i64)
        .expect("put");
    doc.put(ROOT, key, quantity).expect("put");
    doc.commit();
    sync_carrying(doc.get_heads(), doc.save_after(&before))
}

/// One add of a new line `sku`: the details record and one add entry, what `Cart::add_item`
/// writes for a new sku.
fn add(doc: &mut AutoCommit, sku: &str) -> AutomergeSync {
    line(doc, sku, schema::add_key(sku, &format!("tag-{sku}")), 1)
}

/// A forged add: a valid details record and `set:FORGED` = 5000, over the largest quantity.
/// `set:` keys sort last among the root keys, so the whole-document check of the old path reads
/// every other key before it finds this one, as it would for a bad value anywhere it reads late.
fn forged(doc: &mut AutoCommit) -> AutomergeSync {
    line(doc, "FORGED", schema::set_key("FORGED"), 5000)
}

/// A cart of `lines` lines, each added in its own change.
fn cart_of(lines: usize) -> AutoCommit {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, schema::SCHEMA, schema::SCHEMA_VERSION)
        .expect("put");
    doc.put(ROOT, schema::CART_ID, cart_id().to_string())
        .expect("put");
    doc.commit();
    for n in 0..lines {
        add(&mut doc, &format!("LINE-{n}"));
    }
    doc
}

/// A new SQLite store in `/dev/shm` when there is one, kept until the directory drops.
async fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("a temporary directory");
    let store = SqliteStore::open(dir.path().join("bench.sqlite3"))
        .await
        .expect("a SQLite store");
    (dir, store)
}

/// One way of applying a peer's sync messages to a stored cart.
trait ApplyPath: Sized {
    /// A fresh store holding `cart`, open.
    async fn open(cart: &AutoCommit) -> Self;
    /// Applies `message`, which must be accepted and stored.
    async fn accept(&mut self, message: AutomergeSync);
    /// Applies `message`, which must be refused.
    async fn refuse(&mut self, message: AutomergeSync);
}

/// The server: [`Hubs`] with one peer linked to the cart.
struct Server {
    _dir: tempfile::TempDir,
    _rx: mpsc::Receiver<Outbound>,
    hubs: Hubs,
    peer: PeerContext,
}

impl ApplyPath for Server {
    async fn open(cart: &AutoCommit) -> Server {
        let (dir, store) = sqlite().await;
        let limits = limits();
        let metrics = Arc::new(Metrics::default());
        let (tx, rx) = mpsc::channel(64);
        let peer = PeerContext {
            conn_id: 1,
            peer_id: "bench-peer".to_string(),
            storage_id: None,
            key: key(),
            mailbox: Mailbox::new(
                tx,
                Arc::new(OutboxBytes::new(limits.outbox_bytes, Arc::clone(&metrics))),
                CancellationToken::new(),
            ),
        };
        let hubs = Hubs::new(Arc::new(store), limits, metrics, "bench-server".into());
        let mut server = Server {
            _dir: dir,
            _rx: rx,
            hubs,
            peer,
        };
        let mut copy = cart.clone();
        server
            .accept(sync_carrying(copy.get_heads(), copy.save()))
            .await;
        server
    }

    async fn accept(&mut self, message: AutomergeSync) {
        self.hubs
            .receive(&self.peer, cart_id(), false, message)
            .await
            .expect("the add is accepted");
    }

    async fn refuse(&mut self, message: AutomergeSync) {
        self.hubs
            .receive(&self.peer, cart_id(), false, message)
            .await
            .expect_err("the add is refused");
    }
}

/// The apply path before issue 13, as the reference: a clone of the whole document per message,
/// checked whole.
struct Before {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    limits: Limits,
    secret: SecretHash,
    doc: Automerge,
    sync: SyncState,
    /// The chunks stored, all of which compaction replaces.
    chunks: ChunkLedger,
}

impl ApplyPath for Before {
    async fn open(cart: &AutoCommit) -> Before {
        let (dir, store) = sqlite().await;
        let mut before = Before {
            _dir: dir,
            store,
            limits: limits(),
            secret: key().hash_for(&cart_id()),
            doc: Automerge::new(),
            sync: SyncState::new(),
            chunks: ChunkLedger::new(),
        };
        let mut copy = cart.clone();
        before
            .accept(sync_carrying(copy.get_heads(), copy.save()))
            .await;
        before
    }

    async fn accept(&mut self, message: AutomergeSync) {
        let heads = self.doc.get_heads();
        let mut fork = self.doc.clone();
        let mut sync = self.sync.clone();
        fork.receive_sync_message(&mut sync, message)
            .expect("the message applies");
        admission::admit(&fork, &cart_id(), &self.limits).expect("the add is accepted");
        let bytes = fork.save_after(&heads);
        let size = bytes.len();
        let chunk = self
            .store
            .append_chunk(&cart_id(), &self.secret, bytes)
            .await
            .expect("stored");
        self.chunks.stored(chunk, size);
        self.doc = fork;
        self.sync = sync;
        if self.chunks.should_compact() {
            let snapshot = self.doc.save();
            let compaction = self.chunks.compaction(&snapshot);
            self.store
                .compact(&cart_id(), snapshot, &compaction.deletes)
                .await
                .expect("compacted");
            self.chunks.compacted(compaction);
        }
    }

    async fn refuse(&mut self, message: AutomergeSync) {
        let mut fork = self.doc.clone();
        let mut sync = self.sync.clone();
        fork.receive_sync_message(&mut sync, message)
            .expect("the message applies");
        admission::admit(&fork, &cart_id(), &self.limits).expect_err("the add is refused");
    }
}

/// The time `iters` accepted adds take through `P`, in batches of [`BATCH`] on a fresh store
/// holding `cart`.
fn accepted<P: ApplyPath>(runtime: &Runtime, cart: &AutoCommit, iters: u64) -> Duration {
    runtime.block_on(async {
        let mut total = Duration::ZERO;
        let mut done = 0;
        while done < iters {
            let batch = BATCH.min(iters - done);
            let mut path = P::open(cart).await;
            let mut shopper = cart.clone();
            let adds: Vec<AutomergeSync> = (0..batch)
                .map(|n| add(&mut shopper, &format!("NEW-{n}")))
                .collect();
            let started = Instant::now();
            for message in adds {
                path.accept(message).await;
            }
            total += started.elapsed();
            done += batch;
        }
        total
    })
}

/// The time `iters` refusals of one [`forged`] add take through `P`.
fn refused<P: ApplyPath>(runtime: &Runtime, cart: &AutoCommit, iters: u64) -> Duration {
    runtime.block_on(async {
        let mut path = P::open(cart).await;
        let bad = forged(&mut cart.clone());
        let started = Instant::now();
        for _ in 0..iters {
            path.refuse(bad.clone()).await;
        }
        started.elapsed()
    })
}

fn apply(c: &mut Criterion) {
    let runtime = Runtime::new().expect("a tokio runtime");
    let mut group = c.benchmark_group("apply one add");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for lines in SIZES {
        let cart = cart_of(lines);
        let id = |name: &str| BenchmarkId::new(name, lines);
        group.bench_function(id("accepted"), |b| {
            b.iter_custom(|iters| accepted::<Server>(&runtime, &cart, iters))
        });
        group.bench_function(id("accepted before"), |b| {
            b.iter_custom(|iters| accepted::<Before>(&runtime, &cart, iters))
        });
        group.bench_function(id("refused"), |b| {
            b.iter_custom(|iters| refused::<Server>(&runtime, &cart, iters))
        });
        group.bench_function(id("refused before"), |b| {
            b.iter_custom(|iters| refused::<Before>(&runtime, &cart, iters))
        });
    }
    group.finish();
}

criterion_group!(benches, apply);
criterion_main!(benches);
