//! The HTTP JSON API beside `/sync`: the catalog (read by anyone, replaced by the shop's admin),
//! checkout, orders, the claim of a cart with the shop's sign-in token ([`crate::claim`]) and,
//! on the demo shop, the name-only sign-in.
//!
//! Every error is a JSON body `{ code, message }` (plus `lines` for `lines_refused`) with a
//! stable `code` and a lowercase message that says what to do; internals go to the log only.
//! Bodies are limited to [`MAX_BODY_BYTES`], a catalog to [`MAX_CATALOG_BYTES`]. See the crate
//! README for each endpoint.

use std::str::FromStr;
use std::time::Instant;

use automerge::ChangeHash;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use cart_core::CartId;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::checkout::{self, RefusedLine, MAX_HEADS};
use crate::error::ReadAtError;
use crate::secret::CartKey;
use crate::store::shop::Account;
use crate::store::StoreError;
use crate::AppState;

/// The largest request body the API reads, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The largest catalog `PUT /api/catalog` reads, in bytes.
pub const MAX_CATALOG_BYTES: usize = 8 * 1024 * 1024;

/// The longest sign-in name, in characters (after trimming).
pub const MAX_NAME_CHARS: usize = 64;

/// An API error: status, stable code, message for people; rendered as a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    lines: Option<Vec<RefusedLine>>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    lines: Option<&'a [RefusedLine]>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            lines: None,
        }
    }

    /// 400 `invalid_request`: the request is not understood; `message` says how to fix it.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 404 `not_found` for a cart that is not stored or a key that is not its key (the two
    /// look the same).
    pub fn cart_not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no cart with this id opens with this key; sync the cart first, and send the key it syncs with",
        )
    }

    /// 409 `sync_first`: the server lacks `missing` of the named changes.
    pub fn sync_first(missing: usize) -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            "sync_first",
            format!("the server does not have {missing} of the changes in heads yet; sync the cart, then check out again with the same heads"),
        )
    }

    /// 422 `empty_cart`: nothing to order at these heads, once earlier orders' lines are gone.
    pub fn empty_cart() -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_cart",
            "the cart has no lines to order at these heads (lines an earlier order took are gone); add items before checking out",
        )
    }

    /// 422 `lines_refused`, with the reason of every refused line.
    pub fn lines_refused(lines: Vec<RefusedLine>) -> ApiError {
        let skus: Vec<&str> = lines.iter().map(|l| l.sku.as_str()).collect();
        let mut error = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "lines_refused",
            format!(
                "no order was created: {} cannot be ordered; remove those lines and check out again",
                skus.join(", ")
            ),
        );
        error.lines = Some(lines);
        error
    }

    /// 401 `unauthorized`: no admin token, or not the configured one.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the admin token as Authorization: Bearer <CART_SERVER_ADMIN_TOKEN>",
        )
    }

    /// 403 `admin_api_off`: the server has no admin token, so nobody may use the admin API.
    pub fn admin_api_off() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "admin_api_off",
            "the admin API is off on this server; start it with CART_SERVER_ADMIN_TOKEN set to use it",
        )
    }

    /// 503 `storage`: the store failed; nothing is said about why.
    pub fn storage() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage",
            "the server could not read or write its storage; try again in a few seconds (a repeated checkout never orders twice)",
        )
    }

    /// 503 `not_ready`: the store did not answer `/readyz`'s query (in time); nothing is said
    /// about why (the log says it).
    pub fn not_ready() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "this instance cannot reach its storage; send traffic to another instance until /readyz answers 200",
        )
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<ReadAtError> for ApiError {
    fn from(e: ReadAtError) -> ApiError {
        match e {
            ReadAtError::NotFound => ApiError::cart_not_found(),
            ReadAtError::MissingChanges(missing) => ApiError::sync_first(missing.len()),
            ReadAtError::Storage => ApiError::storage(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            message: &self.message,
            lines: self.lines.as_deref(),
        };
        let mut response = json_response(self.status, &body);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub(crate) fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a response did not serialize");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

pub(crate) fn storage(e: StoreError) -> ApiError {
    tracing::error!(error = %e, "an api request's storage failed");
    ApiError::storage()
}

/// Parses a JSON request body of at most `limit` bytes (the route's body limit); bad JSON, a
/// wrong field or an oversized body get clear errors.
pub(crate) fn parse_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    shape: &str,
    limit: usize,
) -> Result<T, ApiError> {
    let bytes = match body {
        Ok(bytes) => bytes,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is larger than {limit} bytes; send {shape}"),
            ))
        }
        Err(_) => {
            return Err(ApiError::invalid(format!(
                "the request body could not be read; send {shape}"
            )))
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        // serde_json's messages name the field or position and contain no internals.
        ApiError::invalid(format!("the body is not {shape} ({e})"))
    })
}

