//! The conformance suite every [`DocStore`] must pass, generic over the store.
//!
//! A backend's test file implements [`Harness`] (how to get an empty store, and a second handle
//! on the same storage, as another server instance would have) and invokes
//! [`store_conformance_tests!`](crate::store_conformance_tests), which expands to one
//! `#[tokio::test]` per check below. `tests/store_sqlite.rs` does this for [`SqliteStore`] with a
//! real temporary file, `tests/store_postgres.rs` for [`PostgresStore`] with a database of its
//! own per check on a real PostgreSQL.
//!
//! Each check panics with a message naming the broken guarantee. The checks cover both traits
//! a store implements: [`DocStore`] (carts) and [`super::ShopStore`] (catalog, orders, the
//! webhook's outbox, accounts, customers).
//!
//! [`SqliteStore`]: super::SqliteStore
//! [`PostgresStore`]: super::PostgresStore

use std::collections::HashSet;
use std::future::Future;

use automerge::{transaction::Transactable, AutoCommit, ReadDoc, ROOT};
use cart_core::chunks::{ChunkKey, ChunkKind};
use cart_core::CartId;
use sha2::{Digest, Sha256};

use super::shop::{
    Account, Art, Customer, DeliveryState, Order, OrderLine, Placed, Product, Total,
};
use super::{DocStore, ShopStore, Store, StoreError};
use crate::secret::{CartKey, SecretHash};

/// How the suite gets stores of one backend.
pub trait Harness: Send + Sync {
    /// The store under test: carts ([`DocStore`]) and shop records
    /// ([`super::ShopStore`]).
    type Store: Store;

    /// A new store with nothing in it.
    fn fresh(&self) -> impl Future<Output = Self::Store> + Send;

    /// A second, independent handle on the storage of `store` (as another process or server
    /// instance would open it).
    fn another_handle(&self, store: &Self::Store) -> impl Future<Output = Self::Store> + Send;

    /// Makes every later write of a chunk to the storage of `store` fail, as a full disk would,
    /// while everything else keeps working (for the fault checks).
    fn break_chunk_writes(&self, store: &Self::Store) -> impl Future<Output = ()> + Send;

    /// Inserts a chunks row of `cart` (already stored) with the columns `kind` and `hash` as
    /// given, bypassing the store's keying: a row as an earlier server version wrote it.
    fn insert_chunk_row(
        &self,
        store: &Self::Store,
        cart: &CartId,
        kind: &str,
        hash: &str,
        bytes: Vec<u8>,
    ) -> impl Future<Output = ()> + Send;
}

fn cart(n: u8) -> CartId {
    CartId::from_bytes([n; 16])
}

fn secret(cart: &CartId, key: &str) -> SecretHash {
    CartKey::parse(Some(key))
        .expect("test keys are valid")
        .hash_for(cart)
}

fn change_bytes(doc: &mut AutoCommit, key: &str, value: i64) -> Vec<u8> {
    let heads = doc.get_heads();
    doc.put(ROOT, key, value).expect("put on a fresh map");
    doc.commit();
    doc.save_after(&heads)
}

/// Stores cart `id` under its owner's key with a first change (`a` = 1): the owner's secret,
/// and the document the test's later changes build on.
async fn owned_cart<S: Store>(store: &S, id: &CartId) -> (SecretHash, AutoCommit) {
    let owner = secret(id, "owner-key-0123456789");
    let mut doc = AutoCommit::new();
    store
        .append_chunk(id, &owner, change_bytes(&mut doc, "a", 1))
        .await
        .expect("owner append");
    (owner, doc)
}

/// A cart that was never written has no secret, no chunks and no sync states.
pub async fn unknown_carts_are_empty<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let id = cart(1);
    assert!(store.secret_hash(&id).await.expect("secret_hash").is_none());
    assert!(store
        .load_chunks(&id)
        .await
        .expect("load_chunks")
        .is_empty());
    assert!(store
        .load_sync_state("peer", &id)
        .await
        .expect("load_sync_state")
        .is_none());
    assert_eq!(store.cart_count().await.expect("cart_count"), 0);
}

/// A working store answers `ping`, empty or not (what `/readyz` asks).
pub async fn a_working_store_answers_ping<H: Harness>(h: &H) {
    let store = h.fresh().await;
    store.ping().await.expect("an empty store answers");
    let id = cart(1);
    let bytes = change_bytes(&mut AutoCommit::new(), "a", 1);
    store
        .append_chunk(&id, &secret(&id, "owner-key-0123456789"), bytes)
        .await
        .expect("append");
    store.ping().await.expect("a store with a cart answers");
}

