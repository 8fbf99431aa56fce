//! The wire messages of automerge-repo's WebSocket protocol, version 1, as CBOR.
//!
//! Field names and shapes match `@automerge/automerge-repo-network-websocket` (`messages.ts`:
//! `join`, `peer`, `error`) and `@automerge/automerge-repo` (`network/messages.ts`: `request`,
//! `sync`, `ephemeral`, `doc-unavailable`). Each WebSocket binary frame holds one CBOR map with a
//! text `type`; binary fields (`data`) are CBOR byte strings, as cbor-x writes a `Uint8Array`
//! with `tagUint8Array: false`. Unknown fields are ignored, as JavaScript would.
//!
//! Our additions, which stock clients ignore: `error` messages carry a machine-readable `code`
//! and, when the refused message named a cart, its `documentId`.
//!
//! Both ends use this module: the browser module as a client, `cart-server` as the server.

use ciborium::Value;
use serde::{Deserialize, Serialize};

use std::fmt;

/// Why a frame could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireErrorKind {
    /// The bytes are not one CBOR value.
    MalformedCbor,
    /// The CBOR is not a map with a text `type` and the fields that type needs.
    InvalidMessage,
    /// The `type` is not one this end handles.
    UnknownMessageType,
}

/// A frame that could not be decoded, with a message that says what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    kind: WireErrorKind,
    message: String,
}

impl WireError {
    fn new(kind: WireErrorKind, message: impl Into<String>) -> WireError {
        WireError {
            kind,
            message: message.into(),
        }
    }

    /// Why decoding failed.
    pub fn kind(&self) -> WireErrorKind {
        self.kind
    }

    /// What was wrong, lowercase.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WireError {}

/// The only protocol version: `"1"` (automerge-repo's `ProtocolV1`).
pub const PROTOCOL_V1: &str = "1";

/// Message types of automerge-repo that this server accepts and deliberately ignores: `leave`
/// (older clients), remote-heads gossip (`remote-subscription-change`, `remote-heads-changed`,
/// which the server does not offer) and `error` sent by a client.
pub const IGNORED_TYPES: [&str; 4] = [
    "leave",
    "remote-subscription-change",
    "remote-heads-changed",
    "error",
];

/// What a peer says about itself in `join` and `peer` (automerge-repo's `PeerMetadata`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerMetadata {
    /// The id of the peer's storage; a peer that announces one (and is not ephemeral) gets its
    /// sync state persisted per cart, so it sends only what is new when it comes back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_id: Option<String>,
    /// Whether the peer keeps nothing between sessions; the server keeps no sync state for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_ephemeral: Option<bool>,
}

/// `join`: the first message of a client, announcing its peer id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Join {
    /// The peer id of the client.
    pub sender_id: String,
    /// What the client says about its storage.
    #[serde(default)]
    pub peer_metadata: Option<PeerMetadata>,
    /// The protocol versions the client speaks; absent means version 1, as the stock server
    /// assumes.
    #[serde(default)]
    pub supported_protocol_versions: Option<Vec<String>>,
}

/// `peer`: the server's answer to `join`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Peer {
    /// The peer id of the server.
    pub sender_id: String,
    /// The peer id of the client that joined.
    pub target_id: String,
    /// The server's storage id; it is never ephemeral.
    pub peer_metadata: PeerMetadata,
    /// The protocol version chosen for this connection: always [`PROTOCOL_V1`].
    pub selected_protocol_version: String,
}

/// `request` and `sync`: one Automerge sync message about one document.
///
/// A client sends `request` for a document it does not have yet, `sync` for one it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sync {
    /// The peer id of the sender.
    pub sender_id: String,
    /// The peer id of the recipient.
    pub target_id: String,
    /// The document (cart) id: bs58check of 16 bytes.
    pub document_id: String,
    /// The encoded Automerge sync message.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// `doc-unavailable`: the sender does not have the document (or will not share it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocUnavailable {
    /// The peer id of the sender.
    pub sender_id: String,
    /// The peer id of the recipient.
    pub target_id: String,
    /// The document that is unavailable.
    pub document_id: String,
}

