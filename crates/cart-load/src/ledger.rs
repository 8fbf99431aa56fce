//! What one shopper did and what the server acknowledged, sans IO; and the lost-add check.
//!
//! A shopper is the only device editing its cart, so its changes form one chain and the server
//! confirms a prefix of them: when the session reports `k` unconfirmed changes, every pending
//! change but the last `k` is acknowledged. An acknowledged add must be in the final document
//! (its `add:<sku>#<tag>` key present) unless a later remove or quantity change of the same sku
//! on this device saw it: those delete the add entries they see, by design.

use std::collections::VecDeque;
use std::time::Duration;

use automerge::ChangeHash;
use serde::Serialize;

/// One add the shopper made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddRecord {
    /// The product.
    pub sku: String,
    /// The add's unique tag: the entry is `add:<sku>#<tag>`.
    pub tag: String,
    /// The server confirmed the change holding it.
    pub acknowledged: bool,
    /// A later remove or quantity change on this device saw it (and so deleted its entry).
    pub superseded: bool,
}

/// A change not acknowledged yet.
#[derive(Debug)]
struct Pending {
    /// The add it holds, as an index into `adds`.
    add: Option<usize>,
    /// When it was made, from the start of the run.
    made_at: Duration,
    /// Its hash.
    hash: ChangeHash,
}

/// The record of one shopper's changes.
#[derive(Debug, Default)]
pub struct Ledger {
    adds: Vec<AddRecord>,
    pending: VecDeque<Pending>,
    changes: usize,
    acknowledged: usize,
    last_acknowledged: Option<ChangeHash>,
    /// The last change recorded: an edit whose heads are still this one made no change.
    last_change: Option<ChangeHash>,
}

impl Ledger {
    /// Records an add of `sku` with `tag`, made at `at` as the change `hash` (the cart's
    /// heads after the edit; an edit that made no change is not recorded, see
    /// [`Ledger::changed`]).
    pub fn added(&mut self, sku: &str, tag: &str, at: Duration, hash: ChangeHash) {
        if self.last_change == Some(hash) {
            return;
        }
        self.adds.push(AddRecord {
            sku: sku.to_string(),
            tag: tag.to_string(),
            acknowledged: false,
            superseded: false,
        });
        self.push(Some(self.adds.len() - 1), at, hash);
    }

    /// Records a remove or quantity change of `sku`, made at `at` as the change `hash`: every
    /// earlier add of `sku` on this device was seen by it. When `hash` is the last recorded
    /// change, the edit wrote nothing new (the cart's heads did not move): nothing is recorded,
    /// since there is nothing for the server to acknowledge and no add entry was deleted.
    /// Counting it as a change made the prefix rule acknowledge a change the server did not
    /// have.
    pub fn changed(&mut self, sku: &str, at: Duration, hash: ChangeHash) {
        if self.last_change == Some(hash) {
            return;
        }
        for add in self.adds.iter_mut().filter(|a| a.sku == sku) {
            add.superseded = true;
        }
        self.push(None, at, hash);
    }

    fn push(&mut self, add: Option<usize>, made_at: Duration, hash: ChangeHash) {
        self.last_change = Some(hash);
        self.changes += 1;
        self.pending.push_back(Pending { add, made_at, hash });
    }

    /// The session reports `unconfirmed` changes at `now`: acknowledges the others and returns
    /// the time each newly acknowledged change took. A count that grows again (after a
    /// reconnect the session forgets what was in flight) acknowledges nothing and takes
    /// nothing back: what the server confirmed once it stored.
    pub fn confirmed(&mut self, unconfirmed: usize, now: Duration) -> Vec<Duration> {
        let mut latencies = Vec::new();
        while self.pending.len() > unconfirmed {
            let Some(change) = self.pending.pop_front() else {
                break;
            };
            if let Some(add) = change.add {
                self.adds[add].acknowledged = true;
            }
            latencies.push(now.saturating_sub(change.made_at));
            self.acknowledged += 1;
            self.last_acknowledged = Some(change.hash);
        }
        latencies
    }

    /// A connection opened at `now`: changes made before it (offline, or while the last
    /// connection failed) count their latency from now, so that the figures measure the
    /// server rather than how long the shopper was offline.
    pub fn reconnected(&mut self, now: Duration) {
        for change in &mut self.pending {
            change.made_at = change.made_at.max(now);
        }
    }

    /// Changes made.
    pub fn changes(&self) -> usize {
        self.changes
    }

    /// Changes acknowledged.
    pub fn acknowledged(&self) -> usize {
        self.acknowledged
    }

    /// Changes not acknowledged yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The last acknowledged change: a reader that has it has every acknowledged change.
    pub fn last_acknowledged(&self) -> Option<ChangeHash> {
        self.last_acknowledged
    }

