//! The browser module's sync logic (`cart_core::session::ClientSession`), driven natively over
//! real WebSockets against a real server: what a shopper's devices do, minus the browser.

mod support;

use cart_core::session::{random_peer_id, ClientSession, Notice};
use cart_core::{Cart, CartId};
use cart_server::limits::Limits;
use futures_util::{SinkExt, StreamExt};
use support::{item, TestServer, KEY, OTHER_KEY, WAIT};
use tempfile::TempDir;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// One device: a cart, its session and, while online, a socket.
struct Device {
    cart: Cart,
    session: ClientSession,
    socket: Option<Socket>,
    notices: Vec<Notice>,
    /// Frames sent and received so far.
    frames: usize,
}

impl Device {
    fn new(cart: CartId) -> Device {
        Device {
            cart: Cart::new(cart),
            session: ClientSession::new(&cart, random_peer_id(), None),
            socket: None,
            notices: Vec::new(),
            frames: 0,
        }
    }

    async fn connect(&mut self, url: &str) {
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        socket
            .send(WsMessage::Binary(self.session.join().into()))
            .await
            .expect("send join");
        self.socket = Some(socket);
        self.pump_until(|d| d.session.is_connected()).await;
    }

    fn disconnect(&mut self) {
        self.socket = None;
        self.session.disconnected();
    }

    async fn send(&mut self, frames: Vec<Vec<u8>>) {
        let socket = self.socket.as_mut().expect("online");
        self.frames += frames.len();
        for frame in frames {
            socket
                .send(WsMessage::Binary(frame.into()))
                .await
                .expect("send");
        }
    }

    /// Sends what local edits produced (nothing while offline).
    async fn push(&mut self) {
        let frames = self.session.local_change(&mut self.cart);
        if !frames.is_empty() {
            self.send(frames).await;
        }
    }

    /// Handles frames from the server until `done` holds.
    async fn pump_until(&mut self, done: impl Fn(&mut Device) -> bool) {
        while !done(self) {
            let frame = tokio::time::timeout(WAIT, self.socket.as_mut().expect("online").next())
                .await
                .expect("the server answers in time")
                .expect("the socket stays open")
                .expect("a frame");
            let WsMessage::Binary(bytes) = frame else {
                continue;
            };
            self.frames += 1;
            let received = self
                .session
                .receive(&mut self.cart, &bytes)
                .expect("a valid frame");
            self.notices.extend(received.notice);
            self.send(received.replies).await;
        }
    }

    async fn synced(&mut self) {
        self.pump_until(|d| d.session.unconfirmed(&mut d.cart) == 0)
            .await;
    }

    fn lines(&self) -> Vec<(String, i64)> {
        self.cart
            .lines()
            .into_iter()
            .map(|l| (l.sku, l.quantity))
            .collect()
    }
}

/// The first device of cart `id`: it adds a tee and syncs, so the server holds the cart under
/// [`KEY`].
async fn owner_of(server: &TestServer, id: CartId) -> Device {
    let mut owner = Device::new(id);
    owner.cart.add_item(&item("TEE", 1)).unwrap();
    owner.connect(&server.url(KEY)).await;
    owner.synced().await;
    owner
}

async fn server() -> (TempDir, TestServer) {
    let dir = TempDir::new().unwrap();
    let server =
        TestServer::start(&dir.path().join("carts.sqlite3"), Limits::default(), None).await;
    (dir, server)
}

#[tokio::test]
async fn edits_made_offline_reach_the_server_and_another_device() {
    let (_dir, server) = server().await;
    let id = CartId::random().unwrap();
    let mut phone = Device::new(id);
    phone.cart.add_item(&item("TEE", 2)).unwrap();
    phone.cart.add_item(&item("MUG", 1)).unwrap();
    assert_eq!(
        phone.session.unconfirmed(&mut phone.cart),
        2,
        "both changes wait for the server"
    );

    phone.connect(&server.url(KEY)).await;
    phone.synced().await;

    let mut laptop = Device::new(id);
    laptop.connect(&server.url(KEY)).await;
    laptop.pump_until(|d| d.lines().len() == 2).await;
    assert_eq!(laptop.lines(), phone.lines());
    server.stop().await;
}