/// The first append binds the cart to its secret; chunks load back byte for byte and make the
/// document again.
pub async fn first_append_binds_the_secret_and_chunks_load_back<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let id = cart(2);
    let owner = secret(&id, "owner-key-0123456789");
    let mut doc = AutoCommit::new();
    let first = change_bytes(&mut doc, "a", 1);
    let second = change_bytes(&mut doc, "b", 2);
    let k1 = store
        .append_chunk(&id, &owner, first.clone())
        .await
        .expect("first append");
    let k2 = store
        .append_chunk(&id, &owner, second.clone())
        .await
        .expect("second append with the same secret");
    assert_eq!(k1, ChunkKey::of(ChunkKind::Incremental, &first));
    assert_eq!(
        store.secret_hash(&id).await.expect("secret_hash"),
        Some(owner),
        "the first append must bind the cart to its secret"
    );
    let chunks = store.load_chunks(&id).await.expect("load_chunks");
    let mut keys: Vec<ChunkKey> = chunks.iter().map(|c| c.key.clone()).collect();
    keys.sort();
    let mut expected = vec![k1, k2];
    expected.sort();
    assert_eq!(keys, expected);
    let joined: Vec<u8> = chunks.iter().flat_map(|c| c.bytes.clone()).collect();
    let loaded = AutoCommit::load(&joined).expect("stored chunks load as one document");
    assert!(loaded.get(ROOT, "a").expect("get").is_some());
    assert!(loaded.get(ROOT, "b").expect("get").is_some());
    assert_eq!(store.cart_count().await.expect("cart_count"), 1);
}

/// Catching up reads every key, in load order, and only the bytes of the chunks not seen.
pub async fn unseen_chunks_come_with_their_bytes_and_seen_ones_without<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let id = cart(20);
    let owner = secret(&id, "owner-key-0123456789");
    let mut doc = AutoCommit::new();
    let mut keys = Vec::new();
    for (n, name) in ["a", "b", "c"].into_iter().enumerate() {
        let key = store
            .append_chunk(&id, &owner, change_bytes(&mut doc, name, n as i64))
            .await
            .expect("append");
        keys.push(key);
    }
    let all = store.load_chunks(&id).await.expect("load_chunks");
    let seen: HashSet<ChunkKey> = [keys[0].clone(), keys[2].clone()].into();
    let unseen = store
        .load_chunks_unseen(&id, &seen)
        .await
        .expect("load_chunks_unseen");
    let expected: Vec<(ChunkKey, Option<Vec<u8>>)> = all
        .into_iter()
        .map(|c| {
            let bytes = (!seen.contains(&c.key)).then_some(c.bytes);
            (c.key, bytes)
        })
        .collect();
    assert_eq!(
        unseen, expected,
        "every key in load order, bytes of the unseen only"
    );
    assert_eq!(unseen.iter().filter(|(_, b)| b.is_some()).count(), 1);
    assert!(store
        .load_chunks_unseen(&cart(21), &seen)
        .await
        .expect("an unknown cart")
        .is_empty());
}

/// An append with another secret is refused and writes nothing.
pub async fn another_secret_is_refused_and_writes_nothing<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let id = cart(3);
    let (owner, mut doc) = owned_cart(&store, &id).await;
    let intruder = secret(&id, "intruder-key-0123456");
    let refused = store
        .append_chunk(&id, &intruder, change_bytes(&mut doc, "b", 2))
        .await;
    assert!(
        matches!(refused, Err(StoreError::SecretMismatch)),
        "an append with another secret must fail with SecretMismatch, got {refused:?}"
    );
    assert_eq!(store.load_chunks(&id).await.expect("load").len(), 1);
    assert_eq!(store.secret_hash(&id).await.expect("secret"), Some(owner));
}

/// Appending the same bytes twice keeps one chunk.
pub async fn the_same_bytes_are_stored_once<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let id = cart(4);
    let owner = secret(&id, "owner-key-0123456789");
    let bytes = change_bytes(&mut AutoCommit::new(), "a", 1);
    let a = store
        .append_chunk(&id, &owner, bytes.clone())
        .await
        .expect("append");
    let b = store
        .append_chunk(&id, &owner, bytes)
        .await
        .expect("append again");
    assert_eq!(a, b);
    assert_eq!(store.load_chunks(&id).await.expect("load").len(), 1);
}