/// The API routes, each under `/api`, with the body limits; `POST /api/signin` only on the demo
/// shop (`demo`).
pub fn routes(demo: bool) -> Router<AppState> {
    let replace = put(replace_catalog).layer(DefaultBodyLimit::max(MAX_CATALOG_BYTES));
    let router = Router::new()
        .route("/api/catalog", get(catalog).merge(replace))
        .route("/api/carts/{cart_id}/checkout", post(checkout_cart))
        .route("/api/carts/claim", post(crate::claim::claim_cart))
        .route("/api/orders/{order_id}", get(order));
    let router = if demo {
        router.route("/api/signin", post(signin))
    } else {
        router
    };
    router.layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogRequest {
    products: Vec<crate::store::shop::Product>,
}

#[derive(Serialize)]
struct CatalogReplaced {
    products: usize,
}

/// `PUT /api/catalog` `{ products: [...] }` with `Authorization: Bearer <admin token>`: the
/// shop's whole catalog, in listing order, replaces the stored one in one transaction (see
/// [`crate::catalog::check`] for what a product must be). Answers `{ products: n }`.
async fn replace_catalog(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let token = state.admin_token().ok_or_else(ApiError::admin_api_off)?;
    if !bearer(&headers).is_some_and(|presented| token.accepts(&presented)) {
        return Err(ApiError::unauthorized());
    }
    let request: CatalogRequest = parse_body(
        body,
        "a JSON object {\"products\": [{\"sku\", \"name\", \"description\", \"unitPrice\", \"currency\", \"available\", \"art\"}, ...]}",
        MAX_CATALOG_BYTES,
    )?;
    crate::catalog::check(&request.products).map_err(ApiError::invalid)?;
    state
        .shop()
        .replace_catalog(&request.products)
        .await
        .map_err(storage)?;
    tracing::info!(
        products = request.products.len(),
        "the catalog was replaced"
    );
    Ok(json_response(
        StatusCode::OK,
        &CatalogReplaced {
            products: request.products.len(),
        },
    ))
}

#[derive(Serialize)]
struct CatalogBody<'a> {
    products: &'a [crate::store::shop::Product],
}

