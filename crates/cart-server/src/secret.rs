//! Secrets: the cart `key` a client puts on the WebSocket URL and the hash the server keeps of
//! it, and the admin API's bearer token.
//!
//! A cart is bound to the key presented the first time changes of it are stored. The store keeps
//! only `SHA-256("offline-cart key v1" || 0 || cart id bytes || key)`: binding the hash to the
//! cart means one key used for several carts gives unrelated hashes. Keys must be random (the
//! browser module makes 128 bits or more); a plain hash is then as strong as a slow one.

use std::fmt;

use cart_core::CartId;
use sha2::{Digest, Sha256};

/// The shortest accepted key, in characters.
pub const MIN_KEY_CHARS: usize = 16;
/// The longest accepted key, in characters.
pub const MAX_KEY_CHARS: usize = 512;

const DOMAIN: &[u8] = b"offline-cart key v1\0";

/// A key that passed [`CartKey::parse`]. Its text is never logged or shown.
#[derive(Clone, PartialEq, Eq)]
pub struct CartKey(String);

impl fmt::Debug for CartKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CartKey(..)")
    }
}

impl CartKey {
    /// Checks the `key` query parameter: present, [`MIN_KEY_CHARS`]..=[`MAX_KEY_CHARS`]
    /// characters, no whitespace or control characters.
    ///
    /// Errs with a message for the client that says how to fix the URL.
    pub fn parse(key: Option<&str>) -> Result<CartKey, String> {
        let fix = "put a random secret of 16 to 512 characters in the key query parameter, as in /sync?key=SECRET, and keep it with the cart";
        let Some(key) = key else {
            return Err(format!(
                "the WebSocket URL has no key query parameter; {fix}"
            ));
        };
        let chars = key.chars().count();
        if !(MIN_KEY_CHARS..=MAX_KEY_CHARS).contains(&chars) {
            return Err(format!("the key has {chars} characters; {fix}"));
        }
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "the key contains whitespace or control characters; {fix}"
            ));
        }
        Ok(CartKey(key.to_string()))
    }

    /// The hash of this key for cart `cart`, the only form the server stores.
    pub fn hash_for(&self, cart: &CartId) -> SecretHash {
        let mut hasher = Sha256::new();
        hasher.update(DOMAIN);
        hasher.update(cart.as_bytes());
        hasher.update(self.0.as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&hasher.finalize());
        SecretHash(bytes)
    }
}

/// The stored hash of a cart's key.
#[derive(Clone, Copy, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// The hash made of these 32 bytes (as read back from a store).
    pub fn from_bytes(bytes: [u8; 32]) -> SecretHash {
        SecretHash(bytes)
    }

    /// The hash from stored bytes; `None` when they are not 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<SecretHash> {
        <[u8; 32]>::try_from(bytes).ok().map(SecretHash)
    }

    /// The 32 bytes of the hash.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for SecretHash {
    /// Compares in constant time, so response timing says nothing about a stored hash.
    fn eq(&self, other: &SecretHash) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// The shortest operator secret (admin token, claim secret, webhook secret), in characters: a
/// long random secret, not a password.
pub const MIN_SECRET_CHARS: usize = 32;
/// The longest operator secret, in characters.
pub const MAX_SECRET_CHARS: usize = 512;

/// Checks an operator secret (`what`, such as "the admin token"): [`MIN_SECRET_CHARS`]..=
/// [`MAX_SECRET_CHARS`] characters without whitespace or control characters.
///
/// Errs with a message that says what is wrong and how to make one (`make`, a command), never
/// the secret.
pub fn check_secret(secret: &str, what: &str, make: &str) -> Result<(), String> {
    let chars = secret.chars().count();
    if !(MIN_SECRET_CHARS..=MAX_SECRET_CHARS).contains(&chars)
        || secret.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "{what} must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters without whitespace (it has {chars}); make one with {make}"
        ));
    }
    Ok(())
}

/// The bearer token of the admin API (`CART_SERVER_ADMIN_TOKEN`). Its text is never logged or
/// shown; only its SHA-256 is kept, and presented tokens are compared with it in constant time.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(SecretHash);

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

impl AdminToken {
    /// Checks a configured token ([`check_secret`]).
    ///
    /// Errs with a message for the operator that says how to make one.
    pub fn parse(token: &str) -> Result<AdminToken, String> {
        check_secret(token, "the admin token", "`openssl rand -base64 32`")?;
        Ok(AdminToken(Self::hash(token)))
    }

    /// Whether `presented` (the `Authorization: Bearer` value) is this token.
    pub fn accepts(&self, presented: &str) -> bool {
        self.0 == Self::hash(presented)
    }

    fn hash(token: &str) -> SecretHash {
        SecretHash(Sha256::digest(token.as_bytes()).into())
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_token_must_be_long_and_accepts_only_itself() {
        let token = "0123456789abcdef0123456789abcdef";
        let admin = AdminToken::parse(token).expect("32 characters");
        assert!(admin.accepts(token));
        assert!(!admin.accepts("0123456789abcdef0123456789abcdeX"));
        assert!(!admin.accepts(""));
        assert!(AdminToken::parse(&token[1..]).is_err());
        assert!(AdminToken::parse(&format!("{token} x")).is_err());
        assert!(!format!("{admin:?}").contains("0123"));
    }

    #[test]
    fn keys_must_be_long_enough_and_printable() {
        assert!(CartKey::parse(None).is_err());
        assert!(CartKey::parse(Some("short")).is_err());
        assert!(CartKey::parse(Some("sixteen chars!!!")).is_err(), "spaces");
        assert!(CartKey::parse(Some(&"k".repeat(513))).is_err());
        assert!(CartKey::parse(Some("0123456789abcdef")).is_ok());
    }

    #[test]
    fn a_hash_depends_on_key_and_cart() {
        let key = CartKey::parse(Some("0123456789abcdef")).unwrap();
        let other = CartKey::parse(Some("0123456789abcdeF")).unwrap();
        let a = CartId::from_bytes([1; 16]);
        let b = CartId::from_bytes([2; 16]);
        assert_eq!(key.hash_for(&a), key.hash_for(&a));
        assert_ne!(key.hash_for(&a), key.hash_for(&b));
        assert_ne!(key.hash_for(&a), other.hash_for(&a));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let key = CartKey::parse(Some("0123456789abcdef")).unwrap();
        assert!(!format!("{key:?}").contains("0123"));
    }
}
