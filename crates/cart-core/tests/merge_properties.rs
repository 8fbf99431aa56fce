//! Merge semantics proven over random histories: random operations on three replicas, merged in
//! random order with random partitions, checked against a causal model of what each operation
//! had seen.
//!
//! The model: every add is an event; every set-quantity, remove and clear of a sku is a "set"
//! event that records which events its replica had seen. In the end, for each sku:
//! - adds no set event had seen are all still counted (an add is never lost);
//! - what remains besides them is the value of one of the set events no other set event had
//!   seen (concurrent set-quantities agree on one value), or 0 for a remove;
//! - with no set event at all, the quantity is the sum of all adds (concurrent adds sum).
//!
//! And all replicas list identical lines (convergence).
//!
//! After every operation and every merge, the cart's lines (kept as a view updated from each
//! change) equal a fresh read of its document. Merges go three ways: merging the other cart,
//! merging its saved bytes, and a round of sync messages.

use std::collections::{BTreeMap, BTreeSet};

use automerge::sync;
use cart_core::{Cart, CartId, NewItem};
use proptest::prelude::*;

const REPLICAS: usize = 3;
const SKUS: [&str; 3] = ["A", "B", "A#2"];

#[derive(Debug, Clone)]
enum Op {
    Add {
        replica: usize,
        sku: usize,
        quantity: i64,
        name: u8,
    },
    Set {
        replica: usize,
        sku: usize,
        quantity: i64,
    },
    Remove {
        replica: usize,
        sku: usize,
    },
    Clear {
        replica: usize,
    },
    Sync {
        from: usize,
        to: usize,
        how: Merge,
    },
}

/// How one replica takes another's changes.
#[derive(Debug, Clone, Copy)]
enum Merge {
    /// `Cart::merge` of the other cart.
    Cart,
    /// `Cart::merge_bytes` of the other's `save()`.
    Bytes,
    /// Sync messages, from the other to this one and back, until neither has more to say.
    SyncMessages,
}

fn op() -> impl Strategy<Value = Op> {
    let replica = 0..REPLICAS;
    let sku = 0..SKUS.len();
    prop_oneof![
        4 => (replica.clone(), sku.clone(), 1..=3i64, 0..3u8)
            .prop_map(|(replica, sku, quantity, name)| Op::Add { replica, sku, quantity, name }),
        2 => (replica.clone(), sku.clone(), 0..=4i64)
            .prop_map(|(replica, sku, quantity)| Op::Set { replica, sku, quantity }),
        1 => (replica.clone(), sku.clone()).prop_map(|(replica, sku)| Op::Remove { replica, sku }),
        1 => replica.clone().prop_map(|replica| Op::Clear { replica }),
        3 => (replica.clone(), replica, prop_oneof![Just(Merge::Cart), Just(Merge::Bytes), Just(Merge::SyncMessages)])
            .prop_map(|(from, to, how)| Op::Sync { from, to, how }),
    ]
}

struct AddEvent {
    id: usize,
    sku: String,
    quantity: i64,
}

struct SetEvent {
    id: usize,
    sku: String,
    quantity: i64,
    saw: BTreeSet<usize>,
}

#[derive(Default)]
struct Model {
    next_id: usize,
    seen: Vec<BTreeSet<usize>>,
    adds: Vec<AddEvent>,
    sets: Vec<SetEvent>,
    names: BTreeMap<String, BTreeSet<String>>,
}

impl Model {
    fn event(&mut self, replica: usize) -> usize {
        self.next_id += 1;
        self.seen[replica].insert(self.next_id);
        self.next_id
    }

    fn add(&mut self, replica: usize, sku: &str, quantity: i64, name: String) {
        let id = self.event(replica);
        self.adds.push(AddEvent {
            id,
            sku: sku.into(),
            quantity,
        });
        self.names.entry(sku.into()).or_default().insert(name);
    }

    fn set(&mut self, replica: usize, sku: &str, quantity: i64) {
        let saw = self.seen[replica].clone();
        let id = self.event(replica);
        self.sets.push(SetEvent {
            id,
            sku: sku.into(),
            quantity,
            saw,
        });
    }

    /// The quantities the final cart may show for `sku`.
    fn allowed_quantities(&self, sku: &str) -> BTreeSet<i64> {
        let sets: Vec<&SetEvent> = self.sets.iter().filter(|s| s.sku == sku).collect();
        let unseen_adds: i64 = self
            .adds
            .iter()
            .filter(|a| a.sku == sku && !sets.iter().any(|s| s.saw.contains(&a.id)))
            .map(|a| a.quantity)
            .sum();
        let latest: BTreeSet<i64> = sets
            .iter()
            .filter(|s| !sets.iter().any(|other| other.saw.contains(&s.id)))
            .map(|s| s.quantity)
            .collect();
        if latest.is_empty() {
            BTreeSet::from([unseen_adds])
        } else {
            latest.into_iter().map(|base| base + unseen_adds).collect()
        }
    }
}

