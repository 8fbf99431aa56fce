//! The client side of syncing one cart with a server, sans IO.
//!
//! A [`ClientSession`] turns the events of one connection (opened, a frame arrived, closed) and
//! local edits into the frames to send, and applies what the server sends to the [`Cart`]. It
//! speaks automerge-repo's WebSocket protocol ([`crate::wire`]), so the server may be
//! `cart-server` or any automerge-repo sync server. The browser binding only moves the bytes;
//! native tests drive the same code against a real server.

use automerge::sync;

use crate::cart::Cart;
use crate::cart_id::CartId;
use crate::error::{CartError, ErrorCode};
use crate::wire::{self, Message, PeerMetadata};

/// Something the server said that the page may want to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The server has no copy of this cart it will share: it does not exist there yet, or the
    /// key does not match (the server does not say which, so that nobody without the key learns
    /// which carts exist). The session keeps going: the next local change creates it.
    Unavailable,
    /// The server answered a `sync` of this cart with `doc-unavailable`. The server answers a
    /// `sync` for a cart it does not have yet by syncing (the first change creates the cart),
    /// and `request` (sent while the local copy is empty) with `doc-unavailable` whether the
    /// cart is missing or the key is wrong; so one that answers a `sync` (not a `request` still
    /// unanswered when the first local change went out) means the cart exists under another
    /// key: a shared link without its key, or a truncated key. Nothing will sync with this key. Anyone who can ask already knows the cart id, which is 128 random bits.
    WrongKey,
    /// The server refused a message about this cart; nothing of it was stored. The session has
    /// already forgotten what it believed the server had (as on a disconnect), so the next
    /// message it makes offers every change the server lacks again.
    Refused {
        /// The server's stable code, such as `schema_violation`, when it gave one.
        code: Option<String>,
        /// The server's explanation.
        message: String,
    },
}

/// What handling one frame did.
#[derive(Debug, Default)]
pub struct Received {
    /// Frames to send back, in order.
    pub replies: Vec<Vec<u8>>,
    /// Whether the cart changed (the server sent changes we did not have).
    pub changed: bool,
    /// What the server said, if the page should know.
    pub notice: Option<Notice>,
}

/// The sync state of one cart over one connection at a time.
#[derive(Debug)]
pub struct ClientSession {
    peer_id: String,
    storage_id: Option<String>,
    document_id: String,
    server_peer: Option<String>,
    state: sync::State,
    /// A `sync` (not a `request`) was sent on this connection: the local copy had changes.
    sent_sync: bool,
    /// A `request` was sent on this connection and nothing about the cart has come back since.
    /// A `doc-unavailable` then answers the request ("no copy for you yet"), even when a `sync`
    /// went out after it (an add made while the answer was on its way).
    request_unanswered: bool,
}

/// A new random access secret for a cart: 24 random bytes in base58 (about 33 characters).
pub fn random_key() -> Result<String, CartError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| {
        CartError::new(
            ErrorCode::Storage,
            format!("no secure random source to create a cart key: {e}"),
        )
    })?;
    Ok(bs58::encode(bytes).into_string())
}

/// A new random peer id for one client connection, in automerge-repo's style.
pub fn random_peer_id() -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    format!("offline-cart-{}", bs58::encode(bytes).into_string())
}

impl ClientSession {
    /// A session for cart `id`, announcing itself as `peer_id` and, if the client keeps its data
    /// (IndexedDB), with `storage_id` so the server can persist its sync state for it.
    pub fn new(id: &CartId, peer_id: String, storage_id: Option<String>) -> ClientSession {
        ClientSession {
            peer_id,
            storage_id,
            document_id: id.to_string(),
            server_peer: None,
            state: sync::State::new(),
            sent_sync: false,
            request_unanswered: false,
        }
    }

    /// The `join` frame to send as soon as the socket is open.
    pub fn join(&self) -> Vec<u8> {
        wire::encode(&Message::Join(wire::Join {
            sender_id: self.peer_id.clone(),
            peer_metadata: Some(PeerMetadata {
                is_ephemeral: Some(self.storage_id.is_none()),
                storage_id: self.storage_id.clone(),
            }),
            supported_protocol_versions: Some(vec![wire::PROTOCOL_V1.to_string()]),
        }))
    }

    /// Whether the server has answered `join` on the current connection.
    pub fn is_connected(&self) -> bool {
        self.server_peer.is_some()
    }

