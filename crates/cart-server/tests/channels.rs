//! The connection handler driven by plain channels instead of a WebSocket: timeouts under a
//! paused clock, heartbeats, and a peer that never reads.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use automerge::sync::{Message as AutomergeSync, State as SyncState, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ScalarValue, ROOT};
use cart_core::fixtures::item;
use cart_core::wire::{self as protocol, Message};
use cart_core::{Cart, CartId};
use cart_server::limits::Limits;
use cart_server::secret::CartKey;
use cart_server::store::SqliteStore;
use cart_server::sync::{serve_connection, Frame};
use cart_server::{AppState, ServerOptions};
use futures_util::{sink, stream};
use tempfile::TempDir;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const KEY: &str = "channel-key-0123456789";
/// Long enough for every timer of these tests; under a paused clock it costs nothing.
const WAIT: Duration = Duration::from_secs(600);

/// A server state over a temporary SQLite file.
async fn app(limits: Limits) -> (TempDir, AppState) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("c.sqlite3"))
        .await
        .expect("store");
    let options = ServerOptions {
        limits,
        ..ServerOptions::default()
    };
    let app = AppState::new(Arc::new(store), options)
        .await
        .expect("state");
    (dir, app)
}

/// One connection served over channels; the server's side of `from_server` holds `capacity`
/// frames, so a test that does not read makes the server's writer wait.
struct Conn {
    to_server: mpsc::Sender<Frame>,
    from_server: mpsc::Receiver<Frame>,
    task: JoinHandle<()>,
    server_peer: String,
}

impl Conn {
    fn open(app: &AppState, capacity: usize) -> Conn {
        let (to_server, from_test) = mpsc::channel::<Frame>(1024);
        let (to_test, from_server) = mpsc::channel::<Frame>(capacity);
        let input = stream::unfold(from_test, |mut rx| async move {
            rx.recv().await.map(|f| (Ok::<_, Infallible>(f), rx))
        });
        let output = sink::unfold(to_test, |tx, frame: Frame| async move {
            tx.send(frame)
                .await
                .map_err(|_| "the test stopped reading")?;
            Ok::<_, &str>(tx)
        });
        let task = tokio::spawn(serve_connection(
            app.clone(),
            Some(KEY.into()),
            Box::pin(output),
            Box::pin(input),
        ));
        Conn {
            to_server,
            from_server,
            task,
            server_peer: String::new(),
        }
    }

    async fn send(&self, message: &Message) {
        self.send_frame(Frame::Binary(protocol::encode(message)))
            .await;
    }

    async fn send_frame(&self, frame: Frame) {
        self.to_server.send(frame).await.expect("send");
    }

    async fn next(&mut self) -> Frame {
        tokio::time::timeout(WAIT, self.from_server.recv())
            .await
            .expect("a frame in time")
            .expect("the connection is open")
    }

    async fn recv(&mut self) -> Message {
        message(self.next().await)
    }

    /// Joins as `chan` and reads the server's `peer`.
    async fn join(&mut self) -> protocol::Peer {
        self.send(&Message::Join(protocol::Join {
            sender_id: "chan".into(),
            peer_metadata: None,
            supported_protocol_versions: Some(vec!["1".into()]),
        }))
        .await;
        let Message::Peer(peer) = self.recv().await else {
            panic!("expected peer")
        };
        self.server_peer = peer.sender_id.clone();
        peer
    }

    fn sync(&self, cart: &CartId, data: AutomergeSync, request: bool) -> Message {
        let body = protocol::Sync {
            sender_id: "chan".into(),
            target_id: self.server_peer.clone(),
            document_id: cart.to_string(),
            data: data.encode(),
        };
        if request {
            Message::Request(body)
        } else {
            Message::Sync(body)
        }
    }
}

fn message(frame: Frame) -> Message {
    match frame {
        Frame::Binary(bytes) => protocol::decode_any(&bytes).expect("a protocol message"),
        other => panic!("expected a binary frame, got {other:?}"),
    }
}

