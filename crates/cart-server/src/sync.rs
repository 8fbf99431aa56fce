//! One `/sync` connection: reads frames, enforces the per-connection limits, decodes messages,
//! and hands cart work to the [`crate::hub`]; a writer sends whatever the hubs queue for it.
//!
//! [`serve_connection`] is generic over a [`Sink`] and a [`Stream`] of [`Frame`]s, so the
//! WebSocket handler in [`crate::http`] and tests with plain channels drive the same code.
//!
//! After a refused message the connection stays open and keeps working for valid messages; only
//! a `join` without a usable key or protocol version closes it (code 1008 or 1002), as do server
//! shutdown (1001), a peer that does not read its messages (1008), a connection that does not
//! join within [`Limits::join_timeout`] (1008) and a peer from which nothing arrived for
//! [`Limits::idle_timeout`] (1001; the server pings every [`Limits::heartbeat_interval`]). A refused change is not
//! stored and the peer's sync state is left as it was, so the peer's history keeps the refused
//! change while the server's does not: later changes of that peer built on the refused one wait
//! for their missing dependency. The peer should reset its sync state (as on a disconnect) and
//! sync again; it then sends every change the server lacks in one message, and the limits are
//! judged on the cart after all of them (a refused line removed again is accepted).

use std::collections::HashSet;
use std::fmt::Display;
use std::str::FromStr;
use std::sync::Arc;

use automerge::sync::Message as AutomergeSync;
use cart_core::CartId;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::error::{ErrorKind, Refusal};
use crate::limits::{Limits, OverRate, RateLimit};
use crate::link::PeerContext;
use crate::mailbox::{Mailbox, Outbound, OutboxBytes};
use crate::secret::CartKey;
use crate::AppState;
use cart_core::wire::{self as protocol, Decoded, Message, PROTOCOL_V1};

/// Messages queued for one connection before it counts as not reading (and is dropped).
pub const OUTBOX_CAPACITY: usize = 1024;
/// The longest peer id or storage id accepted, in bytes.
pub const MAX_ID_BYTES: usize = 256;

/// One WebSocket frame, as far as the protocol cares. Pings from the peer are answered below
/// this layer; they and pongs only show that the peer is alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A ping (sent by the server as its heartbeat; from the peer, it is answered below).
    Ping(Vec<u8>),
    /// A pong: the peer's answer to a ping.
    Pong(Vec<u8>),
    /// A binary frame: one CBOR message.
    Binary(Vec<u8>),
    /// A text frame; the protocol does not use them.
    Text(String),
    /// A close frame, with its code and reason when it has them.
    Close(Option<(u16, String)>),
}

enum Flow {
    Continue,
    Close(u16, String),
}

struct Session {
    app: AppState,
    conn_id: u64,
    key: Result<CartKey, String>,
    peer: Option<PeerContext>,
    mailbox: Mailbox,
    rate: RateLimit,
    linked: HashSet<CartId>,
}

/// Serves one connection until the peer leaves, the server shuts down, or the peer is dropped
/// for not reading. `key` is the `key` query parameter of the WebSocket URL.
///
/// Frames come from `stream` and go to `sink`. Errors of either end the connection quietly (the
/// peer went away); every cart the peer was linked to has its sync state saved first.
pub async fn serve_connection<Si, St, E>(app: AppState, key: Option<String>, sink: Si, stream: St)
where
    Si: Sink<Frame> + Unpin,
    Si::Error: Display,
    St: Stream<Item = Result<Frame, E>> + Unpin,
    E: Display,
{
    let metrics = Arc::clone(app.metrics_arc());
    metrics.connection_opened();
    let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
    let kick = CancellationToken::new();
    let bytes = Arc::new(OutboxBytes::new(
        app.limits().outbox_bytes,
        Arc::clone(&metrics),
    ));
    let conn_id = app.next_connection_id();
    let session = Session {
        conn_id,
        key: CartKey::parse(key.as_deref()),
        peer: None,
        mailbox: Mailbox::new(tx, Arc::clone(&bytes), kick.clone()),
        rate: RateLimit::new(app.limits()),
        linked: HashSet::new(),
        app: app.clone(),
    };
    let writer = Writer {
        app,
        conn_id,
        bytes,
        kick: kick.clone(),
    };
    tokio::join!(session.run(stream, kick), writer.run(sink, rx));
    metrics.connection_closed();
}

/// The writing half of a connection.
struct Writer {
    app: AppState,
    conn_id: u64,
    bytes: Arc<OutboxBytes>,
    kick: CancellationToken,
}

