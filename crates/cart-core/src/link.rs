//! The lifecycle of one cart's connection to its sync server, sans IO.
//!
//! A [`Link`] decides when to open a socket, when to give up on one, when to retry, what to
//! send, and what a refusal means for the shopper. It owns the [`ClientSession`] (the
//! automerge-repo protocol and the Automerge sync state) and a `Phase` that makes the
//! connection's state one value instead of flags that must agree:
//!
//! ```text
//!            open fails / closes / join timeout / heartbeat timeout / `offline`
//!        +-------------------------------------------------------------------+
//!        v                                                                   |
//!   Waiting { retry_at } --retry_at or `online`--> Connecting --`peer`--> Joined
//! ```
//!
//! A link may have several servers (instances over one store): each attempt after a failed or
//! lost connection goes to the next one, round robin, so the shoppers of a stopped instance
//! move to another within one backoff delay; a joined connection stays where it is.
//!
//! Every input is a method taking the time (`now`, milliseconds on any clock that does not go
//! back) and returning the [`Effect`]s for the binding to perform, in order: open or close the
//! socket, send frames, store the cart, warn the page. The binding keeps one timer armed at
//! [`Link::next_deadline`] and calls [`Link::tick`] when it fires. Nothing here touches a
//! socket or a clock, so every path is tested natively with a scripted server.
//!
//! Refusals: when the server answers with an `error` about this cart, nothing of the refused
//! message was stored, so the session forgets what it believed the server had and the link
//! sends again after a backoff: a transient refusal (`storage`, `rate_limited`) heals by itself,
//! and a permanent one (`too_many_lines`, `document_too_large`, ...) heals as soon as the
//! shopper's next edits make the cart acceptable ("add a 4th line, remove it again"). Until the
//! server confirms every change, [`Link::blocked`] tells the page why.

use crate::cart::Cart;
use crate::cart_id::CartId;
use crate::session::{ClientSession, Notice};

/// How long a socket may take to open and answer `join` before it is given up, in ms.
pub const JOIN_TIMEOUT_MS: f64 = 10_000.0;
/// Silence on a joined connection after which the link probes the server, in ms.
pub const HEARTBEAT_IDLE_MS: f64 = 10_000.0;
/// How long a probe may go unanswered before the socket counts as dead, in ms. With
/// [`HEARTBEAT_IDLE_MS`] a dead socket is noticed within 20 s (plus timer slack).
pub const HEARTBEAT_TIMEOUT_MS: f64 = 10_000.0;

/// Server refusal codes that the same changes will get again: the shopper (or the page) has to
/// change the cart before it can sync. Every other code is retried as it is.
pub const PERMANENT_REFUSALS: [&str; 4] = [
    "schema_violation",
    "too_many_lines",
    "document_too_large",
    "change_too_large",
];

/// The state of the connection, as `status().connection` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// No socket: waiting to retry.
    Offline,
    /// A socket is opening, or open and waiting for the server's `peer`.
    Connecting,
    /// Joined: changes flow both ways.
    Online,
}

impl Connection {
    /// `"offline"`, `"connecting"` or `"online"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Connection::Offline => "offline",
            Connection::Connecting => "connecting",
            Connection::Online => "online",
        }
    }
}

/// Why the server does not take this cart's changes (until [`Link::blocked`] clears).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// The server refused the changes with a permanent code (one of [`PERMANENT_REFUSALS`]).
    Refused {
        /// The server's code, one of [`PERMANENT_REFUSALS`].
        code: &'static str,
    },
    /// The cart exists on the server under another key ([`Notice::WrongKey`]).
    WrongKey,
}

impl Blocked {
    /// The code a page switches on: the refusal code, or `"wrong_key"`.
    pub fn code(&self) -> &'static str {
        match self {
            Blocked::Refused { code } => code,
            Blocked::WrongKey => "wrong_key",
        }
    }
}

/// A warning for the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningCode {
    /// The server has no copy of the cart for this key yet; local changes will create it.
    CartUnavailable,
    /// The cart exists on the server under another key.
    WrongKey,
    /// The server refused changes for a reason that passes (storage, rate); they are resent.
    ServerRefused,
    /// The server refused changes for a reason that the shopper's edits must fix.
    SyncBlocked,
    /// The server sent a frame that is not a sync message; it was ignored.
    BadFrame,
}

impl WarningCode {
    /// The code as `subscribe` callbacks see it.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningCode::CartUnavailable => "cart_unavailable",
            WarningCode::WrongKey => "wrong_key",
            WarningCode::ServerRefused => "server_refused",
            WarningCode::SyncBlocked => "sync_blocked",
            WarningCode::BadFrame => "bad_frame",
        }
    }
}

