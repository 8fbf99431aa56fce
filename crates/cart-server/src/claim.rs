//! Sign-in for a real shop: `POST /api/carts/claim` binds the shopper's anonymous cart to the
//! shop's own customer, named by a short-lived token the shop's backend signs ([`token`]).
//!
//! 1. The token is checked ([`token::ClaimSecret::verify`]); its `sub` is the customer id.
//! 2. The customer's cart id and key are read, or created on the customer's first claim
//!    ([`crate::store::ShopStore::customer`]; racing first claims get one cart).
//! 3. When the request names an anonymous cart (stored, and the key is its key, else
//!    `not_found`), both carts are locked, in cart id order ([`crate::hub::Hubs::claim`]), and
//!    every line of the anonymous cart as the server has it is added to the customer's cart as
//!    new add entries: quantities sum with what the customer's cart has (add-wins, the demo's
//!    rule), each line capped at 999 as far as the server's copy of the customer cart knows
//!    ([`merge_change`]). A line's quantity is made of parts: its `set:` register and each of
//!    its `add:` entries (see [`cart_core::schema`]). Each part becomes one add whose tag is
//!    derived from the anonymous cart id, the sku and what names the part for good (the
//!    register's operation id, the entry's key; [`claim_tag`]), and an add whose tag the cart
//!    shows changes nothing: a retried claim adds nothing twice, even when the anonymous cart
//!    gained lines or units in between (only those are added then). The change is checked
//!    (schema, line and size limits), stored and sent to every device linked to the customer's
//!    cart. A customer cart the server does not have yet is created by this change (its first
//!    change carries the schema and the cart id, as [`cart_core::Cart::new`] makes them) and
//!    bound to the customer key.
//! 4. Then the anonymous cart's lines are cleared by a merge-safe clear made at the heads that
//!    were merged ([`clear_change`], as checkout clears): adds a device makes later survive.
//!    It is stored and sent to every device linked to the anonymous cart.
//!
//! The customer's cart is stored first: a crash between the two steps leaves the lines in both
//! carts, and a retry adds nothing twice, then clears. (One case still counts twice: a device
//! that sets a line's quantity on the anonymous cart between the crash and the retry writes a
//! new `set:` register, a part the retry adds again.)

pub mod token;

use std::str::FromStr;

use automerge::{ActorId, Automerge, ChangeHash, ReadDoc, ROOT};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use cart_core::{schema, Cart, CartId, NewItem};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::{self, ApiError, MAX_BODY_BYTES};
use crate::error::{ErrorKind, Refusal};
use crate::secret::CartKey;
use crate::store::shop::Customer;
use crate::AppState;

/// The most units of one line (the cart's limit, [`cart_core::validate::MAX_QUANTITY`]).
const MAX_QUANTITY: i64 = cart_core::validate::MAX_QUANTITY;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ClaimRequest {
    token: String,
    #[serde(default)]
    cart_id: Option<String>,
    #[serde(default)]
    key: Option<String>,
}

const CLAIM_SHAPE: &str = "a JSON object {\"token\": \"<the shop's signed token>\", \"cartId\": \"<anonymous cart id>\", \"key\": \"<its key>\"} (cartId and key together, or neither)";

/// What a claim answers: the customer and their cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Claimed {
    /// The shop's customer id (the token's `sub`).
    pub customer: String,
    /// The customer's cart id.
    pub cart_id: String,
    /// The customer cart's key.
    pub key: String,
}

impl ApiError {
    /// 401 `invalid_token`: the sign-in token was refused; `why` says which rule it broke.
    pub fn invalid_token(why: token::TokenError) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", why.message())
    }

    /// 403 `claim_off`: the server has no claim secret, so no token can be checked.
    pub fn claim_off() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "claim_off",
            "sign-in with a shop's token is off on this server; start it with CART_SERVER_CLAIM_SECRET set to the secret the shop signs tokens with",
        )
    }

    /// 422 `cart_full`: the customer's cart cannot take the anonymous cart's lines.
    pub fn cart_full(message: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "cart_full",
            format!("nothing was merged: {message}"),
        )
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> ApiError {
        match refusal.kind() {
            ErrorKind::TooManyLines | ErrorKind::DocumentTooLarge => {
                ApiError::cart_full(refusal.message())
            }
            _ => {
                tracing::error!(error = %refusal, "a claim's change was not stored");
                ApiError::storage()
            }
        }
    }
}