/// `GET /api/catalog`: every product, with an ETag; `If-None-Match` with it answers 304.
async fn catalog(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let products = state.shop().catalog().await.map_err(storage)?;
    let body = serde_json::to_vec(&CatalogBody {
        products: &products,
    })
    .map_err(|e| {
        tracing::error!(error = %e, "the catalog did not serialize");
        ApiError::storage()
    })?;
    let digest = Sha256::digest(&body);
    let etag = format!("\"{}\"", cart_core::hex::encode(&digest[..16]));
    let cache = [
        (header::CACHE_CONTROL, "no-cache".to_string()),
        (header::ETAG, etag.clone()),
    ];
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json".to_string())],
        cache,
        body,
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckoutRequest {
    heads: Vec<String>,
    #[serde(default)]
    key: Option<String>,
}

const CHECKOUT_SHAPE: &str =
    "a JSON object {\"heads\": [\"<hex change hash>\", ...], \"key\": \"<cart secret>\"}";

/// The credentials of `Authorization: Bearer <credentials>`; the scheme is matched without
/// regard to case (RFC 9110, 11.1) and the credentials trimmed.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// The cart key of a request: the body's `key`, else `Authorization: Bearer`, else `?key=`.
fn request_key(
    body_key: Option<String>,
    headers: &HeaderMap,
    query: Option<String>,
) -> Result<CartKey, ApiError> {
    let key = body_key.or_else(|| bearer(headers)).or(query).ok_or_else(|| {
        ApiError::invalid(
            "the request has no key; send the cart's secret as \"key\" in the body or as Authorization: Bearer <key>",
        )
    })?;
    cart_key(&key)
}

/// A cart key sent in a request body or header; errs with `invalid_request`.
pub(crate) fn cart_key(key: &str) -> Result<CartKey, ApiError> {
    CartKey::parse(Some(key)).map_err(|_| {
        ApiError::invalid(
            "the key must be the cart's secret: 16 to 512 characters without whitespace",
        )
    })
}

pub(crate) fn parse_cart_id(text: &str) -> Result<CartId, ApiError> {
    CartId::from_str(text).map_err(|_| {
        ApiError::invalid(format!(
            "cart id {text:?} is not a cart id; use the id of the cart (bs58check of 16 bytes), as cart.id gives it"
        ))
    })
}

fn parse_heads(heads: &[String]) -> Result<Vec<ChangeHash>, ApiError> {
    if heads.is_empty() || heads.len() > MAX_HEADS {
        return Err(ApiError::invalid(format!(
            "heads must list 1 to {MAX_HEADS} change hashes, got {}; send the cart's heads after syncing it",
            heads.len()
        )));
    }
    heads
        .iter()
        .map(|h| {
            ChangeHash::from_str(h).map_err(|_| {
                ApiError::invalid(format!(
                    "head {:?} is not a change hash; each head is 64 hex digits",
                    h.chars().take(80).collect::<String>()
                ))
            })
        })
        .collect()
}

/// `POST /api/carts/{id}/checkout`.
async fn checkout_cart(
    State(state): State<AppState>,
    Path(cart_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let result = async {
        let request: CheckoutRequest = parse_body(body, CHECKOUT_SHAPE, MAX_BODY_BYTES)?;
        let cart = parse_cart_id(&cart_id)?;
        let key = request_key(request.key, &headers, None)?;
        let heads = parse_heads(&request.heads)?;
        checkout::checkout(&state, cart, &key, &heads).await
    }
    .await;
    let refused = result.as_ref().err().map(|e| match e.code {
        "body_too_large" => "invalid_request",
        code => code,
    });
    state
        .metrics()
        .checkout_answered(started.elapsed(), refused);
    result.map(|done| json_response(StatusCode::OK, &done))
}

#[derive(Deserialize)]
struct KeyQuery {
    key: Option<String>,
}

/// `GET /api/orders/{id}` with the cart's key (`Authorization: Bearer` or `?key=`).
async fn order(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
    Query(query): Query<KeyQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = request_key(None, &headers, query.key)?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no order with this id opens with this key; use the order id and the key of the cart that was checked out",
        )
    };
    let Some(order) = state.shop().order(&order_id).await.map_err(storage)? else {
        return Err(not_found());
    };
    let cart = CartId::from_str(&order.cart_id).map_err(|_| not_found())?;
    let bound = state
        .hubs()
        .store()
        .secret_hash(&cart)
        .await
        .map_err(storage)?;
    if bound != Some(key.hash_for(&cart)) {
        return Err(not_found());
    }
    #[derive(Serialize)]
    struct OrderBody<'a> {
        order: &'a crate::store::shop::Order,
    }
    Ok(json_response(StatusCode::OK, &OrderBody { order: &order }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SigninRequest {
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SigninBody {
    account: String,
    cart_id: String,
    key: String,
}

/// Checks a sign-in name: trimmed, 1..=[`MAX_NAME_CHARS`] characters, no control characters.
/// Returns the trimmed name.
pub fn sign_in_name(name: &str) -> Result<String, ApiError> {
    let trimmed = name.trim();
    let chars = trimmed.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(ApiError::invalid(format!(
            "the name has {chars} characters after trimming; use 1 to {MAX_NAME_CHARS}"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "the name contains control characters; use letters, digits, spaces and punctuation",
        ));
    }
    Ok(trimmed.to_string())
}

/// `POST /api/signin` `{ name }`: the demo account's cart id and key, created on first use.
async fn signin(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: SigninRequest = parse_body(
        body,
        "a JSON object {\"name\": \"<1 to 64 characters>\"}",
        MAX_BODY_BYTES,
    )?;
    let name = sign_in_name(&request.name)?;
    let random = |e: cart_core::CartError| {
        tracing::error!(error = %e, "no randomness for a new account");
        ApiError::storage()
    };
    let fresh = Account {
        name,
        cart_id: CartId::random().map_err(random)?.to_string(),
        key: cart_core::session::random_key().map_err(random)?,
    };
    let account = state.shop().account(&fresh).await.map_err(storage)?;
    Ok(json_response(
        StatusCode::OK,
        &SigninBody {
            account: account.name,
            cart_id: account.cart_id,
            key: account.key,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_names_are_trimmed_and_bounded() {
        assert_eq!(sign_in_name("  alice ").unwrap(), "alice");
        assert!(sign_in_name("   ").is_err());
        assert!(sign_in_name(&"a".repeat(65)).is_err());
        assert!(sign_in_name(&"é".repeat(64)).is_ok());
        assert!(sign_in_name("a\u{7}b").is_err());
    }

    #[test]
    fn heads_must_be_hex_hashes() {
        assert!(parse_heads(&[]).is_err());
        assert!(parse_heads(&["zz".into()]).is_err());
        assert!(parse_heads(&["00".repeat(32)]).is_ok());
    }
}