#[tokio::test]
async fn a_change_on_one_device_reaches_the_other_live() {
    let (_dir, server) = server().await;
    let id = CartId::random().unwrap();
    let (mut phone, mut laptop) = (Device::new(id), Device::new(id));
    phone.cart.add_item(&item("TEE", 1)).unwrap();
    phone.connect(&server.url(KEY)).await;
    phone.synced().await;
    laptop.connect(&server.url(KEY)).await;
    laptop.pump_until(|d| d.lines().len() == 1).await;

    phone.cart.add_item(&item("TEE", 2)).unwrap();
    phone.push().await;
    laptop.pump_until(|d| d.cart.quantity("TEE") == 3).await;
    phone.synced().await;
    server.stop().await;
}

#[tokio::test]
async fn a_device_that_opens_the_link_before_the_cart_is_on_the_server_gets_it_without_reconnecting(
) {
    let (_dir, server) = server().await;
    let id = CartId::random().unwrap();
    let (mut phone, mut laptop) = (Device::new(id), Device::new(id));
    laptop.connect(&server.url(KEY)).await;
    laptop
        .pump_until(|d| d.notices.contains(&Notice::Unavailable))
        .await;

    phone.cart.add_item(&item("TEE", 1)).unwrap();
    phone.connect(&server.url(KEY)).await;
    phone.synced().await;
    laptop.pump_until(|d| d.lines().len() == 1).await;
    assert_eq!(laptop.lines(), phone.lines());
    server.stop().await;
}

#[tokio::test]
async fn devices_that_diverged_offline_converge_without_resurrecting_removals() {
    let (_dir, server) = server().await;
    let id = CartId::random().unwrap();
    let (mut phone, mut laptop) = (Device::new(id), Device::new(id));
    phone.cart.add_item(&item("MUG", 2)).unwrap();
    phone.connect(&server.url(KEY)).await;
    phone.synced().await;
    laptop.connect(&server.url(KEY)).await;
    laptop.pump_until(|d| d.cart.quantity("MUG") == 2).await;

    phone.disconnect();
    laptop.disconnect();
    phone.cart.remove_item("MUG").unwrap();
    laptop.cart.add_item(&item("MUG", 1)).unwrap();
    laptop.cart.add_item(&item("CAP", 1)).unwrap();

    phone.connect(&server.url(KEY)).await;
    phone.synced().await;
    laptop.connect(&server.url(KEY)).await;
    laptop.synced().await;
    phone.pump_until(|d| d.lines().len() == 2).await;
    laptop.pump_until(|d| d.cart.quantity("MUG") == 1).await;
    assert_eq!(phone.lines(), vec![("MUG".into(), 1), ("CAP".into(), 1)]);
    assert_eq!(laptop.lines(), phone.lines());
    server.stop().await;
}

#[tokio::test]
async fn a_device_with_another_key_is_told_the_cart_is_unavailable() {
    let (_dir, server) = server().await;
    let id = CartId::random().unwrap();
    let _owner = owner_of(&server, id).await;

    let mut stranger = Device::new(id);
    stranger.connect(&server.url(OTHER_KEY)).await;
    stranger.pump_until(|d| !d.notices.is_empty()).await;
    assert_eq!(stranger.notices, vec![Notice::Unavailable]);
    assert!(stranger.lines().is_empty());
    server.stop().await;
}

/// The first add of a new cart made while the server has not answered the `request` its empty
/// copy sent on joining: the `doc-unavailable` that answers the request arrives after the add's
/// `sync` went out, and must not be taken for "this cart exists under another key" (which stops
/// the browser's link from sending anything with this key).
#[tokio::test]
async fn an_add_made_before_the_empty_carts_request_is_answered_is_not_taken_for_a_wrong_key() {
    let (_dir, server) = server().await;
    let id = CartId::random().unwrap();
    let mut phone = Device::new(id);
    phone.connect(&server.url(KEY)).await;
    phone.cart.add_item(&item("TEE", 1)).unwrap();
    phone.push().await;
    phone.synced().await;
    assert_eq!(phone.notices, vec![Notice::Unavailable]);

    let mut laptop = Device::new(id);
    laptop.connect(&server.url(KEY)).await;
    laptop.pump_until(|d| d.lines().len() == 1).await;
    server.stop().await;
}

