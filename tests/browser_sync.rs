//! The browser module against a real cart-server, in a real browser. `npm test` starts the
//! server on a free loopback port and passes its URL as `CART_SERVER_WS` at build time.
#![cfg(target_arch = "wasm32")]

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use cart_core::fixtures;
use cart_core::session::{random_peer_id, ClientSession, Notice};
use cart_core::CartId;
use common::*;
use offline_cart::connection::Socket;
use offline_cart::Cart;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The server's `/sync` URL.
// Not `env!`: clippy and builds without a server compile these tests too; only running them
// needs the URL, and then a missing one must say how to run them.
#[allow(clippy::option_env_unwrap)]
fn server() -> &'static str {
    option_env!("CART_SERVER_WS").expect(
        "CART_SERVER_WS is not set: run these tests through `npm test`, which starts cart-server",
    )
}

/// The `/sync` URL of the second test server, whose line limit is 3.
#[allow(clippy::option_env_unwrap)]
fn server_with_three_lines() -> &'static str {
    option_env!("CART_SERVER_WS_MAX_LINES_3").expect(
        "CART_SERVER_WS_MAX_LINES_3 is not set: run these tests through `npm test`, which starts cart-server",
    )
}

/// A loopback port where nothing listens: a server that is down.
const DOWN: &str = "ws://127.0.0.1:9/sync";

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..250 {
        if done() {
            return;
        }
        wait(sleep(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A new cart in page memory, synced with the test server.
async fn open_on_server() -> Cart {
    open(&format!(
        r#"{{"storage":"memory","server":"{}"}}"#,
        server()
    ))
    .await
}

fn status(cart: &Cart, field: &str) -> JsValue {
    prop(&cart.status(), field)
}

/// Another device: its own document and its own connection, sharing neither storage nor a
/// BroadcastChannel with the carts of this page. Built from the same cart-core session the
/// browser module uses, over the module's socket.
struct Device {
    state: Rc<RefCell<(cart_core::Cart, ClientSession, Vec<Notice>)>>,
    socket: Rc<RefCell<Option<Socket>>>,
}

impl Device {
    fn connect(id: &str, key: &str) -> Device {
        Device::connect_to(server(), id, key)
    }

    /// Connects to the `/sync` URL `server` instead of the default test server.
    fn connect_to(server: &str, id: &str, key: &str) -> Device {
        let id: CartId = id.parse().unwrap();
        let state = Rc::new(RefCell::new((
            cart_core::Cart::new(id),
            ClientSession::new(&id, random_peer_id(), None),
            Vec::new(),
        )));
        let socket: Rc<RefCell<Option<Socket>>> = Rc::new(RefCell::new(None));
        let url = format!("{server}?key={key}");
        let (on_open, on_frame) = (
            (state.clone(), socket.clone()),
            (state.clone(), socket.clone()),
        );
        let opened = Socket::open(
            &url,
            move || {
                let join = on_open.0.borrow().1.join();
                on_open.1.borrow().as_ref().unwrap().send(&join);
            },
            move |frame| {
                let mut guard = on_frame.0.borrow_mut();
                let (cart, session, notices) = &mut *guard;
                let received = session.receive(cart, &frame).unwrap();
                notices.extend(received.notice);
                for reply in received.replies {
                    on_frame.1.borrow().as_ref().unwrap().send(&reply);
                }
            },
            || {},
        )
        .unwrap();
        *socket.borrow_mut() = Some(opened);
        Device { state, socket }
    }

    fn add(&self, sku: &str, quantity: i64) {
        let mut guard = self.state.borrow_mut();
        let (cart, session, _) = &mut *guard;
        cart.add_item(&fixtures::item(sku, quantity)).unwrap();
        for frame in session.local_change(cart) {
            self.socket.borrow().as_ref().unwrap().send(&frame);
        }
    }

    fn lines(&self) -> Vec<(String, u32)> {
        self.state
            .borrow()
            .0
            .lines()
            .into_iter()
            .map(|l| (l.sku, l.quantity as u32))
            .collect()
    }

    fn notices(&self) -> Vec<Notice> {
        self.state.borrow().2.clone()
    }
}

#[wasm_bindgen_test]
async fn a_cart_reaches_the_server_and_another_device_sees_it_live() {
    let phone = open_on_server().await;
    let phone_events = Recorder::attach(&phone);
    phone.add_item(item("TEE", 2)).unwrap();
    phone.add_item(item("MUG", 1)).unwrap();
    wait(phone.sync(None)).await;
    assert_eq!(status(&phone, "pending").as_f64(), Some(0.0));
    assert_eq!(text(&phone.status(), "connection"), "online");
    assert!(status(&phone, "lastSyncedAt").as_f64().is_some());

    let laptop = Device::connect(&phone.id(), &phone.key());
    eventually("the laptop to receive the cart", || {
        laptop.lines().len() == 2
    })
    .await;
    assert_eq!(laptop.lines(), lines(&phone));

    laptop.add("CAP", 1);
    eventually("the phone to see the laptop's add live", || {
        lines(&phone).len() == 3
    })
    .await;
    assert!(phone_events
        .events
        .borrow()
        .iter()
        .any(|e| text(e, "origin") == "remote"));
    phone.set_quantity("TEE".into(), 5.into()).unwrap();
    eventually("the laptop to see the new quantity live", || {
        laptop.lines()[0].1 == 5
    })
    .await;
    wait(phone.close()).await;
}

#[wasm_bindgen_test]
async fn edits_made_while_the_server_is_down_sync_when_it_is_reachable() {
    let offline = open(&format!(r#"{{"storage":"memory","server":"{DOWN}"}}"#)).await;
    offline.add_item(item("CAP", 1)).unwrap();
    offline.add_item(item("CAP", 2)).unwrap();
    let error = JsFuture::from(offline.sync(Some(300.0))).await.unwrap_err();
    assert_eq!(text(&error, "code"), "offline");
    // Between attempts the cart is "offline"; during one (the backoff may have started the next)
    // it is "connecting". Never "online".
    assert_ne!(text(&offline.status(), "connection"), "online");
    assert_eq!(
        status(&offline, "pending").as_f64(),
        Some(2.0),
        "both edits wait for the server"
    );
    assert_eq!(
        lines(&offline),
        vec![("CAP".into(), 3)],
        "the cart kept accepting adds"
    );
    let (id, key) = (offline.id(), offline.key());
    wait(offline.close()).await;

    // The same cart, the same page storage, now with a server that answers.
    let options = format!(
        r#"{{"cartId":"{id}","key":"{key}","storage":"memory","server":"{}"}}"#,
        server()
    );
    let back = Cart::open(Some(js(&options))).await.unwrap();
    wait(back.sync(None)).await;
    wait(back.close()).await;
    let check = open(&format!(
        r#"{{"cartId":"{id}","key":"{key}","storage":"localstorage","server":"{}"}}"#,
        server()
    ))
    .await;
    eventually("a fresh device to get the offline edits", || {
        lines(&check) == vec![("CAP".into(), 3)]
    })
    .await;
}

#[wasm_bindgen_test]
async fn with_several_servers_a_cart_whose_first_server_is_down_syncs_through_the_next() {
    let cart = open(&format!(
        r#"{{"storage":"memory","server":["{DOWN}","{}"]}}"#,
        server()
    ))
    .await;
    cart.add_item(item("TEE", 1)).unwrap();
    wait(cart.sync(None)).await;
    assert_eq!(text(&cart.status(), "connection"), "online");
    assert_eq!(status(&cart, "pending").as_f64(), Some(0.0));

    let laptop = Device::connect(&cart.id(), &cart.key());
    eventually("the laptop to receive the cart", || {
        laptop.lines().len() == 1
    })
    .await;
    wait(cart.close()).await;
}

#[wasm_bindgen_test]
async fn another_key_cannot_read_the_cart() {
    let owner = open_on_server().await;
    owner.add_item(item("SECRET", 1)).unwrap();
    wait(owner.sync(None)).await;
    let id = owner.id();
    wait(owner.close()).await;

    let stranger = Device::connect(&id, "someone-elses-key-123");
    eventually("the server to answer", || !stranger.notices().is_empty()).await;
    assert_eq!(stranger.notices(), vec![Notice::Unavailable]);
    assert!(stranger.lines().is_empty());

    // The browser module reports the same as a warning.
    let options = format!(
        r#"{{"cartId":"{id}","key":"someone-elses-key-123","storage":"localstorage","server":"{}"}}"#,
        server()
    );
    let cart = Cart::open(Some(js(&options))).await.unwrap();
    let events = Recorder::attach(&cart);
    eventually("the warning", || !events.warnings().is_empty()).await;
    assert_eq!(events.warnings(), vec!["cart_unavailable"]);
    assert!(lines(&cart).is_empty());
}

#[wasm_bindgen_test]
async fn the_offline_event_drops_the_connection_and_online_brings_it_back() {
    let cart = open_on_server().await;
    wait(cart.sync(None)).await;
    assert_eq!(text(&cart.status(), "connection"), "online");
    dispatch_network_event("offline");
    assert_eq!(
        text(&cart.status(), "connection"),
        "offline",
        "the socket was dropped at once"
    );
    cart.add_item(item("WHILE", 1)).unwrap();
    assert_eq!(status(&cart, "pending").as_f64(), Some(1.0));
    dispatch_network_event("online");
    wait(cart.sync(None)).await;
    assert_eq!(text(&cart.status(), "connection"), "online");
    assert_eq!(status(&cart, "pending").as_f64(), Some(0.0));
}

#[wasm_bindgen_test]
async fn the_key_is_kept_with_the_cart() {
    let cart = open("{}").await;
    let (id, key) = (cart.id(), cart.key());
    assert!(key.len() >= 16);
    wait(cart.close()).await;
    let reopened = open(&format!(r#"{{"cartId":"{id}"}}"#)).await;
    assert_eq!(reopened.key(), key);
}

#[wasm_bindgen_test]
async fn sync_without_a_server_says_so() {
    let cart = open(r#"{"storage":"memory"}"#).await;
    let error = JsFuture::from(cart.sync(None)).await.unwrap_err();
    assert_eq!(text(&error, "code"), "no_server");
    assert_eq!(text(&cart.status(), "connection"), "offline");
    for (options, what) in [
        (r#"{"server":"http://localhost/sync"}"#, "an http URL"),
        (r#"{"key":"short"}"#, "a short key"),
    ] {
        let error = Cart::open(Some(js(options)))
            .await
            .err()
            .unwrap_or_else(|| panic!("{what} was accepted"));
        assert_eq!(text(&error, "code"), "invalid_options", "{what}");
    }
}

#[wasm_bindgen_test]
async fn changes_under_another_key_are_told_apart_from_a_new_cart_and_block_sync() {
    let owner = open_on_server().await;
    owner.add_item(item("SECRET", 1)).unwrap();
    wait(owner.sync(None)).await;
    let id = owner.id();
    wait(owner.close()).await;

    let options = format!(
        r#"{{"cartId":"{id}","key":"a-truncated-key-1234","storage":"localstorage","server":"{}"}}"#,
        server()
    );
    let cart = Cart::open(Some(js(&options))).await.unwrap();
    let events = Recorder::attach(&cart);
    // Empty here, so the cart only asks: the answer cannot tell a wrong key from a new cart.
    eventually("the first answer", || !events.warnings().is_empty()).await;
    assert_eq!(events.warnings(), vec!["cart_unavailable"]);
    assert!(prop(&cart.status(), "blocked").is_null());

    cart.add_item(item("MINE", 1)).unwrap();
    eventually("the wrong key to show", || {
        text(&cart.status(), "blocked") == "wrong_key"
    })
    .await;
    assert_eq!(events.warnings(), vec!["cart_unavailable", "wrong_key"]);
    assert_eq!(lines(&cart), vec![("MINE".to_string(), 1)], "kept here");
}

#[wasm_bindgen_test]
async fn a_line_the_server_refuses_blocks_until_removed_then_syncs_without_reconnecting() {
    let cart = open(&format!(
        r#"{{"storage":"memory","server":"{}"}}"#,
        server_with_three_lines()
    ))
    .await;
    for sku in ["A", "B", "C"] {
        cart.add_item(item(sku, 1)).unwrap();
    }
    wait(cart.sync(None)).await;
    let events = Recorder::attach(&cart);

    cart.add_item(item("D", 1)).unwrap();
    eventually("the refusal to show", || {
        text(&cart.status(), "blocked") == "too_many_lines"
    })
    .await;
    assert_eq!(events.warnings(), vec!["sync_blocked"]);
    assert!(status(&cart, "pending").as_f64().unwrap() >= 1.0);

    assert!(cart.remove_item(JsValue::from_str("D")).unwrap());
    wait(cart.sync(Some(20_000.0))).await;
    assert_eq!(status(&cart, "pending").as_f64(), Some(0.0));
    assert!(prop(&cart.status(), "blocked").is_null());
    let connections: Vec<String> = events
        .events
        .borrow()
        .iter()
        .filter(|e| text(e, "type") == "status")
        .map(|e| text(&prop(e, "status"), "connection"))
        .collect();
    assert!(
        connections.iter().all(|c| c == "online"),
        "no reconnect: {connections:?}"
    );

    let device = Device::connect_to(server_with_three_lines(), &cart.id(), &cart.key());
    eventually("another device to read the cart", || {
        device.lines().len() == 3
    })
    .await;
    assert_eq!(
        device.lines(),
        vec![("A".into(), 1), ("B".into(), 1), ("C".into(), 1)]
    );
}
