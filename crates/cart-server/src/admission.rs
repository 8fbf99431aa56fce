//! What a cart must be after a change for the server to store the change.
//!
//! The server applies incoming changes to its copy of the cart and asks [`admit_change`] about
//! the root keys they touched (see `crate::apply`); only when they pass are the changes stored.
//! A refused change is undone and leaves nothing behind. [`admit`] is the same verdict for a
//! whole document, by the same rules.

use automerge::sync::Message as AutomergeSync;
use automerge::Automerge;
use cart_core::{check_bounded_automerge_bytes, chunk_bounds, schema, CartId, ErrorCode};

use crate::error::{ErrorKind, Refusal};
use crate::limits::Limits;

fn refused(cart: &CartId, kind: ErrorKind, why: impl std::fmt::Display) -> Refusal {
    Refusal::new(
        kind,
        format!("the change to cart {cart} was refused and nothing of it was stored: {why}"),
    )
    .about(*cart)
}

/// Checks that every change chunk of an incoming sync message parses as Automerge data, with
/// valid checksums. Automerge itself skips a corrupt trailing chunk with a warning; the server
/// refuses the whole message instead, so the sender learns that something was not applied.
///
/// First, before Automerge parses anything, the chunks must stay within the bounds of
/// [`cart_core::chunk_bounds`] (each chunk, and all of them together): a few bytes must not
/// expand to millions of operations. The message's bloom filters must not ask for more than
/// [`cart_core::chunk_bounds::MAX_BLOOM_PROBES`] probes per hash either.
///
/// Errs with [`ErrorKind::ChangeTooLarge`] or [`ErrorKind::InvalidAutomerge`].
pub fn check_chunks(message: &AutomergeSync, cart: &CartId) -> Result<(), Refusal> {
    chunk_bounds::check_sync_message(message).map_err(|e| match e.code() {
        ErrorCode::ChangeTooLarge => Refusal::new(
            ErrorKind::ChangeTooLarge,
            format!(
                "the sync message for cart {cart} was refused: {}",
                e.message()
            ),
        )
        .about(*cart),
        _ => not_automerge(cart, "a bloom filter or change chunk", e),
    })?;
    for (n, chunk) in message.changes.iter().enumerate() {
        check_bounded_automerge_bytes(chunk)
            .map_err(|e| not_automerge(cart, &format!("change chunk {n}"), e))?;
    }
    Ok(())
}

fn not_automerge(cart: &CartId, chunk: &str, e: cart_core::CartError) -> Refusal {
    Refusal::new(
        ErrorKind::InvalidAutomerge,
        format!(
            "{chunk} of the sync message for cart {cart} is not valid automerge data ({}); nothing was changed, send changes made by automerge",
            e.message()
        ),
    )
    .about(*cart)
}

/// The number of lines of `doc` the shopper sees: skus whose quantity is above zero. A line
/// that was added and removed again does not count, so "add a line over the limit (refused),
/// remove it again" is a cart within the limit, and its changes are stored together.
pub fn line_count(doc: &Automerge) -> usize {
    schema::quantities(doc).len()
}

/// Checks that `candidate`, cart `cart` after a change, passes [`schema::check_document`]
/// (which also checks that `cartId` is `cart`). This is all a checkout's clear is checked for:
/// it only removes lines, so no limit may refuse it.
///
/// Errs with [`ErrorKind::SchemaViolation`].
pub fn check_schema(candidate: &Automerge, cart: &CartId) -> Result<(), Refusal> {
    schema::check_document(candidate, cart).map_err(|e| schema_violation(cart, e))
}

/// Checks the root keys `touched` of `candidate`, cart `cart` after a change, with
/// [`schema::check_root_key`]: when the change touched no other key (nor anything inside
/// another key's details record), this is [`check_schema`] at the cost of the touched keys.
///
/// Errs with [`ErrorKind::SchemaViolation`].
pub fn check_touched_keys<'a>(
    candidate: &Automerge,
    cart: &CartId,
    touched: impl IntoIterator<Item = &'a str>,
) -> Result<(), Refusal> {
    touched
        .into_iter()
        .try_for_each(|key| schema::check_root_key(candidate, cart, key))
        .map_err(|e| schema_violation(cart, e))
}

fn schema_violation(cart: &CartId, e: cart_core::CartError) -> Refusal {
    refused(cart, ErrorKind::SchemaViolation, e.message())
}

