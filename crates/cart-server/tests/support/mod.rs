//! Test support: a real server on 127.0.0.1 with a temporary SQLite file, and a small
//! automerge-repo protocol client over tokio-tungstenite.
#![allow(dead_code)]

pub mod receiver;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use automerge::sync::{Message as AutomergeSync, State as SyncState, SyncDoc};
use automerge::{Automerge, ChangeHash};
use cart_core::wire::{self as protocol, Message};
use cart_core::{Cart, CartId};
use cart_server::limits::Limits;
use cart_server::store::{DocStore, SqliteStore};
use cart_server::{serve, AppState, ServerOptions};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for something the server must send before failing.
pub const WAIT: Duration = Duration::from_secs(10);
/// The key the tests' owners use.
pub const KEY: &str = "owner-secret-0123456789";
/// Another valid key.
pub const OTHER_KEY: &str = "intruder-secret-987654";

/// A server running in this process.
pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub state: AppState,
    pub db: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Starts the demo shop (seeded catalog, name-only sign-in) on 127.0.0.1:0 over the SQLite
    /// file `db`.
    pub async fn start(db: &Path, limits: Limits, static_dir: Option<PathBuf>) -> TestServer {
        let options = ServerOptions {
            limits,
            static_dir,
            demo: true,
            ..ServerOptions::default()
        };
        TestServer::start_with(db, options).await
    }

    /// [`TestServer::start`] with every option given.
    pub async fn start_with(db: &Path, options: ServerOptions) -> TestServer {
        let store = SqliteStore::open(db).await.expect("open the sqlite store");
        let state = AppState::new(Arc::new(store), options)
            .await
            .expect("start the server");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let (tx, rx) = oneshot::channel::<()>();
        let stop = async move {
            let _ = rx.await;
        };
        let task = tokio::spawn(serve(listener, state.clone(), stop, Duration::from_secs(5)));
        TestServer {
            addr,
            state,
            db: db.to_path_buf(),
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// The `/sync` URL with `key`.
    pub fn url(&self, key: &str) -> String {
        format!("ws://{}/sync?key={key}", self.addr)
    }

    /// Shuts the server down gracefully and waits until it has stopped.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WAIT, task)
                .await
                .expect("the server stops in time")
                .expect("the server task does not panic")
                .expect("the server stops cleanly");
        }
    }
}

/// What the store holds for `cart`, read through a second handle: the number of chunks and the
/// heads of the document they make (empty when the cart is not stored).
pub async fn stored(db: &Path, cart: &CartId) -> (usize, Vec<ChangeHash>) {
    let store = SqliteStore::open(db).await.expect("open the store again");
    let chunks = store.load_chunks(cart).await.expect("load chunks");
    let mut doc = Automerge::new();
    for chunk in &chunks {
        doc.load_incremental(&chunk.bytes)
            .expect("stored chunks load");
    }
    (chunks.len(), doc.get_heads())
}

/// What the server's store holds for `cart`, read as a cart: (sku, quantity), sorted; empty
/// when the cart is not stored.
pub async fn server_lines(server: &TestServer, cart: &CartId) -> Vec<(String, i64)> {
    let store = SqliteStore::open(&server.db)
        .await
        .expect("open the store again");
    let chunks = store.load_chunks(cart).await.expect("load chunks");
    if chunks.is_empty() {
        return Vec::new();
    }
    let bytes: Vec<u8> = chunks.into_iter().flat_map(|c| c.bytes).collect();
    let mut lines: Vec<(String, i64)> = Cart::load(*cart, &bytes)
        .expect("a stored cart loads")
        .lines()
        .into_iter()
        .map(|l| (l.sku, l.quantity))
        .collect();
    lines.sort();
    lines
}

/// Makes every later write of a chunk to the SQLite file `db` fail, as a full disk would, until
/// [`mend_chunk_writes`]; everything else keeps working.
pub fn break_chunk_writes(db: &Path) {
    rusqlite::Connection::open(db)
        .expect("open the sqlite file")
        .execute_batch(
            "CREATE TRIGGER no_chunks BEFORE INSERT ON chunks
             BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
        )
        .expect("create the failing trigger");
}

/// Undoes [`break_chunk_writes`].
pub fn mend_chunk_writes(db: &Path) {
    rusqlite::Connection::open(db)
        .expect("open the sqlite file")
        .execute_batch("DROP TRIGGER no_chunks;")
        .expect("drop the failing trigger");
}

/// A connected automerge-repo protocol client.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub peer_id: String,
    pub server_peer_id: String,
    pub server_storage_id: Option<String>,
}

/// Why a sync did not complete.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncEnd {
    /// The server said `doc-unavailable`.
    Unavailable,
    /// The server sent an `error`.
    Refused(protocol::Error),
}

