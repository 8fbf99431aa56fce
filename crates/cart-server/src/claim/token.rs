//! The shop's sign-in token: a JSON Web Token (RFC 7519) signed with HMAC-SHA256 (`HS256`) by
//! the shop's backend, with the secret it shares with this server (`CART_SERVER_CLAIM_SECRET`).
//!
//! Only the small part of JWT the claim needs is read, by hand, so no JWT crate (and none of
//! their algorithm-confusion history) comes in:
//!
//! - three base64url parts without padding, `header.payload.signature`;
//! - the header is `{"alg":"HS256","typ":"JWT"}` (`typ` may be left out); every other `alg`,
//!   `none` included, is refused before anything else is looked at;
//! - the signature is HMAC-SHA256 of `header.payload` (the ASCII text as sent), compared in
//!   constant time;
//! - the payload has `sub`, the shop's customer id (1 to [`MAX_CUSTOMER_CHARS`] characters, no
//!   control characters), `exp` in Unix seconds, later than now minus [`LEEWAY_SECS`] and at
//!   most [`MAX_LIFETIME_SECS`] (plus the leeway) ahead: tokens are short-lived, minted by the
//!   shop for one sign-in. `iat`, when present, must be a number not after now (plus the
//!   leeway); other claims are ignored.
//!
//! Errors say which rule failed and never repeat the token.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::secret::check_secret;

/// Clock difference tolerated between the shop's backend and this server, in seconds.
pub const LEEWAY_SECS: i64 = 30;
/// How far ahead a token's `exp` may be, in seconds (plus [`LEEWAY_SECS`]).
pub const MAX_LIFETIME_SECS: i64 = 3600;
/// The longest token read, in characters.
pub const MAX_TOKEN_CHARS: usize = 4096;
/// The longest customer id (`sub`), in characters.
pub const MAX_CUSTOMER_CHARS: usize = 128;

/// The secret the shop signs sign-in tokens with (`CART_SERVER_CLAIM_SECRET`). Unlike
/// [`crate::secret::AdminToken`], the secret itself is kept, since HMAC needs it; it is never
/// logged or shown (its `Debug` prints nothing of it).
#[derive(Clone)]
pub struct ClaimSecret(Vec<u8>);

impl fmt::Debug for ClaimSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClaimSecret(..)")
    }
}

/// Why a token was refused; [`TokenError::message`] says it to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not three base64url parts, or a part is not the JSON it must be.
    Malformed(&'static str),
    /// The header names another algorithm than `HS256` (`none` included), or another `typ`.
    WrongAlgorithm,
    /// The signature is not HMAC-SHA256 of the token with the shared secret.
    BadSignature,
    /// `exp` has passed.
    Expired,
    /// `exp` is more than [`MAX_LIFETIME_SECS`] ahead.
    TooFarAhead,
    /// `iat` is later than now (plus [`LEEWAY_SECS`]): the shop's clock or the token is wrong.
    IssuedInTheFuture,
    /// `sub` is empty, too long or has control characters.
    InvalidSubject,
}