/// Stores a cart with one line and `padding` random bytes (which do not compress) in a root
/// field, bound to [`KEY`]; returns its id and document. The store does not check the schema,
/// so the padding makes a large cart cheaply.
async fn stored_cart(app: &AppState, padding: usize) -> (CartId, Automerge) {
    let id = CartId::random().expect("id");
    let mut cart = Cart::new(id);
    cart.add_item(&item("TEE", 1)).expect("a valid line");
    let mut doc = AutoCommit::load(&cart.save()).expect("loads");
    if padding > 0 {
        let mut noise = Vec::with_capacity(padding + 16);
        while noise.len() < padding {
            noise.extend_from_slice(CartId::random().expect("random").as_bytes());
        }
        doc.put(ROOT, "padding", ScalarValue::Bytes(noise))
            .expect("put");
    }
    let bytes = doc.save();
    let secret = CartKey::parse(Some(KEY)).expect("key").hash_for(&id);
    app.hubs()
        .store()
        .append_chunk(&id, &secret, bytes.clone())
        .await
        .expect("stored");
    (id, Automerge::load(&bytes).expect("loads"))
}

/// The message a peer with nothing sends: no heads, no changes.
fn i_have_nothing() -> AutomergeSync {
    Automerge::new()
        .generate_sync_message(&mut SyncState::new())
        .expect("a first message")
}