/// Compaction writes the snapshot and deletes exactly the chunks it was told it replaces; a
/// chunk written meanwhile by another handle survives, and the cart still loads completely.
pub async fn compaction_deletes_only_what_it_replaces<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let other = h.another_handle(&store).await;
    let id = cart(5);
    let owner = secret(&id, "owner-key-0123456789");
    let mut doc = AutoCommit::new();
    let mut seen = Vec::new();
    for i in 0..3 {
        let bytes = change_bytes(&mut doc, &format!("k{i}"), i);
        seen.push(
            store
                .append_chunk(&id, &owner, bytes)
                .await
                .expect("append"),
        );
    }
    let snapshot = doc.save();
    // Another instance adds a concurrent change this instance never loaded.
    let mut theirs = doc.fork();
    let concurrent = change_bytes(&mut theirs, "theirs", 7);
    let their_key = other
        .append_chunk(&id, &owner, concurrent)
        .await
        .expect("append through the other handle");
    let snap_key = store.compact(&id, snapshot, &seen).await.expect("compact");
    let chunks = store.load_chunks(&id).await.expect("load");
    let keys: Vec<&ChunkKey> = chunks.iter().map(|c| &c.key).collect();
    assert!(keys.contains(&&snap_key), "the snapshot must be stored");
    assert!(
        keys.contains(&&their_key),
        "compaction deleted a chunk it had not loaded"
    );
    assert_eq!(chunks.len(), 2, "every replaced chunk must be deleted");
    assert_eq!(
        chunks[0].key.kind(),
        ChunkKind::Snapshot,
        "snapshots load first"
    );
    let joined: Vec<u8> = chunks.iter().flat_map(|c| c.bytes.clone()).collect();
    let loaded = AutoCommit::load(&joined).expect("compacted cart loads");
    for key in ["k0", "k1", "k2", "theirs"] {
        assert!(loaded.get(ROOT, key).expect("get").is_some(), "{key} lost");
    }
}

/// A chunk an earlier server keyed by the whole SHA-256 of its bytes (64 hex digits, where
/// [`ChunkKey::of`] now writes 32) loads back under that key, counts as seen under it, and is
/// deleted by a compaction that replaces it.
pub async fn chunks_keyed_by_an_earlier_server_load_and_compact_away<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let id = cart(12);
    let owner = secret(&id, "owner-key-0123456789");
    let mut doc = AutoCommit::new();
    let first = change_bytes(&mut doc, "now", 1);
    let new_key = store
        .append_chunk(&id, &owner, first)
        .await
        .expect("append");
    let old = change_bytes(&mut doc, "before", 2);
    let full: String = Sha256::digest(&old)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    h.insert_chunk_row(&store, &id, "incremental", &full, old.clone())
        .await;

    let chunks = store.load_chunks(&id).await.expect("load");
    let old_key = ChunkKey::parse("incremental", &full).expect("the old key parses");
    let keys: Vec<ChunkKey> = chunks.iter().map(|c| c.key.clone()).collect();
    assert!(
        keys.contains(&old_key) && keys.contains(&new_key),
        "both rows load back under their own keys: {keys:?}"
    );
    let joined: Vec<u8> = chunks.iter().flat_map(|c| c.bytes.clone()).collect();
    let loaded = AutoCommit::load(&joined).expect("the cart loads");
    assert!(loaded.get(ROOT, "before").expect("get").is_some());

    let seen: HashSet<ChunkKey> = [old_key.clone()].into();
    let unseen = store
        .load_chunks_unseen(&id, &seen)
        .await
        .expect("load unseen");
    assert!(
        unseen.contains(&(old_key, None)),
        "an old row is seen under its old key: {unseen:?}"
    );

    let snapshot = store
        .compact(&id, doc.save(), &keys)
        .await
        .expect("compact");
    assert_eq!(
        chunk_keys(&store, &id).await,
        vec![snapshot],
        "the old row was not deleted"
    );
}

/// A compaction that lists the new snapshot's own key among the replaced chunks keeps it.
pub async fn compaction_never_deletes_its_own_snapshot<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let id = cart(6);
    let owner = secret(&id, "owner-key-0123456789");
    let mut doc = AutoCommit::new();
    store
        .append_chunk(&id, &owner, change_bytes(&mut doc, "a", 1))
        .await
        .expect("append");
    let snapshot = doc.save();
    let first = store
        .compact(&id, snapshot.clone(), &[])
        .await
        .expect("compact");
    let again = store
        .compact(&id, snapshot, std::slice::from_ref(&first))
        .await
        .expect("compact again");
    assert_eq!(first, again);
    let chunks = store.load_chunks(&id).await.expect("load");
    assert!(chunks.iter().any(|c| c.key == first));
}

/// Compacting a cart that is not stored fails and stores nothing.
pub async fn compaction_of_an_unknown_cart_is_refused<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let id = cart(7);
    let result = store.compact(&id, AutoCommit::new().save(), &[]).await;
    assert!(matches!(result, Err(StoreError::UnknownCart)), "{result:?}");
    assert!(store.load_chunks(&id).await.expect("load").is_empty());
    assert_eq!(store.cart_count().await.expect("count"), 0);
}

