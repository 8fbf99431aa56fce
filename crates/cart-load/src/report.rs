//! The figures of a run and how they are printed, sans IO.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::ledger::AddRecord;

/// An acknowledged add missing from the final document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostAdd {
    /// The shopper that made it.
    pub shopper: usize,
    /// Its cart.
    pub cart: String,
    /// The add.
    pub sku: String,
    /// Its tag.
    pub tag: String,
}

impl LostAdd {
    /// `add` of `shopper`'s cart `cart`.
    pub fn new(shopper: usize, cart: &str, add: AddRecord) -> LostAdd {
        LostAdd {
            shopper,
            cart: cart.to_string(),
            sku: add.sku,
            tag: add.tag,
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// Simulated shoppers.
    pub shoppers: usize,
    /// How long the shoppers edited, in seconds.
    pub duration_s: f64,
    /// Changes made.
    pub changes: usize,
    /// Changes the server acknowledged.
    pub acknowledged: usize,
    /// Acknowledged changes per second of the run.
    pub throughput: f64,
    /// Acknowledged changes in each second from the start (index 0 is the first second; the
    /// last entries are the wait for the last acknowledgements after the run): where a fault's
    /// dip and the recovery show.
    pub acknowledged_per_second: Vec<usize>,
    /// Median time from a change to its acknowledgement, in milliseconds.
    pub p50_ms: f64,
    /// 95th percentile of the same, in milliseconds.
    pub p95_ms: f64,
    /// 99th percentile of the same, in milliseconds.
    pub p99_ms: f64,
    /// WebSocket connections opened (first connections and reconnects).
    pub connections: usize,
    /// Times a shopper went offline (closed its connection, kept editing, reconnected).
    pub offline_periods: usize,
    /// Failed connects, dropped connections, refusals and malformed frames.
    pub errors: usize,
    /// The errors by kind (what failed and the cause).
    pub error_kinds: BTreeMap<String, usize>,
    /// Acknowledged adds that had to be in the final carts (not superseded by a later edit).
    pub adds_checked: usize,
    /// Carts whose server answered the final read without every acknowledged change (what it
    /// sent was checked).
    pub incomplete_carts: usize,
    /// Carts no server could be reached for at the end: their adds are not verified.
    pub unreachable_carts: usize,
    /// Acknowledged adds of unreachable carts, which could not be checked.
    pub unverified_adds: usize,
    /// Acknowledged adds missing from the final carts.
    pub lost: Vec<LostAdd>,
}

/// Adds `other` (acknowledgements per second) into `timeline`, second by second.
pub fn add_timeline(timeline: &mut Vec<usize>, other: &[usize]) {
    if timeline.len() < other.len() {
        timeline.resize(other.len(), 0);
    }
    for (total, count) in timeline.iter_mut().zip(other) {
        *total += count;
    }
}

/// Counts `count` acknowledgements in the second `at` (from the start) falls in.
pub fn count_at(timeline: &mut Vec<usize>, at: Duration, count: usize) {
    let second = at.as_secs() as usize;
    if timeline.len() <= second {
        timeline.resize(second + 1, 0);
    }
    timeline[second] += count;
}

/// The `p`-th percentile (0..=100) of `sorted`, nearest rank; zero when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Report {
    /// Fills in the latency percentiles and throughput from every change's latency.
    pub fn measure(&mut self, mut latencies: Vec<Duration>, elapsed: Duration) {
        latencies.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        self.p50_ms = ms(percentile(&latencies, 50.0));
        self.p95_ms = ms(percentile(&latencies, 95.0));
        self.p99_ms = ms(percentile(&latencies, 99.0));
        self.duration_s = elapsed.as_secs_f64();
        self.throughput = if elapsed.is_zero() {
            0.0
        } else {
            self.acknowledged as f64 / elapsed.as_secs_f64()
        };
    }

    /// The one-line summary printed last.
    pub fn summary(&self) -> String {
        format!(
            "cart-load: {} shoppers, {:.0}s, {} acknowledged ({:.1}/s), p99 {:.1} ms, {} errors, {} unverified, {} lost",
            self.shoppers,
            self.duration_s,
            self.acknowledged,
            self.throughput,
            self.p99_ms,
            self.errors,
            self.unverified_adds,
            self.lost.len()
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "shoppers       {}", self.shoppers)?;
        writeln!(f, "duration       {:.1} s", self.duration_s)?;
        writeln!(
            f,
            "changes        {} made, {} acknowledged",
            self.changes, self.acknowledged
        )?;
        writeln!(
            f,
            "throughput     {:.1} acknowledged changes/s",
            self.throughput
        )?;
        writeln!(
            f,
            "latency        p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms",
            self.p50_ms, self.p95_ms, self.p99_ms
        )?;
        writeln!(
            f,
            "connections    {} ({} offline periods)",
            self.connections, self.offline_periods
        )?;
        writeln!(f, "errors         {}", self.errors)?;
        for (kind, count) in &self.error_kinds {
            writeln!(f, "  {count:>6}       {kind}")?;
        }
        writeln!(
            f,
            "checked        {} acknowledged adds ({} carts read incompletely)",
            self.adds_checked, self.incomplete_carts
        )?;
        if self.unreachable_carts > 0 {
            writeln!(
                f,
                "UNVERIFIED     {} acknowledged adds in {} carts no server could be reached for",
                self.unverified_adds, self.unreachable_carts
            )?;
        }
        for lost in &self.lost {
            writeln!(
                f,
                "LOST           shopper {} cart {} add:{}#{}",
                lost.shopper, lost.cart, lost.sku, lost.tag
            )?;
        }
        write!(f, "{}", self.summary())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&sorted, 50.0), ms(50));
        assert_eq!(percentile(&sorted, 99.0), ms(99));
        assert_eq!(percentile(&sorted, 100.0), ms(100));
        assert_eq!(percentile(&[ms(7)], 99.0), ms(7));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn acknowledgements_are_counted_in_the_second_they_arrive_and_summed_per_second() {
        let mut one = Vec::new();
        count_at(&mut one, ms(2500), 3);
        count_at(&mut one, ms(2999), 1);
        count_at(&mut one, ms(100), 2);
        assert_eq!(one, [2, 0, 4]);
        let mut total = vec![1];
        add_timeline(&mut total, &one);
        add_timeline(&mut total, &[5]);
        assert_eq!(total, [8, 0, 4]);
    }

    #[test]
    fn the_last_line_is_the_summary_with_the_loss_count() {
        let mut report = Report {
            shoppers: 2,
            acknowledged: 30,
            lost: vec![LostAdd {
                shopper: 1,
                cart: "c".into(),
                sku: "SKU-01".into(),
                tag: "s1-3".into(),
            }],
            ..Report::default()
        };
        report.measure(vec![ms(30), ms(10), ms(20)], Duration::from_secs(10));
        assert_eq!(report.throughput, 3.0);
        assert_eq!(report.p50_ms, 20.0);
        let printed = report.to_string();
        assert!(printed.contains("LOST           shopper 1 cart c add:SKU-01#s1-3"));
        let last = printed.lines().last().unwrap();
        assert_eq!(last, report.summary());
        assert!(last.ends_with("1 lost"), "{last}");
    }
}