impl Writer {
    async fn run<Si>(self, mut sink: Si, mut rx: mpsc::Receiver<Outbound>)
    where
        Si: Sink<Frame> + Unpin,
        Si::Error: Display,
    {
        let metrics = self.app.metrics();
        loop {
            let item = tokio::select! {
                biased;
                _ = self.kick.cancelled() => {
                    metrics.error(ErrorKind::SlowConsumer);
                    let reason = "too slow: the peer did not read its messages".to_string();
                    let _ = sink.send(Frame::Close(Some((1008, reason)))).await;
                    break;
                }
                item = rx.recv() => item,
            };
            let (frame, size, sync) = match item {
                Some(Outbound::Frame(bytes)) => {
                    let size = bytes.len();
                    (Frame::Binary(bytes), size, false)
                }
                Some(Outbound::SyncDue(cart)) => {
                    let Some(message) = self.app.hubs().next_sync(self.conn_id, cart).await else {
                        continue;
                    };
                    let bytes = protocol::encode(&message);
                    let size = bytes.len();
                    self.bytes.writing(size);
                    (Frame::Binary(bytes), size, true)
                }
                Some(Outbound::Ping) => (Frame::Ping(Vec::new()), 0, false),
                Some(Outbound::Close { code, reason }) => {
                    let _ = sink.send(Frame::Close(Some((code, reason)))).await;
                    break;
                }
                None => break,
            };
            let counted = matches!(frame, Frame::Binary(_));
            let sent = sink.send(frame).await;
            self.bytes.written(size);
            if let Err(e) = sent {
                tracing::debug!(conn = self.conn_id, error = %e, "the peer went away while we wrote");
                break;
            }
            if counted {
                metrics.message_out(size, sync);
            }
        }
        // Whatever is still queued will not be written.
        while let Ok(item) = rx.try_recv() {
            if let Outbound::Frame(bytes) = item {
                self.bytes.written(bytes.len());
            }
        }
        let _ = sink.close().await;
    }
}