    /// The adds that must be in the final document: acknowledged and not superseded.
    pub fn must_survive(&self) -> impl Iterator<Item = &AddRecord> {
        self.adds.iter().filter(|a| a.acknowledged && !a.superseded)
    }

    /// The acknowledged adds missing from the final document, where `has_key` tells whether a
    /// root key is present.
    pub fn lost(&self, has_key: impl Fn(&str) -> bool) -> Vec<AddRecord> {
        self.must_survive()
            .filter(|a| !has_key(&cart_core::schema::add_key(&a.sku, &a.tag)))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> ChangeHash {
        ChangeHash([n; 32])
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_confirmed_prefix_is_acknowledged_with_its_latency() {
        let mut ledger = Ledger::default();
        ledger.added("A", "t1", ms(0), hash(1));
        ledger.added("B", "t2", ms(10), hash(2));
        ledger.added("C", "t3", ms(20), hash(3));
        assert_eq!(ledger.confirmed(3, ms(25)), vec![]);
        assert_eq!(ledger.confirmed(1, ms(30)), vec![ms(30), ms(20)]);
        assert_eq!(ledger.acknowledged(), 2);
        assert_eq!(ledger.pending(), 1);
        assert_eq!(ledger.last_acknowledged(), Some(hash(2)));
        let acked: Vec<&str> = ledger.must_survive().map(|a| a.tag.as_str()).collect();
        assert_eq!(acked, ["t1", "t2"]);
    }

    #[test]
    fn a_count_that_grows_after_a_reconnect_takes_nothing_back() {
        let mut ledger = Ledger::default();
        ledger.added("A", "t1", ms(0), hash(1));
        ledger.added("B", "t2", ms(0), hash(2));
        assert_eq!(ledger.confirmed(1, ms(5)).len(), 1);
        assert!(ledger.confirmed(2, ms(6)).is_empty());
        assert_eq!(ledger.acknowledged(), 1);
        assert_eq!(ledger.confirmed(0, ms(9)), vec![ms(9)]);
        assert_eq!(ledger.changes(), 2);
    }

    #[test]
    fn changes_made_offline_count_their_latency_from_the_reconnect() {
        let mut ledger = Ledger::default();
        ledger.added("A", "t1", ms(0), hash(1));
        ledger.reconnected(ms(100));
        ledger.added("B", "t2", ms(150), hash(2));
        ledger.reconnected(ms(120));
        assert_eq!(ledger.confirmed(0, ms(200)), vec![ms(80), ms(50)]);
    }

    #[test]
    fn an_edit_that_made_no_change_records_nothing_and_acknowledges_nothing() {
        let mut ledger = Ledger::default();
        ledger.added("A", "t1", ms(0), hash(1));
        // An edit that wrote nothing new (the heads are still the add's change).
        ledger.changed("A", ms(5), hash(1));
        assert_eq!(ledger.changes(), 1);
        assert!(
            ledger.confirmed(1, ms(9)).is_empty(),
            "the server has not confirmed the add"
        );
        assert_eq!(ledger.acknowledged(), 0);
        assert_eq!(ledger.confirmed(0, ms(10)), vec![ms(10)]);
        assert_eq!(
            ledger.lost(|_| false).len(),
            1,
            "the add was not superseded: the edit deleted nothing"
        );
    }

    #[test]
    fn a_missing_acknowledged_add_is_lost() {
        let mut ledger = Ledger::default();
        ledger.added("A", "t1", ms(0), hash(1));
        ledger.added("B", "t2", ms(0), hash(2));
        ledger.confirmed(0, ms(1));
        let lost = ledger.lost(|key| key == "add:A#t1");
        assert_eq!(lost.len(), 1);
        assert_eq!((lost[0].sku.as_str(), lost[0].tag.as_str()), ("B", "t2"));
        assert!(ledger.lost(|key| key.starts_with("add:")).is_empty());
    }

    #[test]
    fn unacknowledged_adds_may_be_missing() {
        let mut ledger = Ledger::default();
        ledger.added("A", "t1", ms(0), hash(1));
        assert!(ledger.lost(|_| false).is_empty());
    }

    #[test]
    fn adds_seen_by_a_later_remove_or_set_of_their_sku_may_be_missing() {
        let mut ledger = Ledger::default();
        ledger.added("A", "t1", ms(0), hash(1));
        ledger.added("B", "t2", ms(0), hash(2));
        ledger.changed("A", ms(0), hash(3));
        ledger.added("A", "t4", ms(0), hash(4));
        ledger.confirmed(0, ms(1));
        let lost: Vec<String> = ledger.lost(|_| false).into_iter().map(|a| a.tag).collect();
        assert_eq!(
            lost,
            ["t2", "t4"],
            "only adds no later edit of their sku saw"
        );
    }
}