/// `POST /api/carts/claim`: see the module documentation. Every answer is counted in
/// `cart_server_claims_total` by its outcome.
pub(crate) async fn claim_cart(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let result = claim(&state, body).await;
    let outcome = match &result {
        Ok(_) => "claimed",
        Err(e) if e.code() == "body_too_large" => "invalid_request",
        Err(e) => e.code(),
    };
    state.metrics().claim_answered(outcome);
    result.map(|claimed| api::json_response(StatusCode::OK, &claimed))
}

async fn claim(state: &AppState, body: Result<Bytes, BytesRejection>) -> Result<Claimed, ApiError> {
    let secret = state.claim_secret().ok_or_else(ApiError::claim_off)?;
    let request: ClaimRequest = api::parse_body(body, CLAIM_SHAPE, MAX_BODY_BYTES)?;
    let customer = secret
        .verify(&request.token, now_secs())
        .map_err(ApiError::invalid_token)?;
    let anonymous = match (request.cart_id, request.key) {
        (Some(cart), Some(key)) => Some((api::parse_cart_id(&cart)?, api::cart_key(&key)?)),
        (None, None) => None,
        _ => {
            return Err(ApiError::invalid(format!(
                "cartId and key go together; send {CLAIM_SHAPE}"
            )))
        }
    };
    if let Some((cart, key)) = &anonymous {
        // Checked again under the cart's lock; checked here too so that a wrong key creates no
        // customer record.
        let bound = state
            .hubs()
            .store()
            .secret_hash(cart)
            .await
            .map_err(api::storage)?;
        if bound != Some(key.hash_for(cart)) {
            return Err(ApiError::cart_not_found());
        }
    }
    let random = |e: cart_core::CartError| {
        tracing::error!(error = %e, "no randomness for a new customer cart");
        ApiError::storage()
    };
    let fresh = Customer {
        id: customer,
        cart_id: CartId::random().map_err(random)?.to_string(),
        key: cart_core::session::random_key().map_err(random)?,
    };
    let found = state.shop().customer(&fresh).await.map_err(api::storage)?;
    let claimed = Claimed {
        customer: found.id,
        cart_id: found.cart_id,
        key: found.key,
    };
    let Some((anonymous, anonymous_key)) = anonymous else {
        return Ok(claimed);
    };
    let customer_cart = CartId::from_str(&claimed.cart_id).map_err(|_| {
        tracing::error!(customer = %claimed.customer, "a stored customer cart id does not parse");
        ApiError::storage()
    })?;
    let customer_key = CartKey::parse(Some(&claimed.key)).map_err(|_| {
        tracing::error!(customer = %claimed.customer, "a stored customer cart key does not parse");
        ApiError::storage()
    })?;
    if anonymous == customer_cart {
        // The shopper is signed in already (the key was checked above): nothing to move.
        return Ok(claimed);
    }
    let merged = state
        .hubs()
        .claim(
            (anonymous, &anonymous_key.hash_for(&anonymous)),
            (customer_cart, &customer_key.hash_for(&customer_cart)),
            |from, into| merge_change(anonymous, from, customer_cart, into),
            |from| clear_change(anonymous, from),
        )
        .await?;
    tracing::info!(
        cart = %anonymous,
        customer_cart = %customer_cart,
        lines = merged,
        "an anonymous cart was claimed"
    );
    Ok(claimed)
}

/// Unix seconds now, from the clock the carts and orders use.
fn now_secs() -> i64 {
    cart_core::cart::system_clock() / 1000
}

/// The tag of the add that moves `part` of line `sku` of the anonymous cart `from` into a
/// customer's cart: `c` and the first 32 hex digits of `SHA-256("offline-cart claim v1\0" ||
/// cart id bytes || sku || 0 || part)`. `part` names a part of the line's quantity for good
/// ([`quantity_parts`]), so claiming it again makes the same tag and adds nothing.
pub fn claim_tag(from: &CartId, sku: &str, part: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"offline-cart claim v1\0");
    hasher.update(from.as_bytes());
    hasher.update(sku.as_bytes());
    hasher.update([0]);
    hasher.update(part.as_bytes());
    let digest = hasher.finalize();
    format!("c{}", cart_core::hex::encode(&digest[..16]))
}