/// What the binding must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Open a socket to server number `server` (0-based, in the order the link's servers were
    /// given). Its events come back as [`Link::opened`], [`Link::received`] and
    /// [`Link::closed`].
    Open {
        /// Which server.
        server: usize,
    },
    /// Send one binary frame on the open socket.
    Send(Vec<u8>),
    /// Drop the socket without waiting for it to close; no [`Link::closed`] is expected for it.
    Close,
    /// The server's changes altered the cart: store it and tell the page.
    CartChanged,
    /// Tell the page.
    Warn {
        /// Stable code.
        code: WarningCode,
        /// What happened and what to do, for people.
        message: String,
    },
}

/// Where the connection is; each phase holds only what makes sense in it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// No socket; open the next one at `retry_at`.
    Waiting { retry_at: f64 },
    /// A socket is opening, or open with `join` sent; give up at `deadline`.
    Connecting { deadline: f64 },
    /// Joined.
    Joined {
        /// When a frame last arrived.
        heard_at: f64,
        /// When the unanswered probe was sent, if one is out.
        probe_sent_at: Option<f64>,
        /// When to offer the changes again after a refusal.
        resend_at: Option<f64>,
    },
}

/// Exponential backoff with jitter: 0.5 s, 1 s, 2 s, … capped at 30 s, each multiplied by a
/// random factor in [0.5, 1) so that many clients coming back at once do not retry in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    failures: u32,
    random: u64,
}

impl Backoff {
    /// The first delay, in milliseconds.
    pub const BASE_MS: f64 = 500.0;
    /// The longest delay, in milliseconds.
    pub const CAP_MS: f64 = 30_000.0;

    /// A backoff whose jitter comes from `seed` (any value; 0 is replaced).
    pub fn new(seed: u64) -> Backoff {
        Backoff {
            failures: 0,
            random: seed.max(1),
        }
    }

    /// The delay before the next attempt, in milliseconds.
    pub fn next_delay_ms(&mut self) -> f64 {
        let exponential = Self::BASE_MS * 2f64.powi(self.failures.min(16) as i32);
        self.failures += 1;
        exponential.min(Self::CAP_MS) * (0.5 + self.next_unit() / 2.0)
    }

