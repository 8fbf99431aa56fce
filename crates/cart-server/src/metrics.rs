//! Counters of the server, rendered in the Prometheus text format at `GET /metrics`.
//!
//! Plain atomics: incrementing never blocks and never fails. The number of stored carts is
//! asked from the store when the metrics are scraped.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::ErrorKind;

/// Every counter and gauge of the server.
#[derive(Debug, Default)]
pub struct Metrics {
    connections_open: AtomicU64,
    connections_total: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    sync_messages_in: AtomicU64,
    sync_messages_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    changes_stored: AtomicU64,
    outbox_bytes: AtomicU64,
    ephemeral_relayed: AtomicU64,
    errors: [AtomicU64; ErrorKind::ALL.len()],
    orders_created: AtomicU64,
    checkouts_refused: [AtomicU64; CHECKOUT_REFUSALS.len()],
}

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

/// Adds one and returns nothing; counters wrap only after 2^64 events.
fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Metrics {
    /// A connection was accepted.
    pub fn connection_opened(&self) {
        bump(&self.connections_open, 1);
        bump(&self.connections_total, 1);
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
        bump(&self.messages_in, 1);
        bump(&self.bytes_in, bytes as u64);
        if sync {
            bump(&self.sync_messages_in, 1);
        }
    }

    /// A frame of `bytes` bytes was sent; `sync` when it was a `sync` message.
    pub fn message_out(&self, bytes: usize, sync: bool) {
        bump(&self.messages_out, 1);
        bump(&self.bytes_out, bytes as u64);
        if sync {
            bump(&self.sync_messages_out, 1);
        }
    }

    /// `bytes` more are queued for a connection (or being written to it).
    pub fn outbox_grew(&self, bytes: usize) {
        bump(&self.outbox_bytes, bytes as u64);
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

    /// A change was stored durably.
    pub fn change_stored(&self) {
        bump(&self.changes_stored, 1);
    }

    /// An ephemeral message was relayed to one peer.
    pub fn ephemeral_relayed(&self) {
        bump(&self.ephemeral_relayed, 1);
    }

    /// A checkout created a new order.
    pub fn order_created(&self) {
        bump(&self.orders_created, 1);
    }

    /// A checkout was refused with `code` (one of [`CHECKOUT_REFUSALS`]; others are not counted).
    pub fn checkout_refused(&self, code: &str) {
        if let Some(i) = CHECKOUT_REFUSALS.iter().position(|c| *c == code) {
            bump(&self.checkouts_refused[i], 1);
        }
    }

    /// How many orders checkouts created.
    pub fn orders_created(&self) -> u64 {
        self.orders_created.load(Ordering::Relaxed)
    }

    /// How many checkouts were refused with `code`.
    pub fn checkouts_refused(&self, code: &str) -> u64 {
        CHECKOUT_REFUSALS
            .iter()
            .position(|c| *c == code)
            .map(|i| self.checkouts_refused[i].load(Ordering::Relaxed))
            .unwrap_or_default()
    }

    /// A message was refused (or a peer dropped) for reason `kind`.
    pub fn error(&self, kind: ErrorKind) {
        if let Some(counter) = self.errors.get(kind.index()) {
            bump(counter, 1);
        }
    }

    /// How many errors of `kind` were counted.
    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors
            .get(kind.index())
            .map(|c| c.load(Ordering::Relaxed))
            .unwrap_or_default()
    }

    /// The metrics in the Prometheus text exposition format; `carts_stored` is `None` when the
    /// store could not be asked.
    pub fn render(&self, carts_stored: Option<u64>) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {value}");
        };
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        metric(
            "cart_server_connections_open",
            "gauge",
            "WebSocket connections open now.",
            get(&self.connections_open),
        );
        metric(
            "cart_server_connections_total",
            "counter",
            "WebSocket connections accepted.",
            get(&self.connections_total),
        );
        metric(
            "cart_server_messages_in_total",
            "counter",
            "Frames received on /sync.",
            get(&self.messages_in),
        );
        metric(
            "cart_server_messages_out_total",
            "counter",
            "Messages sent on /sync.",
            get(&self.messages_out),
        );
        metric(
            "cart_server_sync_messages_in_total",
            "counter",
            "request and sync messages received.",
            get(&self.sync_messages_in),
        );
        metric(
            "cart_server_sync_messages_out_total",
            "counter",
            "sync messages sent.",
            get(&self.sync_messages_out),
        );
        metric(
            "cart_server_bytes_in_total",
            "counter",
            "Bytes of frames received on /sync.",
            get(&self.bytes_in),
        );
        metric(
            "cart_server_bytes_out_total",
            "counter",
            "Bytes of messages sent on /sync.",
            get(&self.bytes_out),
        );
        metric(
            "cart_server_outbox_bytes",
            "gauge",
            "Bytes of messages queued for (or being written to) connections, not yet written.",
            get(&self.outbox_bytes),
        );
        metric(
            "cart_server_changes_stored_total",
            "counter",
            "Accepted changes written durably to the store.",
            get(&self.changes_stored),
        );
        metric(
            "cart_server_ephemeral_relayed_total",
            "counter",
            "Ephemeral messages relayed to a peer.",
            get(&self.ephemeral_relayed),
        );
        metric(
            "cart_server_orders_created_total",
            "counter",
            "Orders created by checkouts (repeated checkouts not counted).",
            get(&self.orders_created),
        );
        if let Some(carts) = carts_stored {
            metric(
                "cart_server_carts_stored",
                "gauge",
                "Carts in the store.",
                carts,
            );
        }
        let _ = writeln!(
            out,
            "# HELP cart_server_errors_total Refused messages and dropped peers, by kind."
        );
        let _ = writeln!(out, "# TYPE cart_server_errors_total counter");
        for kind in ErrorKind::ALL {
            let _ = writeln!(
                out,
                "cart_server_errors_total{{kind=\"{kind}\"}} {}",
                self.errors_of(kind)
            );
        }
        let _ = writeln!(
            out,
            "# HELP cart_server_checkouts_refused_total Checkouts refused, by reason."
        );
        let _ = writeln!(out, "# TYPE cart_server_checkouts_refused_total counter");
        for reason in CHECKOUT_REFUSALS {
            let _ = writeln!(
                out,
                "cart_server_checkouts_refused_total{{reason=\"{reason}\"}} {}",
                self.checkouts_refused(reason)
            );
        }
        out
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
        assert!(text.contains("cart_server_connections_open 1\n"));
        assert!(text.contains("cart_server_sync_messages_in_total 1\n"));
        assert!(text.contains("cart_server_bytes_in_total 10\n"));
        assert!(text.contains("cart_server_carts_stored 3\n"));
        assert!(text.contains("cart_server_errors_total{kind=\"rate_limited\"} 1\n"));
        assert!(text.contains("cart_server_errors_total{kind=\"schema_violation\"} 0\n"));
        m.order_created();
        m.checkout_refused("sync_first");
        let text = m.render(None);
        assert!(text.contains("cart_server_orders_created_total 1\n"));
        assert!(text.contains("cart_server_checkouts_refused_total{reason=\"sync_first\"} 1\n"));
        assert!(text.contains("cart_server_checkouts_refused_total{reason=\"empty_cart\"} 0\n"));
        m.connection_closed();
        m.connection_closed();
        assert!(m.render(None).contains("cart_server_connections_open 0\n"));
    }
}
