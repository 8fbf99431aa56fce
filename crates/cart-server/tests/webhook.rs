//! The checkout webhook against a real server and a small receiver, both on 127.0.0.1: every
//! order reaches the shop signed, with one idempotency key however often it is retried, and
//! nothing more is sent once the shop answered 2xx; an order placed while the shop is down
//! survives a restart of the server (the outbox is in the store) and is delivered afterwards.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use cart_server::store::shop::DeliveryState;
use cart_server::webhook::{RetryPolicy, Webhook, WebhookSecret, WebhookUrl};
use cart_server::ServerOptions;
use hmac::{KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use support::receiver::{receiver_at, Received, SECRET};
use support::{http_request, synced_cart, TestServer, KEY, WAIT};
use tempfile::TempDir;
use tokio::net::TcpListener;

/// A server options' webhook at `http://addr/orders`, retrying after 10 ms doubling up to
/// 100 ms.
fn options(addr: SocketAddr) -> ServerOptions {
    options_at(&format!("http://{addr}/orders"))
}

/// [`options`] with the webhook at `url`.
fn options_at(url: &str) -> ServerOptions {
    let url = WebhookUrl::parse(url).unwrap();
    let retry = RetryPolicy {
        base: Duration::from_millis(10),
        cap: Duration::from_millis(100),
    };
    let webhook = Webhook::new(url, WebhookSecret::parse(SECRET).unwrap(), retry).unwrap();
    ServerOptions {
        demo: true,
        webhook: Some(webhook),
        ..ServerOptions::default()
    }
}

/// A new cart with `lines` (sku, quantity) synced to `server` and checked out: the order as
/// the checkout answered it.
async fn checked_out(server: &TestServer, lines: &[(&str, i64)]) -> Value {
    let (_client, replica) = synced_cart(server, "owner-device", lines).await;
    let heads: Vec<String> = replica
        .doc
        .get_heads()
        .iter()
        .map(|h| h.to_string())
        .collect();
    let body = serde_json::to_vec(&json!({ "heads": heads, "key": KEY })).unwrap();
    let path = format!("/api/carts/{}/checkout", replica.cart);
    let headers = [("Content-Type", "application/json")];
    let (status, _, answer) = http_request(server, "POST", &path, &headers, &body).await;
    let answer: Value = serde_json::from_slice(&answer).expect("a JSON answer");
    assert_eq!(status, 200, "{answer}");
    answer["order"].clone()
}

/// Polls the store until the delivery of `order_id` satisfies `done`; fails after [`WAIT`].
async fn delivery_until(
    server: &TestServer,
    order_id: &str,
    done: impl Fn(&DeliveryState) -> bool,
) -> DeliveryState {
    tokio::time::timeout(WAIT, async {
        loop {
            let state = server
                .state
                .shop()
                .delivery(order_id)
                .await
                .expect("read the delivery")
                .expect("every order has a delivery");
            if done(&state) {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the delivery got there in time")
}

/// Checks that `received` is a signed delivery of `order`.
fn assert_is_signed_delivery_of(received: &Received, order: &Value) {
    let id = order["id"].as_str().unwrap();
    assert_eq!(received.idempotency_key, id);
    assert_eq!(received.content_type, "application/json");
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(received.timestamp.as_bytes());
    mac.update(b".");
    mac.update(&received.body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(received.signature, format!("v1={hex}"), "a valid signature");
    let body: Value = serde_json::from_slice(&received.body).expect("a JSON body");
    assert_eq!(body["idempotencyKey"], id);
    assert_eq!(
        &body["order"], order,
        "the order as the checkout answered it"
    );
}

fn db(dir: &TempDir) -> std::path::PathBuf {
    dir.path().join("carts.sqlite3")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_retried_with_one_key_until_the_shop_takes_it_and_then_never_sent_again() {
    let dir = TempDir::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (receiver, _stop) = receiver_at(listener, 2).await;
    let server = TestServer::start_with(&db(&dir), options(addr)).await;

    let order = checked_out(&server, &[("MUG", 2), ("BOTTLE", 1)]).await;
    let id = order["id"].as_str().unwrap().to_string();
    let state = delivery_until(&server, &id, |d| d.delivered_at.is_some()).await;
    assert_eq!(state.attempts, 3, "two 500s, then 200");
    assert_eq!(state.last_error, None);
    let got = receiver.got();
    assert_eq!(got.len(), 3, "{got:?}");
    for received in &got {
        assert_is_signed_delivery_of(received, &order);
    }
    assert!(!order["lines"].as_array().unwrap().is_empty());
    assert!(!order["totals"].as_array().unwrap().is_empty());
    assert!(!order["heads"].as_array().unwrap().is_empty());
    assert_eq!(server.state.metrics().webhook_deliveries("failed"), 2);
    assert_eq!(server.state.metrics().webhook_deliveries("delivered"), 1);

    // Settle: a later order goes through the same outbox; once it is delivered, the first one
    // has had every chance to be sent again, and was not.
    let later = checked_out(&server, &[("STICKERS", 3)]).await;
    let later_id = later["id"].as_str().unwrap().to_string();
    delivery_until(&server, &later_id, |d| d.delivered_at.is_some()).await;
    let got = receiver.got();
    assert_eq!(got.len(), 4, "{got:?}");
    assert_is_signed_delivery_of(&got[3], &later);
    assert_eq!(
        server.state.shop().next_delivery_at().await.unwrap(),
        None,
        "nothing is pending"
    );
    let metrics = String::from_utf8(support::http_get(&server, "/metrics").await.2).unwrap();
    assert!(
        metrics.contains("cart_server_webhook_deliveries_total{outcome=\"delivered\"} 2"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_placed_while_the_shop_is_down_is_delivered_after_a_restart() {
    let dir = TempDir::new().unwrap();
    // A free loopback port where nothing listens yet: the shop is down.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let server = TestServer::start_with(&db(&dir), options(addr)).await;
    let order = checked_out(&server, &[("MUG", 1)]).await;
    let id = order["id"].as_str().unwrap().to_string();
    let failed = delivery_until(&server, &id, |d| d.attempts >= 2).await;
    assert_eq!(failed.delivered_at, None);
    assert!(
        failed
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("reach")),
        "{failed:?}"
    );
    server.stop().await;

    let (receiver, _stop) = receiver_at(TcpListener::bind(addr).await.unwrap(), 0).await;
    let restarted = TestServer::start_with(&db(&dir), options(addr)).await;
    let state = delivery_until(&restarted, &id, |d| d.delivered_at.is_some()).await;
    assert!(state.attempts > failed.attempts);
    let got = receiver.got();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_is_signed_delivery_of(&got[0], &order);
    assert_eq!(restarted.state.metrics().webhook_deliveries("delivered"), 1);
    restarted.stop().await;
}

#[tokio::test]
async fn orders_wait_in_the_outbox_while_no_webhook_is_set() {
    let dir = TempDir::new().unwrap();
    let server = TestServer::start(&db(&dir), Default::default(), None).await;
    let order = checked_out(&server, &[("MUG", 1)]).await;
    let id = order["id"].as_str().unwrap();
    let state = server
        .state
        .shop()
        .delivery(id)
        .await
        .unwrap()
        .expect("queued");
    assert_eq!((state.attempts, state.delivered_at), (0, None));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_webhook_is_spoken_to_over_tls() {
    let dir = TempDir::new().unwrap();
    // A plain TCP listener stands in for the shop: it records the first bytes and hangs up.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let first_bytes = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("the server connects");
        let mut bytes = [0u8; 3];
        tokio::io::AsyncReadExt::read_exact(&mut socket, &mut bytes)
            .await
            .expect("the server sends something");
        bytes
    });
    let server =
        TestServer::start_with(&db(&dir), options_at(&format!("https://{addr}/orders"))).await;
    let order = checked_out(&server, &[("MUG", 1)]).await;
    let bytes = tokio::time::timeout(WAIT, first_bytes)
        .await
        .expect("connected in time")
        .expect("the listener ends");
    assert_eq!(
        (bytes[0], bytes[1]),
        (0x16, 0x03),
        "a TLS handshake record, not plain HTTP: {bytes:?}"
    );
    let id = order["id"].as_str().unwrap();
    let failed = delivery_until(&server, id, |d| d.last_error.is_some()).await;
    assert_eq!(failed.delivered_at, None, "no TLS, no delivery");
    server.stop().await;
}
