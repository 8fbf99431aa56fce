//! The checkout webhook: every order a checkout creates is handed to the shop, signed, once.
//!
//! - **Outbox.** [`crate::store::ShopStore::place_order`] stores a pending delivery with the
//!   order, in the order's transaction: no order without its delivery, and a delivery survives
//!   a crash or a restart. The deliverer (`Deliverer`, one task per server, started by
//!   [`crate::AppState::new`] when a webhook is configured) leases due deliveries from the store
//!   ([`crate::store::ShopStore::take_due_deliveries`]; across instances sharing a PostgreSQL
//!   database, one instance at a time), POSTs each, and records the outcome. It wakes when a
//!   checkout creates an order, when the next retry is due, and every [`IDLE_POLL`] (for orders
//!   other instances created, and leases that ran out).
//! - **Exactly once, end to end.** Every attempt for an order carries the same idempotency key,
//!   the order id: the shop keeps the first request with a key and answers 2xx to repeats. A
//!   2xx marks the delivery done; nothing is sent for it again.
//! - **Request.** `POST` of `{"order": <the order as GET /api/orders/{id} returns it>,
//!   "idempotencyKey": "<order id>"}` with `Content-Type: application/json`,
//!   `Idempotency-Key: <order id>`, `X-Offline-Cart-Timestamp: <unix seconds>` and
//!   `X-Offline-Cart-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
//!   ([`WebhookSecret::sign`]).
//! - **Retries** ([`RetryPolicy`]): any answer but 2xx, a connection error, or no answer within
//!   [`TIMEOUT`] is retried after 1 s, doubling up to 5 minutes, each delay between half and
//!   all of that (jitter, so a shop coming back is not hit by every order at once), forever.
//!
//! The policy (what an answer means, when to retry, the payload and its signature) is plain
//! functions tested here; the `Deliverer` task only performs it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cart_core::cart::system_clock;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::secret::check_secret;
use crate::store::shop::{DueDelivery, Order};
use crate::store::ShopStore;

/// How long one attempt may take until the shop's answer starts; then it counts as failed.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a leased delivery is kept from other instances: longer than [`TIMEOUT`], so only an
/// instance that died mid-attempt lets it run out.
pub const LEASE: Duration = Duration::from_secs(60);
/// The longest the deliverer sleeps without looking at the store.
pub const IDLE_POLL: Duration = Duration::from_secs(30);
/// The shortest sleep between passes, so a delivery another instance is leasing right now
/// (due, but skipped as locked) is not asked for in a tight loop.
const MIN_WAIT: Duration = Duration::from_millis(10);
/// Deliveries leased at once.
const BATCH: usize = 16;

/// The webhook's URL (`CART_SERVER_CHECKOUT_WEBHOOK`): `http://` or `https://` with a host.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(Uri);

impl WebhookUrl {
    /// Checks a configured URL.
    ///
    /// Errs, saying what is accepted, when it does not parse or is not an `http://` or
    /// `https://` URL with a host.
    pub fn parse(url: &str) -> Result<WebhookUrl, String> {
        let fix = "use an http:// or https:// URL such as https://shop.example/hooks/orders";
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("the checkout webhook {url:?} is not a URL ({e}); {fix}"))?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        let host_ok = uri.host().is_some_and(|h| !h.is_empty());
        if !scheme_ok || !host_ok {
            return Err(format!(
                "the checkout webhook {url:?} is not accepted; {fix}"
            ));
        }
        Ok(WebhookUrl(uri))
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Scheme, host and port only: a path or query may carry a token of the shop's.
        let scheme = self.0.scheme_str().unwrap_or("http");
        match self.0.authority() {
            Some(authority) => write!(
                f,
                "{scheme}://{}",
                authority.as_str().rsplit('@').next().unwrap_or_default()
            ),
            None => write!(f, "{scheme}://"),
        }
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({self})")
    }
}

