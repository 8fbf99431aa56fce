//! The `cart-server` binary itself: configuration from the environment, a crash (SIGKILL)
//! after acknowledged changes, and graceful shutdown on SIGTERM.

mod support;

use std::path::Path;
use std::process::Stdio;

use support::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Starts the binary on a free loopback port over `db`; returns it and its address.
async fn start(db: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cart-server"))
        .env("PORT", "0")
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("CART_SERVER_STATIC_DIR", db.with_file_name("no-storefront"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start cart-server");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let address = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.expect("read the log") {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                return rest.split_whitespace().next().map(str::to_string);
            }
        }
        None
    })
    .await
    .expect("the server starts in time")
    .expect("the server logs its address");
    // Keep draining the log so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, address)
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
