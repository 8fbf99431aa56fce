//! The cart's core operations beside a bare Automerge change that writes the same keys, in
//! carts of 0, 100 and 500 lines: `cargo bench -p cart-core`. Prints figures; asserts nothing.
//!
//! The cart should cost the same at every size (its lines are a view updated per change), and
//! an add should cost about what Automerge alone takes to write the item record and the add
//! key and commit.

use std::hint::black_box;
use std::time::{Duration, Instant};

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ObjType, ROOT};
use cart_core::{schema, Cart, CartId, NewItem};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const SIZES: [usize; 3] = [0, 100, 500];
/// Carts a new line still fits in (50 of them, for the add bench): the line limit is 500.
const NEW_LINE_SIZES: [usize; 3] = [0, 100, 450];

fn item(sku: &str) -> NewItem {
    NewItem {
        sku: sku.into(),
        name: format!("Product {sku}"),
        unit_price: 1250,
        currency: "EUR".into(),
        quantity: 1,
        image_url: Some(format!("/img/{sku}.svg")),
        variant: None,
    }
}

/// A saved cart of `lines` lines, one change each.
fn saved_cart(id: CartId, lines: usize) -> Vec<u8> {
    let mut cart = Cart::new(id);
    for n in 0..lines {
        cart.add_item(&item(&format!("sku-{n}"))).unwrap();
    }
    cart.save()
}

/// What Automerge alone does for an add of a new line: the details record, one add key, a
/// commit.
fn bare_add(doc: &mut AutoCommit, sku: &str, n: i64) {
    let record = doc
        .put_object(ROOT, schema::item_key(sku), ObjType::Map)
        .unwrap();
    doc.put(&record, schema::NAME, format!("Product {sku}"))
        .unwrap();
    doc.put(&record, schema::UNIT_PRICE, 1250).unwrap();
    doc.put(&record, schema::CURRENCY, "EUR").unwrap();
    doc.put(&record, schema::IMAGE_URL, format!("/img/{sku}.svg"))
        .unwrap();
    doc.put(&record, schema::ADDED_AT, n).unwrap();
    doc.put(ROOT, schema::add_key(sku, &format!("{n:016x}")), 1)
        .unwrap();
    doc.commit_with(CommitOptions::default().with_time(n));
}

/// Times `iters` adds of new lines, `batch` at a time into a fresh copy of `saved` (the copies
/// are made outside the timing), so the cart stays at its size and under the line limit.
fn time_new_lines(
    iters: u64,
    batch: u64,
    mut fresh: impl FnMut() -> Box<dyn FnMut(u64)>,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let mut add = fresh();
        let n = batch.min(iters - done);
        let start = Instant::now();
        for i in 0..n {
            add(i);
        }
        total += start.elapsed();
        done += n;
    }
    total
}

fn add_a_new_line(c: &mut Criterion) {
    let mut group = c.benchmark_group("add a new line");
    let id = CartId::random().unwrap();
    for lines in NEW_LINE_SIZES {
        let saved = saved_cart(id, lines);
        group.bench_with_input(
            BenchmarkId::new("offline-cart", lines),
            &saved,
            |b, saved| {
                b.iter_custom(|iters| {
                    time_new_lines(iters, 50, || {
                        let mut cart = Cart::load(id, saved).unwrap();
                        Box::new(move |i| cart.add_item(&item(&format!("new-{i}"))).unwrap())
                    })
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("automerge", lines), &saved, |b, saved| {
            b.iter_custom(|iters| {
                time_new_lines(iters, 50, || {
                    let mut doc = AutoCommit::load(saved).unwrap();
                    Box::new(move |i| bare_add(&mut doc, &format!("new-{i}"), i as i64))
                })
            })
        });
    }
    group.finish();
}

fn add_to_a_line_and_list(c: &mut Criterion) {
    let id = CartId::random().unwrap();
    let mut group = c.benchmark_group("add to a line");
    for lines in SIZES.into_iter().filter(|&l| l > 0) {
        let mut cart = Cart::load(id, &saved_cart(id, lines)).unwrap();
        group.bench_function(BenchmarkId::new("offline-cart", lines), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    if i % 900 == 0 {
                        // Keep the line under its 999 units, outside the timing.
                        cart.set_quantity("sku-0", 1).unwrap();
                    }
                    let start = Instant::now();
                    cart.add_item(&item("sku-0")).unwrap();
                    total += start.elapsed();
                }
                total
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("read");
    for lines in [200, 500] {
        let cart = Cart::load(id, &saved_cart(id, lines)).unwrap();
        group.bench_function(BenchmarkId::new("lines()", lines), |b| {
            b.iter(|| black_box(cart.lines()))
        });
        group.bench_function(BenchmarkId::new("totals()", lines), |b| {
            b.iter(|| black_box(cart.totals()))
        });
    }
    group.finish();
}

fn merge_and_load(c: &mut Criterion) {
    let id = CartId::random().unwrap();
    let mut group = c.benchmark_group("merge and load");
    // Another tab's add is a new line, so the carts leave room for one.
    for lines in NEW_LINE_SIZES {
        let saved = saved_cart(id, lines);
        // Another tab's add, as incremental bytes.
        let mut other = Cart::load(id, &saved).unwrap();
        let before = other.heads();
        other.add_item(&item("from-another-tab")).unwrap();
        let change = other.save_after(&before);
        group.bench_with_input(
            BenchmarkId::new("merge_bytes(one add)", lines),
            &change,
            |b, change| {
                b.iter_batched_ref(
                    || Cart::load(id, &saved).unwrap(),
                    |cart| cart.merge_bytes(change).unwrap(),
                    criterion::BatchSize::LargeInput,
                )
            },
        );
        group.bench_with_input(BenchmarkId::new("load", lines), &saved, |b, saved| {
            b.iter(|| Cart::load(id, saved).unwrap())
        });
        let mut cart = Cart::load(id, &saved).unwrap();
        let heads = cart.heads();
        cart.add_item(&item("unconfirmed")).unwrap();
        group.bench_function(
            BenchmarkId::new("changes_missing_from(one behind)", lines),
            |b| b.iter(|| black_box(cart.changes_missing_from(&heads))),
        );
    }
    group.finish();
}

/// The cold start's native part: opening the 200-line cart stored as 2,000 changes (the
/// shape `npm run bench` opens in Chromium), beside Automerge loading the same bytes.
fn cold_open(c: &mut Criterion) {
    let id = CartId::random().unwrap();
    let mut cart = Cart::new(id);
    for n in 0..2000 {
        cart.add_item(&item(&format!("sku-{}", n % 200))).unwrap();
    }
    let saved = cart.save();
    let mut group = c.benchmark_group("open 200 lines of 2,000 changes");
    group.bench_function("offline-cart", |b| {
        b.iter(|| Cart::load(id, &saved).unwrap())
    });
    group.bench_function("automerge", |b| {
        b.iter(|| AutoCommit::load(&saved).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = add_a_new_line, add_to_a_line_and_list, merge_and_load, cold_open
}
criterion_main!(benches);
