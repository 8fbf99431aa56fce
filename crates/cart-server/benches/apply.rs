//! What the server's apply path costs: one sync message carrying one add (a new line: its
//! details record and its add entry, as the browser module writes them), handled by
//! `Hubs::receive` (apply, check, store in SQLite) on carts of 0, 100 and 500 lines; and one
//! refused add (a quantity of 5000), which leaves the cart as it was.
//!
//! ```sh
//! cargo bench -p cart-server --bench apply
//! ```
//!
//! Every sample starts from a fresh server and a fresh cart of the given size; adds are new
//! skus, so the line limit is raised out of the way. The SQLite file lives in `/dev/shm` when
//! there is one, so the figures are the server's work rather than the disk's fsync. Stored
//! adds include the compaction into one snapshot after every 32 incremental chunks, as in a
//! running server. Compare runs of this file on two commits made in one sitting; absolute times
//! vary with the machine's load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::sync::{Message as AutomergeSync, MessageVersion};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT};
use cart_core::{schema, CartId};
use cart_server::hub::{Hubs, PeerContext};
use cart_server::limits::Limits;
use cart_server::mailbox::{Mailbox, Outbound, OutboxBytes};
use cart_server::metrics::Metrics;
use cart_server::secret::CartKey;
use cart_server::store::SqliteStore;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const SIZES: [usize; 3] = [0, 100, 500];

/// A server with one peer linked to a cart.
struct Server {
    _dir: tempfile::TempDir,
    _rx: mpsc::Receiver<Outbound>,
    hubs: Hubs,
    peer: PeerContext,
    cart: CartId,
}

fn cart_id() -> CartId {
    CartId::from_bytes([5; 16])
}

/// Writes one add of a new line `sku` to `doc` as one change: the details record and one add
/// entry (what `Cart::add_item` writes for a new sku), and returns the sync message with it.
fn add(doc: &mut AutoCommit, sku: &str, quantity: i64) -> AutomergeSync {
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
    doc.put(ROOT, schema::add_key(sku, &format!("tag-{sku}")), quantity)
        .expect("put");
    doc.commit();
    message(doc.get_heads(), doc.save_after(&before))
}

fn message(heads: Vec<automerge::ChangeHash>, changes: Vec<u8>) -> AutomergeSync {
    AutomergeSync {
        heads,
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![changes].into(),
        flags: None,
        version: MessageVersion::V1,
    }
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
        add(&mut doc, &format!("LINE-{n}"), 1);
    }
    doc
}

/// A fresh server holding `cart` (sent by its peer in one message).
async fn server(cart: &AutoCommit) -> Server {
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
    let limits = Limits {
        max_lines: 1_000_000,
        ..Limits::default()
    };
    let metrics = Arc::new(Metrics::default());
    let (tx, rx) = mpsc::channel(64);
    let peer = PeerContext {
        conn_id: 1,
        peer_id: "bench-peer".to_string(),
        storage_id: None,
        key: CartKey::parse(Some("bench-key-0123456789")).expect("a key"),
        mailbox: Mailbox::new(
            tx,
            Arc::new(OutboxBytes::new(limits.outbox_bytes, Arc::clone(&metrics))),
            CancellationToken::new(),
        ),
    };
    let hubs = Hubs::new(Arc::new(store), limits, metrics, "bench-server".into());
    let mut copy = cart.clone();
    let first = message(copy.get_heads(), copy.save());
    hubs.receive(&peer, cart_id(), false, first)
        .await
        .expect("the cart is accepted");
    Server {
        _dir: dir,
        _rx: rx,
        hubs,
        peer,
        cart: cart_id(),
    }
}

fn apply(c: &mut Criterion) {
    let runtime = Runtime::new().expect("a tokio runtime");
    let mut group = c.benchmark_group("apply one add");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for lines in SIZES {
        let cart = cart_of(lines);
        group.bench_with_input(BenchmarkId::new("accepted", lines), &cart, |b, cart| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let server = server(cart).await;
                    let mut shopper = cart.clone();
                    let adds: Vec<AutomergeSync> = (0..iters)
                        .map(|n| add(&mut shopper, &format!("NEW-{n}"), 1))
                        .collect();
                    let started = Instant::now();
                    for message in adds {
                        server
                            .hubs
                            .receive(&server.peer, server.cart, false, message)
                            .await
                            .expect("the add is accepted");
                    }
                    started.elapsed()
                })
            })
        });
        group.bench_with_input(BenchmarkId::new("refused", lines), &cart, |b, cart| {
            let server = runtime.block_on(server(cart));
            let mut forger = cart.clone();
            let bad = add(&mut forger, "FORGED", 5000);
            b.iter(|| {
                runtime.block_on(async {
                    server
                        .hubs
                        .receive(&server.peer, server.cart, false, bad.clone())
                        .await
                        .expect_err("a quantity of 5000 is refused")
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, apply);
criterion_main!(benches);
