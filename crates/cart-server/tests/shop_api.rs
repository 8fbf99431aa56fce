//! The HTTP JSON API against a real server on loopback with a temporary SQLite file: catalog,
//! checkout (exactly-once orders, re-pricing, refusals, the merge-safe clear), orders, sign-in
//! and bad requests. Carts are created on the server first by syncing them with the protocol
//! client, as the browser does.

mod support;

use std::path::PathBuf;

use cart_core::fixtures::priced;
use cart_core::CartId;
use cart_server::limits::Limits;
use cart_server::origins::AllowedOrigins;
use cart_server::secret::AdminToken;
use cart_server::store::SqliteStore;
use cart_server::ServerOptions;
use serde_json::{json, Value};
use support::{
    http_request, post_json as post, receive_until, server_lines, Client, Replica, TestServer, KEY,
    OTHER_KEY,
};
use tempfile::TempDir;

async fn server() -> (TempDir, TestServer) {
    let dir = TempDir::new().unwrap();
    let server = TestServer::start(&db(&dir), Limits::default(), None).await;
    (dir, server)
}

fn db(dir: &TempDir) -> PathBuf {
    dir.path().join("carts.sqlite3")
}

fn add(replica: &mut Replica, sku: &str, quantity: i64, unit_price: i64) {
    replica.edit(|cart| {
        cart.add_item(&priced(sku, quantity, unit_price))
            .expect("a valid add")
    });
}

fn heads(replica: &Replica) -> Vec<String> {
    replica
        .doc
        .get_heads()
        .iter()
        .map(|h| h.to_string())
        .collect()
}

async fn checkout(server: &TestServer, replica: &Replica, key: &str) -> (u16, Value) {
    let path = format!("/api/carts/{}/checkout", replica.cart);
    post(
        server,
        &path,
        &json!({ "heads": heads(replica), "key": key }),
    )
    .await
}

/// A new cart with `lines` (sku, quantity, price the cart records), synced to the server.
async fn synced_cart(server: &TestServer, lines: &[(&str, i64, i64)]) -> (Client, Replica) {
    let mut replica = Replica::empty(CartId::random().unwrap());
    for (sku, quantity, price) in lines {
        add(&mut replica, sku, *quantity, *price);
    }
    let mut client = Client::connect(server, KEY, "owner-device", None).await;
    client
        .sync(&mut replica, false)
        .await
        .expect("the cart syncs");
    (client, replica)
}

fn sorted(mut lines: Vec<(String, i64)>) -> Vec<(String, i64)> {
    lines.sort();
    lines
}

fn line(sku: &str, quantity: i64) -> (String, i64) {
    (sku.to_string(), quantity)
}

