//! The `cart-server` binary itself: configuration from the environment, a crash (SIGKILL)
//! after acknowledged changes, and graceful shutdown on SIGTERM.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use support::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Everything the binary logged so far (stdout and stderr), line by line.
type Log = Arc<Mutex<Vec<String>>>;

/// Starts the binary on a free loopback port over `db`; returns it and its address.
async fn start(db: &Path) -> (Child, String) {
    let (child, address, _) = start_logging(db, "info", "text").await;
    (child, address)
}

/// The binary over `db` on a free loopback port, with `RUST_LOG=filter` and `LOG_FORMAT=format`.
fn command(db: &Path, filter: &str, format: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cart-server"));
    command
        .env("PORT", "0")
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("CART_SERVER_STATIC_DIR", db.with_file_name("no-storefront"))
        .env("RUST_LOG", filter)
        .env("LOG_FORMAT", format)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// As [`start`] with `RUST_LOG=filter` and `LOG_FORMAT=format`, also returning what it logs.
async fn start_logging(db: &Path, filter: &str, format: &str) -> (Child, String, Log) {
    let mut child = command(db, filter, format)
        .spawn()
        .expect("start cart-server");
    let log: Log = Arc::default();
    let stderr = child.stderr.take().expect("stderr");
    let mut errors = BufReader::new(stderr).lines();
    let to_log = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok(Some(line)) = errors.next_line().await {
            to_log.lock().expect("log").push(line);
        }
    });
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let to_log = Arc::clone(&log);
    let address = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.expect("read the log") {
            to_log.lock().expect("log").push(line.clone());
            // In a text line the address ends at a space; in a JSON line, at the closing quote.
            if let Some(rest) = line.split("listening on http://").nth(1) {
                return rest
                    .split(|c: char| c.is_whitespace() || c == '"')
                    .next()
                    .map(str::to_string);
            }
        }
        None
    })
    .await
    .expect("the server starts in time")
    .expect("the server logs its address");
    // Keep draining the log so the server never blocks on a full pipe.
    let to_log = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            to_log.lock().expect("log").push(line);
        }
    });
    (child, address, log)
}

#[tokio::test]
async fn acknowledged_changes_survive_a_killed_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("data/carts.sqlite3");
    let (mut server, address) = start(&db).await;
    let url = format!("ws://{address}/sync?key={KEY}");
    let mut client = Client::connect_url(&url, "phone", None).await;
    let mut replica = Replica::with_items(&["TEE"]);
    for n in 0..5 {
        replica.add(&format!("SKU-{n}"), 2);
        client
            .sync(&mut replica, false)
            .await
            .expect("acknowledged");
    }
    server.kill().await.expect("SIGKILL the server");
    drop(client);

    let (mut server, address) = start(&db).await;
    let url = format!("ws://{address}/sync?key={KEY}");
    let mut client = Client::connect_url(&url, "laptop", None).await;
    let mut fresh = Replica::empty(replica.cart);
    client
        .sync(&mut fresh, true)
        .await
        .expect("the cart is there");
    assert_eq!(fresh.doc.get_heads(), replica.doc.get_heads());
    assert_eq!(fresh.lines().len(), 6);
    server.kill().await.expect("stop");
}

#[tokio::test]
async fn sigterm_closes_connections_and_exits_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("carts.sqlite3");
    let (mut server, address) = start(&db).await;
    let url = format!("ws://{address}/sync?key={KEY}");
    let mut client = Client::connect_url(&url, "phone", None).await;
    let pid = server.id().expect("a pid").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(status.success());
    match client.next_frame().await {
        Some(tokio_tungstenite::tungstenite::Message::Close(Some(frame))) => {
            assert_eq!(u16::from(frame.code), 1001)
        }
        other => panic!("expected a going-away close, got {other:?}"),
    }
    drop(client);
    let exit = tokio::time::timeout(WAIT, server.wait())
        .await
        .expect("exits in time")
        .expect("wait");
    assert!(exit.success(), "exit status {exit:?}");
}

