//! What the server tells a peer when it refuses something, and why.
//!
//! Every refusal is sent as an automerge-repo `error` message (see [`cart_core::wire`]) carrying
//! a stable [`ErrorKind`] in its `code` field and a lowercase message that says what happened
//! and what to do next. A refused message changes nothing: no document, secret or sync state.
//! Storage failures are reported as [`ErrorKind::Storage`] with a generic message; the details
//! go to the server log only.
//!
//! A checkout through the HTTP API that cannot read the cart at the heads it names fails with a
//! [`ReadAtError`].

use std::fmt;

use automerge::ChangeHash;
use cart_core::CartId;

/// A stable, machine-readable reason for a refusal; also the `kind` label of the
/// `cart_server_errors_total` metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A binary frame is larger than the configured frame limit.
    FrameTooLarge,
    /// A text frame arrived; the protocol uses binary CBOR frames only.
    TextFrame,
    /// The connection sent more messages per second than its token bucket allows.
    RateLimited,
    /// The frame is not valid CBOR.
    MalformedCbor,
    /// The CBOR map has a `type` this server does not know.
    UnknownMessageType,
    /// The message is CBOR but not a map with the fields its type needs.
    InvalidMessage,
    /// A message other than `join` arrived before `join`.
    NotJoined,
    /// `join` offered no protocol version this server speaks.
    UnsupportedProtocol,
    /// The WebSocket URL has no usable `key` query parameter.
    MissingKey,
    /// `senderId` differs from the peer id the connection joined with.
    WrongSender,
    /// `targetId` is not this server's peer id.
    WrongTarget,
    /// `documentId` is not an automerge-repo document id.
    InvalidDocumentId,
    /// `data` is not an Automerge sync message, or its changes are not valid Automerge.
    InvalidAutomerge,
    /// The change would make the cart break the cart schema.
    SchemaViolation,
    /// The change would give the cart more lines than allowed.
    TooManyLines,
    /// The change would make the saved cart larger than allowed.
    DocumentTooLarge,
    /// The store failed; nothing was acknowledged.
    Storage,
    /// The peer did not read its messages fast enough and was disconnected.
    SlowConsumer,
    /// The connection asked for more carts than one connection may sync.
    TooManyCarts,
    /// A connection did not send `join` in time and was closed (metric only).
    JoinTimeout,
    /// Nothing arrived from a peer for the idle timeout and it was closed (metric only).
    IdleTimeout,
    /// A WebSocket upgrade was refused: its address had too many connections (metric only).
    TooManyConnections,
    /// A change (or the changes of one message) would expand to more operations or inflated
    /// bytes than [`cart_core::chunk_bounds`] allows; refused before loading it.
    ChangeTooLarge,
}

impl ErrorKind {
    /// Every kind, in the order the metrics list them.
    pub const ALL: [ErrorKind; 23] = [
        ErrorKind::FrameTooLarge,
        ErrorKind::TextFrame,
        ErrorKind::RateLimited,
        ErrorKind::MalformedCbor,
        ErrorKind::UnknownMessageType,
        ErrorKind::InvalidMessage,
        ErrorKind::NotJoined,
        ErrorKind::UnsupportedProtocol,
        ErrorKind::MissingKey,
        ErrorKind::WrongSender,
        ErrorKind::WrongTarget,
        ErrorKind::InvalidDocumentId,
        ErrorKind::InvalidAutomerge,
        ErrorKind::SchemaViolation,
        ErrorKind::TooManyLines,
        ErrorKind::DocumentTooLarge,
        ErrorKind::Storage,
        ErrorKind::SlowConsumer,
        ErrorKind::TooManyCarts,
        ErrorKind::JoinTimeout,
        ErrorKind::IdleTimeout,
        ErrorKind::TooManyConnections,
        ErrorKind::ChangeTooLarge,
    ];

