//! cart-server: the sync server of offline-cart.
//!
//! It speaks automerge-repo's WebSocket protocol (version 1) at `/sync`, so any automerge-repo
//! peer can sync carts with it, and adds what automerge-repo lacks: a per-cart access secret,
//! validation of every change against the cart schema, and limits.
//!
//! - [`config`]: flags and environment of the binary.
//! - [`cart_core::wire`]: the CBOR wire messages, shared with the browser module.
//! - [`sync`]: one connection, generic over a Sink/Stream of frames.
//! - [`hub`]: the open carts and the peers linked to them: routes each message to the cart it is
//!   about, fans accepted changes out to the other peers.
//! - [`link`]: a peer ([`link::PeerContext`]) linked to an open cart: its sync state, the sync
//!   message due for it, the saved sync state of a peer with a storage id.
//! - [`mailbox`]: a connection's outbound queue, bounded in messages and bytes.
//! - [`open_carts`]: the registry of open carts, released by guards.
//! - `apply`: a sync message, a checkout's clear or a claim's change applied to an open cart in
//!   place, checked for the keys it touched, then stored or undone.
//! - `cart_state`: the server's copy of one cart, loaded from the store, its chunks and lines.
//! - [`admission`]: the schema and line checks a changed cart must pass.
//! - [`limits`]: the limits and the per-connection token bucket.
//! - [`secret`]: access keys and their stored hashes.
//! - [`store`]: the [`store::DocStore`] trait, [`store::SqliteStore`], [`store::PostgresStore`]
//!   and the conformance suite.
//! - [`metrics`]: Prometheus counters.
//! - [`http`]: the router: `/healthz`, `/metrics`, `/sync`, `/api/...` and the storefront's
//!   static files.
//! - [`api`]: the HTTP JSON API: catalog, checkout, orders, claim, demo sign-in; its error
//!   bodies.
//! - [`claim`]: sign-in with the shop's token: the anonymous cart merged into the customer's
//!   cart; [`claim::token`] reads the shop's HS256 JWT.
//! - [`checkout`]: an order from a cart at given heads, and the merge-safe clear after it.
//! - [`catalog`]: the demo products seeded on start.
//! - [`webhook`]: the checkout webhook: each order handed to the shop, signed, retried, once.

pub mod admission;
pub mod api;
mod apply;
mod cart_state;
pub mod catalog;
pub mod checkout;
pub mod claim;
pub mod config;
pub mod error;
pub mod http;
pub mod hub;
pub mod limits;
pub mod link;
pub mod mailbox;
pub mod metrics;
pub mod open_carts;
pub mod origins;
pub mod secret;
pub mod store;
pub mod sync;
pub mod webhook;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use http::app;

use crate::claim::token::ClaimSecret;
use crate::hub::Hubs;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::origins::AllowedOrigins;
use crate::secret::AdminToken;
use crate::store::{ChangeFeed, ShopStore, Store, StoreError};
use crate::webhook::{Deliverer, Webhook};

/// How a server is set up, apart from its store.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// The limits to enforce.
    pub limits: Limits,
    /// The directory served at `/` (the built storefront); `None` serves no files.
    pub static_dir: Option<PathBuf>,
    /// Storefront origins on other hosts that may use the API and `/sync`.
    pub allowed_origins: AllowedOrigins,
    /// The demo shop: the demo catalog is seeded and the name-only `POST /api/signin` (no
    /// authentication) answers. Off for a real shop, whose catalog comes from the admin API.
    pub demo: bool,
    /// The admin API's bearer token; `None` turns the admin API off.
    pub admin_token: Option<AdminToken>,
    /// The secret the shop signs sign-in tokens with; `None` turns `POST /api/carts/claim` off.
    pub claim_secret: Option<ClaimSecret>,
    /// The checkout webhook every new order is handed to; `None` sends none (orders wait in
    /// the store's outbox, see [`webhook`]).
    pub webhook: Option<Webhook>,
}