/// Sync states are kept per (storage id, cart), and a save replaces the previous one.
pub async fn sync_states_are_kept_per_storage_and_cart<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let (a, b) = (cart(8), cart(9));
    store
        .save_sync_state("phone", &a, vec![1])
        .await
        .expect("save");
    store
        .save_sync_state("laptop", &a, vec![2])
        .await
        .expect("save");
    store
        .save_sync_state("phone", &b, vec![3])
        .await
        .expect("save");
    store
        .save_sync_state("phone", &a, vec![4])
        .await
        .expect("save replaces");
    let load = |s: &'static str, c: CartId| {
        let store = &store;
        async move { store.load_sync_state(s, &c).await.expect("load") }
    };
    assert_eq!(load("phone", a).await, Some(vec![4]));
    assert_eq!(load("laptop", a).await, Some(vec![2]));
    assert_eq!(load("phone", b).await, Some(vec![3]));
    assert_eq!(load("laptop", b).await, None);
}

/// The storage id is created once and every handle on the storage sees the same one.
pub async fn the_storage_id_is_stable<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let id = store.storage_id().await.expect("storage_id");
    assert!(!id.is_empty());
    assert_eq!(store.storage_id().await.expect("again"), id);
    let other = h.another_handle(&store).await;
    assert_eq!(other.storage_id().await.expect("other handle"), id);
}

/// Everything written through one handle is read back through a new one.
pub async fn writes_are_visible_to_a_new_handle<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let id = cart(10);
    let owner = secret(&id, "owner-key-0123456789");
    let bytes = change_bytes(&mut AutoCommit::new(), "a", 1);
    store
        .append_chunk(&id, &owner, bytes.clone())
        .await
        .expect("append");
    store
        .save_sync_state("phone", &id, vec![9])
        .await
        .expect("save");
    drop(store.storage_id().await.expect("storage id"));
    let reopened = h.another_handle(&store).await;
    drop(store);
    assert_eq!(
        reopened.secret_hash(&id).await.expect("secret"),
        Some(owner)
    );
    let chunks = reopened.load_chunks(&id).await.expect("load");
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].bytes, bytes);
    assert_eq!(
        reopened.load_sync_state("phone", &id).await.expect("load"),
        Some(vec![9])
    );
}

/// Two handles racing to create the same cart with different secrets: exactly one wins and
/// only its chunk is stored.
pub async fn racing_creators_bind_exactly_one_secret<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let other = h.another_handle(&store).await;
    let id = cart(11);
    let first = secret(&id, "first-key-0123456789");
    let second = secret(&id, "second-key-012345678");
    let a = change_bytes(&mut AutoCommit::new(), "a", 1);
    let b = change_bytes(&mut AutoCommit::new(), "b", 2);
    let (ra, rb) = tokio::join!(
        store.append_chunk(&id, &first, a),
        other.append_chunk(&id, &second, b)
    );
    let winners = [ra.is_ok(), rb.is_ok()];
    assert_eq!(
        winners.iter().filter(|w| **w).count(),
        1,
        "exactly one creator must win: {ra:?} {rb:?}"
    );
    let bound = store.secret_hash(&id).await.expect("secret");
    assert_eq!(bound, Some(if ra.is_ok() { first } else { second }));
    assert_eq!(store.load_chunks(&id).await.expect("load").len(), 1);
}

/// Two handles (two server instances) storing the same chunk at once, also as the first write
/// of its cart: both succeed with the same key, and the chunk is stored once. Repeated on
/// several carts so that the two writes really overlap.
pub async fn two_handles_storing_one_chunk_at_once_store_it_once<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let other = h.another_handle(&store).await;
    for n in 0..16 {
        let id = cart(100 + n);
        let owner = secret(&id, "owner-key-0123456789");
        let mut doc = AutoCommit::new();
        let first = change_bytes(&mut doc, "a", 1);
        let (a, b) = tokio::join!(
            store.append_chunk(&id, &owner, first.clone()),
            other.append_chunk(&id, &owner, first)
        );
        let (a, b) = (a.expect("append a"), b.expect("append b"));
        assert_eq!(a, b, "both instances must get the chunk's key");
        let next = change_bytes(&mut doc, "b", 2);
        let (c, d) = tokio::join!(
            other.append_chunk(&id, &owner, next.clone()),
            store.append_chunk(&id, &owner, next)
        );
        assert_eq!(c.expect("append c"), d.expect("append d"));
        assert_eq!(
            store.load_chunks(&id).await.expect("load").len(),
            2,
            "a chunk stored by two instances at once must be stored once"
        );
        assert_eq!(other.secret_hash(&id).await.expect("secret"), Some(owner));
    }
    assert_eq!(store.cart_count().await.expect("count"), 16);
}

