//! The storefront origins allowed to use this server from another origin
//! (`CART_SERVER_ALLOWED_ORIGINS`).
//!
//! - **The JSON API** (`/api/...`) answers a listed origin with CORS headers, preflights
//!   included, so a storefront on `https://shop.example` can call a cart-server on
//!   `https://carts.shop.example`. Other origins get no CORS headers: their pages cannot read the
//!   answers, as before.
//! - **`/sync`**: browsers do not apply CORS to WebSockets; they send an `Origin` header and leave
//!   the decision to the server. With a list configured, an upgrade whose `Origin` is neither
//!   this server's own origin nor listed is refused (403 `origin_not_allowed`). Without a list
//!   every origin may connect, as before: a cart's key is a bearer secret in the URL, never a
//!   cookie, so a page on another site gains nothing a socket of its own would not give it.
//!   Clients that are not browsers send no `Origin` and are not affected.

use axum::http::{header, HeaderMap, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// The most origins the list takes: a few storefronts, never an unbounded list.
pub const MAX_ORIGINS: usize = 64;

/// The configured storefront origins; empty when none are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins {
    origins: Vec<HeaderValue>,
}

impl AllowedOrigins {
    /// Parses a comma-separated list of origins such as
    /// `https://shop.example,https://www.shop.example` (spaces around commas are ignored, an
    /// empty list allows none).
    ///
    /// Errs, naming the entry, when one is not `http(s)://host[:port]` without a path, or when
    /// there are more than [`MAX_ORIGINS`].
    pub fn parse(list: &str) -> Result<AllowedOrigins, String> {
        let origins: Vec<HeaderValue> = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(origin)
            .collect::<Result<_, _>>()?;
        if origins.len() > MAX_ORIGINS {
            return Err(format!(
                "at most {MAX_ORIGINS} origins may be allowed, got {}",
                origins.len()
            ));
        }
        Ok(AllowedOrigins { origins })
    }

    /// Whether no origin is configured.
    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    /// The CORS layer of the JSON API: the listed origins, the API's methods and the
    /// `Content-Type` header; no credentials (the API takes keys in the body, never cookies).
    pub fn cors(&self) -> CorsLayer {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(self.origins.clone()))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE])
            .max_age(PREFLIGHT_MAX_AGE)
    }

    /// Whether a WebSocket upgrade with these request `headers` may proceed: no `Origin` (not a
    /// browser), no list configured, the server's own origin (the `Host` it was asked as), or a
    /// listed origin.
    pub fn allows_socket(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        if self.is_empty() || self.origins.contains(origin) {
            return true;
        }
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let authority = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, authority)| authority);
        host.is_some_and(|host| authority == Some(host))
    }
}

/// One origin of the list, checked: `http://` or `https://`, a host, an optional port, nothing
/// after it.
fn origin(entry: &str) -> Result<HeaderValue, String> {
    let invalid = |why: &str| {
        format!("{entry:?} is not an origin ({why}); write it as the browser sends it, such as https://shop.example or http://localhost:5173")
    };
    let authority = entry
        .strip_prefix("https://")
        .or_else(|| entry.strip_prefix("http://"))
        .ok_or_else(|| invalid("it must start with https:// or http://"))?;
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(invalid(
            "only a host and an optional port may follow the scheme",
        ));
    }
    HeaderValue::from_str(entry).map_err(|_| invalid("it holds characters a header cannot"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_str(value).unwrap()))
            .collect()
    }

    #[test]
    fn a_list_of_origins_is_parsed_and_bad_entries_are_named() {
        let allowed =
            AllowedOrigins::parse(" https://shop.example, http://localhost:5173 ,").unwrap();
        assert_eq!(allowed.origins.len(), 2);
        assert!(AllowedOrigins::parse("").unwrap().is_empty());
        for bad in [
            "shop.example",
            "https://shop.example/",
            "ftp://x",
            "https://",
        ] {
            let err = AllowedOrigins::parse(bad).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
        let many = vec!["https://a.example"; MAX_ORIGINS + 1].join(",");
        assert!(AllowedOrigins::parse(&many).is_err());
    }

    #[test]
    fn sockets_from_other_origins_are_refused_only_when_a_list_is_configured() {
        let listed = AllowedOrigins::parse("https://shop.example").unwrap();
        let from = |origin: &str| {
            headers(&[
                (header::ORIGIN, origin),
                (header::HOST, "carts.shop.example"),
            ])
        };
        assert!(listed.allows_socket(&from("https://shop.example")));
        assert!(
            listed.allows_socket(&from("https://carts.shop.example")),
            "its own origin"
        );
        assert!(!listed.allows_socket(&from("https://evil.example")));
        assert!(
            listed.allows_socket(&headers(&[(header::HOST, "carts.shop.example")])),
            "no Origin: not a browser"
        );
        assert!(
            AllowedOrigins::default().allows_socket(&from("https://evil.example")),
            "no list: as before"
        );
    }
}
