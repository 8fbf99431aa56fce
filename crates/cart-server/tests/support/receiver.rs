//! A webhook receiver on loopback for the checkout webhook's tests: an axum server that
//! records every request and answers 500 to the first few.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The secret the tests' server and receiver share.
pub const SECRET: &str = "shop-and-server-share-this-0123456789";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub idempotency_key: String,
    pub timestamp: String,
    pub signature: String,
    pub content_type: String,
    pub body: Bytes,
}

/// What the receiver got, and how many requests it fails (500) before answering 200.
#[derive(Default)]
pub struct Receiver {
    got: Mutex<Vec<Received>>,
    failures_left: Mutex<usize>,
}

impl Receiver {
    /// Every request so far, in order.
    pub fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    receiver.got.lock().unwrap().push(Received {
        idempotency_key: header(&headers, "idempotency-key"),
        timestamp: header(&headers, "x-offline-cart-timestamp"),
        signature: header(&headers, "x-offline-cart-signature"),
        content_type: header(&headers, "content-type"),
        body,
    });
    let mut left = receiver.failures_left.lock().unwrap();
    if *left > 0 {
        *left -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// Serves `receiver` at `POST /orders` on `listener` until the sender is dropped.
fn serve_receiver(listener: TcpListener, receiver: Arc<Receiver>) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    let app = Router::new()
        .route("/orders", post(receive))
        .with_state(receiver);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    stop
}

/// A receiver on `listener` that answers 500 to the first `failures` requests, and what
/// stops it.
pub async fn receiver_at(
    listener: TcpListener,
    failures: usize,
) -> (Arc<Receiver>, oneshot::Sender<()>) {
    let receiver = Arc::new(Receiver {
        failures_left: Mutex::new(failures),
        ..Receiver::default()
    });
    let stop = serve_receiver(listener, Arc::clone(&receiver));
    (receiver, stop)
}
