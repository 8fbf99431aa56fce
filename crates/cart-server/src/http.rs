//! The HTTP side: the router, the WebSocket upgrade of `/sync`, liveness and readiness, metrics and the
//! storefront's static files.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use futures_util::{future, SinkExt, StreamExt};
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use crate::api::ApiError;
use crate::error::ErrorKind;
use crate::sync::{serve_connection, Frame};
use crate::AppState;

/// An HTTP error: a status and a short text for people, never an internal detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// The server is shutting down and takes no new connections.
    ShuttingDown,
    /// The client's address has as many `/sync` connections open as one address may.
    TooManyConnections,
    /// A browser page of an origin that is not allowed opened `/sync` ([`crate::origins`]).
    OriginNotAllowed,
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        match self {
            HttpError::ShuttingDown => (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "5")],
                "the server is shutting down; connect again in a few seconds\n",
            )
                .into_response(),
            HttpError::TooManyConnections => (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "30")],
                "too many sync connections from your address; close some (one per tab is enough) and connect again later\n",
            )
                .into_response(),
            HttpError::OriginNotAllowed => (
                StatusCode::FORBIDDEN,
                "origin_not_allowed: pages of this origin may not sync with this server; its operator lists storefront origins in CART_SERVER_ALLOWED_ORIGINS\n",
            )
                .into_response(),
        }
    }
}

/// The router of the server: `GET /healthz` (liveness: the process answers), `GET /readyz`
/// (readiness: the store answers too), `GET /metrics`, `GET /sync` (WebSocket), the JSON
/// API under `/api` ([`crate::api::routes`]) and, for every other path, the files of [`AppState::static_dir`] (404 when missing).
pub fn app(state: AppState) -> Router {
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/sync", get(sync_socket))
        .merge(match state.allowed_origins() {
            none if none.is_empty() => crate::api::routes(state.is_demo()),
            origins => crate::api::routes(state.is_demo()).layer(origins.cors()),
        });
    let router = match state.static_dir() {
        // ServeDir picks the MIME type from the extension: .wasm is application/wasm, also when
        // it sends the `.br` or `.gz` file scripts/compress.mjs wrote next to it (with
        // `Content-Encoding` and `Vary: Accept-Encoding`); a client that accepts neither gets
        // the plain file.
        Some(dir) => router.fallback_service(
            Router::new()
                .fallback_service(ServeDir::new(dir).precompressed_br().precompressed_gzip())
                .layer(middleware::from_fn(cache_control)),
        ),
        None => router,
    };
    router
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// Sets `Cache-Control` on a static file. A name with webpack's content hash in it
/// (`main.aea6e7e788d6818d06a1.js`, `80c0fa6520ac709e9d5d.module.wasm`) names the same bytes
/// forever, so a browser may keep it a year without asking again (`immutable`). Every other file
/// (index.html, sw.js, embed.html, offline-cart-embed.js) is `no-cache`: kept, but revalidated at
/// each use, so a new build is picked up at the next load, and with it the new hashed names it
/// links. Error responses (404) get no header.
async fn cache_control(request: Request<Body>, next: Next) -> Response {
    let policy = if is_content_hashed(request.uri().path()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = next.run(request).await;
    if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    response
}

/// Whether the last segment of `path` carries a content hash: a dot-separated part of 16 or more
/// hex digits before the extension (webpack writes 20 by default).
fn is_content_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    name.rsplit_once('.').is_some_and(|(stem, _extension)| {
        stem.split('.')
            .any(|part| part.len() >= 16 && part.bytes().all(|b| b.is_ascii_hexdigit()))
    })
}

/// The span of one HTTP request: method and path, never the query. The `/sync` URL carries the
/// cart's key in its query (`?key=`, as automerge-repo clients put it), and so may
/// `/api/orders/...`; no log line at any level may contain a key.
fn request_span(request: &Request<Body>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        version = ?request.version(),
    )
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// How long `/readyz` waits for the store: shorter than the probes of load balancers and
/// Kubernetes (1 s by default is common, often more), so a hung store reads as not ready rather
/// than as a probe timeout.
pub const READY_TIMEOUT: Duration = Duration::from_millis(800);

/// 200 when the store answers [`crate::store::DocStore::ping`] within [`READY_TIMEOUT`], else
/// 503 with a JSON error body (`not_ready`); the cause goes to the log only.
async fn readyz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(READY_TIMEOUT, state.hubs().store().ping()).await {
        Ok(Ok(())) => "ready\n".into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: the store failed");
            ApiError::not_ready().into_response()
        }
        Err(_) => {
            tracing::warn!(timeout = ?READY_TIMEOUT, "not ready: the store did not answer in time");
            ApiError::not_ready().into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let carts = match state.hubs().store().cart_count().await {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!(error = %e, "could not count carts for /metrics");
            None
        }
    };
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics().render(carts),
    )
        .into_response()
}

async fn sync_socket(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, HttpError> {
    if state.is_shutting_down() {
        return Err(HttpError::ShuttingDown);
    }
    if !state.allowed_origins().allows_socket(&headers) {
        return Err(HttpError::OriginNotAllowed);
    }
    // Served without connect info (a router in a test), there is no address to count.
    let slot = match client {
        Some(Extension(ConnectInfo(address))) => match state.addresses().open(address.ip()) {
            Some(slot) => Some(slot),
            None => {
                state.metrics().error(ErrorKind::TooManyConnections);
                return Err(HttpError::TooManyConnections);
            }
        },
        None => None,
    };
    let hard_limit = state.limits().hard_frame_bytes();
    let key = query.get("key").cloned();
    // Held by the connection task, so shutdown can wait for it.
    let token = state.connections().token();
    Ok(upgrade
        .max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        .on_upgrade(move |socket| async move {
            serve_socket(state, key, socket).await;
            drop(slot);
            drop(token);
        }))
}

/// Adapts an axum WebSocket to the [`Frame`] sink and stream of [`serve_connection`].
async fn serve_socket(state: AppState, key: Option<String>, socket: WebSocket) {
    let (sink, stream) = socket.split();
    let sink = sink.with(|frame: Frame| {
        future::ready(Ok::<_, axum::Error>(match frame {
            Frame::Binary(bytes) => WsMessage::Binary(bytes.into()),
            Frame::Text(text) => WsMessage::Text(text.into()),
            Frame::Ping(bytes) => WsMessage::Ping(bytes.into()),
            Frame::Pong(bytes) => WsMessage::Pong(bytes.into()),
            Frame::Close(close) => WsMessage::Close(close.map(|(code, reason)| CloseFrame {
                code,
                reason: reason.into(),
            })),
        }))
    });
    let stream = stream.map(|item| {
        item.map(|message| match message {
            WsMessage::Binary(bytes) => Frame::Binary(bytes.to_vec()),
            WsMessage::Text(text) => Frame::Text(text.to_string()),
            WsMessage::Close(close) => Frame::Close(close.map(|c| (c.code, c.reason.to_string()))),
            // Pings are answered by the WebSocket layer; both show the peer is alive.
            WsMessage::Ping(bytes) => Frame::Ping(bytes.to_vec()),
            WsMessage::Pong(bytes) => Frame::Pong(bytes.to_vec()),
        })
    });
    serve_connection(state, key, Box::pin(sink), Box::pin(stream)).await;
}