#[tokio::test]
async fn a_connection_can_be_driven_by_channels() {
    let (_dir, app) = app(Limits::default()).await;
    let mut conn = Conn::open(&app, 16);
    let peer = conn.join().await;
    assert_eq!(peer.target_id, "chan");
    assert_eq!(
        peer.peer_metadata.storage_id.as_deref(),
        Some(app.storage_id())
    );

    conn.send_frame(Frame::Text("hello".into())).await;
    let Message::Error(error) = conn.recv().await else {
        panic!("expected error")
    };
    assert_eq!(error.code.as_deref(), Some("text_frame"));

    let cart = CartId::random().expect("id");
    conn.send(&conn.sync(&cart, i_have_nothing(), true)).await;
    let Message::DocUnavailable(unavailable) = conn.recv().await else {
        panic!("expected doc-unavailable")
    };
    assert_eq!(unavailable.document_id, cart.to_string());

    let Conn {
        to_server,
        mut from_server,
        task,
        ..
    } = conn;
    drop(to_server);
    assert_eq!(
        from_server.recv().await,
        Some(Frame::Close(Some((1000, String::new()))))
    );
    task.await.expect("the connection ends");
    assert!(app
        .metrics()
        .render(None)
        .contains("cart_server_connections_open 0\n"));
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_never_joins_is_closed_after_the_join_timeout() {
    let (_dir, app) = app(Limits::default()).await;
    let mut conn = Conn::open(&app, 16);
    match conn.next().await {
        Frame::Close(Some((1008, reason))) => assert!(reason.contains("join"), "{reason}"),
        other => panic!("expected a policy close, got {other:?}"),
    }
    conn.task.await.expect("the connection ends");
    assert_eq!(
        app.metrics()
            .errors_of(cart_server::error::ErrorKind::JoinTimeout),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_is_pinged_and_closed_while_a_peer_that_answers_stays() {
    let limits = Limits {
        heartbeat_interval: Duration::from_secs(15),
        idle_timeout: Duration::from_secs(40),
        ..Limits::default()
    };
    let (_dir, app) = app(limits).await;

    // Silent: pinged at 15 s and 30 s, closed at 40 s.
    let mut silent = Conn::open(&app, 16);
    silent.join().await;
    assert!(matches!(silent.next().await, Frame::Ping(_)));
    assert!(matches!(silent.next().await, Frame::Ping(_)));
    match silent.next().await {
        Frame::Close(Some((1001, reason))) => assert!(reason.contains("nothing received")),
        other => panic!("expected a going-away close, got {other:?}"),
    }

    // Answers the first ping: still open after 40 s, pinged at 30 s and 45 s, closed at 55 s.
    let mut alive = Conn::open(&app, 16);
    alive.join().await;
    assert!(matches!(alive.next().await, Frame::Ping(_)));
    alive.send_frame(Frame::Pong(Vec::new())).await;
    assert!(matches!(alive.next().await, Frame::Ping(_)));
    assert!(matches!(alive.next().await, Frame::Ping(_)));
    assert!(matches!(alive.next().await, Frame::Close(Some((1001, _)))));
    assert_eq!(
        app.metrics()
            .errors_of(cart_server::error::ErrorKind::IdleTimeout),
        2
    );
}

#[tokio::test]
async fn every_sync_message_is_answered_so_a_client_can_probe_a_quiet_connection() {
    let (_dir, app) = app(Limits::default()).await;
    let (cart, server_doc) = stored_cart(&app, 0).await;
    let mut conn = Conn::open(&app, 16);
    conn.join().await;
    let mut doc = Automerge::new();
    let mut state = SyncState::new();
    conn.send(&conn.sync(&cart, i_have_nothing(), true)).await;

    let apply = |message: Message, doc: &mut Automerge, state: &mut SyncState| {
        let Message::Sync(sync) = message else {
            panic!("expected sync, got {message:?}")
        };
        let data = AutomergeSync::decode(&sync.data).expect("sync data");
        let changes = data.changes.len();
        doc.receive_sync_message(state, data).expect("applies");
        changes
    };
    assert!(
        apply(conn.recv().await, &mut doc, &mut state) > 0,
        "the cart"
    );
    assert_eq!(doc.get_heads(), server_doc.get_heads());
    // The acknowledgement carries nothing new, and Automerge would not answer it: the server
    // still does, with its heads.
    let ack = doc.generate_sync_message(&mut state).expect("an ack");
    conn.send(&conn.sync(&cart, ack, false)).await;
    assert_eq!(apply(conn.recv().await, &mut doc, &mut state), 0);
    assert!(
        doc.generate_sync_message(&mut state).is_none(),
        "in sync: the client has nothing to say, so nothing ping-pongs"
    );

    // The heartbeat probe: a status message from a copy of the client's state.
    for _ in 0..3 {
        let mut copy = state.clone();
        copy.have_responded = false;
        copy.their_have = None;
        copy.their_need = None;
        let probe = doc.generate_sync_message(&mut copy).expect("a probe");
        assert!(probe.changes.is_empty());
        conn.send(&conn.sync(&cart, probe, false)).await;
        let Message::Sync(answer) = conn.recv().await else {
            panic!("expected the answer to the probe")
        };
        let answer = AutomergeSync::decode(&answer.data).expect("sync data");
        assert_eq!(answer.heads, server_doc.get_heads());
        assert!(answer.changes.is_empty());
        doc.receive_sync_message(&mut state, answer)
            .expect("applies");
        assert!(doc.generate_sync_message(&mut state).is_none());
    }
}

#[tokio::test]
async fn a_peer_that_never_reads_holds_at_most_one_sync_message_per_cart() {
    let limits = Limits {
        message_burst: 1000.0,
        ..Limits::default()
    };
    let (_dir, app) = app(limits.clone()).await;
    let (cart, _) = stored_cart(&app, 1536 * 1024).await;
    // The socket takes one frame and is then never read.
    let mut conn = Conn::open(&app, 1);
    conn.join().await;
    for _ in 0..200 {
        conn.send(&conn.sync(&cart, i_have_nothing(), true)).await;
    }
    conn.send_frame(Frame::Text("done".into())).await;
    // Wait (without reading) until the server has handled every message.
    while !app
        .metrics()
        .render(None)
        .contains("cart_server_sync_messages_in_total 200\n")
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let queued = app.metrics().outbox_bytes();
    assert!(
        queued <= limits.outbox_bytes as u64,
        "{queued} bytes wait for a peer that does not read"
    );

    // Reading now: a few whole carts, then the answer to the text frame; not 200 carts.
    let mut carts = 0;
    let mut biggest = 0;
    loop {
        match conn.recv().await {
            Message::Sync(sync) => {
                carts += 1;
                biggest = biggest.max(sync.data.len());
            }
            Message::Error(error) => {
                assert_eq!(error.code.as_deref(), Some("text_frame"));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(biggest > 1024 * 1024, "the cart is large: {biggest} bytes");
    assert!(
        (1..=3).contains(&carts),
        "{carts} copies of the cart were sent"
    );
}

#[tokio::test]
async fn a_connection_may_sync_only_so_many_carts() {
    let limits = Limits {
        max_carts_per_connection: 2,
        ..Limits::default()
    };
    let (_dir, app) = app(limits).await;
    let mut conn = Conn::open(&app, 16);
    conn.join().await;
    let mut carts = Vec::new();
    for _ in 0..2 {
        let (cart, _) = stored_cart(&app, 0).await;
        conn.send(&conn.sync(&cart, i_have_nothing(), true)).await;
        assert!(matches!(conn.recv().await, Message::Sync(_)));
        carts.push(cart);
    }
    let (third, _) = stored_cart(&app, 0).await;
    conn.send(&conn.sync(&third, i_have_nothing(), true)).await;
    let Message::Error(error) = conn.recv().await else {
        panic!("expected the refusal")
    };
    assert_eq!(error.code.as_deref(), Some("too_many_carts"));
    assert_eq!(error.document_id, Some(third.to_string()));
    // The carts it has keep working.
    conn.send(&conn.sync(&carts[0], i_have_nothing(), false))
        .await;
    assert!(matches!(conn.recv().await, Message::Sync(_)));
}