/// Two instances compacting one cart at once (each with its own snapshot of the chunks it
/// read) while a third write appends a change: the appended chunk survives, every replaced
/// chunk is gone, and the cart loads with every change.
pub async fn racing_compactions_keep_a_concurrent_append<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let other = h.another_handle(&store).await;
    let third = h.another_handle(&store).await;
    for n in 0..8 {
        let id = cart(120 + n);
        let owner = secret(&id, "owner-key-0123456789");
        let mut doc = AutoCommit::new();
        let mut read = Vec::new();
        for i in 0..4 {
            let bytes = change_bytes(&mut doc, &format!("k{i}"), i);
            read.push(
                store
                    .append_chunk(&id, &owner, bytes)
                    .await
                    .expect("append"),
            );
        }
        // Each compacting instance saved the same changes, one of them with a local edit
        // more (so the two snapshots differ).
        let ours = doc.save();
        let mut fork = doc.fork();
        change_bytes(&mut fork, "compactor", 1);
        let theirs = fork.save();
        let late = change_bytes(&mut doc.fork(), "late", 9);
        let (a, b, appended) = tokio::join!(
            store.compact(&id, ours, &read),
            other.compact(&id, theirs, &read),
            third.append_chunk(&id, &owner, late)
        );
        let (a, b) = (a.expect("compact a"), b.expect("compact b"));
        let appended = appended.expect("the concurrent append");
        let keys = chunk_keys(&store, &id).await;
        assert!(
            keys.contains(&appended),
            "a compaction deleted a chunk appended while it ran"
        );
        assert!(
            keys.contains(&a) && keys.contains(&b),
            "both snapshots stay"
        );
        for old in &read {
            assert!(!keys.contains(old), "a replaced chunk survived");
        }
        let chunks = store.load_chunks(&id).await.expect("load");
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.bytes.clone()).collect();
        let loaded = AutoCommit::load(&joined).expect("the compacted cart loads");
        for key in ["k0", "k1", "k2", "k3", "late"] {
            assert!(loaded.get(ROOT, key).expect("get").is_some(), "{key} lost");
        }
    }
}

fn product(sku: &str, price: i64) -> Product {
    Product {
        sku: sku.to_string(),
        name: format!("Product <b>{sku}</b> & co"),
        description: "a test product".to_string(),
        unit_price: price,
        currency: "EUR".to_string(),
        available: true,
        art: Art {
            shape: "mug".to_string(),
            bg: "#ffffff".to_string(),
            fg: "#000000".to_string(),
        },
        group: None,
        variant: None,
        variant_label: None,
    }
}

/// Seeding inserts only skus the catalog lacks: seeding again (through any handle) neither
/// duplicates a product nor undoes a change to one, and products keep their first order.
pub async fn seeding_the_catalog_is_idempotent_and_keeps_changes<H: Harness>(h: &H) {
    let store = h.fresh().await;
    assert!(store.catalog().await.expect("catalog").is_empty());
    let seed = vec![product("B", 200), product("A", 100), product("C", 300)];
    assert_eq!(store.seed_catalog(&seed).await.expect("seed"), 3);
    let mut changed = product("A", 150);
    changed.available = false;
    store.put_product(&changed).await.expect("put_product");
    let other = h.another_handle(&store).await;
    assert_eq!(
        other.seed_catalog(&seed).await.expect("seed again"),
        0,
        "seeding again must insert nothing"
    );
    let mut more = seed.clone();
    more.push(product("D", 400));
    assert_eq!(store.seed_catalog(&more).await.expect("seed more"), 1);
    let catalog = other.catalog().await.expect("catalog");
    let skus: Vec<&str> = catalog.iter().map(|p| p.sku.as_str()).collect();
    assert_eq!(
        skus,
        ["B", "A", "C", "D"],
        "catalog order is the order of first seeding"
    );
    assert_eq!(
        catalog[1], changed,
        "seeding must not overwrite a changed product"
    );
    assert_eq!(catalog[0], seed[0], "products read back as written");
}

/// Replacing the catalog leaves exactly the given products, in the given order, for every
/// handle; seeding afterwards adds only skus the new catalog lacks.
pub async fn replacing_the_catalog_keeps_exactly_the_new_products_in_order<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let seed = vec![product("B", 200), product("A", 100), product("C", 300)];
    store.seed_catalog(&seed).await.expect("seed");
    let mut repriced = product("C", 350);
    repriced.available = false;
    let new = vec![repriced, product("D", 400), product("A", 100)];
    store.replace_catalog(&new).await.expect("replace");
    let other = h.another_handle(&store).await;
    assert_eq!(other.catalog().await.expect("catalog"), new);
    assert_eq!(
        other.seed_catalog(&seed).await.expect("seed again"),
        1,
        "only B was missing"
    );
    store
        .replace_catalog(&[])
        .await
        .expect("replace with nothing");
    assert!(store.catalog().await.expect("catalog").is_empty());
}

fn order(id: &str, cart: &str, sku: &str) -> Order {
    let line = OrderLine {
        sku: sku.to_string(),
        name: "Mug".to_string(),
        variant: None,
        quantity: 2,
        unit_price: 1450,
        cart_unit_price: 1000,
        currency: "EUR".to_string(),
        price_changed: true,
        line_total: 2900,
    };
    Order {
        id: id.to_string(),
        cart_id: cart.to_string(),
        heads: vec!["ab".repeat(32)],
        lines: vec![line],
        totals: vec![Total {
            currency: "EUR".to_string(),
            amount: 2900,
        }],
        created_at: 1_700_000_000_000,
    }
}