impl Session {
    async fn run<St, E>(mut self, mut stream: St, kick: CancellationToken)
    where
        St: Stream<Item = Result<Frame, E>> + Unpin,
        E: Display,
    {
        let shutdown = self.app.shutdown_token();
        let limits = self.app.limits().clone();
        let opened = Instant::now();
        let mut heartbeat = tokio::time::interval_at(
            opened + limits.heartbeat_interval,
            limits.heartbeat_interval,
        );
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_heard = opened;
        let close = loop {
            let deadline = match self.peer {
                None => (opened + limits.join_timeout).min(last_heard + limits.idle_timeout),
                Some(_) => last_heard + limits.idle_timeout,
            };
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break Some((1001, "server is shutting down".to_string())),
                _ = kick.cancelled() => break None,
                _ = tokio::time::sleep_until(deadline) => break Some(self.timed_out(&limits)),
                _ = heartbeat.tick() => {
                    self.mailbox.post(Outbound::Ping);
                }
                frame = stream.next() => {
                    last_heard = Instant::now();
                    match frame {
                        None | Some(Ok(Frame::Close(_))) => break Some((1000, String::new())),
                        Some(Err(e)) => {
                            tracing::debug!(conn = self.conn_id, error = %e, "connection failed");
                            break None;
                        }
                        Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => {}
                        Some(Ok(frame)) => {
                            if let Flow::Close(code, reason) = self.handle_frame(frame).await {
                                break Some((code, reason));
                            }
                        }
                    }
                }
            }
        };
        for cart in std::mem::take(&mut self.linked) {
            self.app.hubs().leave(self.conn_id, cart).await;
        }
        if let Some((code, reason)) = close {
            self.mailbox.post(Outbound::Close { code, reason });
        }
    }

    /// The close for a connection whose deadline passed: no `join` in time, or silence.
    fn timed_out(&self, limits: &Limits) -> (u16, String) {
        let metrics = self.app.metrics();
        if self.peer.is_none() {
            metrics.error(ErrorKind::JoinTimeout);
            tracing::debug!(conn = self.conn_id, "no join in time");
            let secs = limits.join_timeout.as_secs();
            (1008, format!("no join message within {secs} s"))
        } else {
            metrics.error(ErrorKind::IdleTimeout);
            tracing::debug!(conn = self.conn_id, "the peer went silent");
            let secs = limits.idle_timeout.as_secs();
            (1001, format!("nothing received for {secs} s"))
        }
    }

    async fn handle_frame(&mut self, frame: Frame) -> Flow {
        let limits = self.app.limits();
        let bytes = match frame {
            Frame::Binary(bytes) => bytes,
            Frame::Text(text) => {
                self.app.metrics().message_in(text.len(), false);
                self.refuse(Refusal::new(
                    ErrorKind::TextFrame,
                    "text frames are not part of the protocol; send each message as CBOR in a binary frame",
                ));
                return Flow::Continue;
            }
            Frame::Close(_) => return Flow::Close(1000, String::new()),
            Frame::Ping(_) | Frame::Pong(_) => return Flow::Continue,
        };
        let size = bytes.len();
        if let Err(over) = self.rate.admit(size) {
            self.app.metrics().message_in(size, false);
            let message = match over {
                OverRate::Messages(wait) => format!(
                    "too many messages: at most {} per second (bursts of {}) per connection; this message was dropped and nothing was applied, send it again in {} ms",
                    limits.messages_per_second,
                    limits.message_burst,
                    wait.as_millis()
                ),
                OverRate::Bytes(wait) => format!(
                    "too many bytes: at most {} bytes per second (bursts of {}) per connection; this message of {size} bytes was dropped and nothing was applied, send it again in {} ms",
                    limits.bytes_per_second,
                    limits.byte_burst,
                    wait.as_millis()
                ),
            };
            self.refuse(Refusal::new(ErrorKind::RateLimited, message));
            return Flow::Continue;
        }
        if size > limits.max_frame_bytes {
            self.app.metrics().message_in(size, false);
            self.refuse(Refusal::new(
                ErrorKind::FrameTooLarge,
                format!(
                    "the frame has {size} bytes, at most {} are allowed; nothing was applied, sync smaller changes",
                    limits.max_frame_bytes
                ),
            ));
            return Flow::Continue;
        }
        let decoded = protocol::decode(&bytes).map_err(Refusal::from);
        let is_sync = matches!(
            decoded,
            Ok(Decoded::Message(Message::Sync(_) | Message::Request(_)))
        );
        self.app.metrics().message_in(size, is_sync);
        match decoded {
            Err(refusal) => {
                self.refuse(refusal);
                Flow::Continue
            }
            Ok(Decoded::Ignored(kind)) => {
                tracing::debug!(conn = self.conn_id, kind, "ignored a message");
                Flow::Continue
            }
            Ok(Decoded::Message(message)) => self.dispatch(message).await,
        }
    }

    async fn dispatch(&mut self, message: Message) -> Flow {
        if let Message::Join(join) = message {
            return self.join(join);
        }
        let Some(peer) = self.peer.clone() else {
            self.refuse(Refusal::new(
                ErrorKind::NotJoined,
                "send a join message first: {type: \"join\", senderId, peerMetadata, supportedProtocolVersions: [\"1\"]}",
            ));
            return Flow::Continue;
        };
        match message {
            Message::Request(sync) => self.sync(&peer, sync, true).await,
            Message::Sync(sync) => self.sync(&peer, sync, false).await,
            Message::Ephemeral(ephemeral) => {
                if let Some(cart) = self.addressed(
                    &peer,
                    &ephemeral.sender_id,
                    &ephemeral.target_id,
                    &ephemeral.document_id,
                ) {
                    if self.linked.contains(&cart) {
                        self.app
                            .hubs()
                            .relay_ephemeral(&peer, cart, ephemeral)
                            .await;
                    }
                }
                Flow::Continue
            }
            // A client telling us it lacks a document asks nothing of the server.
            Message::DocUnavailable(_)
            | Message::Join(_)
            | Message::Peer(_)
            | Message::Error(_) => Flow::Continue,
        }
    }

    fn join(&mut self, join: protocol::Join) -> Flow {
        if let Some(versions) = &join.supported_protocol_versions {
            if !versions.iter().any(|v| v == PROTOCOL_V1) {
                self.refuse(Refusal::new(
                    ErrorKind::UnsupportedProtocol,
                    format!(
                        "unsupported protocol version: the client offers {versions:?}, this server speaks only \"1\""
                    ),
                ));
                return Flow::Close(1002, "unsupported protocol version".to_string());
            }
        }
        let key = match &self.key {
            Ok(key) => key.clone(),
            Err(why) => {
                let why = why.clone();
                self.refuse(Refusal::new(ErrorKind::MissingKey, why));
                return Flow::Close(1008, "missing or invalid key query parameter".to_string());
            }
        };
        let metadata = join.peer_metadata.unwrap_or_default();
        let storage_id = metadata
            .storage_id
            .filter(|_| metadata.is_ephemeral != Some(true));
        if join.sender_id.is_empty()
            || join.sender_id.len() > MAX_ID_BYTES
            || storage_id.as_ref().is_some_and(|s| s.len() > MAX_ID_BYTES)
        {
            self.refuse(Refusal::new(
                ErrorKind::InvalidMessage,
                format!("senderId must be 1 to {MAX_ID_BYTES} bytes and storageId at most {MAX_ID_BYTES} bytes"),
            ));
            return Flow::Continue;
        }
        if let Some(existing) = &self.peer {
            if existing.peer_id != join.sender_id {
                let refusal = Refusal::new(
                    ErrorKind::WrongSender,
                    format!(
                        "this connection already joined as {:?}; open a new connection for another peer",
                        existing.peer_id
                    ),
                );
                self.refuse(refusal);
                return Flow::Continue;
            }
        }
        tracing::info!(conn = self.conn_id, peer = %join.sender_id, storage = storage_id.is_some(), "peer joined");
        let peer = PeerContext {
            conn_id: self.conn_id,
            peer_id: join.sender_id,
            storage_id,
            key,
            mailbox: self.mailbox.clone(),
        };
        self.mailbox.send(Message::Peer(protocol::Peer {
            sender_id: self.app.server_peer_id().to_string(),
            target_id: peer.peer_id.clone(),
            peer_metadata: protocol::PeerMetadata {
                storage_id: Some(self.app.storage_id().to_string()),
                is_ephemeral: Some(false),
            },
            selected_protocol_version: PROTOCOL_V1.to_string(),
        }));
        self.peer = Some(peer);
        Flow::Continue
    }

    /// Checks sender, target and document id of a message about a cart; refuses and returns
    /// `None` when one is wrong.
    fn addressed(
        &mut self,
        peer: &PeerContext,
        sender: &str,
        target: &str,
        document: &str,
    ) -> Option<CartId> {
        if sender != peer.peer_id {
            self.refuse(Refusal::new(
                ErrorKind::WrongSender,
                format!(
                    "senderId must be the peer id this connection joined with ({:?})",
                    peer.peer_id
                ),
            ));
            return None;
        }
        if target != self.app.server_peer_id() {
            let server = self.app.server_peer_id().to_string();
            self.refuse(Refusal::new(
                ErrorKind::WrongTarget,
                format!("targetId must be this server's peer id {server:?}, from its peer message"),
            ));
            return None;
        }
        match CartId::from_str(document) {
            Ok(cart) => Some(cart),
            Err(_) => {
                let shown: String = document.chars().take(64).collect();
                self.refuse(Refusal::new(
                    ErrorKind::InvalidDocumentId,
                    format!(
                        "documentId {shown:?} is not an automerge-repo document id (bs58check of 16 bytes)"
                    ),
                ));
                None
            }
        }
    }

    async fn sync(&mut self, peer: &PeerContext, sync: protocol::Sync, request: bool) -> Flow {
        let Some(cart) = self.addressed(peer, &sync.sender_id, &sync.target_id, &sync.document_id)
        else {
            return Flow::Continue;
        };
        let message = match AutomergeSync::decode(&sync.data) {
            Ok(message) => message,
            Err(e) => {
                self.refuse(
                    Refusal::new(
                        ErrorKind::InvalidAutomerge,
                        format!(
                            "data of the {} message for cart {cart} is not an automerge sync message ({e}); nothing was changed",
                            if request { "request" } else { "sync" }
                        ),
                    )
                    .about(cart),
                );
                return Flow::Continue;
            }
        };
        let max_carts = self.app.limits().max_carts_per_connection;
        if !self.linked.contains(&cart) && self.linked.len() >= max_carts {
            self.refuse(
                Refusal::new(
                    ErrorKind::TooManyCarts,
                    format!(
                        "this connection already syncs {max_carts} carts, the most one connection may; nothing was applied, open another connection for more carts"
                    ),
                )
                .about(cart),
            );
            return Flow::Continue;
        }
        if let Err(refusal) = crate::admission::check_chunks(&message, &cart) {
            self.refuse(refusal);
            return Flow::Continue;
        }
        match self.app.hubs().receive(peer, cart, request, message).await {
            Ok(()) => {
                if self.linked.insert(cart) {
                    tracing::info!(conn = self.conn_id, %cart, "syncing a cart");
                }
            }
            Err(refusal) => {
                self.rate.charge(refusal.undo_bytes());
                self.refuse(refusal);
            }
        }
        Flow::Continue
    }

    /// Counts the refusal and sends it to the peer as an `error` message.
    fn refuse(&mut self, refusal: Refusal) {
        self.app.metrics().error(refusal.kind());
        tracing::info!(
            conn = self.conn_id,
            kind = %refusal.kind(),
            cart = refusal.cart().map(|c| c.to_string()),
            "refused a message"
        );
        let target = self
            .peer
            .as_ref()
            .map(|p| p.peer_id.clone())
            .unwrap_or_default();
        self.mailbox.send(Message::Error(protocol::Error {
            sender_id: self.app.server_peer_id().to_string(),
            target_id: target,
            message: refusal.message().to_string(),
            code: Some(refusal.kind().as_str().to_string()),
            document_id: refusal.cart().map(|c| c.to_string()),
        }));
    }
}