    /// Handles one frame from the server.
    ///
    /// Errs with [`ErrorCode::CorruptData`] when the frame is not a protocol message or carries
    /// sync data that is not Automerge; the cart is unchanged then.
    pub fn receive(&mut self, cart: &mut Cart, frame: &[u8]) -> Result<Received, CartError> {
        let message = wire::decode_any(frame).map_err(|e| {
            CartError::new(
                ErrorCode::CorruptData,
                format!("the server sent a frame that is not a sync message: {e}"),
            )
        })?;
        let mut received = Received::default();
        match message {
            Message::Peer(peer) => {
                self.server_peer = Some(peer.sender_id);
                received.replies = self.outgoing(cart);
            }
            Message::Sync(sync) | Message::Request(sync)
                if sync.document_id == self.document_id =>
            {
                self.request_unanswered = false;
                let message = sync::Message::decode(&sync.data).map_err(|e| {
                    CartError::new(
                        ErrorCode::CorruptData,
                        format!("the server sent sync data that is not automerge: {e}"),
                    )
                })?;
                received.changed = cart.receive_sync_message(&mut self.state, message)?;
                received.replies = self.outgoing(cart);
            }
            Message::DocUnavailable(unavailable) if unavailable.document_id == self.document_id => {
                let answers_request = std::mem::take(&mut self.request_unanswered);
                received.notice = Some(if self.sent_sync && !answers_request {
                    Notice::WrongKey
                } else {
                    Notice::Unavailable
                });
            }
            // An error names the cart it is about when the refused message named one; one that
            // names none (a rate limit) is about everything this connection sent.
            Message::Error(error)
                if error
                    .document_id
                    .as_ref()
                    .is_none_or(|id| *id == self.document_id) =>
            {
                self.forget_unconfirmed();
                received.notice = Some(Notice::Refused {
                    code: error.code,
                    message: error.message,
                });
            }
            // Other carts' messages, ephemeral data and the client's own message types.
            _ => {}
        }
        Ok(received)
    }

    /// The frames that tell the server about local changes, when connected.
    pub fn local_change(&mut self, cart: &mut Cart) -> Vec<Vec<u8>> {
        if self.is_connected() {
            self.outgoing(cart)
        } else {
            Vec::new()
        }
    }

    /// Forgets the connection. What both sides are known to share is kept, so the next
    /// connection sends only what is new.
    pub fn disconnected(&mut self) {
        self.server_peer = None;
        self.sent_sync = false;
        self.request_unanswered = false;
        self.forget_unconfirmed();
    }

    /// A frame that asks the server to answer even when neither side has anything new (a sync
    /// message that repeats this side's heads), so that a silent connection can be told apart
    /// from a dead one. Stock automerge-repo servers may not answer it; `cart-server` does.
    /// `None` when not connected.
    pub fn probe(&mut self, cart: &mut Cart) -> Option<Vec<u8>> {
        // Automerge generates nothing while it believes the peer is up to date and has heard
        // from us; pretending we never answered makes it state our heads once more.
        self.state.have_responded = false;
        self.outgoing(cart).pop()
    }

    /// Keeps only the durable part of the sync state (the heads both sides are known to share):
    /// what was sent but not confirmed counts as not sent, so the next message offers it again.
    /// Call it when frames this session made were not sent after all.
    pub fn forget_unconfirmed(&mut self) {
        self.state = sync::State::decode(&self.state.encode()).unwrap_or_default();
    }

    /// How many changes of `cart` the server has not confirmed yet: 0 once the server's heads
    /// include every local change.
    pub fn unconfirmed(&self, cart: &mut Cart) -> usize {
        match &self.state.their_heads {
            Some(heads) => cart.changes_missing_from(heads),
            None => cart.changes_missing_from(&self.state.shared_heads),
        }
    }

    fn outgoing(&mut self, cart: &mut Cart) -> Vec<Vec<u8>> {
        let Some(server) = self.server_peer.clone() else {
            return Vec::new();
        };
        let Some(message) = cart.generate_sync_message(&mut self.state) else {
            return Vec::new();
        };
        let sync = wire::Sync {
            sender_id: self.peer_id.clone(),
            target_id: server,
            document_id: self.document_id.clone(),
            data: message.encode(),
        };
        // automerge-repo asks with `request` for a document it has nothing of.
        let message = if cart.doc().is_empty() {
            self.request_unanswered = true;
            Message::Request(sync)
        } else {
            self.sent_sync = true;
            Message::Sync(sync)
        };
        vec![wire::encode(&message)]
    }
}
