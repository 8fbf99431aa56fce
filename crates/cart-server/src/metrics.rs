//! The server's metrics, served in the Prometheus text format at `GET /metrics`.
//!
//! Built on `prometheus-client` (the Prometheus project's Rust client) with one registry per
//! server: counters and gauges of the sync endpoint, refusals by kind, checkouts, claims, latency
//! histograms of the three operations a shopper waits for (applying a sync message, storing a
//! change, a checkout), and the process's CPU, memory and file descriptors. Recording never
//! blocks and never fails. The number of stored carts is asked from the store at each scrape.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::error::ErrorKind;

/// The reasons a checkout is refused, as the `reason` label of
/// `cart_server_checkouts_refused_total` (the `code` of the HTTP error body).
pub const CHECKOUT_REFUSALS: [&str; 6] = [
    "invalid_request",
    "not_found",
    "sync_first",
    "empty_cart",
    "lines_refused",
    "storage",
];

/// The outcomes of `POST /api/carts/claim`, as the `outcome` label of
/// `cart_server_claims_total`: `claimed`, or the `code` of the HTTP error body.
pub const CLAIM_OUTCOMES: [&str; 7] = [
    "claimed",
    "invalid_request",
    "invalid_token",
    "claim_off",
    "not_found",
    "cart_full",
    "storage",
];

/// The `outcome` labels of `cart_server_webhook_deliveries_total`.
pub const WEBHOOK_OUTCOMES: [&str; 2] = ["delivered", "failed"];

/// A counter per value of one label, over a fixed set of values: every value is exposed from
/// the start, at 0, so a dashboard sees each series; a value outside the set is not counted.
#[derive(Clone, Debug)]
struct LabeledCounter {
    label: &'static str,
    values: Vec<&'static str>,
    family: Family<[(&'static str, &'static str); 1], Counter>,
}

impl LabeledCounter {
    fn new(label: &'static str, values: impl IntoIterator<Item = &'static str>) -> LabeledCounter {
        let counter = LabeledCounter {
            label,
            values: values.into_iter().collect(),
            family: Family::default(),
        };
        for value in &counter.values {
            let _ = counter.family.get_or_create(&[(label, *value)]);
        }
        counter
    }

    /// The counter of `value`, when it is one of the set.
    fn of(&self, value: &str) -> Option<Counter> {
        let value = self.values.iter().find(|known| **known == value)?;
        Some(self.family.get_or_create(&[(self.label, *value)]).clone())
    }

    /// Counts one `value` (nothing when it is not one of the set).
    fn inc(&self, value: &str) {
        if let Some(counter) = self.of(value) {
            counter.inc();
        }
    }

    /// How many `value` were counted (0 when it is not one of the set).
    fn get(&self, value: &str) -> u64 {
        self.of(value).map_or(0, |counter| counter.get())
    }
}

/// The latency histograms' buckets: 0.25 ms doubling to about 8 s.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_25, 2.0, 16)
}

/// Every metric of one server.
pub struct Metrics {
    registry: Registry,
    // Kept as atomics of our own: they must never go below zero, even if a decrease were
    // counted twice; published as gauges at each scrape.
    connections_open: AtomicU64,
    outbox_bytes: AtomicU64,
    connections_open_gauge: Gauge,
    outbox_bytes_gauge: Gauge,
    carts_stored: Gauge,
    connections_total: Counter,
    messages_in: Counter,
    messages_out: Counter,
    sync_messages_in: Counter,
    sync_messages_out: Counter,
    bytes_in: Counter,
    bytes_out: Counter,
    changes_stored: Counter,
    ephemeral_relayed: Counter,
    orders_created: Counter,
    errors: LabeledCounter,
    checkouts_refused: LabeledCounter,
    claims: LabeledCounter,
    webhook_deliveries: LabeledCounter,
    sync_apply_seconds: Histogram,
    store_append_seconds: Histogram,
    checkout_seconds: Histogram,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        let histogram = || Histogram::new(latency_buckets());
        let mut metrics = Metrics {
            registry: Registry::default(),
            connections_open: AtomicU64::new(0),
            outbox_bytes: AtomicU64::new(0),
            connections_open_gauge: Gauge::default(),
            outbox_bytes_gauge: Gauge::default(),
            carts_stored: Gauge::default(),
            connections_total: Counter::default(),
            messages_in: Counter::default(),
            messages_out: Counter::default(),
            sync_messages_in: Counter::default(),
            sync_messages_out: Counter::default(),
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            changes_stored: Counter::default(),
            ephemeral_relayed: Counter::default(),
            orders_created: Counter::default(),
            errors: LabeledCounter::new("kind", ErrorKind::ALL.map(ErrorKind::as_str)),
            checkouts_refused: LabeledCounter::new("reason", CHECKOUT_REFUSALS),
            claims: LabeledCounter::new("outcome", CLAIM_OUTCOMES),
            webhook_deliveries: LabeledCounter::new("outcome", WEBHOOK_OUTCOMES),
            sync_apply_seconds: histogram(),
            store_append_seconds: histogram(),
            checkout_seconds: histogram(),
        };
        metrics.register();
        metrics
    }
}