/// The keys of the stored chunks of `cart`, sorted.
async fn chunk_keys<S: Store>(store: &S, cart: &CartId) -> Vec<ChunkKey> {
    let mut keys: Vec<ChunkKey> = store
        .load_chunks(cart)
        .await
        .expect("load_chunks")
        .into_iter()
        .map(|c| c.key)
        .collect();
    keys.sort();
    keys
}

/// An order is stored with its clear, both or neither: a placed order's clear is a chunk of its
/// cart; a second placing of one id (through any handle, or racing) returns the stored order
/// and writes nothing; a placing the cart refuses (another secret, a cart not stored) leaves
/// no order and no chunk.
pub async fn orders_are_placed_once_and_only_with_their_clear<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let other = h.another_handle(&store).await;
    let id = cart(12);
    let cart = id.to_string();
    let (owner, mut doc) = owned_cart(&store, &id).await;
    let clear = change_bytes(&mut doc, "a", 0);
    let first = order("ord_1", &cart, "MUG");
    assert!(store.order("ord_1").await.expect("order").is_none());
    let placed = store
        .place_order(&first, &owner, clear.clone())
        .await
        .expect("place");
    let clear_key = ChunkKey::of(ChunkKind::Incremental, &clear);
    assert_eq!(placed, Placed::Created(clear_key.clone()));
    assert!(
        chunk_keys(&other, &id).await.contains(&clear_key),
        "a placed order's clear must be a chunk of its cart"
    );
    let before = chunk_keys(&store, &id).await;
    let again = other
        .place_order(
            &order("ord_1", &cart, "TEE"),
            &owner,
            change_bytes(&mut doc, "b", 2),
        )
        .await
        .expect("place again");
    assert_eq!(
        again,
        Placed::Existing(first.clone()),
        "a second placing of one id must return the stored order"
    );
    assert_eq!(
        chunk_keys(&store, &id).await,
        before,
        "a second placing writes nothing"
    );
    assert_eq!(other.order("ord_1").await.expect("order"), Some(first));

    let race = order("ord_2", &cart, "CAP");
    let race_clear = change_bytes(&mut doc, "c", 3);
    let (a, b) = tokio::join!(
        store.place_order(&race, &owner, race_clear.clone()),
        other.place_order(&race, &owner, race_clear.clone())
    );
    let placed = [a.expect("place a"), b.expect("place b")];
    assert_eq!(
        placed
            .iter()
            .filter(|p| matches!(p, Placed::Created(_)))
            .count(),
        1,
        "exactly one racer places it"
    );
    assert!(placed.contains(&Placed::Existing(race)));
    assert_eq!(store.order_count(&cart).await.expect("count"), 2);

    // Faults: the clear cannot be appended, so the order is not stored either.
    let before = chunk_keys(&store, &id).await;
    let intruder = secret(&id, "intruder-key-0123456");
    let refused = store
        .place_order(
            &order("ord_3", &cart, "MUG"),
            &intruder,
            change_bytes(&mut doc, "d", 4),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::SecretMismatch)),
        "placing with another secret must fail with SecretMismatch, got {refused:?}"
    );
    let unknown = cart_id_text(13);
    let refused = store
        .place_order(
            &order("ord_4", &unknown, "MUG"),
            &owner,
            change_bytes(&mut doc, "e", 5),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::UnknownCart)),
        "placing on a cart not stored must fail with UnknownCart, got {refused:?}"
    );
    for refused in ["ord_3", "ord_4"] {
        assert!(
            other.order(refused).await.expect("order").is_none(),
            "no order may exist without its clear"
        );
    }
    assert_eq!(chunk_keys(&store, &id).await, before);
    assert!(chunk_keys(&store, &unknown.parse().expect("a cart id"))
        .await
        .is_empty());
    assert_eq!(store.order_count(&cart).await.expect("count"), 2);
    assert_eq!(store.order_count(&unknown).await.expect("count"), 0);
}

/// When the clear of an order cannot be written, the order is not stored either.
pub async fn no_order_is_stored_when_its_clear_cannot_be<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let id = cart(14);
    let (owner, mut doc) = owned_cart(&store, &id).await;
    let before = chunk_keys(&store, &id).await;
    h.break_chunk_writes(&store).await;
    let failed = store
        .place_order(
            &order("ord_5", &id.to_string(), "MUG"),
            &owner,
            change_bytes(&mut doc, "a", 0),
        )
        .await;
    assert!(
        matches!(failed, Err(StoreError::Backend(_))),
        "placing must fail when the clear cannot be written, got {failed:?}"
    );
    assert!(
        store.order("ord_5").await.expect("order").is_none(),
        "no order may exist without its clear"
    );
    assert!(
        store.delivery("ord_5").await.expect("delivery").is_none(),
        "no delivery may exist without its order"
    );
    assert_eq!(store.order_count(&id.to_string()).await.expect("count"), 0);
    assert_eq!(chunk_keys(&store, &id).await, before);
}