#[tokio::test]
async fn no_log_line_at_any_level_contains_a_cart_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("carts.sqlite3");
    let (mut server, address, log) = start_logging(&db, "trace", "text").await;
    let url = format!("ws://{address}/sync?key={KEY}");
    let mut client = Client::connect_url(&url, "phone", Some("phone-storage")).await;
    let mut replica = Replica::with_items(&["TEE"]);
    client
        .sync(&mut replica, false)
        .await
        .expect("acknowledged");
    replica.add("MUG", 1);
    client
        .sync(&mut replica, false)
        .await
        .expect("acknowledged");
    client.close().await;
    let order = format!("/api/orders/ord_00000000000000000000000000000000?key={KEY}");
    let addr = address.parse().expect("a socket address");
    let (status, _, _) = http_request_at(addr, "GET", &order, &[], b"").await;
    assert_eq!(status, 404);
    server.kill().await.expect("stop");
    let log = log.lock().expect("log").join("\n");
    assert!(
        log.contains("peer joined") && log.contains("/sync"),
        "the server logged at trace level: {log}"
    );
    assert!(!log.contains(KEY), "a log line contains the key");
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_the_cart_id_and_never_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("carts.sqlite3");
    let (mut server, address, log) = start_logging(&db, "trace", "json").await;
    let url = format!("ws://{address}/sync?key={KEY}");
    let mut client = Client::connect_url(&url, "phone", None).await;
    let mut replica = Replica::with_items(&["TEE"]);
    client
        .sync(&mut replica, false)
        .await
        .expect("acknowledged");
    client.close().await;
    let addr = address.parse().expect("a socket address");
    let (status, _, _) = http_request_at(addr, "GET", "/healthz", &[], b"").await;
    assert_eq!(status, 200);
    server.kill().await.expect("stop");
    let lines = log.lock().expect("log").clone();
    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let cart = replica.cart.to_string();
    assert!(
        events
            .iter()
            .any(|event| event["fields"]["cart"] == cart.as_str()),
        "no event names the cart {cart}: {lines:#?}"
    );
    assert!(
        events
            .iter()
            .any(|event| event["span"]["path"] == "/healthz"),
        "the HTTP request's span is in its events: {lines:#?}"
    );
    assert!(
        lines.iter().all(|line| !line.contains(KEY)),
        "a log line contains the key"
    );
}

#[tokio::test]
async fn an_unknown_log_format_stops_the_server_naming_the_accepted_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("carts.sqlite3");
    let output = tokio::time::timeout(WAIT, command(&db, "info", "yaml").output())
        .await
        .expect("exits in time")
        .expect("run cart-server");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("LOG_FORMAT") || said.contains("log-format"),
        "names the setting: {said}"
    );
    assert!(
        said.contains("yaml") && said.contains("text") && said.contains("json"),
        "names the value and the accepted ones: {said}"
    );
    assert!(!db.exists(), "nothing was opened before the refusal");
}

#[tokio::test]
async fn a_webhook_without_a_long_secret_stops_the_server_without_showing_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("carts.sqlite3");
    let short = "not-long-enough-secret";
    for secret in [None, Some(short)] {
        let mut command = command(&db, "trace", "text");
        command.env("CART_SERVER_CHECKOUT_WEBHOOK", "http://127.0.0.1:9/orders");
        if let Some(secret) = secret {
            command.env("CART_SERVER_WEBHOOK_SECRET", secret);
        }
        let output = tokio::time::timeout(WAIT, command.output())
            .await
            .expect("exits in time")
            .expect("run cart-server");
        assert!(!output.status.success(), "{secret:?}");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            said.contains("CART_SERVER_WEBHOOK_SECRET"),
            "names the variable: {said}"
        );
        assert!(!said.contains(short), "shows the secret: {said}");
        assert!(!db.exists(), "nothing was opened before the refusal");
    }
}
