//! Behaviour that no other test pinned down: each test here kills a mutant that cargo-mutants
//! found surviving in `persist.rs` or the merge rules of `cart.rs` (see the README's "Testing
//! the tests"). Storage is a plain map the writes are applied to, so the tests need no executor.

use std::collections::BTreeMap;

use cart_core::fixtures::item;
use cart_core::persist::{Persister, Restored};
use cart_core::storage::{StorageKey, StorageOp};
use cart_core::{Cart, CartId, NewItem};

/// A storage: applies writes in order, as one batch each.
#[derive(Default)]
struct Map(BTreeMap<StorageKey, Vec<u8>>);

impl Map {
    fn apply(&mut self, ops: &[StorageOp]) {
        for op in ops {
            match op {
                StorageOp::Put { key, value } => {
                    self.0.insert(key.clone(), value.clone());
                }
                StorageOp::Remove { key } => {
                    self.0.remove(key);
                }
            }
        }
    }

    /// Writes every change of `cart`, as `persist::flush` does.
    fn flush(&mut self, persister: &mut Persister, cart: &mut Cart) {
        while let Some(write) = persister.next_write(cart) {
            self.apply(write.ops());
            persister.committed(write);
        }
    }

    fn restored(&self, id: CartId) -> Restored {
        let entries = self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        Persister::restore(id, entries)
    }

    fn reopen(&self, id: CartId) -> Cart {
        self.restored(id).cart
    }
}

fn quantities(cart: &Cart) -> Vec<(String, i64)> {
    cart.lines()
        .into_iter()
        .map(|l| (l.sku, l.quantity))
        .collect()
}

#[test]
fn a_compacting_snapshot_equal_to_an_owned_chunk_is_kept() {
    let id = CartId::random().unwrap();
    let mut cart = Cart::new(id);
    cart.add_item(&item("A", 2)).unwrap();
    let mut storage = Map::default();
    let mut persister = Persister::fresh(id);
    storage.flush(&mut persister, &mut cart);
    // The writer is told only the empty document is durable: its next write is a snapshot of
    // the same document, so its key is the key of the snapshot it already owns.
    persister.mark_durable(Vec::new());
    let write = persister.next_write(&mut cart).unwrap();
    assert!(write.is_snapshot());
    storage.apply(write.ops());
    persister.committed(write);
    assert_eq!(quantities(&storage.reopen(id)), [("A".to_string(), 2)]);
}

fn restore(id: CartId, entries: &[(StorageKey, &[u8])]) -> Restored {
    let entries = entries
        .iter()
        .map(|(k, v)| (k.clone(), v.to_vec()))
        .collect();
    Persister::restore(id, entries)
}

#[test]
fn after_the_first_snapshot_writes_are_incremental() {
    let id = CartId::random().unwrap();
    let mut cart = Cart::new(id);
    let mut persister = Persister::fresh(id);
    cart.add_item(&item("A", 1)).unwrap();
    let first = persister.next_write(&mut cart).unwrap();
    assert!(first.is_snapshot());
    persister.committed(first);
    cart.add_item(&item("B", 1)).unwrap();
    let second = persister.next_write(&mut cart).unwrap();
    assert!(!second.is_snapshot());
    assert_eq!(
        second.ops().len(),
        1,
        "an incremental write deletes nothing"
    );
}

#[test]
fn every_chunk_of_a_cart_is_under_its_own_prefix() {
    let (a, b) = (CartId::from_bytes([1; 16]), CartId::from_bytes([2; 16]));
    assert_ne!(Persister::prefix(&a), Persister::prefix(&b));
    let mut cart = Cart::new(a);
    cart.add_item(&item("A", 1)).unwrap();
    let write = Persister::fresh(a).next_write(&mut cart).unwrap();
    for op in write.ops() {
        let (StorageOp::Put { key, .. } | StorageOp::Remove { key }) = op;
        assert!(key.starts_with(&Persister::prefix(&a)), "{key:?}");
    }
}

