//! The server's limits, and the per-connection token buckets that enforce the message and byte
//! rates.

use std::time::Duration;

use tokio::time::Instant;

/// Every limit the server enforces. Each is a flag of the binary (see [`crate::config`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// The largest binary frame the server reads and applies, in bytes. Larger frames up to
    /// [`Limits::hard_frame_bytes`] get an `error`; beyond that the WebSocket layer closes the
    /// connection (code 1009).
    pub max_frame_bytes: usize,
    /// The largest a cart may be once saved (`Automerge::save`), in bytes.
    pub max_document_bytes: usize,
    /// The most lines (distinct skus among `item:`, `add:` and `set:` keys) a cart may have.
    pub max_lines: usize,
    /// Messages per second a connection may send on average.
    pub messages_per_second: f64,
    /// Messages a connection may send at once before the rate applies.
    pub message_burst: f64,
    /// Bytes of frames per second a connection may send on average.
    pub bytes_per_second: f64,
    /// Bytes a connection may send at once before the byte rate applies. A frame larger than
    /// this passes only when the bucket is full.
    pub byte_burst: f64,
    /// The most bytes of messages queued for one connection and not yet written to its socket;
    /// a connection over it is closed (1008) as not reading. Sync messages are generated only
    /// when the socket has taken the previous one (at most one per cart waits), so this bounds
    /// the replies and relays that wait behind a slow reader.
    pub outbox_bytes: usize,
    /// How often the server sends a WebSocket ping to every connection.
    pub heartbeat_interval: Duration,
    /// A connection from which no frame (a pong included) arrived for this long is closed (1001).
    pub idle_timeout: Duration,
    /// A connection that has not sent `join` this long after opening is closed (1008).
    pub join_timeout: Duration,
    /// The most open `/sync` connections from one client IP address.
    pub max_connections_per_address: usize,
    /// The most carts one connection may sync.
    pub max_carts_per_connection: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_frame_bytes: 1024 * 1024,
            max_document_bytes: 2 * 1024 * 1024,
            max_lines: 500,
            messages_per_second: 50.0,
            message_burst: 200.0,
            bytes_per_second: 1024.0 * 1024.0,
            byte_burst: 8.0 * 1024.0 * 1024.0,
            outbox_bytes: 4 * 1024 * 1024,
            heartbeat_interval: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
            join_timeout: Duration::from_secs(10),
            max_connections_per_address: 64,
            max_carts_per_connection: 16,
        }
    }
}

impl Limits {
    /// The frame size at which the WebSocket layer gives up reading: four times
    /// [`Limits::max_frame_bytes`], so a frame somewhat over the limit still gets a clear
    /// `error` while a huge one cannot exhaust memory.
    pub fn hard_frame_bytes(&self) -> usize {
        self.max_frame_bytes.saturating_mul(4)
    }
}

/// A token bucket: `burst` tokens, refilled at `per_second`; each message takes one token (or,
/// for the byte rate, one per byte).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(per_second: f64, burst: f64) -> TokenBucket {
        let capacity = burst.max(1.0);
        TokenBucket {
            capacity,
            per_second: per_second.max(0.0),
            tokens: capacity,
            last: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.per_second).min(self.capacity);
    }

    /// What taking `amount` tokens costs: never more than a full bucket, so one item larger
    /// than the burst can still pass when the bucket is full.
    fn cost(&self, amount: f64) -> f64 {
        amount.min(self.capacity)
    }

    /// Takes a token at `now`; returns false (taking nothing) when the bucket is empty.
    pub fn take_at(&mut self, now: Instant) -> bool {
        self.take_many_at(now, 1.0)
    }

    /// Takes `amount` tokens at `now`; returns false (taking nothing) when there are fewer.
    pub fn take_many_at(&mut self, now: Instant, amount: f64) -> bool {
        self.refill(now);
        let cost = self.cost(amount);
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// How long until `amount` tokens are available again at the current rate.
    pub fn retry_after(&self, amount: f64) -> Duration {
        if self.per_second <= 0.0 {
            return Duration::MAX;
        }
        Duration::from_secs_f64(((self.cost(amount) - self.tokens).max(0.0)) / self.per_second)
    }
}

/// Why a frame was over a connection's rate: which limit, and how long until it would pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OverRate {
    /// More messages per second than [`Limits::messages_per_second`] (bursts of
    /// [`Limits::message_burst`]).
    Messages(Duration),
    /// More bytes per second than [`Limits::bytes_per_second`] (bursts of
    /// [`Limits::byte_burst`]).
    Bytes(Duration),
}

/// The rate limit of one connection: a message bucket and a byte bucket; a frame must fit in
/// both, and takes from both only when it does.
#[derive(Debug, Clone)]
pub struct RateLimit {
    messages: TokenBucket,
    bytes: TokenBucket,
}