fn new_item(sku: &str, quantity: i64, name: &str) -> NewItem {
    NewItem {
        sku: sku.into(),
        name: name.into(),
        unit_price: 100,
        currency: "EUR".into(),
        quantity,
        image_url: None,
        variant: None,
    }
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let id = CartId::random().unwrap();
    let mut carts: Vec<Cart> = (0..REPLICAS).map(|_| Cart::new(id)).collect();
    let mut model = Model {
        seen: vec![BTreeSet::new(); REPLICAS],
        ..Model::default()
    };

    for op in ops {
        match *op {
            Op::Add {
                replica,
                sku,
                quantity,
                name,
            } => {
                let name = format!("name {name}");
                if carts[replica]
                    .add_item(&new_item(SKUS[sku], quantity, &name))
                    .is_ok()
                {
                    model.add(replica, SKUS[sku], quantity, name);
                }
            }
            Op::Set {
                replica,
                sku,
                quantity,
            } => {
                let before = carts[replica].heads();
                let _ = carts[replica].set_quantity(SKUS[sku], quantity);
                if carts[replica].heads() != before {
                    model.set(replica, SKUS[sku], quantity);
                }
            }
            Op::Remove { replica, sku } => {
                if carts[replica].remove_item(SKUS[sku]).unwrap() {
                    model.set(replica, SKUS[sku], 0);
                }
            }
            Op::Clear { replica } => {
                let visible: Vec<String> =
                    carts[replica].lines().into_iter().map(|l| l.sku).collect();
                carts[replica].clear().unwrap();
                for sku in visible {
                    model.set(replica, &sku, 0);
                }
            }
            Op::Sync { from, to, how } => {
                if from != to {
                    let (a, b) = pick_two(&mut carts, to, from);
                    merge(a, b, how);
                    let seen = model.seen[from].clone();
                    model.seen[to].extend(seen);
                    if let Merge::SyncMessages = how {
                        // A round of sync messages goes both ways.
                        let seen = model.seen[to].clone();
                        model.seen[from].extend(seen);
                    }
                }
            }
        }
        let changed = match *op {
            Op::Add { replica, .. }
            | Op::Set { replica, .. }
            | Op::Remove { replica, .. }
            | Op::Clear { replica } => replica,
            Op::Sync { to, .. } => to,
        };
        view_equals_a_fresh_read(&mut carts[changed])?;
    }

    // Heal every partition.
    for to in 0..REPLICAS {
        for from in 0..REPLICAS {
            if from != to {
                let (a, b) = pick_two(&mut carts, to, from);
                a.merge(b).unwrap();
                view_equals_a_fresh_read(a)?;
            }
        }
    }
    let first = carts[0].lines();
    for cart in &carts[1..] {
        prop_assert_eq!(&cart.lines(), &first, "replicas did not converge");
        prop_assert_eq!(cart.totals(), carts[0].totals());
    }
    for sku in SKUS {
        let allowed = model.allowed_quantities(sku);
        let actual = carts[0].quantity(sku);
        prop_assert!(
            allowed.contains(&actual),
            "sku {}: quantity {} not in {:?}",
            sku,
            actual,
            allowed
        );
    }
    for line in &first {
        prop_assert!(
            model.names[&line.sku].contains(&line.name),
            "details of {} invented",
            line.sku
        );
    }
    Ok(())
}

/// `into` takes every change of `from`, the way `how` says.
fn merge(into: &mut Cart, from: &mut Cart, how: Merge) {
    match how {
        Merge::Cart => into.merge(from).unwrap(),
        Merge::Bytes => {
            into.merge_bytes(&from.save()).unwrap();
        }
        Merge::SyncMessages => {
            let (mut into_state, mut from_state) = (sync::State::new(), sync::State::new());
            loop {
                let offer = from.generate_sync_message(&mut from_state);
                if let Some(message) = &offer {
                    into.receive_sync_message(&mut into_state, message.clone())
                        .unwrap();
                }
                let answer = into.generate_sync_message(&mut into_state);
                if let Some(message) = &answer {
                    from.receive_sync_message(&mut from_state, message.clone())
                        .unwrap();
                }
                if offer.is_none() && answer.is_none() {
                    break;
                }
            }
        }
    }
}

/// The lines, totals, units and quantities `cart` shows equal those of a cart loaded afresh
/// from its saved document.
fn view_equals_a_fresh_read(cart: &mut Cart) -> Result<(), TestCaseError> {
    let fresh = Cart::load(*cart.id(), &cart.save()).unwrap();
    prop_assert_eq!(cart.lines(), fresh.lines());
    prop_assert_eq!(cart.totals(), fresh.totals());
    prop_assert_eq!(cart.item_count(), fresh.item_count());
    for sku in SKUS {
        prop_assert_eq!(cart.quantity(sku), fresh.quantity(sku), "sku {}", sku);
    }
    Ok(())
}

fn pick_two(carts: &mut [Cart], a: usize, b: usize) -> (&mut Cart, &mut Cart) {
    assert_ne!(a, b);
    if a < b {
        let (left, right) = carts.split_at_mut(b);
        (&mut left[a], &mut right[0])
    } else {
        let (left, right) = carts.split_at_mut(a);
        (&mut right[0], &mut left[b])
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_and_keep_every_unseen_add(ops in prop::collection::vec(op(), 1..60)) {
        run(&ops)?;
    }
}