/// The same race with another key: the answer to the request says only "unavailable", the
/// answer to the add's `sync` says "wrong key".
#[tokio::test]
async fn an_add_under_another_key_is_told_wrong_key_even_while_its_request_is_unanswered() {
    let (_dir, server) = server().await;
    let id = CartId::random().unwrap();
    let _owner = owner_of(&server, id).await;

    let mut stranger = Device::new(id);
    stranger.connect(&server.url(OTHER_KEY)).await;
    stranger.cart.add_item(&item("MUG", 1)).unwrap();
    stranger.push().await;
    stranger.pump_until(|d| d.notices.len() == 2).await;
    assert_eq!(
        stranger.notices,
        vec![Notice::Unavailable, Notice::WrongKey]
    );

    let mut late = Device::new(id);
    late.cart.add_item(&item("CAP", 1)).unwrap();
    late.connect(&server.url(OTHER_KEY)).await;
    late.pump_until(|d| !d.notices.is_empty()).await;
    assert_eq!(
        late.notices,
        vec![Notice::WrongKey],
        "a sync answered by doc-unavailable"
    );
    server.stop().await;
}

/// What the browser module does after a refusal (until `ClientSession` has its own call for
/// it): forget what the sync state says was sent, as a disconnect does, and join again on the
/// same socket, so every change the server lacks is sent again in one message.
async fn resync_after_refusal(device: &mut Device) {
    device.session.disconnected();
    let join = device.session.join();
    device.send(vec![join]).await;
    device.pump_until(|d| d.session.is_connected()).await;
}

#[tokio::test]
async fn a_refused_line_removed_again_syncs_without_a_reconnect() {
    let dir = TempDir::new().unwrap();
    let limits = Limits {
        max_lines: 3,
        ..Limits::default()
    };
    let server = TestServer::start(&dir.path().join("carts.sqlite3"), limits, None).await;
    let id = CartId::random().unwrap();
    let mut phone = Device::new(id);
    for sku in ["TEE", "MUG", "CAP"] {
        phone.cart.add_item(&item(sku, 1)).unwrap();
    }
    phone.connect(&server.url(KEY)).await;
    phone.synced().await;

    phone.cart.add_item(&item("SOCKS", 1)).unwrap();
    phone.push().await;
    phone.pump_until(|d| !d.notices.is_empty()).await;
    match &phone.notices[..] {
        [Notice::Refused { code, .. }] => assert_eq!(code.as_deref(), Some("too_many_lines")),
        other => panic!("expected the line limit, got {other:?}"),
    }
    assert_eq!(phone.session.unconfirmed(&mut phone.cart), 1);

    let before = phone.frames;
    phone.cart.remove_item("SOCKS").unwrap();
    resync_after_refusal(&mut phone).await;
    phone.synced().await;
    let exchanged = phone.frames - before;
    assert!(
        exchanged <= 12,
        "{exchanged} frames to settle after the refusal"
    );
    assert_eq!(
        phone.notices.len(),
        1,
        "no further refusal: {:?}",
        phone.notices
    );
    assert_eq!(
        server
            .state
            .metrics()
            .errors_of(cart_server::error::ErrorKind::RateLimited),
        0
    );

    let (_, heads) = support::stored(&server.db, &id).await;
    assert_eq!(heads, phone.cart.heads(), "the server stored both changes");
    let mut laptop = Device::new(id);
    laptop.connect(&server.url(KEY)).await;
    laptop.pump_until(|d| d.lines().len() == 3).await;
    assert_eq!(laptop.lines(), phone.lines());
    assert_eq!(phone.lines().len(), 3);
    server.stop().await;
}