impl Client {
    /// Connects with `key`, joins as `peer_id` (announcing `storage_id` when given) and waits
    /// for the server's `peer` message.
    pub async fn connect(
        server: &TestServer,
        key: &str,
        peer_id: &str,
        storage_id: Option<&str>,
    ) -> Client {
        Client::connect_url(&server.url(key), peer_id, storage_id).await
    }

    /// As [`Client::connect`], to any URL.
    pub async fn connect_url(url: &str, peer_id: &str, storage_id: Option<&str>) -> Client {
        let mut client = Client::open(url).await;
        client
            .send(&Message::Join(protocol::Join {
                sender_id: peer_id.to_string(),
                peer_metadata: Some(protocol::PeerMetadata {
                    storage_id: storage_id.map(str::to_string),
                    is_ephemeral: Some(storage_id.is_none()),
                }),
                supported_protocol_versions: Some(vec!["1".to_string()]),
            }))
            .await;
        match client.recv().await {
            Message::Peer(peer) => {
                assert_eq!(peer.target_id, peer_id);
                assert_eq!(peer.selected_protocol_version, "1");
                assert_eq!(peer.peer_metadata.is_ephemeral, Some(false));
                client.peer_id = peer_id.to_string();
                client.server_peer_id = peer.sender_id;
                client.server_storage_id = peer.peer_metadata.storage_id;
            }
            other => panic!("expected a peer message, got {other:?}"),
        }
        client
    }

    /// Opens the WebSocket without joining.
    pub async fn open(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect to the server");
        Client {
            ws,
            peer_id: String::new(),
            server_peer_id: String::new(),
            server_storage_id: None,
        }
    }

    /// Sends one message.
    pub async fn send(&mut self, message: &Message) {
        self.send_raw(protocol::encode(message)).await;
    }

    /// Sends one binary frame as is.
    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        self.ws
            .send(WsMessage::Binary(bytes.into()))
            .await
            .expect("send a frame");
    }

    /// Closes the WebSocket (code 1000) and waits for the server's close.
    pub async fn close(&mut self) {
        let _ = self.ws.close(None).await;
        while let Some(Ok(_)) = self.ws.next().await {}
    }

    /// Sends one text frame.
    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(WsMessage::Text(text.into()))
            .await
            .expect("send a text frame");
    }

    /// The next message from the server; panics after [`WAIT`] or when the socket closes.
    pub async fn recv(&mut self) -> Message {
        match self.next_frame().await {
            Some(WsMessage::Binary(bytes)) => match protocol::decode_any(&bytes) {
                Ok(m) => m,
                other => panic!("the server sent an undecodable message: {other:?}"),
            },
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }

    /// The next message that is not a `sync` (the server answers every sync message, so one
    /// may still be on its way after [`Client::sync`] returned).
    pub async fn recv_skipping_sync(&mut self) -> Message {
        loop {
            match self.recv().await {
                Message::Sync(_) => continue,
                other => return other,
            }
        }
    }

    /// The next frame (binary or close); `None` when the socket ended.
    pub async fn next_frame(&mut self) -> Option<WsMessage> {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("the server answers in time");
            match frame {
                None => return None,
                Some(Err(_)) => return None,
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                Some(Ok(other)) => return Some(other),
            }
        }
    }

    /// Waits for an `error` message; panics on anything else.
    pub async fn expect_error(&mut self) -> protocol::Error {
        match self.recv().await {
            Message::Error(e) => e,
            other => panic!("expected an error message, got {other:?}"),
        }
    }

    /// A `request` or `sync` message for `cart` carrying `data`.
    pub fn sync_message(&self, cart: &CartId, data: Vec<u8>, request: bool) -> Message {
        let body = protocol::Sync {
            sender_id: self.peer_id.clone(),
            target_id: self.server_peer_id.clone(),
            document_id: cart.to_string(),
            data,
        };
        if request {
            Message::Request(body)
        } else {
            Message::Sync(body)
        }
    }

    /// Runs the Automerge sync protocol for `replica` until both sides have the same heads.
    /// The first message is a `request` when `request` is set.
    pub async fn sync(&mut self, replica: &mut Replica, request: bool) -> Result<(), SyncEnd> {
        let mut first = true;
        loop {
            if let Some(message) = replica.doc.generate_sync_message(&mut replica.state) {
                let m = self.sync_message(&replica.cart, message.encode(), request && first);
                self.send(&m).await;
                first = false;
            }
            if replica.state.their_heads.as_ref() == Some(&replica.doc.get_heads()) {
                return Ok(());
            }
            self.receive_into(replica).await?;
        }
    }

    /// Receives one message about `replica`'s cart, applies it and answers it as a peer does.
    /// The answer matters: Automerge's sync protocol sends nothing more to a peer while its
    /// last message is unanswered, so a client that only listens stalls.
    pub async fn receive_into(&mut self, replica: &mut Replica) -> Result<(), SyncEnd> {
        match self.recv().await {
            Message::Sync(sync) => {
                assert_eq!(sync.document_id, replica.cart.to_string());
                assert_eq!(sync.target_id, self.peer_id);
                let message = AutomergeSync::decode(&sync.data)
                    .expect("the server sends valid sync messages");
                replica
                    .doc
                    .receive_sync_message(&mut replica.state, message)
                    .expect("the server's changes apply");
                if let Some(answer) = replica.doc.generate_sync_message(&mut replica.state) {
                    let answer = self.sync_message(&replica.cart, answer.encode(), false);
                    self.send(&answer).await;
                }
                Ok(())
            }
            Message::DocUnavailable(d) => {
                assert_eq!(d.document_id, replica.cart.to_string());
                Err(SyncEnd::Unavailable)
            }
            Message::Error(e) => Err(SyncEnd::Refused(e)),
            other => panic!("unexpected message {other:?}"),
        }
    }
}

