//! A connection's outbound queue as the hubs see it: what its writer sends ([`Outbound`]), the
//! bytes waiting in it ([`OutboxBytes`]), and the [`Mailbox`] that queues into it bounded in
//! messages and in bytes, disconnecting a peer that does not read.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cart_core::wire::{self as protocol, Message};
use cart_core::CartId;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// What a connection's writer sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    /// An encoded wire message (not a `sync`: those are generated when due, see
    /// [`Outbound::SyncDue`]).
    Frame(Vec<u8>),
    /// The next sync message of this cart is due: the writer generates it
    /// ([`Hubs::next_sync`](crate::hub::Hubs::next_sync)) when the socket has taken everything
    /// queued before, so a peer that reads slowly gets one up-to-date message instead of a pile
    /// of stale ones. At most one per cart and connection is queued.
    SyncDue(CartId),
    /// A WebSocket ping (the heartbeat).
    Ping,
    /// Close the WebSocket with this code and reason, then stop.
    Close {
        /// The WebSocket close code (1000 normal, 1001 going away, 1008 policy).
        code: u16,
        /// Why, for people.
        reason: String,
    },
}

/// The bytes queued for one connection and not yet written: shared by its [`Mailbox`] (which
/// adds) and its writer (which takes away), and mirrored in the server-wide gauge.
#[derive(Debug)]
pub struct OutboxBytes {
    queued: AtomicUsize,
    budget: usize,
    metrics: Arc<Metrics>,
}

impl OutboxBytes {
    /// An empty outbox allowed `budget` bytes.
    pub fn new(budget: usize, metrics: Arc<Metrics>) -> OutboxBytes {
        OutboxBytes {
            queued: AtomicUsize::new(0),
            budget,
            metrics,
        }
    }

    /// Counts `bytes` more as queued; false (counting nothing) when that would pass the budget.
    fn reserve(&self, bytes: usize) -> bool {
        let reserved = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                queued
                    .checked_add(bytes)
                    .filter(|total| *total <= self.budget)
            })
            .is_ok();
        if reserved {
            self.metrics.outbox_grew(bytes);
        }
        reserved
    }

    /// Counts `bytes` as written (no longer queued).
    pub fn written(&self, bytes: usize) {
        let _ = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                Some(queued.saturating_sub(bytes))
            });
        self.metrics.outbox_shrank(bytes);
    }

    /// Counts a message the writer generated and is about to write; it is taken away again by
    /// [`OutboxBytes::written`]. A generated message may pass the budget: it is one message.
    pub fn writing(&self, bytes: usize) {
        self.queued.fetch_add(bytes, Ordering::AcqRel);
        self.metrics.outbox_grew(bytes);
    }

    /// Bytes queued now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }
}

/// How hubs reach one connection: a queue to its writer bounded in messages and in bytes, and a
/// token that disconnects the peer when either bound is passed (a peer that does not read must
/// not hold up a cart or the server's memory).
#[derive(Debug, Clone)]
pub struct Mailbox {
    tx: mpsc::Sender<Outbound>,
    bytes: Arc<OutboxBytes>,
    kick: CancellationToken,
}

impl Mailbox {
    /// A mailbox over `tx`, counting queued bytes in `bytes`; `kick` is cancelled when the
    /// queue overflows.
    pub fn new(
        tx: mpsc::Sender<Outbound>,
        bytes: Arc<OutboxBytes>,
        kick: CancellationToken,
    ) -> Mailbox {
        Mailbox { tx, bytes, kick }
    }

    /// Queues `message`; returns false when it could not be queued. A full queue disconnects the
    /// peer (its writer stops and closes with code 1008).
    pub fn send(&self, message: Message) -> bool {
        let frame = protocol::encode(&message);
        if !self.bytes.reserve(frame.len()) {
            self.kick.cancel();
            return false;
        }
        let size = frame.len();
        let sent = self.post(Outbound::Frame(frame));
        if !sent {
            self.bytes.written(size);
        }
        sent
    }

    /// Queues any outbound item, as [`Mailbox::send`] does (a [`Outbound::Frame`] posted here
    /// is not counted in bytes: use [`Mailbox::send`]).
    pub fn post(&self, item: Outbound) -> bool {
        match self.tx.try_send(item) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.kick.cancel();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Whether the peer was disconnected for not reading.
    pub fn kicked(&self) -> bool {
        self.kick.is_cancelled()
    }
}