/// The (sku, quantity) of each line of the order in a checkout answer, in order.
fn ordered(answer: &Value) -> Vec<(String, i64)> {
    answer["order"]["lines"]
        .as_array()
        .expect("an order with lines")
        .iter()
        .map(|l| {
            (
                l["sku"].as_str().unwrap().to_string(),
                l["quantity"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// A second device of `cart`, synced from the server.
async fn second_device(server: &TestServer, cart: CartId, peer: &str) -> (Client, Replica) {
    let mut replica = Replica::empty(cart);
    let mut client = Client::connect(server, KEY, peer, None).await;
    client
        .sync(&mut replica, true)
        .await
        .expect("the second device gets the cart");
    (client, replica)
}

async fn order_count(server: &TestServer, cart: &CartId) -> u64 {
    server
        .state
        .shop()
        .order_count(&cart.to_string())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_catalog_is_served_with_an_etag_and_seeded_once() {
    let dir = TempDir::new().unwrap();
    let server = TestServer::start(&db(&dir), Limits::default(), None).await;
    let (status, headers, body) = http_request(&server, "GET", "/api/catalog", &[], b"").await;
    assert_eq!(status, 200);
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(header("cache-control"), "no-cache");
    let etag = header("etag");
    assert!(etag.starts_with('"') && etag.len() > 2, "{etag}");
    let catalog: Value = serde_json::from_slice(&body).unwrap();
    let products = catalog["products"].as_array().unwrap();
    assert!(products.len() >= 12, "about a dozen products");
    let gift = products.iter().find(|p| p["sku"] == "GIFT").unwrap();
    assert!(gift["name"].as_str().unwrap().contains("<b>&amp;"));
    let poster = products.iter().find(|p| p["sku"] == "POSTER").unwrap();
    assert_eq!(poster["available"], false);
    let tee = products.iter().find(|p| p["sku"] == "TEE-M").unwrap();
    assert_eq!(tee["unitPrice"], 2490);
    assert_eq!(tee["currency"], "EUR");
    assert_eq!(tee["group"], "TEE");
    assert_eq!(tee["variant"], "M");
    assert_eq!(tee["art"]["shape"], "tee");
    assert!(tee["description"].as_str().is_some_and(|d| !d.is_empty()));

    let (status, _, body) = http_request(
        &server,
        "GET",
        "/api/catalog",
        &[("If-None-Match", &etag)],
        b"",
    )
    .await;
    assert_eq!(status, 304);
    assert!(body.is_empty());

    // A changed product survives a restart; nothing is duplicated.
    let mut mug = server
        .state
        .shop()
        .catalog()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.sku == "MUG")
        .unwrap();
    mug.unit_price = 1600;
    server.state.shop().put_product(&mug).await.unwrap();
    server.stop().await;
    let server = TestServer::start(&db(&dir), Limits::default(), None).await;
    let (_, _, body) = http_request(&server, "GET", "/api/catalog", &[], b"").await;
    let again: Value = serde_json::from_slice(&body).unwrap();
    let again = again["products"].as_array().unwrap();
    assert_eq!(
        again.len(),
        products.len(),
        "a restart must not duplicate products"
    );
    let mug = again.iter().find(|p| p["sku"] == "MUG").unwrap();
    assert_eq!(mug["unitPrice"], 1600, "seeding must not undo a change");
    server.stop().await;
}

#[tokio::test]
async fn checkout_creates_one_order_and_a_repeat_returns_the_same_order() {
    let (_dir, server) = server().await;
    // TEE-M costs 2490 in the catalog; the cart recorded 1999. MUG matches the catalog.
    let (_client, replica) = synced_cart(&server, &[("TEE-M", 2, 1999), ("MUG", 1, 1450)]).await;
    let (status, first) = checkout(&server, &replica, KEY).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["repeated"], false);
    let order = &first["order"];
    assert!(order["id"].as_str().unwrap().starts_with("ord_"));
    assert_eq!(order["cartId"], replica.cart.to_string());
    assert!(order["createdAt"].as_i64().unwrap() > 0);
    let lines = order["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["sku"], "TEE-M");
    assert_eq!(lines[0]["quantity"], 2);
    assert_eq!(lines[0]["unitPrice"], 2490, "the server's price wins");
    assert_eq!(lines[0]["cartUnitPrice"], 1999);
    assert_eq!(lines[0]["priceChanged"], true);
    assert_eq!(lines[0]["name"], "Organic cotton tee");
    assert_eq!(lines[1]["sku"], "MUG");
    assert_eq!(lines[1]["priceChanged"], false);
    assert_eq!(
        order["totals"],
        json!([{ "currency": "EUR", "amount": 2 * 2490 + 1450 }])
    );

    let (status, second) = checkout(&server, &replica, KEY).await;
    assert_eq!(status, 200);
    assert_eq!(second["repeated"], true);
    assert_eq!(
        second["order"], first["order"],
        "a repeat returns the same order"
    );
    assert_eq!(order_count(&server, &replica.cart).await, 1);
    assert_eq!(server.state.metrics().orders_created(), 1);

    // The key may also come as a bearer token.
    let path = format!("/api/carts/{}/checkout", replica.cart);
    let body = serde_json::to_vec(&json!({ "heads": heads(&replica) })).unwrap();
    let bearer = format!("Bearer {KEY}");
    let (status, _, body) =
        http_request(&server, "POST", &path, &[("Authorization", &bearer)], &body).await;
    assert_eq!(status, 200);
    let third: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(third["order"], first["order"]);

    // The order can be read back with the cart's key, and only with it.
    let id = order["id"].as_str().unwrap();
    let path = format!("/api/orders/{id}");
    let (status, _, body) =
        http_request(&server, "GET", &path, &[("Authorization", &bearer)], b"").await;
    assert_eq!(status, 200);
    let read: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(read["order"], first["order"]);
    let wrong = format!("{path}?key={OTHER_KEY}");
    let (status, _, body) = http_request(&server, "GET", &wrong, &[], b"").await;
    assert_eq!(status, 404);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "not_found");
    let metrics =
        String::from_utf8(http_request(&server, "GET", "/metrics", &[], b"").await.2).unwrap();
    assert!(
        metrics.contains("cart_server_orders_created_total 1\n"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn two_concurrent_identical_checkouts_create_one_order() {
    let (_dir, server) = server().await;
    let (_client, replica) = synced_cart(&server, &[("MUG", 1, 1450), ("CAP-SAND", 1, 1900)]).await;
    let ((sa, a), (sb, b)) = tokio::join!(
        checkout(&server, &replica, KEY),
        checkout(&server, &replica, KEY)
    );
    assert_eq!((sa, sb), (200, 200), "{a} {b}");
    assert_eq!(a["order"], b["order"]);
    let repeated = [
        a["repeated"].as_bool().unwrap(),
        b["repeated"].as_bool().unwrap(),
    ];
    assert_eq!(
        repeated.iter().filter(|r| !**r).count(),
        1,
        "exactly one creates it"
    );
    assert_eq!(order_count(&server, &replica.cart).await, 1);
    assert_eq!(server_lines(&server, &replica.cart).await, vec![]);
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_key_and_an_unknown_cart_both_get_404() {
    let (_dir, server) = server().await;
    let (_client, replica) = synced_cart(&server, &[("MUG", 1, 1450)]).await;
    let (status, wrong) = checkout(&server, &replica, OTHER_KEY).await;
    assert_eq!(status, 404);
    assert_eq!(wrong["code"], "not_found");
    let mut unknown = Replica::empty(CartId::random().unwrap());
    add(&mut unknown, "MUG", 1, 1450);
    let (status, missing) = checkout(&server, &unknown, KEY).await;
    assert_eq!(status, 404);
    assert_eq!(missing, wrong, "an unknown cart looks like a wrong key");
    assert_eq!(order_count(&server, &replica.cart).await, 0);
    assert_eq!(server.state.metrics().checkouts_refused("not_found"), 2);
    server.stop().await;
}

#[tokio::test]
async fn heads_the_server_lacks_get_sync_first_and_succeed_after_syncing() {
    let (_dir, server) = server().await;
    let (mut client, mut replica) = synced_cart(&server, &[("MUG", 1, 1450)]).await;
    add(&mut replica, "TOTE", 1, 1200);
    let (status, body) = checkout(&server, &replica, KEY).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "sync_first");
    assert!(body["message"].as_str().unwrap().contains("sync"));
    client.sync(&mut replica, false).await.unwrap();
    let (status, body) = checkout(&server, &replica, KEY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["order"]["lines"].as_array().unwrap().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn unknown_and_unavailable_skus_are_refused_per_line_and_no_order_is_made() {
    let (_dir, server) = server().await;
    let lines = [("MUG", 1, 1450), ("POSTER", 1, 3500), ("NOPE", 2, 100)];
    let (_client, replica) = synced_cart(&server, &lines).await;
    let (status, body) = checkout(&server, &replica, KEY).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "lines_refused");
    let refused: Vec<(String, String)> = body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["sku"].as_str().unwrap().to_string(),
                l["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        refused,
        [
            ("POSTER".to_string(), "unavailable".to_string()),
            ("NOPE".to_string(), "unknown_sku".to_string())
        ]
    );
    assert_eq!(order_count(&server, &replica.cart).await, 0);
    assert_eq!(
        server_lines(&server, &replica.cart).await.len(),
        3,
        "a refused checkout clears nothing"
    );
    assert_eq!(server.state.metrics().checkouts_refused("lines_refused"), 1);
    server.stop().await;
}

#[tokio::test]
async fn an_empty_cart_is_refused() {
    let (_dir, server) = server().await;
    let (mut client, mut replica) = synced_cart(&server, &[("MUG", 1, 1450)]).await;
    replica.edit(|cart| {
        cart.remove_item("MUG").unwrap();
    });
    client.sync(&mut replica, false).await.unwrap();
    let (status, body) = checkout(&server, &replica, KEY).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "empty_cart");
    assert_eq!(order_count(&server, &replica.cart).await, 0);
    server.stop().await;
}

#[tokio::test]
async fn checkout_clears_the_ordered_lines_but_a_concurrent_add_survives_and_reaches_peers_live() {
    let (_dir, server) = server().await;
    let (mut phone_client, phone) =
        synced_cart(&server, &[("TEE-M", 2, 2490), ("MUG", 1, 1450)]).await;
    // A laptop has the same cart, adds one more mug and a new line, and syncs; the phone checks
    // out at its own heads, which have not seen those adds.
    let mut laptop = Replica::empty(phone.cart);
    let mut laptop_client = Client::connect(&server, KEY, "laptop", None).await;
    laptop_client.sync(&mut laptop, true).await.unwrap();
    add(&mut laptop, "MUG", 1, 1450);
    add(&mut laptop, "SOCKS-36", 1, 1150);
    laptop_client.sync(&mut laptop, false).await.unwrap();

    let (status, body) = checkout(&server, &phone, KEY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        ordered(&body),
        [line("TEE-M", 2), line("MUG", 1)],
        "the order is the cart at its heads"
    );
    let expected = vec![line("MUG", 1), line("SOCKS-36", 1)];
    assert_eq!(server_lines(&server, &phone.cart).await, expected);

    // The laptop, still connected, is sent the clear without asking.
    receive_until(&mut laptop_client, &mut laptop, &expected).await;

    // So is the phone (after the laptop's adds), which then agrees.
    let checked_out = Replica {
        cart: phone.cart,
        doc: phone.doc.clone(),
        state: automerge::sync::State::new(),
    };
    let mut phone = phone;
    receive_until(&mut phone_client, &mut phone, &expected).await;

    // A repeat returns the same order and changes nothing more.
    let before = support::stored(&server.db, &phone.cart).await.1;
    let (status, again) = checkout(&server, &checked_out, KEY).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["repeated"], true);
    assert_eq!(again["order"], body["order"]);
    assert_eq!(support::stored(&server.db, &phone.cart).await.1, before);
    assert_eq!(server_lines(&server, &phone.cart).await, expected);
    server.stop().await;
}

#[tokio::test]
async fn an_offline_device_does_not_bring_ordered_lines_back() {
    let (_dir, server) = server().await;
    let (client, phone) = synced_cart(&server, &[("TEE-L", 1, 2490), ("BOTTLE", 2, 2200)]).await;
    // The tablet had the cart at the checkout heads and went offline.
    let mut tablet = Replica::empty(phone.cart);
    let mut tablet_client = Client::connect(&server, KEY, "tablet", None).await;
    tablet_client.sync(&mut tablet, true).await.unwrap();
    drop(tablet_client);
    drop(client);

    let (status, body) = checkout(&server, &phone, KEY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server_lines(&server, &phone.cart).await, vec![]);

    // Offline, the tablet still shows the lines and adds a cap; then it comes back.
    assert_eq!(tablet.lines().len(), 2);
    add(&mut tablet, "CAP-NAVY", 1, 1900);
    let mut tablet = tablet.restarted();
    tablet.state = automerge::sync::State::new();
    let mut tablet_client = Client::connect(&server, KEY, "tablet-again", None).await;
    tablet_client.sync(&mut tablet, false).await.unwrap();
    assert_eq!(
        tablet.lines(),
        vec![line("CAP-NAVY", 1)],
        "the ordered lines stay gone"
    );
    assert_eq!(
        server_lines(&server, &phone.cart).await,
        vec![line("CAP-NAVY", 1)]
    );
    assert_eq!(order_count(&server, &phone.cart).await, 1);
    server.stop().await;
}

#[tokio::test]
async fn a_unit_an_earlier_order_took_is_not_ordered_again_from_heads_that_missed_that_order() {
    let (_dir, server) = server().await;
    // Devices A and B both hold one tee at heads H0.
    let (_a_client, a) = synced_cart(&server, &[("TEE-M", 1, 2490)]).await;
    let (mut b_client, mut b) = second_device(&server, a.cart, "device-b").await;
    assert_eq!(b.doc.get_heads(), a.doc.get_heads());
    // B adds a mug (change Y on H0) and syncs it; then A checks out at H0.
    add(&mut b, "MUG", 1, 1450);
    b_client.sync(&mut b, false).await.unwrap();
    let (status, first) = checkout(&server, &a, KEY).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(ordered(&first), [line("TEE-M", 1)]);

    // B checks out at [Y], which has not seen A's order: the tee is not ordered twice.
    let (status, second) = checkout(&server, &b, KEY).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["repeated"], false);
    assert_eq!(
        ordered(&second),
        [line("MUG", 1)],
        "the tee was ordered once"
    );
    assert_ne!(second["order"]["id"], first["order"]["id"]);
    assert_eq!(server_lines(&server, &a.cart).await, vec![]);

    // Each request, repeated, returns its own order and orders nothing more.
    for (device, answer) in [(&a, &first), (&b, &second)] {
        let (status, again) = checkout(&server, device, KEY).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["repeated"], true);
        assert_eq!(again["order"], answer["order"]);
    }
    assert_eq!(order_count(&server, &a.cart).await, 2);
    server.stop().await;
}

#[tokio::test]
async fn of_two_racing_checkouts_at_different_heads_each_unit_is_ordered_once() {
    let (_dir, server) = server().await;
    let (_a_client, a) = synced_cart(&server, &[("TEE-M", 1, 2490)]).await;
    let (mut b_client, mut b) = second_device(&server, a.cart, "device-b").await;
    add(&mut b, "MUG", 1, 1450);
    b_client.sync(&mut b, false).await.unwrap();
    let (first, second) = tokio::join!(checkout(&server, &a, KEY), checkout(&server, &b, KEY));
    // Whichever runs second orders what is left: the mug, or nothing (`empty_cart`).
    let mut units: Vec<(String, i64)> = Vec::new();
    for (status, answer) in [first, second] {
        match status {
            200 => units.extend(ordered(&answer)),
            422 => assert_eq!(answer["code"], "empty_cart", "{answer}"),
            _ => panic!("unexpected answer {status}: {answer}"),
        }
    }
    assert_eq!(sorted(units), [line("MUG", 1), line("TEE-M", 1)]);
    assert_eq!(server_lines(&server, &a.cart).await, vec![]);
    server.stop().await;
}

#[tokio::test]
async fn an_order_keeps_concurrent_adds_but_not_what_a_concurrent_earlier_order_took() {
    let (_dir, server) = server().await;
    let (mut a_client, mut a) = synced_cart(&server, &[("TEE-M", 1, 2490)]).await;
    let (mut b_client, mut b) = second_device(&server, a.cart, "device-b").await;
    // Concurrently, A adds a cap and B a mug, each on H0; A checks out tee and cap.
    add(&mut a, "CAP-NAVY", 1, 1900);
    a_client.sync(&mut a, false).await.unwrap();
    add(&mut b, "MUG", 1, 1450);
    // B checks out at [Y] (its sync may bring it the cap).
    let b_at_y = Replica {
        cart: b.cart,
        doc: b.doc.clone(),
        state: automerge::sync::State::new(),
    };
    let b_heads = heads(&b_at_y);
    b_client.sync(&mut b, false).await.unwrap();
    let (status, first) = checkout(&server, &a, KEY).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(ordered(&first), [line("TEE-M", 1), line("CAP-NAVY", 1)]);

    // B never saw the cap and has not seen the order: it orders its mug only.
    let (status, second) = checkout(&server, &b_at_y, KEY).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(ordered(&second), [line("MUG", 1)]);
    let read_at: Vec<&str> = second["order"]["heads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(read_at.len(), 2, "B's heads and the earlier order's clear");
    assert!(read_at.contains(&b_heads[0].as_str()), "{read_at:?}");
    assert_eq!(server_lines(&server, &a.cart).await, vec![]);
    assert_eq!(order_count(&server, &a.cart).await, 2);
    server.stop().await;
}

#[tokio::test]
async fn an_order_and_its_clear_are_stored_together_or_not_at_all() {
    let (_dir, server) = server().await;
    let (_client, replica) = synced_cart(&server, &[("MUG", 2, 1450)]).await;
    // The disk refuses every new chunk, as a full disk would.
    support::break_chunk_writes(&server.db);
    let (status, body) = checkout(&server, &replica, KEY).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "storage");
    assert_eq!(
        order_count(&server, &replica.cart).await,
        0,
        "no order without its clear"
    );
    assert_eq!(server_lines(&server, &replica.cart).await, [line("MUG", 2)]);

    // Once the disk takes writes again, the retry creates the order and its clear, once.
    support::mend_chunk_writes(&server.db);
    let (status, body) = checkout(&server, &replica, KEY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["repeated"], false);
    assert_eq!(ordered(&body), [line("MUG", 2)]);
    assert_eq!(order_count(&server, &replica.cart).await, 1);
    assert_eq!(server_lines(&server, &replica.cart).await, vec![]);
    server.stop().await;
}

#[tokio::test]
async fn the_clear_is_stored_even_when_it_takes_the_cart_over_the_size_limit() {
    let dir = TempDir::new().unwrap();
    let mut replica = Replica::empty(CartId::random().unwrap());
    add(&mut replica, "TEE-M", 1, 2490);
    add(&mut replica, "MUG", 3, 1450);
    // The cart just fits; anything more is over the limit.
    let max_document_bytes = replica.doc.save().len();
    let limits = Limits {
        max_document_bytes,
        ..Limits::default()
    };
    let server = TestServer::start(&db(&dir), limits, None).await;
    let mut client = Client::connect(&server, KEY, "owner-device", None).await;
    client
        .sync(&mut replica, false)
        .await
        .expect("the cart fits");

    let (status, body) = checkout(&server, &replica, KEY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ordered(&body), [line("TEE-M", 1), line("MUG", 3)]);
    assert_eq!(server_lines(&server, &replica.cart).await, vec![]);
    let store = SqliteStore::open(&server.db).await.unwrap();
    let chunks = cart_server::store::DocStore::load_chunks(&store, &replica.cart)
        .await
        .unwrap();
    let mut stored = automerge::Automerge::new();
    for chunk in &chunks {
        stored.load_incremental(&chunk.bytes).unwrap();
    }
    assert!(
        stored.save().len() > max_document_bytes,
        "the clear took the cart over the limit and was stored anyway"
    );
    server.stop().await;
}

#[tokio::test]
async fn sign_in_returns_the_same_cart_for_the_same_name() {
    let (_dir, server) = server().await;
    let (status, alice) = post(&server, "/api/signin", &json!({ "name": "alice" })).await;
    assert_eq!(status, 200, "{alice}");
    assert_eq!(alice["account"], "alice");
    let cart: CartId = alice["cartId"]
        .as_str()
        .unwrap()
        .parse()
        .expect("a cart id");
    let key = alice["key"].as_str().unwrap();
    assert!(key.len() >= 16);
    let (status, again) = post(&server, "/api/signin", &json!({ "name": "  alice " })).await;
    assert_eq!(status, 200);
    assert_eq!(again, alice, "the same name gets the same cart and key");
    let (_, bob) = post(&server, "/api/signin", &json!({ "name": "bob" })).await;
    assert_ne!(bob["cartId"], alice["cartId"]);
    assert_ne!(bob["key"], alice["key"]);

    // The account's cart syncs with its key and checks out with it.
    let mut replica = Replica::empty(cart);
    add(&mut replica, "NOTEBOOK", 3, 990);
    let mut client = Client::connect(&server, key, "alice-phone", None).await;
    client.sync(&mut replica, false).await.unwrap();
    let (status, body) = checkout(&server, &replica, key).await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn bad_requests_get_clear_json_errors() {
    let (_dir, server) = server().await;
    let (_client, replica) = synced_cart(&server, &[("MUG", 1, 1450)]).await;
    let checkout_path = format!("/api/carts/{}/checkout", replica.cart);
    let expect = |(status, body): (u16, Vec<u8>), want_status: u16, want_code: &str| {
        let body: Value = serde_json::from_slice(&body).expect("a JSON error body");
        assert_eq!(status, want_status, "{body}");
        assert_eq!(body["code"], want_code, "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(!message.is_empty());
        assert!(
            message.starts_with(|c: char| c.is_lowercase()),
            "messages are lowercase sentences: {message}"
        );
    };
    let raw = |path: String, body: Vec<u8>| {
        let server = &server;
        async move {
            let (status, _, body) = http_request(server, "POST", &path, &[], &body).await;
            (status, body)
        }
    };
    expect(
        raw(checkout_path.clone(), b"{not json".to_vec()).await,
        400,
        "invalid_request",
    );
    expect(
        raw(checkout_path.clone(), b"{\"heads\": \"x\"}".to_vec()).await,
        400,
        "invalid_request",
    );
    expect(
        raw(
            checkout_path.clone(),
            serde_json::to_vec(&json!({"heads": heads(&replica), "key": KEY, "price": 1})).unwrap(),
        )
        .await,
        400,
        "invalid_request",
    );
    expect(
        raw(
            checkout_path.clone(),
            serde_json::to_vec(&json!({"heads": heads(&replica)})).unwrap(),
        )
        .await,
        400,
        "invalid_request",
    );
    expect(
        raw(
            checkout_path.clone(),
            serde_json::to_vec(&json!({"heads": ["abc"], "key": KEY})).unwrap(),
        )
        .await,
        400,
        "invalid_request",
    );
    expect(
        raw(
            checkout_path.clone(),
            serde_json::to_vec(&json!({"heads": [], "key": KEY})).unwrap(),
        )
        .await,
        400,
        "invalid_request",
    );
    expect(
        raw(
            "/api/carts/not-a-cart/checkout".into(),
            serde_json::to_vec(&json!({"heads": heads(&replica), "key": KEY})).unwrap(),
        )
        .await,
        400,
        "invalid_request",
    );
    let huge = serde_json::to_vec(&json!({"name": "x".repeat(20_000)})).unwrap();
    expect(raw("/api/signin".into(), huge).await, 413, "body_too_large");
    expect(
        raw("/api/signin".into(), b"[]".to_vec()).await,
        400,
        "invalid_request",
    );
    for name in ["", "   ", &"n".repeat(65), "tab\there"] {
        let body = serde_json::to_vec(&json!({ "name": name })).unwrap();
        expect(
            raw("/api/signin".into(), body).await,
            400,
            "invalid_request",
        );
    }
    assert_eq!(order_count(&server, &replica.cart).await, 0);
    server.stop().await;
}

/// A server that lets `https://shop.example` (a storefront on another host) use it.
async fn server_for_shop() -> (TempDir, TestServer) {
    let dir = TempDir::new().unwrap();
    let options = ServerOptions {
        allowed_origins: AllowedOrigins::parse("https://shop.example").unwrap(),
        ..ServerOptions::default()
    };
    let server = TestServer::start_with(&db(&dir), options).await;
    (dir, server)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_listed_storefront_origin_may_call_the_api_from_its_pages_and_others_may_not() {
    let (_dir, server) = server_for_shop().await;
    // What `origin` may read of `method path` (with `extra` headers): status, allowed origin,
    // allowed methods.
    let ask = |method: &'static str,
               path: &'static str,
               origin: &'static str,
               extra: &[(&'static str, &'static str)]| {
        let mut headers = vec![("Origin", origin)];
        headers.extend_from_slice(extra);
        let server = &server;
        async move {
            let (status, headers, _) = http_request(server, method, path, &headers, b"").await;
            let allowed = |name| header(&headers, name).map(str::to_string);
            (
                status,
                allowed("access-control-allow-origin"),
                allowed("access-control-allow-methods"),
            )
        }
    };
    let shop = Some("https://shop.example".to_string());
    // The browser's preflight before a JSON POST from the shop's pages.
    let preflight = [
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "content-type"),
    ];
    let (status, origin, methods) = ask(
        "OPTIONS",
        "/api/carts/x/checkout",
        "https://shop.example",
        &preflight,
    )
    .await;
    assert_eq!((status, &origin), (200, &shop));
    assert!(methods.is_some_and(|m| m.contains("POST")));

    let (status, origin, _) = ask("GET", "/api/catalog", "https://shop.example", &[]).await;
    assert_eq!((status, origin), (200, shop));
    let (status, origin, _) = ask("GET", "/api/catalog", "https://evil.example", &[]).await;
    assert_eq!(
        (status, origin),
        (200, None),
        "answered, but the browser may not show it to the page"
    );
    server.stop().await;
}

#[tokio::test]
async fn with_a_list_of_origins_sync_sockets_from_other_origins_are_refused() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Error as WsError;

    let (_dir, server) = server_for_shop().await;
    let from = |origin: Option<&str>| {
        let mut request = server.url(KEY).into_client_request().unwrap();
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("Origin", origin.parse().unwrap());
        }
        request
    };
    for origin in [None, Some("https://shop.example")] {
        let connected = tokio_tungstenite::connect_async(from(origin)).await;
        assert!(connected.is_ok(), "{origin:?} may sync: {connected:?}");
    }
    match tokio_tungstenite::connect_async(from(Some("https://evil.example"))).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("a page of another origin is refused, got {other:?}"),
    }
    server.stop().await;
}

const ADMIN_TOKEN: &str = "admin-token-0123456789-abcdefghij";

/// A real shop's server: no demo catalog, no name-only sign-in, the admin API on when `admin`.
async fn shop_server(admin: bool) -> (TempDir, TestServer) {
    let dir = TempDir::new().unwrap();
    let options = ServerOptions {
        admin_token: admin.then(|| AdminToken::parse(ADMIN_TOKEN).unwrap()),
        ..ServerOptions::default()
    };
    let server = TestServer::start_with(&db(&dir), options).await;
    (dir, server)
}

/// `PUT /api/catalog` with `products`, authorized as `token`.
async fn put_catalog(server: &TestServer, token: Option<&str>, products: &Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(&json!({ "products": products })).unwrap();
    let authorization = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(authorization) = &authorization {
        headers.push(("Authorization", authorization));
    }
    let (status, _, body) = http_request(server, "PUT", "/api/catalog", &headers, &bytes).await;
    (status, serde_json::from_slice(&body).expect("a JSON body"))
}

async fn catalog_skus(server: &TestServer) -> Vec<String> {
    let (status, _, body) = http_request(server, "GET", "/api/catalog", &[], b"").await;
    assert_eq!(status, 200);
    let catalog: Value = serde_json::from_slice(&body).unwrap();
    catalog["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap().to_string())
        .collect()
}

fn shop_product(sku: &str, unit_price: i64) -> Value {
    json!({
        "sku": sku, "name": format!("Product {sku}"), "description": "From the shop's own catalog.",
        "unitPrice": unit_price, "currency": "EUR", "available": true,
        "art": { "shape": "star", "bg": "#ffffff", "fg": "#000000" }
    })
}

#[tokio::test]
async fn a_real_shop_starts_with_no_catalog_and_no_name_only_sign_in() {
    let (_dir, server) = shop_server(false).await;
    assert!(catalog_skus(&server).await.is_empty());
    let (status, _, _) = http_request(
        &server,
        "POST",
        "/api/signin",
        &[("Content-Type", "application/json")],
        br#"{"name":"alice"}"#,
    )
    .await;
    assert_eq!(status, 404, "the demo sign-in is not there");
    let (status, body) = put_catalog(&server, Some(ADMIN_TOKEN), &json!([])).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("admin_api_off"))
    );
    server.stop().await;
}

#[tokio::test]
async fn the_shops_admin_replaces_the_catalog_with_its_token_and_checkout_prices_from_it() {
    let (_dir, server) = shop_server(true).await;
    let products = json!([shop_product("MUG", 1200), shop_product("TEE-M", 2000)]);
    for token in [None, Some("admin-token-0123456789-abcdefghiX")] {
        let (status, body) = put_catalog(&server, token, &products).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("unauthorized")),
            "{token:?}"
        );
    }
    let (status, body) = put_catalog(&server, Some(ADMIN_TOKEN), &products).await;
    assert_eq!((status, &body), (200, &json!({ "products": 2 })));
    assert_eq!(catalog_skus(&server).await, ["MUG", "TEE-M"]);

    // The scheme is case-insensitive (RFC 9110), as for the cart key's bearer header.
    let bytes = serde_json::to_vec(&json!({ "products": products })).unwrap();
    let lower_case = format!("bearer {ADMIN_TOKEN}");
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", lower_case.as_str()),
    ];
    let (status, _, _) = http_request(&server, "PUT", "/api/catalog", &headers, &bytes).await;
    assert_eq!(status, 200);

    // A bad product refuses the whole catalog, naming it; the stored one stays.
    let mut bad = products.clone();
    bad[1]["currency"] = json!("euro");
    let (status, body) = put_catalog(&server, Some(ADMIN_TOKEN), &bad).await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("product 1 (sku \"TEE-M\")"),
        "{body}"
    );
    assert_eq!(catalog_skus(&server).await, ["MUG", "TEE-M"]);

    // Checkout prices from the shop's catalog: the cart recorded 1999, the shop says 1200.
    let (_client, replica) = synced_cart(&server, &[("MUG", 1, 1999)]).await;
    let (status, body) = checkout(&server, &replica, KEY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["order"]["lines"][0]["unitPrice"], 1200);

    // A catalog larger than the API's other bodies (16 KiB) is taken whole.
    let many: Vec<Value> = (0..400)
        .map(|n| shop_product(&format!("SKU-{n}"), 100 + n))
        .collect();
    let (status, body) = put_catalog(&server, Some(ADMIN_TOKEN), &json!(many)).await;
    assert_eq!((status, &body), (200, &json!({ "products": 400 })));
    assert_eq!(catalog_skus(&server).await.len(), 400);
    server.stop().await;
}