/// The secret the webhook's requests are signed with (`CART_SERVER_WEBHOOK_SECRET`), shared
/// with the shop. Its text is never logged or shown.
#[derive(Clone)]
pub struct WebhookSecret(Hmac<Sha256>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// Checks a configured secret ([`crate::secret::check_secret`]).
    ///
    /// Errs with a message for the operator that says how to make one (never the secret).
    pub fn parse(secret: &str) -> Result<WebhookSecret, String> {
        check_secret(
            secret,
            "the webhook secret",
            "`openssl rand -hex 32` and give the shop the same",
        )?;
        WebhookSecret::from_bytes(secret.as_bytes())
    }

    fn from_bytes(key: &[u8]) -> Result<WebhookSecret, String> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .map(WebhookSecret)
            .map_err(|e| format!("the webhook secret is not an HMAC key: {e}"))
    }

    /// The `X-Offline-Cart-Signature` of `body` sent at `timestamp` (unix seconds):
    /// `v1=` and the lowercase hex of HMAC-SHA256(secret, `"<timestamp>.<body>"`).
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        let mut mac = self.0.clone();
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        format!("v1={}", cart_core::hex::encode(&tag))
    }
}

/// When failed deliveries are retried: after `base`, doubling with every failed attempt, at
/// most `cap`; each delay is drawn between half and all of that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay after the first failed attempt (before jitter).
    pub base: Duration,
    /// The longest delay (before jitter).
    pub cap: Duration,
}

impl Default for RetryPolicy {
    /// 1 s doubling up to 5 minutes.
    fn default() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(5 * 60),
        }
    }
}

impl RetryPolicy {
    /// The delay after the `attempts`-th failed attempt (1 for the first), with `jitter` in
    /// `0.0..=1.0` choosing where between half and all of the exponential delay it falls.
    pub fn delay(&self, attempts: u32, jitter: f64) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        let full = self.base.saturating_mul(1u32 << doublings).min(self.cap);
        full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The shop answered 2xx: the order is delivered.
    Delivered,
    /// Anything else, with why (for the store's `last_error` and the log): retried.
    Failed(String),
}

impl Outcome {
    /// What the shop's answer `status` means.
    pub fn of_status(status: StatusCode) -> Outcome {
        if status.is_success() {
            Outcome::Delivered
        } else {
            Outcome::Failed(format!("the webhook answered {status}"))
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    order: &'a Order,
    idempotency_key: &'a str,
}

/// The request body for `order`: `{"order": ..., "idempotencyKey": "<order id>"}`.
pub fn payload(order: &Order) -> Vec<u8> {
    // Serialising an Order (strings and integers) cannot fail; fall back to an empty object
    // rather than unwrap should that ever change.
    serde_json::to_vec(&Payload {
        order,
        idempotency_key: &order.id,
    })
    .unwrap_or_else(|_| b"{}".to_vec())
}

/// The checkout webhook a server hands its orders to: where, the shared secret, the retry
/// policy, and the HTTP client (http:// and https:// with Mozilla's root certificates).
#[derive(Clone)]
pub struct Webhook {
    url: WebhookUrl,
    secret: WebhookSecret,
    retry: RetryPolicy,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// A webhook at `url` signing with `secret`, retrying by `retry`.
    ///
    /// Errs when TLS cannot be set up (rustls refuses its own default protocol versions).
    pub fn new(
        url: WebhookUrl,
        secret: WebhookSecret,
        retry: RetryPolicy,
    ) -> Result<Webhook, String> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| format!("cannot set up TLS for the checkout webhook: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Webhook {
            url,
            secret,
            retry,
            client,
        })
    }

    /// Where orders are sent.
    pub fn url(&self) -> &WebhookUrl {
        &self.url
    }

    /// Sends `order` once, signed at `timestamp` (unix seconds): what the shop's answer means.
    async fn post(&self, order: &Order, timestamp: i64) -> Outcome {
        let body = payload(order);
        let request = Request::post(self.url.0.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(
                USER_AGENT,
                concat!("offline-cart/", env!("CARGO_PKG_VERSION")),
            )
            .header("Idempotency-Key", order.id.as_str())
            .header("X-Offline-Cart-Timestamp", timestamp.to_string())
            .header(
                "X-Offline-Cart-Signature",
                self.secret.sign(timestamp, &body),
            )
            .body(Full::new(Bytes::from(body)));
        let request = match request {
            Ok(request) => request,
            Err(e) => return Outcome::Failed(format!("cannot build the request: {e}")),
        };
        match tokio::time::timeout(TIMEOUT, self.client.request(request)).await {
            Ok(Ok(response)) => Outcome::of_status(response.status()),
            Ok(Err(e)) => Outcome::Failed(format!("cannot reach the webhook: {}", chain(&e))),
            Err(_) => Outcome::Failed(format!("no answer within {} s", TIMEOUT.as_secs())),
        }
    }
}

/// An error with its causes (hyper puts the useful part, such as "connection refused", in the
/// source).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A number in `0.0..1.0` from the secure random source (0.5 if it fails: jitter is a nicety).
fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}

