//! Cart ids: automerge-repo document ids, so a cart can be synced by any automerge-repo peer.
//!
//! An id is 16 random bytes written as bs58check (base58 of the bytes followed by the first four
//! bytes of their double SHA-256). The same id may be written as an `automerge:` URL.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::error::{CartError, ErrorCode};

/// The prefix of an automerge-repo document URL.
pub const URL_PREFIX: &str = "automerge:";

/// The id of one cart: 16 bytes, shown as bs58check like an automerge-repo `DocumentId`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CartId([u8; 16]);

impl CartId {
    /// A new random cart id (128 bits from the platform's secure random source).
    ///
    /// Errs only when the platform has no random source, which browsers and servers always have.
    pub fn random() -> Result<CartId, CartError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| {
            CartError::new(
                ErrorCode::Storage,
                format!("no secure random source to create a cart id: {e}"),
            )
        })?;
        Ok(CartId(bytes))
    }

    /// The id made of these 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> CartId {
        CartId(bytes)
    }

    /// The 16 bytes of the id.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The id as an automerge-repo URL: `automerge:` followed by the bs58check id.
    pub fn to_url(&self) -> String {
        format!("{URL_PREFIX}{self}")
    }
}

fn checksum(payload: &[u8]) -> [u8; 4] {
    let twice = Sha256::digest(Sha256::digest(payload));
    [twice[0], twice[1], twice[2], twice[3]]
}

impl fmt::Display for CartId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut data = [0u8; 20];
        data[..16].copy_from_slice(&self.0);
        data[16..].copy_from_slice(&checksum(&self.0));
        f.write_str(&bs58::encode(data).into_string())
    }
}

impl fmt::Debug for CartId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CartId({self})")
    }
}

impl FromStr for CartId {
    type Err = CartError;

    /// Parses a bs58check id, with or without the `automerge:` prefix.
    fn from_str(text: &str) -> Result<CartId, CartError> {
        let invalid = |why: &str| {
            CartError::new(
                ErrorCode::InvalidCartId,
                format!(
                    "cart id {text:?} is not valid: {why}; pass an id from Cart.open or omit it to create a new cart"
                ),
            )
        };
        let id = text.strip_prefix(URL_PREFIX).unwrap_or(text);
        let data = bs58::decode(id)
            .into_vec()
            .map_err(|_| invalid("it is not base58"))?;
        if data.len() != 20 {
            return Err(invalid("it does not hold 16 bytes"));
        }
        let (payload, sum) = data.split_at(16);
        if checksum(payload) != sum {
            return Err(invalid("its checksum does not match"));
        }
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(payload);
        Ok(CartId(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_urls() {
        let id = CartId::random().unwrap();
        assert_eq!(id.to_string().parse::<CartId>().unwrap(), id);
        assert_eq!(id.to_url().parse::<CartId>().unwrap(), id);
        assert!(id.to_url().starts_with("automerge:"));
    }

    #[test]
    fn a_known_id_encodes_as_bs58check() {
        // bs58check of sixteen zero bytes, computed with an independent implementation.
        let id = CartId::from_bytes([0; 16]);
        assert_eq!(id.to_string(), "11111111111111114Ki9Gx");
    }

    #[test]
    fn a_changed_character_is_refused_by_the_checksum() {
        let text = CartId::from_bytes([7; 16]).to_string();
        let mut chars: Vec<char> = text.chars().collect();
        chars[3] = if chars[3] == '2' { '3' } else { '2' };
        let tampered: String = chars.into_iter().collect();
        let err = tampered.parse::<CartId>().unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidCartId);
    }

    #[test]
    fn text_that_is_not_an_id_is_refused() {
        for bad in ["", "0OIl", "abc", "automerge:", "11111111111111114Ki9Gx1"] {
            assert!(bad.parse::<CartId>().is_err(), "{bad:?} was accepted");
        }
    }
}