impl Metrics {
    /// Registers every metric under its exposed name (counters get `_total` when encoded).
    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "cart_server_connections_open",
            "WebSocket connections open now",
            self.connections_open_gauge.clone(),
        );
        r.register(
            "cart_server_connections",
            "WebSocket connections accepted",
            self.connections_total.clone(),
        );
        r.register(
            "cart_server_messages_in",
            "Frames received on /sync",
            self.messages_in.clone(),
        );
        r.register(
            "cart_server_messages_out",
            "Messages sent on /sync",
            self.messages_out.clone(),
        );
        r.register(
            "cart_server_sync_messages_in",
            "request and sync messages received",
            self.sync_messages_in.clone(),
        );
        r.register(
            "cart_server_sync_messages_out",
            "sync messages sent",
            self.sync_messages_out.clone(),
        );
        r.register(
            "cart_server_bytes_in",
            "Bytes of frames received on /sync",
            self.bytes_in.clone(),
        );
        r.register(
            "cart_server_bytes_out",
            "Bytes of messages sent on /sync",
            self.bytes_out.clone(),
        );
        r.register(
            "cart_server_outbox_bytes",
            "Bytes of messages queued for (or being written to) connections, not yet written",
            self.outbox_bytes_gauge.clone(),
        );
        r.register(
            "cart_server_changes_stored",
            "Accepted changes written durably to the store",
            self.changes_stored.clone(),
        );
        r.register(
            "cart_server_ephemeral_relayed",
            "Ephemeral messages relayed to a peer",
            self.ephemeral_relayed.clone(),
        );
        r.register(
            "cart_server_orders_created",
            "Orders created by checkouts (repeated checkouts not counted)",
            self.orders_created.clone(),
        );
        r.register(
            "cart_server_carts_stored",
            "Carts in the store (0 when the store could not be asked)",
            self.carts_stored.clone(),
        );
        r.register(
            "cart_server_errors",
            "Refused messages and dropped peers, by kind",
            self.errors.family.clone(),
        );
        r.register(
            "cart_server_checkouts_refused",
            "Checkouts refused, by reason",
            self.checkouts_refused.family.clone(),
        );
        r.register(
            "cart_server_claims",
            "Answers to POST /api/carts/claim, by outcome",
            self.claims.family.clone(),
        );
        r.register(
            "cart_server_webhook_deliveries",
            "Attempts to hand an order to the checkout webhook, by outcome (failed ones are retried)",
            self.webhook_deliveries.family.clone(),
        );
        r.register(
            "cart_server_sync_apply_seconds",
            "Time to apply one sync message to its cart, checks and store included",
            self.sync_apply_seconds.clone(),
        );
        r.register(
            "cart_server_store_append_seconds",
            "Time the store took to append one accepted change durably",
            self.store_append_seconds.clone(),
        );
        r.register(
            "cart_server_checkout_seconds",
            "Time to answer one checkout request, refusals included",
            self.checkout_seconds.clone(),
        );
        r.register_collector(Box::new(ProcessCollector));
    }

    /// A connection was accepted.
    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        self.connections_total.inc();
    }

    /// A connection ended.
    pub fn connection_closed(&self) {
        // Saturate at zero rather than wrap if a close is ever counted twice.
        let _ = self
            .connections_open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// A frame of `bytes` bytes arrived; `sync` when it was a `request` or `sync` message.
    pub fn message_in(&self, bytes: usize, sync: bool) {
        self.messages_in.inc();
        self.bytes_in.inc_by(bytes as u64);
        if sync {
            self.sync_messages_in.inc();
        }
    }

    /// A frame of `bytes` bytes was sent; `sync` when it was a `sync` message.
    pub fn message_out(&self, bytes: usize, sync: bool) {
        self.messages_out.inc();
        self.bytes_out.inc_by(bytes as u64);
        if sync {
            self.sync_messages_out.inc();
        }
    }

    /// `bytes` more are queued for a connection (or being written to it).
    pub fn outbox_grew(&self, bytes: usize) {
        self.outbox_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// `bytes` queued for a connection were written or dropped.
    pub fn outbox_shrank(&self, bytes: usize) {
        let _ = self
            .outbox_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(bytes as u64))
            });
    }

    /// Bytes queued for all connections and not yet written, now.
    pub fn outbox_bytes(&self) -> u64 {
        self.outbox_bytes.load(Ordering::Relaxed)
    }

    /// A change was stored durably; the store took `took`.
    pub fn change_stored(&self, took: Duration) {
        self.changes_stored.inc();
        self.store_append_seconds.observe(took.as_secs_f64());
    }

    /// A sync message was applied to its cart (accepted or refused) in `took`.
    pub fn sync_applied(&self, took: Duration) {
        self.sync_apply_seconds.observe(took.as_secs_f64());
    }

    /// An ephemeral message was relayed to one peer.
    pub fn ephemeral_relayed(&self) {
        self.ephemeral_relayed.inc();
    }

    /// A checkout created a new order.
    pub fn order_created(&self) {
        self.orders_created.inc();
    }

    /// A checkout was answered in `took`: with an order, or refused with `refused` (one of
    /// [`CHECKOUT_REFUSALS`]; other codes are timed but not counted as refusals).
    pub fn checkout_answered(&self, took: Duration, refused: Option<&str>) {
        self.checkout_seconds.observe(took.as_secs_f64());
        if let Some(code) = refused {
            self.checkouts_refused.inc(code);
        }
    }

    /// An attempt to hand an order to the checkout webhook ended: `delivered` (2xx) or not.
    pub fn webhook_delivery(&self, delivered: bool) {
        self.webhook_deliveries
            .inc(WEBHOOK_OUTCOMES[usize::from(!delivered)]);
    }

    /// How many attempts to hand an order to the webhook ended with `outcome` (one of
    /// [`WEBHOOK_OUTCOMES`]; 0 for any other).
    pub fn webhook_deliveries(&self, outcome: &str) -> u64 {
        self.webhook_deliveries.get(outcome)
    }

    /// How many orders checkouts created.
    pub fn orders_created(&self) -> u64 {
        self.orders_created.get()
    }

    /// How many checkouts were refused with `code`.
    pub fn checkouts_refused(&self, code: &str) -> u64 {
        self.checkouts_refused.get(code)
    }

    /// A claim was answered with `outcome` (one of [`CLAIM_OUTCOMES`]; others are not counted).
    pub fn claim_answered(&self, outcome: &str) {
        self.claims.inc(outcome);
    }

    /// How many claims were answered with `outcome`.
    pub fn claims(&self, outcome: &str) -> u64 {
        self.claims.get(outcome)
    }

    /// A message was refused (or a peer dropped) for reason `kind`.
    pub fn error(&self, kind: ErrorKind) {
        self.errors.inc(kind.as_str());
    }

    /// How many errors of `kind` were counted.
    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors.get(kind.as_str())
    }

    /// The metrics in the Prometheus text exposition format (OpenMetrics); `carts_stored` is
    /// `None` when the store could not be asked (the gauge then says 0 and the log says why).
    pub fn render(&self, carts_stored: Option<u64>) -> String {
        let as_gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.connections_open_gauge
            .set(as_gauge(self.connections_open.load(Ordering::Relaxed)));
        self.outbox_bytes_gauge.set(as_gauge(self.outbox_bytes()));
        self.carts_stored
            .set(as_gauge(carts_stored.unwrap_or_default()));
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "the metrics did not encode");
        }
        out
    }
}