/// A device's new cart holding `lines` (sku, quantity, each added as [`Replica::add`] adds),
/// synced to `server` under [`KEY`] by a device named `peer_id`: its connection and its copy.
pub async fn synced_cart(
    server: &TestServer,
    peer_id: &str,
    lines: &[(&str, i64)],
) -> (Client, Replica) {
    let mut replica = Replica::empty(CartId::random().expect("random id"));
    for (sku, quantity) in lines {
        replica.add(sku, *quantity);
    }
    let mut client = Client::connect(server, KEY, peer_id, None).await;
    client
        .sync(&mut replica, false)
        .await
        .expect("the new cart syncs");
    (client, replica)
}

/// Applies what the server sends until `replica` shows `expected` (sorted by sku).
pub async fn receive_until(client: &mut Client, replica: &mut Replica, expected: &[(String, i64)]) {
    loop {
        let mut lines = replica.lines();
        lines.sort();
        if lines == expected {
            return;
        }
        client
            .receive_into(replica)
            .await
            .expect("the server sends changes");
    }
}

/// One device's copy of a cart and its sync state with the server.
pub struct Replica {
    pub cart: CartId,
    pub doc: Automerge,
    pub state: SyncState,
}

pub use cart_core::fixtures::item;

impl Replica {
    /// A device with a new, empty copy of `cart`.
    pub fn empty(cart: CartId) -> Replica {
        Replica {
            cart,
            doc: Automerge::new(),
            state: SyncState::new(),
        }
    }

    /// A device that made a new cart and added `skus` (one unit each).
    pub fn with_items(skus: &[&str]) -> Replica {
        let mut replica = Replica::empty(CartId::random().expect("random id"));
        for sku in skus {
            replica.add(sku, 1);
        }
        replica
    }

    /// Edits the cart through cart-core, as the browser module would.
    pub fn edit(&mut self, edit: impl FnOnce(&mut Cart)) {
        let mut cart =
            Cart::load(self.cart, &self.doc.save()).expect("the replica loads as a cart");
        edit(&mut cart);
        let mut edited = Automerge::load(&cart.save()).expect("a saved cart loads");
        self.doc.merge(&mut edited).expect("merge the edit");
    }

    /// Adds `quantity` units of `sku`.
    pub fn add(&mut self, sku: &str, quantity: i64) {
        self.edit(|cart| cart.add_item(&item(sku, quantity)).expect("a valid add"));
    }

    /// The cart as cart-core reads it.
    pub fn view(&self) -> Cart {
        Cart::load(self.cart, &self.doc.save()).expect("the replica loads as a cart")
    }

    /// Quantity per sku.
    pub fn lines(&self) -> Vec<(String, i64)> {
        self.view()
            .lines()
            .into_iter()
            .map(|l| (l.sku, l.quantity))
            .collect()
    }

    /// The replica as a new device would get it after a restart that kept its sync state.
    pub fn restarted(&self) -> Replica {
        Replica {
            cart: self.cart,
            doc: Automerge::load(&self.doc.save()).expect("reload"),
            state: SyncState::decode(&self.state.encode()).expect("reload the sync state"),
        }
    }
}

/// POSTs `body` as JSON to `path`: the status and the JSON body of the answer.
pub async fn post_json(
    server: &TestServer,
    path: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let bytes = serde_json::to_vec(body).expect("JSON");
    let headers = [("Content-Type", "application/json")];
    let (status, _, body) = http_request(server, "POST", path, &headers, &bytes).await;
    (status, serde_json::from_slice(&body).expect("a JSON body"))
}

/// A plain HTTP/1.1 GET on the server: status, headers (lowercase names) and body.
pub async fn http_get(server: &TestServer, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    http_request(server, "GET", path, &[], b"").await
}

/// A plain HTTP/1.1 request on the server with `headers` and `body`: status, headers (lowercase
/// names) and body.
pub async fn http_request(
    server: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    http_request_at(server.addr, method, path, headers, body).await
}

/// As [`http_request`], to a server at `addr` (such as the binary started by a test).
pub async fn http_request_at(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    // The server may answer (413) before reading a large body; a failed write is fine then.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("answer in time");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}