/// The task that hands orders to the webhook (see the module documentation).
pub(crate) struct Deliverer {
    pub(crate) shop: Arc<dyn ShopStore>,
    pub(crate) webhook: Webhook,
    pub(crate) metrics: Arc<Metrics>,
    /// Notified when a checkout creates an order.
    pub(crate) wake: Arc<Notify>,
    pub(crate) stop: CancellationToken,
}

impl Deliverer {
    /// Delivers until `stop` is cancelled. An attempt in flight then is abandoned and its
    /// delivery made due again at once, so the next start (or another instance) sends it
    /// without waiting for the lease.
    pub(crate) async fn run(self) {
        tracing::info!(url = %self.webhook.url, "checkout webhook on");
        loop {
            let more = match self.stop.run_until_cancelled(self.pass()).await {
                Some(more) => more,
                None => return,
            };
            if more {
                continue;
            }
            let wait = self.wait().await.max(MIN_WAIT);
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// How long to sleep: until the next delivery is due, at most [`IDLE_POLL`].
    async fn wait(&self) -> Duration {
        match self.shop.next_delivery_at().await {
            Ok(Some(at)) => {
                let ms = u64::try_from(at.saturating_sub(system_clock())).unwrap_or_default();
                Duration::from_millis(ms).min(IDLE_POLL)
            }
            Ok(None) => IDLE_POLL,
            Err(e) => {
                tracing::error!(error = %e, "reading the webhook's outbox failed");
                self.webhook.retry.base.min(IDLE_POLL)
            }
        }
    }

    /// Leases the due deliveries and attempts each; returns whether a full batch was due (so
    /// more may be).
    async fn pass(&self) -> bool {
        let now = system_clock();
        let lease_until = now.saturating_add(i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX));
        let due = match self.shop.take_due_deliveries(now, lease_until, BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "reading the webhook's outbox failed");
                return false;
            }
        };
        let full = due.len() == BATCH;
        for delivery in due {
            self.attempt(delivery).await;
        }
        full
    }

    /// One attempt: sends, then records the outcome (or, when shutdown interrupts the send,
    /// makes the delivery due again at once).
    async fn attempt(&self, delivery: DueDelivery) {
        let DueDelivery { order, attempts } = delivery;
        let sent = self
            .stop
            .run_until_cancelled(self.webhook.post(&order, system_clock() / 1000))
            .await;
        let settled = match sent {
            Some(Outcome::Delivered) => {
                self.metrics.webhook_delivery(true);
                tracing::info!(order = %order.id, attempts, "order delivered to the webhook");
                self.shop
                    .delivery_succeeded(&order.id, system_clock())
                    .await
            }
            Some(Outcome::Failed(why)) => {
                self.metrics.webhook_delivery(false);
                let delay = self.webhook.retry.delay(attempts, jitter());
                tracing::warn!(order = %order.id, attempts, error = %why, retry_in = ?delay, "webhook delivery failed");
                let retry_at = system_clock()
                    .saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                self.shop
                    .delivery_failed(&order.id, attempts, retry_at, &why)
                    .await
            }
            None => {
                self.shop
                    .delivery_failed(
                        &order.id,
                        attempts,
                        system_clock(),
                        "interrupted by shutdown",
                    )
                    .await
            }
        };
        if let Err(e) = settled {
            // The lease runs out and the delivery is retried (with the same key).
            tracing::error!(order = %order.id, error = %e, "recording a webhook delivery failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::shop::{OrderLine, Total};

    #[test]
    fn only_http_and_https_urls_with_a_host_are_accepted() {
        assert!(WebhookUrl::parse("https://shop.example/hooks/orders").is_ok());
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/x").is_ok());
        for bad in [
            "ftp://shop.example/x",
            "shop.example/x",
            "/hooks",
            "https://",
            "",
        ] {
            let refused = WebhookUrl::parse(bad).expect_err(bad);
            assert!(refused.contains("http:// or https://"), "{refused}");
        }
    }

    #[test]
    fn a_url_is_shown_without_its_path_or_credentials() {
        let url = WebhookUrl::parse("https://user:pw@shop.example:8443/hooks?token=abc").unwrap();
        assert_eq!(url.to_string(), "https://shop.example:8443");
        assert!(!format!("{url:?}").contains("token"));
    }

    #[test]
    fn a_secret_must_be_long_and_is_never_shown() {
        let secret = "0123456789abcdef0123456789abcdef";
        let parsed = WebhookSecret::parse(secret).expect("32 characters");
        assert!(!format!("{parsed:?}").contains("0123"));
        let short = WebhookSecret::parse(&secret[1..]).unwrap_err();
        assert!(
            short.contains("31") && !short.contains(&secret[1..]),
            "{short}"
        );
        assert!(WebhookSecret::parse(&format!("{secret} x")).is_err());
        assert!(WebhookSecret::parse(&"s".repeat(513)).is_err());
    }

    fn hex_hmac(key: &[u8], message: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(message);
        let tag = mac.finalize().into_bytes();
        tag.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // The well-known vector, so the HMAC itself is checked, not only its composition.
        assert_eq!(
            hex_hmac(b"key", b"The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        let key = "0123456789abcdef0123456789abcdef";
        let secret = WebhookSecret::parse(key).unwrap();
        assert_eq!(
            secret.sign(1_700_000_000, b"{}"),
            format!("v1={}", hex_hmac(key.as_bytes(), b"1700000000.{}"))
        );
        assert_ne!(
            secret.sign(1_700_000_001, b"{}"),
            secret.sign(1_700_000_000, b"{}")
        );
    }

    #[test]
    fn delays_double_from_the_base_up_to_the_cap_within_their_jitter() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, 1.0), Duration::from_secs(1));
        assert_eq!(policy.delay(1, 0.0), Duration::from_millis(500));
        assert_eq!(policy.delay(2, 1.0), Duration::from_secs(2));
        assert_eq!(policy.delay(9, 1.0), Duration::from_secs(256));
        assert_eq!(policy.delay(10, 1.0), Duration::from_secs(300), "capped");
        assert_eq!(policy.delay(u32::MAX, 1.0), Duration::from_secs(300));
        assert_eq!(policy.delay(u32::MAX, 0.0), Duration::from_secs(150));
        assert_eq!(policy.delay(0, 1.0), Duration::from_secs(1));
    }

    #[test]
    fn only_2xx_counts_as_delivered() {
        assert_eq!(Outcome::of_status(StatusCode::OK), Outcome::Delivered);
        assert_eq!(
            Outcome::of_status(StatusCode::NO_CONTENT),
            Outcome::Delivered
        );
        for status in [
            StatusCode::MOVED_PERMANENTLY,
            StatusCode::BAD_REQUEST,
            StatusCode::CONFLICT,
            StatusCode::INTERNAL_SERVER_ERROR,
        ] {
            assert!(
                matches!(Outcome::of_status(status), Outcome::Failed(_)),
                "{status}"
            );
        }
    }

    #[test]
    fn the_payload_is_the_order_and_its_idempotency_key() {
        let order = Order {
            id: "ord_1".to_string(),
            cart_id: "cart".to_string(),
            heads: vec!["ab".repeat(32)],
            lines: vec![OrderLine {
                sku: "MUG".to_string(),
                name: "Mug".to_string(),
                variant: None,
                quantity: 2,
                unit_price: 1450,
                cart_unit_price: 1450,
                currency: "EUR".to_string(),
                price_changed: false,
                line_total: 2900,
            }],
            totals: vec![Total {
                currency: "EUR".to_string(),
                amount: 2900,
            }],
            created_at: 1,
        };
        let body: serde_json::Value = serde_json::from_slice(&payload(&order)).unwrap();
        assert_eq!(body["idempotencyKey"], "ord_1");
        assert_eq!(body["order"], serde_json::to_value(&order).unwrap());
        assert_eq!(body["order"]["lines"][0]["lineTotal"], 2900);
    }
}
