//! The connection handler driven by plain channels instead of a WebSocket.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use cart_core::wire::{self as protocol, Message};
use cart_core::CartId;
use cart_server::store::SqliteStore;
use cart_server::sync::{serve_connection, Frame};
use cart_server::{AppState, ServerOptions};
use futures_util::{sink, stream};
use tokio::sync::mpsc;

async fn next(rx: &mut mpsc::Receiver<Frame>) -> Frame {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a frame in time")
        .expect("the connection is open")
}

fn message(frame: Frame) -> Message {
    match frame {
        Frame::Binary(bytes) => protocol::decode_any(&bytes).expect("a protocol message"),
        other => panic!("expected a binary frame, got {other:?}"),
    }
}

#[tokio::test]
async fn a_connection_can_be_driven_by_channels() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("c.sqlite3"))
        .await
        .expect("store");
    let app = AppState::new(Arc::new(store), ServerOptions::default())
        .await
        .expect("state");

    let (to_server, from_test) = mpsc::channel::<Frame>(16);
    let (to_test, mut from_server) = mpsc::channel::<Frame>(16);
    let input = stream::unfold(from_test, |mut rx| async move {
        rx.recv().await.map(|f| (Ok::<_, Infallible>(f), rx))
    });
    let output = sink::unfold(to_test, |tx, frame: Frame| async move {
        tx.send(frame)
            .await
            .map_err(|_| "the test stopped reading")?;
        Ok::<_, &str>(tx)
    });
    let connection = tokio::spawn(serve_connection(
        app.clone(),
        Some("channel-key-0123456789".into()),
        Box::pin(output),
        Box::pin(input),
    ));

    let join = Message::Join(protocol::Join {
        sender_id: "chan".into(),
        peer_metadata: None,
        supported_protocol_versions: Some(vec!["1".into()]),
    });
    to_server
        .send(Frame::Binary(protocol::encode(&join)))
        .await
        .expect("send");
    let Message::Peer(peer) = message(next(&mut from_server).await) else {
        panic!("expected peer")
    };
    assert_eq!(peer.target_id, "chan");
    assert_eq!(
        peer.peer_metadata.storage_id.as_deref(),
        Some(app.storage_id())
    );

    to_server
        .send(Frame::Text("hello".into()))
        .await
        .expect("send");
    let Message::Error(error) = message(next(&mut from_server).await) else {
        panic!("expected error")
    };
    assert_eq!(error.code.as_deref(), Some("text_frame"));

    let cart = CartId::random().expect("id");
    let empty = automerge::sync::SyncDoc::generate_sync_message(
        &automerge::Automerge::new(),
        &mut automerge::sync::State::new(),
    )
    .expect("first message");
    let request = Message::Request(protocol::Sync {
        sender_id: "chan".into(),
        target_id: peer.sender_id.clone(),
        document_id: cart.to_string(),
        data: empty.encode(),
    });
    to_server
        .send(Frame::Binary(protocol::encode(&request)))
        .await
        .expect("send");
    let Message::DocUnavailable(unavailable) = message(next(&mut from_server).await) else {
        panic!("expected doc-unavailable")
    };
    assert_eq!(unavailable.document_id, cart.to_string());

    drop(to_server);
    assert_eq!(
        next(&mut from_server).await,
        Frame::Close(Some((1000, String::new())))
    );
    connection.await.expect("the connection ends");
    assert!(app
        .metrics()
        .render(None)
        .contains("cart_server_connections_open 0\n"));
}
