//! The server's sync path as a fuzz target: what `cart_server::sync` does with the `data` of a
//! `sync` message (decode, check every change chunk), then [`Hubs::receive`] with admission and
//! a real SQLite store, fresh for every input so that a finding replays exactly.

use std::sync::{Arc, OnceLock};

use automerge::sync::Message as AutomergeSync;
use automerge::Automerge;
use cart_core::wire::Message;
use cart_server::admission;
use cart_server::hub::Hubs;
use cart_server::limits::Limits;
use cart_server::link::PeerContext;
use cart_server::mailbox::{Mailbox, Outbound, OutboxBytes};
use cart_server::metrics::Metrics;
use cart_server::secret::CartKey;
use cart_server::store::{DocStore, SqliteStore};
use cart_server::sync::OUTBOX_CAPACITY;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{fuzz_cart, parts};

/// The peer id the server answers as.
const SERVER_PEER: &str = "fuzz-server";
/// The connection id of the one peer.
const CONN: u64 = 1;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("a tokio runtime: {e}"))
    })
}

/// Sends every [part](parts) of `data` as the `data` of a `sync` message about cart
/// [`fuzz_cart`] from one peer, to a server with default limits over a new SQLite file.
///
/// Panics when a message the server refused stored anything, when the stored chunks do not
/// load, when the stored cart does not pass [`admission::admit`], or when the server sent a
/// sync message that does not decode or an error without a code.
pub fn server_sync(data: &[u8]) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary directory: {e}"));
    runtime().block_on(async {
        let store = SqliteStore::open(dir.path().join("fuzz.sqlite3"))
            .await
            .unwrap_or_else(|e| panic!("a SQLite store: {e}"));
        let store = Arc::new(store);
        let limits = Limits::default();
        let metrics = Arc::new(Metrics::default());
        let hubs = Hubs::new(
            store.clone(),
            limits.clone(),
            metrics.clone(),
            SERVER_PEER.to_string(),
        );
        let (tx, mut outbox) = mpsc::channel(OUTBOX_CAPACITY);
        let peer = PeerContext {
            conn_id: CONN,
            peer_id: "fuzz-peer".to_string(),
            storage_id: Some("fuzz-storage".to_string()),
            key: CartKey::parse(Some("fuzz-key-0123456789"))
                .unwrap_or_else(|e| panic!("a valid key: {e}")),
            mailbox: Mailbox::new(
                tx,
                Arc::new(OutboxBytes::new(limits.outbox_bytes, metrics)),
                CancellationToken::new(),
            ),
        };
        let cart = fuzz_cart();
        let stored = || async {
            store
                .load_chunks(&cart)
                .await
                .unwrap_or_else(|e| panic!("reading the store: {e}"))
        };
        for part in parts(data) {
            // As `sync::Session::sync` does before it hands a message to the hub.
            let Ok(message) = AutomergeSync::decode(part) else {
                continue;
            };
            if admission::check_chunks(&message, &cart).is_err() {
                continue;
            }
            let before = stored().await;
            if let Err(refusal) = hubs.receive(&peer, cart, false, message).await {
                assert_eq!(
                    stored().await,
                    before,
                    "a refused message stores nothing ({})",
                    refusal.message()
                );
            }
            while let Ok(item) = outbox.try_recv() {
                check_outbound(&hubs, item).await;
            }
        }
        let chunks = stored().await;
        if !chunks.is_empty() {
            let mut doc = Automerge::new();
            for chunk in &chunks {
                if let Err(e) = doc.load_incremental(&chunk.bytes) {
                    panic!("a stored chunk must load: {e}");
                }
            }
            if let Err(refusal) = admission::admit(&doc, &cart, &limits) {
                panic!("whatever is stored passes admission: {}", refusal.message());
            }
        }
        hubs.leave(CONN, cart).await;
    });
}

/// Checks one item the server queued for the peer, generating a due sync message as the
/// connection's writer does (a bad sync state from the peer shows here).
async fn check_outbound(hubs: &Hubs, item: Outbound) {
    let message = match item {
        Outbound::SyncDue(cart) => hubs.next_sync(CONN, cart).await,
        Outbound::Frame(frame) => match cart_core::wire::decode_any(&frame) {
            Ok(message) => Some(message),
            Err(e) => panic!("the server's frames decode: {e}"),
        },
        Outbound::Ping | Outbound::Close { .. } => None,
    };
    match message {
        Some(Message::Sync(sync)) => {
            if let Err(e) = AutomergeSync::decode(&sync.data) {
                panic!("the server's sync messages decode: {e}");
            }
        }
        Some(Message::Error(error)) => {
            assert!(error.code.is_some(), "every error has a code: {error:?}")
        }
        _ => {}
    }
}