    /// The kind as the snake_case code sent in `error` messages and used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::FrameTooLarge => "frame_too_large",
            ErrorKind::TextFrame => "text_frame",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::MalformedCbor => "malformed_cbor",
            ErrorKind::UnknownMessageType => "unknown_message_type",
            ErrorKind::InvalidMessage => "invalid_message",
            ErrorKind::NotJoined => "not_joined",
            ErrorKind::UnsupportedProtocol => "unsupported_protocol",
            ErrorKind::MissingKey => "missing_key",
            ErrorKind::WrongSender => "wrong_sender",
            ErrorKind::WrongTarget => "wrong_target",
            ErrorKind::InvalidDocumentId => "invalid_document_id",
            ErrorKind::InvalidAutomerge => "invalid_automerge",
            ErrorKind::SchemaViolation => "schema_violation",
            ErrorKind::TooManyLines => "too_many_lines",
            ErrorKind::DocumentTooLarge => "document_too_large",
            ErrorKind::Storage => "storage",
            ErrorKind::SlowConsumer => "slow_consumer",
            ErrorKind::TooManyCarts => "too_many_carts",
            ErrorKind::JoinTimeout => "join_timeout",
            ErrorKind::IdleTimeout => "idle_timeout",
            ErrorKind::TooManyConnections => "too_many_connections",
            ErrorKind::ChangeTooLarge => "change_too_large",
        }
    }

    /// The position of this kind in [`ErrorKind::ALL`].
    pub fn index(self) -> usize {
        ErrorKind::ALL
            .iter()
            .position(|k| *k == self)
            .unwrap_or_default()
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused message: what the peer is told in an `error` message. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    kind: ErrorKind,
    message: String,
    cart: Option<CartId>,
    /// The bytes of the cart read again to undo the refused change (0 when nothing was read).
    undo_bytes: usize,
}

impl From<cart_core::wire::WireError> for Refusal {
    /// A frame that did not decode, refused with the matching kind and the decoder's message.
    fn from(error: cart_core::wire::WireError) -> Refusal {
        use cart_core::wire::WireErrorKind;
        let kind = match error.kind() {
            WireErrorKind::MalformedCbor => ErrorKind::MalformedCbor,
            WireErrorKind::InvalidMessage => ErrorKind::InvalidMessage,
            WireErrorKind::UnknownMessageType => ErrorKind::UnknownMessageType,
        };
        Refusal::new(kind, error.message())
    }
}

impl Refusal {
    /// A refusal of `kind` with a lowercase `message` that says what to do next.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            message: message.into(),
            cart: None,
            undo_bytes: 0,
        }
    }

    /// The same refusal, for a change the server undid by reading `bytes` of the cart again
    /// from its store; the connection pays for them from its byte rate
    /// ([`crate::limits::RateLimit::charge`]), so refusals cost a peer what they cost the server.
    pub fn undone(mut self, bytes: usize) -> Refusal {
        self.undo_bytes = bytes;
        self
    }

    /// The bytes read again to undo the refused change (see [`Refusal::undone`]).
    pub fn undo_bytes(&self) -> usize {
        self.undo_bytes
    }

    /// The same refusal, about cart `cart` (sent as the `documentId` of the `error` message).
    pub fn about(mut self, cart: CartId) -> Refusal {
        self.cart = Some(cart);
        self
    }

    /// The generic refusal for a failed store; the cause is logged, never sent.
    pub fn storage(cart: CartId) -> Refusal {
        Refusal::new(
            ErrorKind::Storage,
            "the server could not read or write its storage; nothing was acknowledged, try again later",
        )
        .about(cart)
    }

    /// Why the message was refused.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The cart the refused message was about, when it named a valid one.
    pub fn cart(&self) -> Option<CartId> {
        self.cart
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Refusal {}

/// Why [`crate::hub::Hubs::place_order`] could not order a cart at some heads; the HTTP API
/// turns it into its error body (`crate::api::ApiError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadAtError {
    /// The cart is not stored, or the key is not its key.
    NotFound,
    /// The server does not have these changes of the cart (yet).
    MissingChanges(Vec<ChangeHash>),
    /// The store failed or holds a cart that does not load (details in the log).
    Storage,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_index_and_code() {
        let mut codes: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        for (i, kind) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ErrorKind::ALL.len());
    }
}