/// The actor of the change that clears anonymous cart `from` after a claim read it at `heads`
/// (in any order): the first 16 bytes of `SHA-256("offline-cart claim clear v1\0" || cart id
/// bytes || sorted heads)`. Used for that change only, so making it again gives the same
/// change.
pub fn claim_clear_actor(from: &CartId, heads: &[ChangeHash]) -> ActorId {
    let mut hasher = Sha256::new();
    hasher.update(b"offline-cart claim clear v1\0");
    hasher.update(from.as_bytes());
    for head in crate::checkout::normalize_heads(heads) {
        hasher.update(head.0);
    }
    ActorId::from(&hasher.finalize()[..16])
}

/// What the quantity of line `sku` of `doc` is made of, each part named for good: the value of
/// `set:<sku>` (named `set <operation id>`) and every `add:<sku>#<tag>` entry (named by its
/// key). Parts of 0 are left out; the parts sum to the line's quantity.
pub fn quantity_parts(doc: &Automerge, sku: &str) -> Vec<(String, i64)> {
    let set = doc
        .get(ROOT, schema::set_key(sku))
        .ok()
        .flatten()
        .and_then(|(value, id)| Some((format!("set {id}"), schema::as_int(&value)?)));
    let adds = schema::add_entries(doc, sku)
        .filter_map(|entry| Some((entry.key.to_string(), schema::as_int(&entry.value.into())?)));
    set.into_iter()
        .chain(adds)
        .filter(|(_, q)| *q > 0)
        .collect()
}

/// Reads the server's copy `doc` of cart `id` as a cart (a cart the server does not have yet
/// is a new, empty one).
fn as_cart(id: CartId, doc: &Automerge) -> Result<Cart, ApiError> {
    if doc.get_heads().is_empty() {
        return Ok(Cart::new(id));
    }
    Cart::load(id, &doc.save()).map_err(|e| {
        tracing::error!(cart = %id, error = %e, "a stored cart does not read as a cart");
        ApiError::storage()
    })
}

/// The change that adds every line of anonymous cart `from` (the server's copy `from_doc`) to
/// the customer's cart `into` (the server's copy `into_doc`, empty when the server does not
/// have it), with the number of lines it adds; `None` when it adds nothing (an empty
/// anonymous cart, a repeated claim, or lines at 999 already). Step 3 of the module
/// documentation.
///
/// Errs with `cart_full` when the customer's cart would have more lines than a cart may hold,
/// or `storage` when a copy does not read as a cart.
pub fn merge_change(
    from: CartId,
    from_doc: &Automerge,
    into: CartId,
    into_doc: &Automerge,
) -> Result<Option<(Vec<u8>, usize)>, ApiError> {
    let lines = as_cart(from, from_doc)?.lines();
    let mut cart = as_cart(into, into_doc)?;
    let before = cart.heads();
    let mut added = 0;
    for line in lines {
        let parts = quantity_parts(from_doc, &line.sku);
        let mut item = NewItem {
            quantity: 0,
            sku: line.sku,
            name: line.name,
            unit_price: line.unit_price,
            currency: line.currency,
            image_url: line.image_url,
            variant: line.variant,
        };
        let mut line_added = false;
        for (part, quantity) in parts {
            item.quantity = quantity.min(MAX_QUANTITY - cart.quantity(&item.sku));
            if item.quantity <= 0 {
                break;
            }
            match cart.add_item_tagged(&item, &claim_tag(&from, &item.sku, &part)) {
                Ok(made) => line_added |= made,
                Err(e) if e.code() == cart_core::ErrorCode::TooManyLines => {
                    return Err(ApiError::cart_full(e.message()))
                }
                Err(e) => {
                    tracing::error!(cart = %from, error = %e, "a stored line does not make an add");
                    return Err(ApiError::storage());
                }
            }
        }
        added += usize::from(line_added);
    }
    Ok((added > 0).then(|| (cart.save_after(&before), added)))
}