impl TokenError {
    /// What is wrong, for the client; never the token.
    pub fn message(&self) -> String {
        let sign = "have the shop's backend sign a new token";
        match self {
            TokenError::Malformed(what) => {
                format!("the token is not a JWT: {what}; send header.payload.signature, each base64url without padding")
            }
            TokenError::WrongAlgorithm => {
                "the token's header must be {\"alg\":\"HS256\",\"typ\":\"JWT\"}; other algorithms, none included, are refused".to_string()
            }
            TokenError::BadSignature => format!(
                "the token's signature does not match; {sign} with CART_SERVER_CLAIM_SECRET"
            ),
            TokenError::Expired => format!("the token has expired; {sign} for this sign-in"),
            TokenError::TooFarAhead => format!(
                "the token's exp is more than {MAX_LIFETIME_SECS} seconds ahead; sign-in tokens are short-lived, {sign} that expires within the hour"
            ),
            TokenError::IssuedInTheFuture => format!(
                "the token's iat is in the future; check the shop backend's clock and {sign}"
            ),
            TokenError::InvalidSubject => format!(
                "the token's sub must be the customer id, 1 to {MAX_CUSTOMER_CHARS} characters without control characters"
            ),
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
}

impl ClaimSecret {
    /// Checks a configured secret ([`crate::secret::check_secret`]).
    ///
    /// Errs with a message for the operator that says how to make one (never the secret).
    pub fn parse(secret: &str) -> Result<ClaimSecret, String> {
        check_secret(
            secret,
            "the claim secret",
            "`openssl rand -base64 48` and give the same one to the shop's backend",
        )?;
        Ok(ClaimSecret(secret.as_bytes().to_vec()))
    }

    /// The customer id (`sub`) of `token` when it is an HS256 JWT signed with this secret and
    /// valid at `now` (Unix seconds); see the module documentation for the rules.
    ///
    /// Errs with the first rule `token` breaks.
    pub fn verify(&self, token: &str, now: i64) -> Result<String, TokenError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::Malformed("it is longer than 4096 characters"));
        }
        let Some((signed, signature)) = token.rsplit_once('.') else {
            return Err(TokenError::Malformed("it does not have three parts"));
        };
        let Some((header, payload)) = signed.split_once('.').filter(|(_, p)| !p.contains('.'))
        else {
            return Err(TokenError::Malformed("it does not have three parts"));
        };
        let header: Header = json_part(header, "the header")?;
        if header.alg != "HS256" || header.typ.is_some_and(|typ| typ != "JWT") {
            return Err(TokenError::WrongAlgorithm);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed("the signature is not base64url"))?;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).map_err(|_| TokenError::BadSignature)?;
        mac.update(signed.as_bytes());
        // `verify_slice` compares in constant time.
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;
        let claims: Claims = json_part(payload, "the payload")?;
        if claims.exp <= now.saturating_sub(LEEWAY_SECS) {
            return Err(TokenError::Expired);
        }
        if claims.exp > now.saturating_add(MAX_LIFETIME_SECS + LEEWAY_SECS) {
            return Err(TokenError::TooFarAhead);
        }
        if claims
            .iat
            .is_some_and(|iat| iat > now.saturating_add(LEEWAY_SECS))
        {
            return Err(TokenError::IssuedInTheFuture);
        }
        let chars = claims.sub.chars().count();
        if !(1..=MAX_CUSTOMER_CHARS).contains(&chars) || claims.sub.chars().any(char::is_control) {
            return Err(TokenError::InvalidSubject);
        }
        Ok(claims.sub)
    }
}