impl RateLimit {
    /// Full buckets for `limits`.
    pub fn new(limits: &Limits) -> RateLimit {
        RateLimit {
            messages: TokenBucket::new(limits.messages_per_second, limits.message_burst),
            bytes: TokenBucket::new(limits.bytes_per_second, limits.byte_burst),
        }
    }

    /// Admits a frame of `size` bytes at `now`, or says which rate it is over (taking nothing).
    pub fn admit_at(&mut self, now: Instant, size: usize) -> Result<(), OverRate> {
        let size = size as f64;
        self.messages.refill(now);
        self.bytes.refill(now);
        if self.messages.tokens < self.messages.cost(1.0) {
            return Err(OverRate::Messages(self.messages.retry_after(1.0)));
        }
        if self.bytes.tokens < self.bytes.cost(size) {
            return Err(OverRate::Bytes(self.bytes.retry_after(size)));
        }
        self.messages.take_many_at(now, 1.0);
        self.bytes.take_many_at(now, size);
        Ok(())
    }

    /// Admits a frame of `size` bytes now.
    pub fn admit(&mut self, size: usize) -> Result<(), OverRate> {
        self.admit_at(Instant::now(), size)
    }

    /// Takes `size` bytes (at most one full bucket) from the byte bucket at `now` for work the
    /// connection caused beyond its frames, even when that leaves the bucket below empty: the
    /// next frames then wait until the rate has paid for it.
    pub fn charge_at(&mut self, now: Instant, size: usize) {
        self.bytes.refill(now);
        self.bytes.tokens -= self.bytes.cost(size as f64);
    }

    /// [`RateLimit::charge_at`] now: a refused change the server undid by reading the cart
    /// again ([`crate::error::Refusal::undo_bytes`]) costs the peer the bytes read.
    pub fn charge(&mut self, size: usize) {
        self.charge_at(Instant::now(), size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 3.0);
        assert!((0..3).all(|_| bucket.take_at(start)));
        assert!(!bucket.take_at(start), "the burst is spent");
        assert!(!bucket.take_at(start + Duration::from_millis(50)));
        assert!(
            bucket.take_at(start + Duration::from_millis(150)),
            "refilled"
        );
        assert!(
            (0..3).all(|_| bucket.take_at(start + Duration::from_secs(60))),
            "refills up to the burst"
        );
        assert!(!bucket.take_at(start + Duration::from_secs(60)));
    }

    #[test]
    fn a_connection_is_limited_by_bytes_as_well_as_by_messages() {
        let start = Instant::now();
        let limits = Limits {
            messages_per_second: 100.0,
            message_burst: 100.0,
            bytes_per_second: 1000.0,
            byte_burst: 2000.0,
            ..Limits::default()
        };
        let mut rate = RateLimit::new(&limits);
        assert_eq!(rate.admit_at(start, 1500), Ok(()));
        match rate.admit_at(start, 1000) {
            Err(OverRate::Bytes(wait)) => assert_eq!(wait, Duration::from_millis(500)),
            other => panic!("expected the byte rate to refuse, got {other:?}"),
        }
        assert_eq!(
            rate.admit_at(start, 500),
            Ok(()),
            "a refused frame took nothing"
        );
        assert_eq!(
            rate.admit_at(start + Duration::from_secs(10), 5000),
            Ok(()),
            "a frame larger than the burst passes on a full bucket"
        );
        let mut rate = RateLimit::new(&Limits {
            message_burst: 2.0,
            ..limits
        });
        assert_eq!(rate.admit_at(start, 1), Ok(()));
        assert_eq!(rate.admit_at(start, 1), Ok(()));
        assert!(matches!(
            rate.admit_at(start, 1),
            Err(OverRate::Messages(_))
        ));
    }

    #[test]
    fn work_charged_to_a_connection_holds_back_its_next_frames() {
        let start = Instant::now();
        let limits = Limits {
            bytes_per_second: 1000.0,
            byte_burst: 2000.0,
            ..Limits::default()
        };
        let mut rate = RateLimit::new(&limits);
        assert_eq!(rate.admit_at(start, 100), Ok(()));
        // 1900 bytes left; a charge takes at most a full bucket (2000), leaving -100.
        rate.charge_at(start, 3000);
        match rate.admit_at(start, 100) {
            Err(OverRate::Bytes(wait)) => assert_eq!(wait, Duration::from_millis(200)),
            other => panic!("expected the byte rate to refuse, got {other:?}"),
        }
        assert_eq!(
            rate.admit_at(start + Duration::from_millis(200), 100),
            Ok(()),
            "the rate paid for the work"
        );
    }

    #[test]
    fn the_hard_frame_limit_is_above_the_soft_one() {
        let limits = Limits::default();
        assert!(limits.hard_frame_bytes() > limits.max_frame_bytes);
    }
}