/// Checks that a cart with `lines` lines (see [`line_count`]) is within [`Limits::max_lines`].
///
/// Errs with [`ErrorKind::TooManyLines`].
pub fn check_line_count(lines: usize, cart: &CartId, limits: &Limits) -> Result<(), Refusal> {
    if lines > limits.max_lines {
        return Err(refused(
            cart,
            ErrorKind::TooManyLines,
            format!(
                "the cart would have {lines} lines, at most {} are allowed; remove lines before adding new ones",
                limits.max_lines
            ),
        ));
    }
    Ok(())
}

/// Checks that `candidate`, cart `cart` after a change, is a valid cart within `limits`: it
/// passes [`schema::check_document`] (which also checks that `cartId` is `cart`), and it has at most
/// [`Limits::max_lines`] lines. (The saved size is checked by the hub, which knows the bytes.)
/// Reads the whole document; the server checks each change with [`admit_change`] instead.
///
/// Errs with [`ErrorKind::SchemaViolation`] or [`ErrorKind::TooManyLines`].
pub fn admit(candidate: &Automerge, cart: &CartId, limits: &Limits) -> Result<(), Refusal> {
    check_schema(candidate, cart)?;
    check_line_count(line_count(candidate), cart, limits)
}

/// [`admit`] for a cart that was valid before a change touched the root keys `touched`, and has
/// `lines` lines after it: [`check_touched_keys`], then [`check_line_count`]. The same verdict
/// as [`admit`] on the changed cart (`apply`'s property test checks it), at the cost of the
/// touched keys.
///
/// Errs with [`ErrorKind::SchemaViolation`] or [`ErrorKind::TooManyLines`].
pub fn admit_change<'a>(
    candidate: &Automerge,
    cart: &CartId,
    touched: impl IntoIterator<Item = &'a str>,
    lines: usize,
    limits: &Limits,
) -> Result<(), Refusal> {
    check_touched_keys(candidate, cart, touched)?;
    check_line_count(lines, cart, limits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};
    use cart_core::fixtures::item;
    use cart_core::Cart;

    fn cart_with(id: CartId, skus: &[&str]) -> AutoCommit {
        let mut cart = Cart::new(id);
        for sku in skus {
            cart.add_item(&item(sku, 1)).unwrap();
        }
        AutoCommit::load(&cart.save()).unwrap()
    }

    #[test]
    fn a_valid_cart_is_admitted_and_its_lines_counted() {
        let id = CartId::from_bytes([1; 16]);
        let mut doc = cart_with(id, &["A", "B", "A"]);
        assert_eq!(line_count(doc.document()), 2);
        assert!(admit(doc.document(), &id, &Limits::default()).is_ok());
    }

    #[test]
    fn schema_breaking_values_are_refused() {
        let id = CartId::from_bytes([2; 16]);
        let mut doc = cart_with(id, &["A"]);
        doc.put(ROOT, "add:A#zz", 5000).unwrap();
        let err = admit(doc.document(), &id, &Limits::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SchemaViolation);
        assert!(err.message().contains("add:A#zz"), "{}", err.message());
    }

    #[test]
    fn a_cart_id_of_another_document_is_refused() {
        let id = CartId::from_bytes([3; 16]);
        let mut doc = cart_with(CartId::from_bytes([4; 16]), &["A"]);
        let err = admit(doc.document(), &id, &Limits::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SchemaViolation);
        assert!(err.message().contains("cartId"));
    }

    #[test]
    fn too_many_lines_are_refused() {
        let id = CartId::from_bytes([5; 16]);
        let mut doc = cart_with(id, &["A", "B", "C"]);
        let limits = Limits {
            max_lines: 2,
            ..Limits::default()
        };
        let err = admit(doc.document(), &id, &limits).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooManyLines);
    }

    #[test]
    fn removed_lines_do_not_count() {
        let id = CartId::from_bytes([6; 16]);
        let mut cart = Cart::new(id);
        for sku in ["A", "B", "C"] {
            cart.add_item(&item(sku, 1)).unwrap();
        }
        cart.remove_item("B").unwrap();
        cart.set_quantity("C", 4).unwrap();
        let mut doc = AutoCommit::load(&cart.save()).unwrap();
        assert_eq!(line_count(doc.document()), 2);
        let limits = Limits {
            max_lines: 2,
            ..Limits::default()
        };
        assert!(admit(doc.document(), &id, &limits).is_ok());
    }
}
