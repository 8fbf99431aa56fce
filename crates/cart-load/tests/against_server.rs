//! cart-load against a real cart-server started in this process on a loopback port: shoppers
//! get their changes acknowledged and the final read finds every acknowledged add.

use std::sync::Arc;
use std::time::Duration;

use cart_load::{check, run, shop, Config};
use cart_server::store::SqliteStore;
use cart_server::{serve, AppState, ServerOptions};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A cart-server on 127.0.0.1 over a temporary SQLite file; stops when dropped.
struct Server {
    url: String,
    _stop: oneshot::Sender<()>,
    _dir: TempDir,
}

async fn start_server() -> Server {
    let dir = TempDir::new().expect("a temporary directory");
    let store = SqliteStore::open(&dir.path().join("carts.sqlite3"))
        .await
        .expect("open the sqlite store");
    let state = AppState::new(Arc::new(store), ServerOptions::default())
        .await
        .expect("start the server");
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("ws://{}/sync", listener.local_addr().expect("address"));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(
        listener,
        state,
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
    ));
    Server {
        url,
        _stop: stop,
        _dir: dir,
    }
}

fn config(servers: Vec<String>) -> Config {
    Config {
        servers,
        shoppers: 10,
        duration: Duration::from_secs(3),
        seed: 12,
        think: Duration::from_millis(100),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_shoppers_lose_no_acknowledged_add() {
    let server = start_server().await;
    let report = run(config(vec![server.url.clone()]))
        .await
        .expect("the run is made");
    println!("{report}");
    assert!(report.acknowledged > 0, "{report}");
    assert!(report.adds_checked > 0, "{report}");
    // Seed 12 takes some shoppers offline within their first edits; those whose period ends
    // before the run does come back.
    assert!(report.offline_periods > 0, "{report}");
    assert!(report.connections > 10, "{report}");
    assert!(
        report.connections <= 10 + report.offline_periods,
        "{report}"
    );
    assert_eq!(report.errors, 0, "{report}");
    assert_eq!(report.unreachable_carts, 0, "{report}");
    assert_eq!(report.incomplete_carts, 0, "{report}");
    assert!(report.lost.is_empty(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shoppers_whose_server_does_not_answer_move_to_the_next() {
    let server = start_server().await;
    // A loopback port nobody listens on: connecting to it is refused.
    let dead = {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        format!("ws://{}/sync", listener.local_addr().expect("address"))
    };
    let report = run(config(vec![dead, server.url.clone()]))
        .await
        .expect("the run is made");
    println!("{report}");
    assert_eq!(
        report.errors, 5,
        "half the shoppers start on the dead server, once: {report}"
    );
    assert!(
        report
            .error_kinds
            .keys()
            .all(|k| k.starts_with("cannot connect")),
        "{report}"
    );
    assert!(
        report.connections <= 10 + report.offline_periods,
        "{report}"
    );
    assert!(report.acknowledged > 0, "{report}");
    assert_eq!(report.unreachable_carts, 0, "{report}");
    assert_eq!(report.incomplete_carts, 0, "{report}");
    assert!(report.lost.is_empty(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adds_missing_from_the_server_read_at_the_end_are_reported_lost() {
    let (server, empty) = (start_server().await, start_server().await);
    let config = Config {
        shoppers: 3,
        duration: Duration::from_secs(1),
        ..config(vec![server.url.clone()])
    };
    let shopped = shop(&config).await.expect("the run is made");
    // A server that never had these carts stands for one that lost what it acknowledged.
    let report = check(shopped, std::slice::from_ref(&empty.url))
        .await
        .expect("the check is made");
    println!("{report}");
    assert!(report.adds_checked > 0, "{report}");
    assert_eq!(report.lost.len(), report.adds_checked, "{report}");
    assert_eq!(report.incomplete_carts, 3, "{report}");
    assert!(report
        .summary()
        .ends_with(&format!("{} lost", report.lost.len())));
}