/// The order ids of `due`, sorted.
fn due_ids(due: &[super::shop::DueDelivery]) -> Vec<String> {
    let mut ids: Vec<String> = due.iter().map(|d| d.order.id.clone()).collect();
    ids.sort();
    ids
}

/// Every placed order is queued for the webhook in its transaction, due at its creation; a due
/// delivery is leased to one caller only (racing handles included) until its lease runs out or
/// a failure reschedules it (only a failure of its latest lease); attempts count every lease;
/// a delivered order is never leased again, and nothing settles it back to pending.
pub async fn placed_orders_are_queued_and_each_delivery_is_leased_to_one_caller<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let other = h.another_handle(&store).await;
    let id = cart(15);
    let (owner, mut doc) = owned_cart(&store, &id).await;
    assert_eq!(store.next_delivery_at().await.expect("next"), None);
    let ids = ["ord_a", "ord_b", "ord_c"];
    let mut orders = Vec::new();
    for (n, order_id) in (1_i64..).zip(ids) {
        let order = order(order_id, &id.to_string(), "MUG");
        store
            .place_order(&order, &owner, change_bytes(&mut doc, "a", n + 1))
            .await
            .expect("place");
        orders.push(order);
    }
    let t = orders[0].created_at;
    assert_eq!(
        other.delivery("ord_a").await.expect("delivery"),
        Some(DeliveryState {
            attempts: 0,
            next_attempt_at: t,
            delivered_at: None,
            last_error: None,
        }),
        "a placed order is queued, due at its creation"
    );
    assert_eq!(other.delivery("ord_none").await.expect("delivery"), None);
    assert_eq!(other.next_delivery_at().await.expect("next"), Some(t));
    assert!(
        store
            .take_due_deliveries(t - 1, t + 60_000, 10)
            .await
            .expect("take")
            .is_empty(),
        "nothing is due before its time"
    );

    let lease = t + 60_000;
    let first = store
        .take_due_deliveries(t, lease, 1)
        .await
        .expect("take one");
    assert_eq!(first.len(), 1, "at most `limit` are leased");
    let (a, b) = tokio::join!(
        store.take_due_deliveries(t, lease, 10),
        other.take_due_deliveries(t, lease, 10)
    );
    let (a, b) = (a.expect("take a"), b.expect("take b"));
    let mut leased: Vec<String> = [due_ids(&first), due_ids(&a), due_ids(&b)].concat();
    leased.sort();
    assert_eq!(leased, ids, "every due delivery is leased exactly once");
    for due in first.iter().chain(&a).chain(&b) {
        assert_eq!(due.attempts, 1);
        assert!(orders.contains(&due.order), "a lease carries its order");
    }
    assert!(
        other
            .take_due_deliveries(t + 1, lease, 10)
            .await
            .expect("take")
            .is_empty(),
        "a leased delivery is not leased again before its lease ends"
    );
    assert_eq!(store.next_delivery_at().await.expect("next"), Some(lease));

    other
        .delivery_failed("ord_a", 1, t + 100, "the webhook answered 500")
        .await
        .expect("failed");
    let failed = store
        .delivery("ord_a")
        .await
        .expect("delivery")
        .expect("queued");
    assert_eq!(
        (
            failed.attempts,
            failed.next_attempt_at,
            failed.last_error.as_deref()
        ),
        (1, t + 100, Some("the webhook answered 500"))
    );
    let retried = store
        .take_due_deliveries(t + 100, t + 200, 10)
        .await
        .expect("take");
    assert_eq!(due_ids(&retried), ["ord_a"], "a failure reschedules");
    assert_eq!(retried[0].attempts, 2);
    other
        .delivery_failed("ord_a", 1, t + 101, "a late answer to the first lease")
        .await
        .expect("a stale failure is ignored");
    let leased = store
        .delivery("ord_a")
        .await
        .expect("delivery")
        .expect("queued");
    assert_eq!(
        (leased.next_attempt_at, leased.last_error.as_deref()),
        (t + 200, Some("the webhook answered 500")),
        "a failure of an earlier lease must not cut the current lease short"
    );
    store
        .delivery_succeeded("ord_a", t + 150)
        .await
        .expect("delivered");
    other
        .delivery_failed("ord_a", 2, t + 300, "late")
        .await
        .expect("a late failure is ignored");
    let delivered = other
        .delivery("ord_a")
        .await
        .expect("delivery")
        .expect("kept");
    assert_eq!(
        (delivered.delivered_at, delivered.last_error),
        (Some(t + 150), None),
        "a delivered order stays delivered"
    );

    let expired = other
        .take_due_deliveries(lease, lease + 60_000, 10)
        .await
        .expect("take");
    assert_eq!(
        due_ids(&expired),
        ["ord_b", "ord_c"],
        "leases run out; delivered stays out"
    );
    assert!(expired.iter().all(|d| d.attempts == 2));
    for order_id in ["ord_b", "ord_c"] {
        store
            .delivery_succeeded(order_id, lease)
            .await
            .expect("delivered");
    }
    assert_eq!(other.next_delivery_at().await.expect("next"), None);
    assert!(store
        .take_due_deliveries(i64::MAX, i64::MAX, 10)
        .await
        .expect("take")
        .is_empty());
}