#[test]
fn the_stored_key_is_restored_and_other_entries_are_not_taken_for_it() {
    let id = CartId::random().unwrap();
    let mut cart = Cart::new(id);
    cart.add_item(&item("A", 1)).unwrap();
    let mut storage = Map::default();
    storage.flush(&mut Persister::fresh(id), &mut cart);
    let StorageOp::Put { key, value } = Persister::key_write(&id, "the-secret-key") else {
        panic!("key_write puts")
    };
    let mut entries: Vec<(StorageKey, &[u8])> =
        vec![(vec![id.to_string(), "a".into()], b"not the key")];
    entries.push((key, &value));
    // An entry of three parts that is neither a snapshot nor an incremental chunk.
    entries.push((
        vec![id.to_string(), "sync-state".into(), "x".into()],
        b"not automerge",
    ));
    for (k, v) in &storage.0 {
        entries.push((k.clone(), v));
    }
    let restored = restore(id, &entries);
    assert_eq!(restored.key.as_deref(), Some("the-secret-key"));
    assert!(restored.skipped.is_empty(), "{:?}", restored.skipped);
    assert_eq!(quantities(&restored.cart), [("A".to_string(), 1)]);
}

#[test]
fn a_restored_writer_with_many_incremental_chunks_compacts_next() {
    let id = CartId::random().unwrap();
    let mut cart = Cart::new(id);
    let mut storage = Map::default();
    let mut persister = Persister::fresh(id);
    cart.add_item(&item("A", 1)).unwrap();
    storage.flush(&mut persister, &mut cart);
    for _ in 0..cart_core::chunks::COMPACT_AFTER {
        cart.add_item(&item("A", 1)).unwrap();
        storage.flush(&mut persister, &mut cart);
    }
    let mut restored = storage.restored(id);
    restored.cart.add_item(&item("B", 1)).unwrap();
    let write = restored.persister.next_write(&mut restored.cart).unwrap();
    assert!(write.is_snapshot());
    assert_eq!(
        write.ops().len(),
        storage.0.len() + 1,
        "the snapshot replaces every chunk it loaded"
    );
}

#[test]
fn changes_another_writer_stored_are_not_written_again() {
    let id = CartId::random().unwrap();
    let mut mine = Cart::new(id);
    mine.add_item(&item("A", 1)).unwrap();
    let mut storage = Map::default();
    let mut persister = Persister::fresh(id);
    storage.flush(&mut persister, &mut mine);
    let mut theirs = storage.reopen(id);
    theirs.add_item(&item("B", 1)).unwrap();
    assert!(mine.merge_bytes(&theirs.save()).unwrap());
    persister.mark_durable(mine.heads());
    assert!(!persister.has_unsaved(&mut mine));
    assert!(persister.next_write(&mut mine).is_none());
}

#[test]
fn a_line_can_be_filled_to_exactly_the_maximum() {
    let mut cart = Cart::new(CartId::random().unwrap());
    cart.add_item(&item("A", 998)).unwrap();
    cart.add_item(&item("A", 1)).unwrap();
    assert_eq!(cart.quantity("A"), 999);
    assert!(cart.add_item(&item("A", 1)).is_err());
}

#[test]
fn adding_more_of_a_line_at_a_new_price_keeps_its_place() {
    let mut cart = Cart::new(CartId::random().unwrap());
    cart.add_item(&item("A", 1)).unwrap();
    cart.add_item(&item("B", 1)).unwrap();
    let repriced = NewItem {
        unit_price: 450,
        ..item("A", 1)
    };
    cart.add_item(&repriced).unwrap();
    assert_eq!(cart.lines()[0].unit_price, 450);
    assert_eq!(
        quantities(&cart),
        [("A".to_string(), 2), ("B".to_string(), 1)]
    );
}

#[test]
fn a_set_quantity_is_what_the_lines_show() {
    let mut cart = Cart::new(CartId::random().unwrap());
    cart.add_item(&item("A", 2)).unwrap();
    cart.set_quantity("A", 5).unwrap();
    assert_eq!(quantities(&cart), [("A".to_string(), 5)]);
    assert_eq!(cart.item_count(), 5);
}
