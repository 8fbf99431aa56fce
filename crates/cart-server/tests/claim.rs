//! `POST /api/carts/claim` against a real server on loopback with a temporary SQLite file: the
//! shop's signed token binds the anonymous cart to the customer's cart (lines summed, sent live
//! to the customer's devices, cleared from the anonymous cart), exactly once, and every bad
//! token or key changes nothing. Tokens are signed here as a shop's backend would sign them.

mod support;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cart_core::CartId;
use cart_server::claim::token::ClaimSecret;
use cart_server::limits::Limits;
use cart_server::ServerOptions;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use support::{
    post_json, receive_until, server_lines, synced_cart, Client, Replica, TestServer, KEY,
    OTHER_KEY,
};
use tempfile::TempDir;

const SECRET: &str = "the-shop-and-cart-server-share-this-secret";
const CLAIM: &str = "/api/carts/claim";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.payload` signed with HMAC-SHA256 under `secret`, as the shop's backend signs it.
fn sign(header: &Value, claims: &Value, secret: &str) -> String {
    let signed = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(signed.as_bytes());
    format!("{signed}.{}", b64(&mac.finalize().into_bytes()))
}

/// A token for `customer` that expires in five minutes.
fn token(customer: &str) -> String {
    sign(
        &json!({ "alg": "HS256", "typ": "JWT" }),
        &json!({ "sub": customer, "exp": now() + 300, "iat": now() }),
        SECRET,
    )
}

fn line(sku: &str, quantity: i64) -> (String, i64) {
    (sku.to_string(), quantity)
}

async fn server_with(secret: Option<&str>, limits: Limits) -> (TempDir, TestServer) {
    let dir = TempDir::new().expect("a temporary directory");
    let db: PathBuf = dir.path().join("carts.sqlite3");
    let options = ServerOptions {
        claim_secret: secret.map(|s| ClaimSecret::parse(s).expect("a valid secret")),
        limits,
        ..ServerOptions::default()
    };
    let server = TestServer::start_with(&db, options).await;
    (dir, server)
}

async fn server() -> (TempDir, TestServer) {
    server_with(Some(SECRET), Limits::default()).await
}

/// A device's new anonymous cart with `lines`, synced to the server with [`KEY`].
async fn anonymous_cart(server: &TestServer, lines: &[(&str, i64)]) -> (Client, Replica) {
    synced_cart(server, "anonymous-device", lines).await
}

async fn claim(server: &TestServer, token: &str, cart: &Replica, key: &str) -> (u16, Value) {
    let body = json!({ "token": token, "cartId": cart.cart.to_string(), "key": key });
    post_json(server, CLAIM, &body).await
}

fn claimed_cart(body: &Value) -> (CartId, String) {
    let cart = body["cartId"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("a cart id");
    let key = body["key"].as_str().expect("a key").to_string();
    (cart, key)
}

async fn carts_stored(server: &TestServer) -> u64 {
    server
        .state
        .hubs()
        .store()
        .cart_count()
        .await
        .expect("count")
}

#[tokio::test]
async fn a_claim_sums_anonymous_carts_of_two_devices_into_one_new_customer_cart() {
    let (_dir, server) = server().await;
    let (_phone, phone) = anonymous_cart(&server, &[("TEE-M", 2), ("MUG", 1)]).await;

    let (status, body) = claim(&server, &token("cust_42"), &phone, KEY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["customer"], "cust_42");
    let (customer_cart, customer_key) = claimed_cart(&body);
    assert_ne!(customer_cart, phone.cart);
    assert!(customer_key.len() >= 16);
    assert_eq!(
        server_lines(&server, &customer_cart).await,
        [line("MUG", 1), line("TEE-M", 2)],
        "the server created the customer's cart with the anonymous lines"
    );
    assert!(
        server_lines(&server, &phone.cart).await.is_empty(),
        "the anonymous cart is cleared"
    );

    // Another device of the same customer, with its own anonymous cart, signs in too.
    let (_laptop, laptop) = anonymous_cart(&server, &[("TEE-M", 3), ("CAP", 1)]).await;
    let (status, again) = claim(&server, &token("cust_42"), &laptop, KEY).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(claimed_cart(&again), (customer_cart, customer_key.clone()));
    assert_eq!(
        server_lines(&server, &customer_cart).await,
        [line("CAP", 1), line("MUG", 1), line("TEE-M", 5)],
        "quantities sum"
    );

    // The customer's devices open their cart with the key the claim gave.
    let mut device = Replica::empty(customer_cart);
    let mut client = Client::connect(&server, &customer_key, "customer-device", None).await;
    client
        .sync(&mut device, true)
        .await
        .expect("the customer cart syncs");
    let mut lines = device.lines();
    lines.sort();
    assert_eq!(lines, [line("CAP", 1), line("MUG", 1), line("TEE-M", 5)]);

    // A token alone (a device with no anonymous cart) gives the customer's cart.
    let (status, alone) = post_json(&server, CLAIM, &json!({ "token": token("cust_42") })).await;
    assert_eq!(status, 200, "{alone}");
    assert_eq!(claimed_cart(&alone), (customer_cart, customer_key));
    assert_eq!(server.state.metrics().claims("claimed"), 3);
    server.stop().await;
}

#[tokio::test]
async fn two_devices_claiming_at_once_for_a_new_customer_share_one_cart_and_both_lines() {
    let (_dir, server) = server().await;
    let (_phone, phone) = anonymous_cart(&server, &[("TEE-M", 1)]).await;
    let (_laptop, laptop) = anonymous_cart(&server, &[("TEE-M", 2), ("MUG", 1)]).await;
    let token = token("cust_new");
    let (a, b) = tokio::join!(
        claim(&server, &token, &phone, KEY),
        claim(&server, &token, &laptop, KEY)
    );
    assert_eq!((a.0, b.0), (200, 200), "{} {}", a.1, b.1);
    let (customer_cart, _) = claimed_cart(&a.1);
    assert_eq!(claimed_cart(&b.1), claimed_cart(&a.1), "one cart");
    assert_eq!(
        server_lines(&server, &customer_cart).await,
        [line("MUG", 1), line("TEE-M", 3)]
    );
    assert!(server_lines(&server, &phone.cart).await.is_empty());
    assert!(server_lines(&server, &laptop.cart).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_claim_the_customer_cart_cannot_take_changes_nothing() {
    let limits = Limits {
        max_lines: 2,
        ..Limits::default()
    };
    let (_dir, server) = server_with(Some(SECRET), limits).await;
    let (_first, first) = anonymous_cart(&server, &[("TEE-M", 1), ("MUG", 1)]).await;
    let (status, body) = claim(&server, &token("cust_full"), &first, KEY).await;
    assert_eq!(status, 200, "{body}");
    let (customer_cart, _) = claimed_cart(&body);
    let (_second, second) = anonymous_cart(&server, &[("CAP", 1), ("MUG", 1)]).await;
    let before = support::stored(&server.db, &customer_cart).await;
    let (status, body) = claim(&server, &token("cust_full"), &second, KEY).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "cart_full");
    assert_eq!(support::stored(&server.db, &customer_cart).await, before);
    assert_eq!(
        server_lines(&server, &second.cart).await,
        [line("CAP", 1), line("MUG", 1)],
        "the anonymous cart keeps its lines"
    );
    assert_eq!(server.state.metrics().claims("cart_full"), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_claim_retried_after_the_clear_failed_adds_nothing_twice() {
    let (_dir, server) = server().await;
    let (mut phone_client, mut phone) = anonymous_cart(&server, &[("TEE-M", 2)]).await;
    // The server stores the customer's cart, then fails to store the anonymous cart's clear,
    // as if it crashed in between.
    let refuse_clear = format!(
        "CREATE TRIGGER no_clear BEFORE INSERT ON chunks WHEN NEW.cart_id = '{}'
         BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
        phone.cart
    );
    let db = rusqlite::Connection::open(&server.db).expect("open the sqlite file");
    db.execute_batch(&refuse_clear).expect("the trigger");

    let token = token("cust_7");
    let (status, body) = claim(&server, &token, &phone, KEY).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "storage");
    let customer = server
        .state
        .shop()
        .customer(&cart_server::store::shop::Customer {
            id: "cust_7".to_string(),
            cart_id: CartId::random().expect("random id").to_string(),
            key: "unused-key-0123456789".to_string(),
        })
        .await
        .expect("the customer exists");
    let customer_cart: CartId = customer.cart_id.parse().expect("a cart id");
    assert_eq!(
        server_lines(&server, &customer_cart).await,
        [line("TEE-M", 2)]
    );
    assert_eq!(
        server_lines(&server, &phone.cart).await,
        [line("TEE-M", 2)],
        "the lines are in both carts, never in neither"
    );

    db.execute_batch("DROP TRIGGER no_clear;")
        .expect("drop the trigger");
    // The shopper, still on the anonymous cart, adds a cap and a tee before retrying.
    phone.add("CAP", 1);
    phone.add("TEE-M", 1);
    phone_client.sync(&mut phone, false).await.expect("sync");
    let (status, body) = claim(&server, &token, &phone, KEY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        server_lines(&server, &customer_cart).await,
        [line("CAP", 1), line("TEE-M", 3)],
        "the retry added only what was new"
    );
    assert!(server_lines(&server, &phone.cart).await.is_empty());

    // Once more: the anonymous cart is empty, nothing moves.
    let before = support::stored(&server.db, &customer_cart).await;
    let (status, _) = claim(&server, &token, &phone, KEY).await;
    assert_eq!(status, 200);
    assert_eq!(support::stored(&server.db, &customer_cart).await, before);
    server.stop().await;
}

#[tokio::test]
async fn devices_linked_to_either_cart_see_the_claim_live() {
    let (_dir, server) = server().await;
    // The customer signed in on a laptop earlier; the laptop stays connected.
    let (_first, first) = anonymous_cart(&server, &[("MUG", 1)]).await;
    let (_, body) = claim(&server, &token("cust_9"), &first, KEY).await;
    let (customer_cart, customer_key) = claimed_cart(&body);
    let mut laptop = Replica::empty(customer_cart);
    let mut laptop_client = Client::connect(&server, &customer_key, "laptop", None).await;
    laptop_client.sync(&mut laptop, true).await.expect("sync");

    // Now the phone, whose anonymous cart a tablet shares, signs in.
    let (_phone, phone) = anonymous_cart(&server, &[("MUG", 2), ("CAP", 1)]).await;
    let mut tablet = Replica::empty(phone.cart);
    let mut tablet_client = Client::connect(&server, KEY, "tablet", None).await;
    tablet_client.sync(&mut tablet, true).await.expect("sync");
    let (status, body) = claim(&server, &token("cust_9"), &phone, KEY).await;
    assert_eq!(status, 200, "{body}");

    receive_until(
        &mut laptop_client,
        &mut laptop,
        &[line("CAP", 1), line("MUG", 3)],
    )
    .await;
    receive_until(&mut tablet_client, &mut tablet, &[]).await;
    server.stop().await;
}

#[tokio::test]
async fn bad_tokens_are_refused_with_401_and_change_nothing() {
    let (_dir, server) = server().await;
    let (_phone, phone) = anonymous_cart(&server, &[("TEE-M", 2)]).await;
    let header = json!({ "alg": "HS256", "typ": "JWT" });
    let claims = |exp: i64| json!({ "sub": "cust_1", "exp": exp });
    let good = token("cust_1");
    let (signed, signature) = good.rsplit_once('.').expect("three parts");
    let (head, _) = signed.split_once('.').expect("three parts");
    let tampered = format!(
        "{head}.{}.{signature}",
        b64(json!({ "sub": "cust_2", "exp": now() + 300 })
            .to_string()
            .as_bytes())
    );
    let none = format!(
        "{}.{}.",
        b64(json!({ "alg": "none", "typ": "JWT" })
            .to_string()
            .as_bytes()),
        b64(claims(now() + 300).to_string().as_bytes())
    );
    let cases = [
        ("expired", sign(&header, &claims(now() - 120), SECRET)),
        (
            "too far ahead",
            sign(&header, &claims(now() + 7200), SECRET),
        ),
        ("alg none", none),
        (
            "another secret",
            sign(
                &header,
                &claims(now() + 300),
                "not-the-secret-the-server-was-given",
            ),
        ),
        ("tampered sub", tampered),
        ("not a token", "garbage".to_string()),
    ];
    let carts = carts_stored(&server).await;
    let before = support::stored(&server.db, &phone.cart).await;
    for (case, token) in &cases {
        let (status, body) = claim(&server, token, &phone, KEY).await;
        assert_eq!(status, 401, "{case}: {body}");
        assert_eq!(body["code"], "invalid_token", "{case}");
        let message = body["message"].as_str().expect("a message");
        assert!(!message.contains(token.as_str()), "{case}: {message}");
    }
    assert_eq!(
        carts_stored(&server).await,
        carts,
        "no customer cart was made"
    );
    assert_eq!(support::stored(&server.db, &phone.cart).await, before);
    assert_eq!(
        server.state.metrics().claims("invalid_token"),
        cases.len() as u64
    );
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_anonymous_key_gets_404_and_changes_nothing() {
    let (_dir, server) = server().await;
    let (_phone, phone) = anonymous_cart(&server, &[("TEE-M", 2)]).await;
    let carts = carts_stored(&server).await;
    let before = support::stored(&server.db, &phone.cart).await;
    let (status, body) = claim(&server, &token("cust_3"), &phone, OTHER_KEY).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "not_found");
    let unknown = Replica::empty(CartId::random().expect("random id"));
    let (status, _) = claim(&server, &token("cust_3"), &unknown, KEY).await;
    assert_eq!(status, 404, "a cart the server does not have");
    assert_eq!(carts_stored(&server).await, carts);
    assert_eq!(support::stored(&server.db, &phone.cart).await, before);
    assert_eq!(server.state.metrics().claims("not_found"), 2);
    server.stop().await;
}

#[tokio::test]
async fn without_a_claim_secret_the_claim_is_off_and_bad_requests_get_400() {
    let (_dir, off) = server_with(None, Limits::default()).await;
    let (status, body) = post_json(&off, CLAIM, &json!({ "token": token("c") })).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("claim_off")));
    off.stop().await;

    let (_dir, server) = server().await;
    let (_phone, phone) = anonymous_cart(&server, &[("TEE-M", 2)]).await;
    for bad in [
        json!({}),
        json!({ "token": token("c"), "cartId": phone.cart.to_string() }),
        json!({ "token": token("c"), "cartId": "not-a-cart", "key": KEY }),
        json!({ "token": token("c"), "cartId": phone.cart.to_string(), "key": "short" }),
        json!({ "token": token("c"), "extra": 1 }),
    ] {
        let (status, body) = post_json(&server, CLAIM, &bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["code"], "invalid_request", "{bad}");
    }
    assert_eq!(server_lines(&server, &phone.cart).await, [line("TEE-M", 2)]);
    server.stop().await;
}