    /// An attempt succeeded: start again from the first delay.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// A number in [0, 1) from a xorshift64 generator: jitter needs spread, not secrecy.
    fn next_unit(&mut self) -> f64 {
        let mut x = self.random;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The connection of one cart to its sync server.
#[derive(Debug)]
pub struct Link {
    session: ClientSession,
    phase: Phase,
    backoff: Backoff,
    /// Backoff between resends after refusals; reset once the server confirms everything.
    refusals: Backoff,
    blocked: Option<Blocked>,
    /// The server has answered a probe, so an unanswered one means a dead socket. A stock
    /// automerge-repo server may never answer; its sockets are then only judged by the browser.
    probes_answered: bool,
    last_synced_at: Option<f64>,
    /// How many servers the link may use (at least 1).
    servers: usize,
    /// The server of the current or next attempt.
    server: usize,
}

impl Link {
    /// A link for cart `id` with `servers` servers to choose from (0 counts as 1), that will
    /// announce itself as `peer_id`; `seed` feeds the backoff jitter. Returns the link and
    /// [`Effect::Open`] for the first server: it connects at once (and gives the socket until
    /// `now` + [`JOIN_TIMEOUT_MS`] to join).
    pub fn new(
        id: &CartId,
        peer_id: String,
        servers: usize,
        seed: u64,
        now: f64,
    ) -> (Link, Vec<Effect>) {
        let link = Link {
            session: ClientSession::new(id, peer_id, None),
            phase: Phase::Connecting {
                deadline: now + JOIN_TIMEOUT_MS,
            },
            backoff: Backoff::new(seed),
            refusals: Backoff::new(seed.rotate_left(32)),
            blocked: None,
            probes_answered: false,
            last_synced_at: None,
            servers: servers.max(1),
            server: 0,
        };
        (link, vec![Effect::Open { server: 0 }])
    }

    /// The connection state.
    pub fn connection(&self) -> Connection {
        match self.phase {
            Phase::Waiting { .. } => Connection::Offline,
            Phase::Connecting { .. } => Connection::Connecting,
            Phase::Joined { .. } => Connection::Online,
        }
    }

    /// Why the server does not take this cart's changes, until it confirms them all.
    pub fn blocked(&self) -> Option<&Blocked> {
        self.blocked.as_ref()
    }

    /// When the server last confirmed every local change (the `now` of that moment).
    pub fn last_synced_at(&self) -> Option<f64> {
        self.last_synced_at
    }

    /// How many local changes the server has not confirmed.
    pub fn pending(&self, cart: &mut Cart) -> usize {
        self.session.unconfirmed(cart)
    }

    /// Whether the server holds every local change (joined, nothing pending).
    pub fn is_confirmed(&self, cart: &mut Cart) -> bool {
        matches!(self.phase, Phase::Joined { .. }) && self.pending(cart) == 0
    }

    /// When [`Link::tick`] has something to do next.
    pub fn next_deadline(&self) -> Option<f64> {
        match self.phase {
            Phase::Waiting { retry_at } => Some(retry_at),
            Phase::Connecting { deadline } => Some(deadline),
            Phase::Joined {
                heard_at,
                probe_sent_at,
                resend_at,
            } => {
                let heartbeat = match probe_sent_at {
                    Some(sent) => sent + HEARTBEAT_TIMEOUT_MS,
                    None => heard_at + HEARTBEAT_IDLE_MS,
                };
                Some(resend_at.map_or(heartbeat, |at| at.min(heartbeat)))
            }
        }
    }

    /// The socket opened: join.
    pub fn opened(&mut self, now: f64) -> Vec<Effect> {
        match self.phase {
            Phase::Connecting { .. } => {
                self.phase = Phase::Connecting {
                    deadline: now + JOIN_TIMEOUT_MS,
                };
                vec![Effect::Send(self.session.join())]
            }
            _ => Vec::new(),
        }
    }

    /// The socket closed or could not be opened: retry after the backoff.
    pub fn closed(&mut self, now: f64) -> Vec<Effect> {
        match self.phase {
            Phase::Waiting { .. } => Vec::new(),
            _ => {
                self.wait(now);
                Vec::new()
            }
        }
    }

    /// The browser says the network came back (`online`) or went (`offline`). A socket often
    /// stays open for minutes after the network is gone, so `offline` drops it at once; the
    /// retry still follows the backoff, in case the browser was wrong.
    pub fn network(&mut self, online: bool, now: f64) -> Vec<Effect> {
        match (online, self.phase) {
            (true, Phase::Waiting { .. }) => self.connect(now),
            (false, Phase::Connecting { .. } | Phase::Joined { .. }) => {
                self.wait(now);
                vec![Effect::Close]
            }
            _ => Vec::new(),
        }
    }

    /// Someone is waiting for the server (`sync()`): retry now instead of after the backoff.
    pub fn hurry(&mut self, now: f64) -> Vec<Effect> {
        match self.phase {
            Phase::Waiting { .. } => self.connect(now),
            _ => Vec::new(),
        }
    }

    /// The cart changed locally (or by a merge from elsewhere): offer the changes, unless a
    /// refusal's backoff is running (then they go with the resend).
    pub fn local_change(&mut self, cart: &mut Cart) -> Vec<Effect> {
        if self.may_send() {
            sends(self.session.local_change(cart))
        } else {
            Vec::new()
        }
    }

    /// One frame from the server.
    pub fn received(&mut self, cart: &mut Cart, frame: &[u8], now: f64) -> Vec<Effect> {
        let mut effects = Vec::new();
        match &mut self.phase {
            Phase::Waiting { .. } => return effects,
            Phase::Connecting { .. } => {}
            Phase::Joined {
                heard_at,
                probe_sent_at,
                ..
            } => {
                self.probes_answered |= probe_sent_at.is_some();
                *heard_at = now;
                *probe_sent_at = None;
            }
        }
        let received = match self.session.receive(cart, frame) {
            Ok(received) => received,
            Err(e) => {
                effects.push(Effect::Warn {
                    code: WarningCode::BadFrame,
                    message: e.message().to_string(),
                });
                return effects;
            }
        };
        if matches!(self.phase, Phase::Connecting { .. }) && self.session.is_connected() {
            self.backoff.reset();
            self.phase = Phase::Joined {
                heard_at: now,
                probe_sent_at: None,
                resend_at: None,
            };
        }
        if received.changed {
            effects.push(Effect::CartChanged);
        }
        if let Some(notice) = received.notice {
            effects.extend(self.notice(notice, now));
        }
        if self.may_send() {
            effects.extend(sends(received.replies));
        } else if !received.replies.is_empty() {
            // The session counts what it put in those replies as sent; it was not.
            self.session.forget_unconfirmed();
        }
        if self.is_confirmed(cart) {
            self.last_synced_at = Some(now);
            self.blocked = None;
            self.refusals.reset();
        }
        effects
    }

    /// Time passed: retry, give up on a join, resend after a refusal, or probe a silent server.
    pub fn tick(&mut self, cart: &mut Cart, now: f64) -> Vec<Effect> {
        let Phase::Joined {
            heard_at,
            probe_sent_at,
            resend_at,
        } = self.phase
        else {
            return match self.phase {
                Phase::Waiting { retry_at } if now >= retry_at => self.connect(now),
                Phase::Connecting { deadline } if now >= deadline => {
                    self.wait(now);
                    vec![Effect::Close]
                }
                _ => Vec::new(),
            };
        };
        let mut effects = Vec::new();
        let (mut heard_at, mut probe_sent_at, mut resend_at) = (heard_at, probe_sent_at, resend_at);
        if resend_at.is_some_and(|at| now >= at) {
            resend_at = None;
            if !matches!(self.blocked, Some(Blocked::WrongKey)) {
                effects.extend(sends(self.session.local_change(cart)));
            }
        }
        match probe_sent_at {
            Some(sent) if now >= sent + HEARTBEAT_TIMEOUT_MS => {
                if self.probes_answered {
                    self.wait(now);
                    effects.push(Effect::Close);
                    return effects;
                }
                // This server does not answer probes, so its silence proves nothing: wait a
                // whole idle period before asking again.
                probe_sent_at = None;
                heard_at = now;
            }
            None if now >= heard_at + HEARTBEAT_IDLE_MS => {
                effects.extend(self.session.probe(cart).map(Effect::Send));
                probe_sent_at = Some(now);
            }
            _ => {}
        }
        self.phase = Phase::Joined {
            heard_at,
            probe_sent_at,
            resend_at,
        };
        effects
    }

    /// Whether changes may go out now: joined, no refusal backoff running, and a key the server
    /// accepts.
    fn may_send(&self) -> bool {
        matches!(
            self.phase,
            Phase::Joined {
                resend_at: None,
                ..
            }
        ) && !matches!(self.blocked, Some(Blocked::WrongKey))
    }

    fn connect(&mut self, now: f64) -> Vec<Effect> {
        self.phase = Phase::Connecting {
            deadline: now + JOIN_TIMEOUT_MS,
        };
        vec![Effect::Open {
            server: self.server,
        }]
    }

    /// Forgets the socket and schedules the next attempt, on the next server.
    fn wait(&mut self, now: f64) {
        self.session.disconnected();
        self.server = (self.server + 1) % self.servers;
        self.phase = Phase::Waiting {
            retry_at: now + self.backoff.next_delay_ms(),
        };
    }

    /// What a notice means for the page; `None` when the page already knows.
    fn notice(&mut self, notice: Notice, now: f64) -> Option<Effect> {
        let (code, message) = match notice {
            Notice::Unavailable => (
                WarningCode::CartUnavailable,
                "the server has no copy of this cart for this key yet; local changes will create it"
                    .to_string(),
            ),
            Notice::WrongKey => {
                if self.blocked.replace(Blocked::WrongKey) == Some(Blocked::WrongKey) {
                    return None;
                }
                (
                    WarningCode::WrongKey,
                    "the server holds this cart under another key, so changes made here stay on this device; open the cart with its full link (including the key) to sync it"
                        .to_string(),
                )
            }
            Notice::Refused { code, message } => {
                let code = code.unwrap_or_default();
                if let Phase::Joined { resend_at, .. } = &mut self.phase {
                    *resend_at = Some(now + self.refusals.next_delay_ms());
                }
                let permanent = PERMANENT_REFUSALS.iter().find(|known| **known == code);
                if let Some(&code) = permanent {
                    let blocked = Blocked::Refused { code };
                    if self.blocked.replace(blocked.clone()) == Some(blocked) {
                        return None;
                    }
                    (
                        WarningCode::SyncBlocked,
                        format!(
                            "the server refused this cart's changes ({code}): {message}; they stay on this device and sync once the cart is changed to fit"
                        ),
                    )
                } else {
                    (
                        WarningCode::ServerRefused,
                        format!("the server refused a change ({code}): {message}; it is sent again shortly"),
                    )
                }
            }
        };
        Some(Effect::Warn { code, message })
    }
}

fn sends(frames: Vec<Vec<u8>>) -> Vec<Effect> {
    frames.into_iter().map(Effect::Send).collect()
}