/// The process's own figures, read from `/proc/self` at each scrape (Linux; elsewhere none):
/// the series Prometheus' client libraries call `process_*`.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let Some(process) = ProcessFigures::read() else {
            return Ok(());
        };
        let counter = ConstCounter::new(process.cpu_seconds);
        counter.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "User and system CPU time spent, in seconds",
            None,
            counter.metric_type(),
        )?)?;
        for (name, help, value) in [
            (
                "process_resident_memory_bytes",
                "Resident memory size, in bytes",
                process.resident_bytes,
            ),
            (
                "process_open_fds",
                "Open file descriptors",
                process.open_fds,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch, in seconds",
                process.start_time_seconds,
            ),
        ] {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

/// What `/proc` says about this process.
struct ProcessFigures {
    cpu_seconds: f64,
    resident_bytes: f64,
    open_fds: f64,
    start_time_seconds: f64,
}

impl ProcessFigures {
    /// `None` where there is no `/proc` (or it cannot be read).
    fn read() -> Option<ProcessFigures> {
        // Clock ticks and page size: the values Linux uses on every platform Rust targets here.
        const TICKS_PER_SECOND: f64 = 100.0;
        const PAGE_BYTES: f64 = 4096.0;
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which is in parentheses and may contain spaces.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
        let (utime, stime, start_ticks, rss_pages) =
            (field(14)?, field(15)?, field(22)?, field(24)?);
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|line| line.strip_prefix("btime ")?.trim().parse::<f64>().ok())?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
        Some(ProcessFigures {
            cpu_seconds: (utime + stime) / TICKS_PER_SECOND,
            resident_bytes: rss_pages * PAGE_BYTES,
            open_fds,
            start_time_seconds: boot_time + start_ticks / TICKS_PER_SECOND,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_lists_every_metric_and_error_kind() {
        let m = Metrics::default();
        m.connection_opened();
        m.message_in(10, true);
        m.error(ErrorKind::RateLimited);
        let text = m.render(Some(3));
        assert!(text.contains("cart_server_connections_open 1\n"), "{text}");
        assert!(text.contains("cart_server_sync_messages_in_total 1\n"));
        assert!(text.contains("cart_server_bytes_in_total 10\n"));
        assert!(text.contains("cart_server_carts_stored 3\n"));
        assert!(text.contains("cart_server_errors_total{kind=\"rate_limited\"} 1\n"));
        assert!(text.contains("cart_server_errors_total{kind=\"schema_violation\"} 0\n"));
        m.order_created();
        m.checkout_answered(Duration::from_millis(3), Some("sync_first"));
        let text = m.render(None);
        assert!(text.contains("cart_server_orders_created_total 1\n"));
        assert!(text.contains("cart_server_checkouts_refused_total{reason=\"sync_first\"} 1\n"));
        assert!(text.contains("cart_server_checkouts_refused_total{reason=\"empty_cart\"} 0\n"));
        m.claim_answered("invalid_token");
        m.claim_answered("no_such_outcome");
        let text = m.render(None);
        assert!(text.contains("cart_server_claims_total{outcome=\"invalid_token\"} 1\n"));
        assert!(text.contains("cart_server_claims_total{outcome=\"claimed\"} 0\n"));
        assert_eq!(m.claims("no_such_outcome"), 0);
        m.connection_closed();
        m.connection_closed();
        assert!(m.render(None).contains("cart_server_connections_open 0\n"));
    }

    #[test]
    fn latencies_are_histograms_in_seconds() {
        let m = Metrics::default();
        m.sync_applied(Duration::from_micros(700));
        m.change_stored(Duration::from_millis(2));
        m.checkout_answered(Duration::from_millis(40), None);
        let text = m.render(None);
        assert!(
            text.contains("# TYPE cart_server_sync_apply_seconds histogram\n"),
            "{text}"
        );
        assert!(text.contains("cart_server_sync_apply_seconds_count 1\n"));
        assert!(text.contains("cart_server_sync_apply_seconds_bucket{le=\"0.001\"} 1\n"));
        assert!(text.contains("cart_server_sync_apply_seconds_bucket{le=\"0.0005\"} 0\n"));
        assert!(text.contains("cart_server_store_append_seconds_count 1\n"));
        assert!(text.contains("cart_server_changes_stored_total 1\n"));
        assert!(text.contains("cart_server_checkout_seconds_count 1\n"));
        assert_eq!(m.checkouts_refused("storage"), 0, "an order is no refusal");
    }

    #[test]
    fn the_process_reports_its_cpu_memory_and_descriptors() {
        let text = Metrics::default().render(None);
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(text.contains(name), "{name} in {text}");
        }
        let rss: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .and_then(|v| v.parse().ok())
            .expect("a number");
        assert!(
            rss > 1_000_000.0,
            "a test process holds more than a megabyte: {rss}"
        );
    }
}