/// `ephemeral`: application data about a document that is relayed, never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ephemeral {
    /// The peer id of the original sender (kept when relayed, as automerge-repo does).
    pub sender_id: String,
    /// The peer id of the recipient.
    pub target_id: String,
    /// A sequence number the sender increments for each ephemeral message of its session.
    pub count: u64,
    /// The sender's session id; with `count` it lets peers drop duplicates.
    pub session_id: String,
    /// The document the message is about.
    pub document_id: String,
    /// The application's payload (CBOR, opaque to the server).
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// `error`: the sender refused a message. Stock servers close the connection after one; this
/// server keeps it open unless the message says otherwise (see the README).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Error {
    /// The peer id of the sender.
    pub sender_id: String,
    /// The peer id of the recipient (empty before the client has joined).
    pub target_id: String,
    /// What went wrong and what to do next.
    pub message: String,
    /// Our addition: a stable code such as `schema_violation` (see the README's error table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Our addition: the cart the refused message was about, when it named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
}

/// One wire message, tagged by its `type` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Message {
    /// `join`, client to server.
    Join(Join),
    /// `peer`, server to client.
    Peer(Peer),
    /// `request`, client to server: sync for a document the client does not have.
    Request(Sync),
    /// `sync`, both ways.
    Sync(Sync),
    /// `doc-unavailable`, server to client (clients may send it too; it is ignored).
    DocUnavailable(DocUnavailable),
    /// `ephemeral`, both ways; relayed to the other peers of the document.
    Ephemeral(Ephemeral),
    /// `error`, server to client.
    Error(Error),
}

impl Message {
    /// The value of the `type` field of this message.
    pub fn type_name(&self) -> &'static str {
        match self {
            Message::Join(_) => "join",
            Message::Peer(_) => "peer",
            Message::Request(_) => "request",
            Message::Sync(_) => "sync",
            Message::DocUnavailable(_) => "doc-unavailable",
            Message::Ephemeral(_) => "ephemeral",
            Message::Error(_) => "error",
        }
    }
}

/// A decoded frame: a message to handle, or a known automerge-repo message to ignore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A message this server handles.
    Message(Message),
    /// A message of one of the [`IGNORED_TYPES`], with its type.
    Ignored(String),
}

/// Encodes `message` as one CBOR map, as a frame's payload.
pub fn encode(message: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    // Serializing plain structs of strings, integers and byte strings into a Vec cannot fail.
    let _ = ciborium::into_writer(message, &mut out);
    out
}

/// The most characters of a decoding library's error that a [`WireError`] repeats: such errors
/// quote the offending value, and a peer's value goes back to it and into logs only briefly.
const MAX_DETAIL_CHARS: usize = 200;