/// A base64url part holding a JSON object of shape `T`.
fn json_part<T: for<'de> Deserialize<'de>>(
    part: &str,
    which: &'static str,
) -> Result<T, TokenError> {
    let malformed = || {
        TokenError::Malformed(match which {
            "the header" => "the header is not base64url JSON with a string alg",
            _ => "the payload is not base64url JSON with a string sub and an integer exp",
        })
    };
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| malformed())?;
    serde_json::from_slice(&bytes).map_err(|_| malformed())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a-claim-secret-of-at-least-32-characters";
    const NOW: i64 = 1_800_000_000;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn token_with(header: &str, payload: &str, secret: &str) -> String {
        let signed = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(signed.as_bytes());
        format!("{signed}.{}", b64(&mac.finalize().into_bytes()))
    }

    fn token(payload: &str) -> String {
        token_with(r#"{"alg":"HS256","typ":"JWT"}"#, payload, SECRET)
    }

    fn secret() -> ClaimSecret {
        ClaimSecret::parse(SECRET).unwrap()
    }

    #[test]
    fn a_signed_unexpired_token_gives_its_customer() {
        let t = token(&format!(
            r#"{{"sub":"cust_42","exp":{},"iat":{NOW}}}"#,
            NOW + 300
        ));
        assert_eq!(secret().verify(&t, NOW).unwrap(), "cust_42");
        let no_typ = token_with(
            r#"{"alg":"HS256"}"#,
            &format!(r#"{{"sub":"c","exp":{}}}"#, NOW + 1),
            SECRET,
        );
        assert_eq!(secret().verify(&no_typ, NOW).unwrap(), "c");
    }

    #[test]
    fn expiry_allows_thirty_seconds_of_skew_and_at_most_an_hour_ahead() {
        let at = |exp: i64| token(&format!(r#"{{"sub":"c","exp":{exp}}}"#));
        assert!(secret().verify(&at(NOW - 29), NOW).is_ok());
        assert_eq!(
            secret().verify(&at(NOW - 30), NOW),
            Err(TokenError::Expired)
        );
        assert!(secret().verify(&at(NOW + 3630), NOW).is_ok());
        let early = token(&format!(
            r#"{{"sub":"c","exp":{},"iat":{}}}"#,
            NOW + 60,
            NOW + 60
        ));
        assert_eq!(
            secret().verify(&early, NOW),
            Err(TokenError::IssuedInTheFuture)
        );
        assert_eq!(
            secret().verify(&at(NOW + 3631), NOW),
            Err(TokenError::TooFarAhead)
        );
    }

    #[test]
    fn other_algorithms_and_secrets_and_edits_are_refused() {
        let payload = format!(r#"{{"sub":"c","exp":{}}}"#, NOW + 60);
        let none = format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT"}"#),
            b64(payload.as_bytes())
        );
        assert_eq!(secret().verify(&none, NOW), Err(TokenError::WrongAlgorithm));
        let hs512 = token_with(r#"{"alg":"HS512","typ":"JWT"}"#, &payload, SECRET);
        assert_eq!(
            secret().verify(&hs512, NOW),
            Err(TokenError::WrongAlgorithm)
        );
        let other = token_with(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            &payload,
            "another-secret-of-at-least-32-characters",
        );
        assert_eq!(secret().verify(&other, NOW), Err(TokenError::BadSignature));
        let good = token(&payload);
        let (signed, signature) = good.rsplit_once('.').unwrap();
        let (header, _) = signed.split_once('.').unwrap();
        let tampered = format!(
            "{header}.{}.{signature}",
            b64(format!(r#"{{"sub":"admin","exp":{}}}"#, NOW + 60).as_bytes())
        );
        assert_eq!(
            secret().verify(&tampered, NOW),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            secret().verify(&format!("{good}="), NOW),
            Err(TokenError::Malformed("the signature is not base64url")),
            "padding is refused"
        );
    }

    #[test]
    fn malformed_tokens_and_subjects_are_refused_without_echoing_the_token() {
        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            let refused = secret().verify(bad, NOW).unwrap_err();
            assert!(
                matches!(refused, TokenError::Malformed(_)),
                "{bad}: {refused:?}"
            );
        }
        let long = "x".repeat(129);
        for sub in ["", long.as_str(), "a\u{7}b"] {
            let t = token(&format!(
                r#"{{"sub":{},"exp":{}}}"#,
                serde_json::to_string(sub).unwrap(),
                NOW + 60
            ));
            assert_eq!(
                secret().verify(&t, NOW),
                Err(TokenError::InvalidSubject),
                "{sub:?}"
            );
        }
        let string_exp = token(r#"{"sub":"c","exp":"soon"}"#);
        let refused = secret().verify(&string_exp, NOW).unwrap_err();
        assert!(matches!(refused, TokenError::Malformed(_)));
        assert!(!refused.message().contains(&string_exp[..10]));
    }

    #[test]
    fn a_claim_secret_must_be_long_and_is_never_shown() {
        assert!(ClaimSecret::parse(&SECRET[..31]).is_err());
        assert!(ClaimSecret::parse(&format!("{SECRET} x")).is_err());
        assert!(ClaimSecret::parse(&"s".repeat(513)).is_err());
        let refused = ClaimSecret::parse("short-secret").unwrap_err();
        assert!(!refused.contains("short-secret"));
        assert_eq!(format!("{:?}", secret()), "ClaimSecret(..)");
    }
}