struct Shared {
    hubs: Hubs,
    shop: Arc<dyn ShopStore>,
    metrics: Arc<Metrics>,
    limits: Limits,
    server_peer_id: String,
    storage_id: String,
    static_dir: Option<PathBuf>,
    allowed_origins: AllowedOrigins,
    admin_token: Option<AdminToken>,
    claim_secret: Option<ClaimSecret>,
    demo: bool,
    shutdown: CancellationToken,
    connections: TaskTracker,
    next_connection: AtomicU64,
    addresses: Arc<Addresses>,
    /// Wakes the webhook's deliverer when a checkout creates an order.
    orders_placed: Arc<Notify>,
}

/// Open `/sync` connections per client IP address, capped at
/// [`Limits::max_connections_per_address`].
#[derive(Debug)]
pub struct Addresses {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection counted against its address; dropping it uncounts it.
#[derive(Debug)]
pub struct AddressSlot {
    addresses: Arc<Addresses>,
    ip: IpAddr,
}

impl Addresses {
    /// Counts one more connection from `ip`, or `None` when `ip` has the most allowed.
    pub fn open(self: &Arc<Addresses>, ip: IpAddr) -> Option<AddressSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(ip).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            addresses: Arc::clone(self),
            ip,
        })
    }

    /// How many connections `ip` has open.
    pub fn count(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&ip).copied().unwrap_or_default()
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self
            .addresses
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Everything the handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("server_peer_id", &self.0.server_peer_id)
            .field("storage_id", &self.0.storage_id)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A server over `store`: reads (or creates) the store's storage id, seeds the demo catalog
    /// for a demo server ([`catalog::seed_products`]; skus already stored are left as they
    /// are), picks a random
    /// peer id for this process, and follows the store's change feed (when it has one, see
    /// [`store::DocStore::change_feed`]) until shutdown, so changes other instances store reach
    /// this instance's peers. With a [`ServerOptions::webhook`], starts the task that hands
    /// orders to it ([`webhook`]) until shutdown.
    ///
    /// Errs when the store cannot be read or written.
    pub async fn new<S: Store>(
        store: Arc<S>,
        options: ServerOptions,
    ) -> Result<AppState, StoreError> {
        let storage_id = store.storage_id().await?;
        if options.demo {
            let seeded = store.seed_catalog(&catalog::seed_products()).await?;
            if seeded > 0 {
                tracing::info!(products = seeded, "seeded the demo catalog");
            }
        }
        let shop: Arc<dyn ShopStore> = store.clone();
        let server_peer_id = format!("cart-server-{}", &store::random_uuid()?[..8]);
        let metrics = Arc::new(Metrics::default());
        let shutdown = CancellationToken::new();
        let feed = store.change_feed(shutdown.clone());
        let hubs = Hubs::new(
            store,
            options.limits.clone(),
            Arc::clone(&metrics),
            server_peer_id.clone(),
        );
        let state = AppState(Arc::new(Shared {
            hubs,
            shop,
            metrics,
            limits: options.limits.clone(),
            server_peer_id,
            storage_id,
            static_dir: options.static_dir,
            allowed_origins: options.allowed_origins,
            admin_token: options.admin_token,
            claim_secret: options.claim_secret,
            demo: options.demo,
            shutdown,
            connections: TaskTracker::new(),
            next_connection: AtomicU64::new(1),
            addresses: Arc::new(Addresses {
                max: options.limits.max_connections_per_address,
                open: Mutex::new(HashMap::new()),
            }),
            orders_placed: Arc::new(Notify::new()),
        }));
        if let Some(webhook) = options.webhook {
            // On the connections' tracker: shutdown waits for it as for a connection.
            state.0.connections.spawn(
                Deliverer {
                    shop: Arc::clone(&state.0.shop),
                    webhook,
                    metrics: Arc::clone(&state.0.metrics),
                    wake: Arc::clone(&state.0.orders_placed),
                    stop: state.0.shutdown.clone(),
                }
                .run(),
            );
        }
        if let Some(feed) = feed {
            tokio::spawn(follow(Arc::downgrade(&state.0), feed));
        }
        Ok(state)
    }

    /// The open carts.
    pub fn hubs(&self) -> &Hubs {
        &self.0.hubs
    }

    /// The catalog, orders and accounts.
    pub fn shop(&self) -> &Arc<dyn ShopStore> {
        &self.0.shop
    }

    /// The server's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    pub(crate) fn metrics_arc(&self) -> &Arc<Metrics> {
        &self.0.metrics
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.0.limits
    }

    /// The peer id this server answers `join` with.
    pub fn server_peer_id(&self) -> &str {
        &self.0.server_peer_id
    }

    /// The storage id announced in `peer` messages.
    pub fn storage_id(&self) -> &str {
        &self.0.storage_id
    }

    /// The directory served at `/`.
    pub fn static_dir(&self) -> Option<&PathBuf> {
        self.0.static_dir.as_ref()
    }

    /// Storefront origins on other hosts that may use the API and `/sync`.
    pub fn allowed_origins(&self) -> &AllowedOrigins {
        &self.0.allowed_origins
    }

    /// Whether this is the demo shop (see [`ServerOptions::demo`]).
    pub fn is_demo(&self) -> bool {
        self.0.demo
    }

    /// The admin API's bearer token, when the admin API is on.
    pub fn admin_token(&self) -> Option<&AdminToken> {
        self.0.admin_token.as_ref()
    }

    /// The secret of the shop's sign-in tokens, when `POST /api/carts/claim` is on.
    pub fn claim_secret(&self) -> Option<&ClaimSecret> {
        self.0.claim_secret.as_ref()
    }

    /// Open `/sync` connections per client address.
    pub fn addresses(&self) -> &Arc<Addresses> {
        &self.0.addresses
    }

    pub(crate) fn next_connection_id(&self) -> u64 {
        self.0.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn shutdown_token(&self) -> CancellationToken {
        self.0.shutdown.clone()
    }

    pub(crate) fn connections(&self) -> &TaskTracker {
        &self.0.connections
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.0.shutdown.is_cancelled()
    }

    /// Tells the webhook's deliverer (if any) that a checkout created an order.
    pub(crate) fn order_placed(&self) {
        self.0.orders_placed.notify_one();
    }

    /// Begins shutdown: new WebSocket upgrades are refused and every connection finishes the
    /// message it is handling (including its store writes), saves its sync states and closes
    /// with code 1001.
    pub fn begin_shutdown(&self) {
        self.0.shutdown.cancel();
        self.0.connections.close();
    }

    /// Waits until every WebSocket connection has ended (after [`AppState::begin_shutdown`]).
    pub async fn connections_closed(&self) {
        self.0.connections.wait().await;
    }
}

/// Hands each report of `feed` to the hubs, one after another, until the feed ends (at
/// shutdown) or the server is dropped.
async fn follow(shared: Weak<Shared>, mut feed: ChangeFeed) {
    while let Some(event) = feed.recv().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.hubs.follow(event).await;
    }
}

/// Serves `state` on `listener` until `stop` completes, then shuts down gracefully: stops
/// accepting, lets every connection finish its in-flight message and writes, and waits up to
/// `grace` for them to close.
///
/// Errs when the listener fails.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    stop: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let router = app(state.clone());
    let on_stop = state.clone();
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        stop.await;
        tracing::info!("shutting down: finishing in-flight messages");
        on_stop.begin_shutdown();
    })
    .await?;
    state.begin_shutdown();
    if tokio::time::timeout(grace, state.connections_closed())
        .await
        .is_err()
    {
        tracing::warn!(?grace, "connections still open after the grace period");
    }
    Ok(())
}