fn cart_id_text(n: u8) -> String {
    cart(n).to_string()
}

/// The first sign-in of a name creates its account; every later one (through any handle, or
/// racing) gets that same account.
pub async fn accounts_are_created_once_per_name<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let other = h.another_handle(&store).await;
    let account = |name: &str, n: u8| Account {
        name: name.to_string(),
        cart_id: cart_id_text(n),
        key: format!("key-of-{name}-{n}-0123456789"),
    };
    let alice = store.account(&account("alice", 20)).await.expect("account");
    assert_eq!(alice, account("alice", 20));
    let again = other.account(&account("alice", 21)).await.expect("again");
    assert_eq!(
        again, alice,
        "a later sign-in must get the same cart and key"
    );
    let bob = store.account(&account("bob", 22)).await.expect("bob");
    assert_eq!(bob.cart_id, cart_id_text(22));
    let (c1, c2) = (account("carol", 23), account("carol", 24));
    let (x, y) = tokio::join!(store.account(&c1), other.account(&c2));
    assert_eq!(
        x.expect("x"),
        y.expect("y"),
        "racing sign-ins get one account"
    );
}

/// The first claim of a customer creates their cart; every later one (through any handle, or
/// racing) gets that same cart. Customers and demo accounts are kept apart.
pub async fn customers_get_one_cart_each<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let other = h.another_handle(&store).await;
    let customer = |id: &str, n: u8| Customer {
        id: id.to_string(),
        cart_id: cart_id_text(n),
        key: format!("key-of-{id}-{n}-0123456789"),
    };
    let first = store
        .customer(&customer("cust_1", 30))
        .await
        .expect("customer");
    assert_eq!(first, customer("cust_1", 30));
    let again = other
        .customer(&customer("cust_1", 31))
        .await
        .expect("again");
    assert_eq!(again, first, "a later claim must get the same cart and key");
    let account = store
        .account(&Account {
            name: "cust_1".to_string(),
            cart_id: cart_id_text(32),
            key: "a-demo-key-0123456789".to_string(),
        })
        .await
        .expect("account");
    assert_eq!(
        account.cart_id,
        cart_id_text(32),
        "a demo name is not a customer id"
    );
    let (c1, c2) = (customer("cust_2", 33), customer("cust_2", 34));
    let (x, y) = tokio::join!(store.customer(&c1), other.customer(&c2));
    assert_eq!(x.expect("x"), y.expect("y"), "racing claims get one cart");
}

/// Expands to one `#[tokio::test]` per conformance check, for the [`Harness`] built by the given
/// expression.
#[macro_export]
macro_rules! store_conformance_tests {
    ($harness:expr) => {
        $crate::store_conformance_tests!(@each $harness;
            unknown_carts_are_empty,
            a_working_store_answers_ping,
            first_append_binds_the_secret_and_chunks_load_back,
            unseen_chunks_come_with_their_bytes_and_seen_ones_without,
            another_secret_is_refused_and_writes_nothing,
            the_same_bytes_are_stored_once,
            compaction_deletes_only_what_it_replaces,
            compaction_never_deletes_its_own_snapshot,
            chunks_keyed_by_an_earlier_server_load_and_compact_away,
            compaction_of_an_unknown_cart_is_refused,
            sync_states_are_kept_per_storage_and_cart,
            the_storage_id_is_stable,
            writes_are_visible_to_a_new_handle,
            racing_creators_bind_exactly_one_secret,
            two_handles_storing_one_chunk_at_once_store_it_once,
            racing_compactions_keep_a_concurrent_append,
            seeding_the_catalog_is_idempotent_and_keeps_changes,
            replacing_the_catalog_keeps_exactly_the_new_products_in_order,
            orders_are_placed_once_and_only_with_their_clear,
            no_order_is_stored_when_its_clear_cannot_be,
            placed_orders_are_queued_and_each_delivery_is_leased_to_one_caller,
            accounts_are_created_once_per_name,
            customers_get_one_cart_each
        );
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let harness = $harness;
                $crate::store::conformance::$name(&harness).await;
            }
        )*
    };
}