/// `error` as text, cut to [`MAX_DETAIL_CHARS`] characters (marked with `…` when cut).
fn brief(error: impl fmt::Display) -> String {
    let text = error.to_string();
    match text.char_indices().nth(MAX_DETAIL_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// Parses one frame's payload as a single CBOR value.
///
/// Errs with [`WireErrorKind::MalformedCbor`], saying where the bytes went wrong.
fn parse_cbor(frame: &[u8]) -> Result<Value, WireError> {
    ciborium::from_reader(frame).map_err(|e| {
        let why = match e {
            ciborium::de::Error::Io(_) => "it ends in the middle of a value".to_string(),
            ciborium::de::Error::Syntax(at) => format!("syntax error at byte {at}"),
            ciborium::de::Error::Semantic(_, what) => brief(what),
            ciborium::de::Error::RecursionLimitExceeded => "it is nested too deeply".to_string(),
        };
        WireError::new(
            WireErrorKind::MalformedCbor,
            format!(
                "the frame is not valid CBOR ({why}); send each message as one CBOR map in a binary frame"
            ),
        )
    })
}

/// The text `type` of a CBOR map: the tag every message carries.
fn type_of(value: &Value) -> Option<&str> {
    match value {
        Value::Map(entries) => entries.iter().find_map(|(k, v)| match (k, v) {
            (Value::Text(k), Value::Text(v)) if k == "type" => Some(v.as_str()),
            _ => None,
        }),
        _ => None,
    }
}

/// The error for a value without a text `type`.
fn untagged() -> WireError {
    WireError::new(
        WireErrorKind::InvalidMessage,
        "the message is not a CBOR map with a text \"type\" field; see the automerge-repo websocket protocol",
    )
}

/// Reads the map `value` as the [`Message`] of type `type_name` (its `type` entry is ignored
/// like any unknown field); errs with what was wrong, cut short.
///
/// The variant's struct is read straight from the map: deserializing `Message` itself goes
/// through serde's internally tagged path, which buffers the map into serde's own value type
/// first and cost the browser module some 40 KB of code.
fn message_of(type_name: &str, value: &Value) -> Result<Message, String> {
    fn read<'a, T: Deserialize<'a>>(
        value: &'a Value,
        variant: fn(T) -> Message,
    ) -> Result<Message, String> {
        value.deserialized().map(variant).map_err(brief)
    }
    match type_name {
        "join" => read(value, Message::Join),
        "peer" => read(value, Message::Peer),
        "request" => read(value, Message::Request),
        "sync" => read(value, Message::Sync),
        "doc-unavailable" => read(value, Message::DocUnavailable),
        "ephemeral" => read(value, Message::Ephemeral),
        "error" => read(value, Message::Error),
        other => {
            let shown: String = other.chars().take(64).collect();
            Err(format!(
                "unknown message type {shown:?}; expected join, peer, request, sync, doc-unavailable, ephemeral or error"
            ))
        }
    }
}

/// Decodes one frame's payload as any [`Message`], including the server's own types (`peer`,
/// `error`): what a client does with the server's frames.
///
/// Errs with [`WireErrorKind::MalformedCbor`] or [`WireErrorKind::InvalidMessage`].
pub fn decode_any(frame: &[u8]) -> Result<Message, WireError> {
    let value = parse_cbor(frame)?;
    let type_name = type_of(&value).ok_or_else(untagged)?;
    message_of(type_name, &value).map_err(|why| {
        WireError::new(
            WireErrorKind::InvalidMessage,
            format!("not a protocol message ({why})"),
        )
    })
}

/// Decodes one frame's payload, as the server reads a client's frames.
///
/// Errs with [`WireErrorKind::MalformedCbor`] when the bytes are not one CBOR value,
/// [`WireErrorKind::InvalidMessage`] when it is not a map with a text `type` or lacks a field its
/// type needs, and [`WireErrorKind::UnknownMessageType`] for any other `type`.
pub fn decode(frame: &[u8]) -> Result<Decoded, WireError> {
    let value = parse_cbor(frame)?;
    let type_name = type_of(&value).ok_or_else(untagged)?;
    if IGNORED_TYPES.contains(&type_name) {
        return Ok(Decoded::Ignored(type_name.to_string()));
    }
    let needs = match type_name {
        "join" => "senderId (text), peerMetadata (map) and supportedProtocolVersions (array of text)",
        "request" | "sync" => "senderId, targetId, documentId (text) and data (bytes)",
        "ephemeral" => {
            "senderId, targetId, sessionId, documentId (text), count (unsigned integer) and data (bytes)"
        }
        "doc-unavailable" => "senderId, targetId and documentId (text)",
        "peer" => {
            return Err(WireError::new(
                WireErrorKind::UnknownMessageType,
                "\"peer\" is sent by the server, not to it; a client starts with \"join\"",
            ))
        }
        other => {
            let shown: String = other.chars().take(64).collect();
            return Err(WireError::new(
                WireErrorKind::UnknownMessageType,
                format!(
                    "unknown message type {shown:?}; this server speaks automerge-repo websocket protocol 1: join, request, sync, ephemeral, doc-unavailable"
                ),
            ));
        }
    };
    message_of(type_name, &value)
        .map(Decoded::Message)
        .map_err(|why| {
            WireError::new(
                WireErrorKind::InvalidMessage,
                format!("a {type_name:?} message needs {needs} ({why})"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync() -> Message {
        Message::Sync(Sync {
            sender_id: "client".into(),
            target_id: "server".into(),
            document_id: "11111111111111114Ki9Gx".into(),
            data: vec![0x42, 0, 0, 0],
        })
    }

    #[test]
    fn messages_round_trip_through_cbor() {
        let messages = [
            sync(),
            Message::Join(Join {
                sender_id: "client".into(),
                peer_metadata: Some(PeerMetadata {
                    storage_id: Some("s".into()),
                    is_ephemeral: Some(false),
                }),
                supported_protocol_versions: Some(vec!["1".into()]),
            }),
            Message::Ephemeral(Ephemeral {
                sender_id: "a".into(),
                target_id: "b".into(),
                count: 3,
                session_id: "x".into(),
                document_id: "d".into(),
                data: vec![1, 2],
            }),
        ];
        for message in messages {
            assert_eq!(decode(&encode(&message)), Ok(Decoded::Message(message)));
        }
    }

    #[test]
    fn field_names_and_byte_strings_match_automerge_repo() {
        let value: Value = ciborium::from_reader(encode(&sync()).as_slice()).unwrap();
        let Value::Map(entries) = value else {
            panic!("not a map")
        };
        let keys: Vec<&str> = entries.iter().filter_map(|(k, _)| k.as_text()).collect();
        assert_eq!(keys, ["type", "senderId", "targetId", "documentId", "data"]);
        assert!(
            matches!(entries[4].1, Value::Bytes(_)),
            "data must be a byte string"
        );
    }

    #[test]
    fn undefined_metadata_fields_read_as_absent() {
        // cbor-x writes `storageId: undefined` for a repo without storage as simple value 23.
        let mut frame = vec![0xa3];
        for (k, v) in [("type", "join"), ("senderId", "p")] {
            ciborium::into_writer(&k, &mut frame).unwrap();
            ciborium::into_writer(&v, &mut frame).unwrap();
        }
        ciborium::into_writer(&"peerMetadata", &mut frame).unwrap();
        frame.push(0xa2);
        ciborium::into_writer(&"storageId", &mut frame).unwrap();
        frame.push(0xf7);
        ciborium::into_writer(&"isEphemeral", &mut frame).unwrap();
        frame.push(0xf5);
        let Ok(Decoded::Message(Message::Join(join))) = decode(&frame) else {
            panic!("join not decoded")
        };
        assert_eq!(
            join.peer_metadata,
            Some(PeerMetadata {
                storage_id: None,
                is_ephemeral: Some(true)
            })
        );
    }

    #[test]
    fn bad_frames_are_refused_with_their_kind() {
        assert_eq!(
            decode(&[0xff]).unwrap_err().kind(),
            WireErrorKind::MalformedCbor
        );
        let mut not_a_map = Vec::new();
        ciborium::into_writer(&[1, 2], &mut not_a_map).unwrap();
        assert_eq!(
            decode(&not_a_map).unwrap_err().kind(),
            WireErrorKind::InvalidMessage
        );
        let mut unknown = Vec::new();
        ciborium::into_writer(
            &[("type", "frobnicate")]
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>(),
            &mut unknown,
        )
        .unwrap();
        assert_eq!(
            decode(&unknown).unwrap_err().kind(),
            WireErrorKind::UnknownMessageType
        );
        let mut missing = Vec::new();
        ciborium::into_writer(
            &[("type", "sync"), ("senderId", "a")]
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>(),
            &mut missing,
        )
        .unwrap();
        let err = decode(&missing).unwrap_err();
        assert_eq!(err.kind(), WireErrorKind::InvalidMessage);
        assert!(err.message().contains("documentId"), "{}", err.message());
    }

    #[test]
    fn gossip_messages_are_ignored_not_refused() {
        let mut frame = Vec::new();
        ciborium::into_writer(
            &[("type", "remote-subscription-change")]
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>(),
            &mut frame,
        )
        .unwrap();
        assert_eq!(
            decode(&frame),
            Ok(Decoded::Ignored("remote-subscription-change".into()))
        );
    }

    #[test]
    fn errors_do_not_echo_long_values() {
        let long = "x".repeat(10_000);
        let mut frame = Vec::new();
        ciborium::into_writer(
            &[
                ("type", "ephemeral"),
                ("senderId", "a"),
                ("targetId", "b"),
                ("sessionId", "s"),
                ("documentId", "d"),
                ("count", long.as_str()),
            ]
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>(),
            &mut frame,
        )
        .unwrap();
        let err = decode(&frame).unwrap_err();
        assert_eq!(err.kind(), WireErrorKind::InvalidMessage);
        assert!(err.message().len() < 1024, "{} bytes", err.message().len());
        assert!(err.message().contains("count"), "{}", err.message());
        let err = decode_any(&frame).unwrap_err();
        assert!(err.message().len() < 1024, "{} bytes", err.message().len());
    }
}