/// The change that clears every line of anonymous cart `from` (the server's copy `doc`) after a
/// claim moved them, made at its heads by [`claim_clear_actor`]; `None` when it has no line.
///
/// Errs with `storage` when the copy does not read as a cart.
pub fn clear_change(from: CartId, doc: &Automerge) -> Result<Option<Vec<u8>>, ApiError> {
    let actor = claim_clear_actor(&from, &doc.get_heads());
    as_cart(from, doc)?.clear_change(actor).map_err(|e| {
        tracing::error!(cart = %from, error = %e, "the clear of a claimed cart was not made");
        ApiError::storage()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cart_core::fixtures::item;

    fn id(n: u8) -> CartId {
        CartId::from_bytes([n; 16])
    }

    fn doc(cart: &mut Cart) -> Automerge {
        Automerge::load(&cart.save()).unwrap()
    }

    fn merged(from: &mut Cart, into: &Automerge) -> Automerge {
        let mut into = into.clone();
        if let Some((change, _)) = merge_change(id(1), &doc(from), id(2), &into).unwrap() {
            into.load_incremental(&change).unwrap();
        }
        into
    }

    fn quantities(doc: &Automerge) -> Vec<(String, i64)> {
        as_cart(id(2), doc)
            .unwrap()
            .lines()
            .into_iter()
            .map(|l| (l.sku, l.quantity))
            .collect()
    }

    #[test]
    fn a_claim_sums_into_the_customer_cart_caps_at_999_and_adds_nothing_twice() {
        let mut anonymous = Cart::new(id(1));
        anonymous.add_item(&item("TEE", 2)).unwrap();
        anonymous.add_item(&item("MUG", 600)).unwrap();
        let mut customer = Cart::new(id(2));
        customer.add_item(&item("MUG", 500)).unwrap();
        let once = merged(&mut anonymous, &doc(&mut customer));
        let mut expected = vec![("MUG".to_string(), 999), ("TEE".to_string(), 2)];
        let mut got = quantities(&once);
        got.sort();
        expected.sort();
        assert_eq!(got, expected);
        let change = merge_change(id(1), &doc(&mut anonymous), id(2), &once).unwrap();
        assert!(change.is_none(), "a repeated claim makes no change");
    }

    #[test]
    fn a_new_customer_cart_starts_with_the_schema_and_its_id() {
        let mut anonymous = Cart::new(id(1));
        anonymous.add_item(&item("TEE", 2)).unwrap();
        let created = merged(&mut anonymous, &Automerge::new());
        assert!(crate::admission::check_schema(&created, &id(2)).is_ok());
        assert_eq!(quantities(&created), [("TEE".to_string(), 2)]);
    }

    #[test]
    fn a_line_is_claimed_by_parts_so_a_retry_adds_only_what_is_new() {
        let mut anonymous = Cart::new(id(1));
        anonymous.add_item(&item("TEE", 2)).unwrap();
        anonymous.add_item(&item("TEE", 1)).unwrap();
        let once = merged(&mut anonymous, &Automerge::new());
        assert_eq!(quantities(&once), [("TEE".to_string(), 3)]);
        assert_eq!(
            quantity_parts(&doc(&mut anonymous), "TEE").len(),
            2,
            "two add entries"
        );
        // The anonymous cart gains a unit (and its heads change) before the retry.
        anonymous.add_item(&item("TEE", 4)).unwrap();
        let retried = merged(&mut anonymous, &once);
        assert_eq!(quantities(&retried), [("TEE".to_string(), 7)]);
        // A set register is one part, named by its operation.
        anonymous.set_quantity("TEE", 5).unwrap();
        let parts = quantity_parts(&doc(&mut anonymous), "TEE");
        assert_eq!(parts.len(), 1);
        assert!(
            parts[0].0.starts_with("set ") && parts[0].1 == 5,
            "{parts:?}"
        );
    }

    #[test]
    fn tags_and_clear_actors_are_derived_from_what_they_name_only() {
        let h = |n: u8| ChangeHash([n; 32]);
        let tag = claim_tag(&id(1), "TEE", "add:TEE#x");
        assert_eq!(tag.len(), 33);
        assert!(cart_core::validate::add_tag(&tag).is_ok());
        assert_eq!(tag, claim_tag(&id(1), "TEE", "add:TEE#x"));
        assert_ne!(tag, claim_tag(&id(3), "TEE", "add:TEE#x"));
        assert_ne!(tag, claim_tag(&id(1), "TEE", "add:TEE#y"));
        assert_ne!(tag, claim_tag(&id(1), "MUG", "add:TEE#x"));
        assert_eq!(
            claim_clear_actor(&id(1), &[h(1), h(2)]),
            claim_clear_actor(&id(1), &[h(2), h(1)])
        );
        assert_ne!(
            claim_clear_actor(&id(1), &[h(1)]),
            claim_clear_actor(&id(1), &[h(2)])
        );
    }
}
