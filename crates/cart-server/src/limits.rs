//! The server's limits, and the per-connection token bucket that enforces the message rate.

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
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_frame_bytes: 1024 * 1024,
            max_document_bytes: 2 * 1024 * 1024,
            max_lines: 500,
            messages_per_second: 50.0,
            message_burst: 200.0,
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

/// A token bucket: [`Limits::message_burst`] tokens, refilled at
/// [`Limits::messages_per_second`]; each message takes one.
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

    /// Takes a token at `now`; returns false (taking nothing) when the bucket is empty.
    pub fn take_at(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.per_second).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes a token now; returns false when the bucket is empty.
    pub fn take(&mut self) -> bool {
        self.take_at(Instant::now())
    }

    /// How long until a token is available again at the current rate.
    pub fn retry_after(&self) -> Duration {
        if self.per_second <= 0.0 {
            return Duration::MAX;
        }
        Duration::from_secs_f64(((1.0 - self.tokens).max(0.0)) / self.per_second)
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
    fn the_hard_frame_limit_is_above_the_soft_one() {
        let limits = Limits::default();
        assert!(limits.hard_frame_bytes() > limits.max_frame_bytes);
    }
}
