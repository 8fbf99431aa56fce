//! The bodies of offline-cart's fuzz targets, as plain functions of arbitrary bytes.
//!
//! Each function runs one piece of input handling on the bytes and asserts what must hold
//! whatever they are; a failed assertion or a panic is a finding. cargo-fuzz runs them under
//! libFuzzer from `fuzz/fuzz_targets/` (one line each), and `tests/replay.rs` runs every file of
//! the committed corpus (`fuzz/corpus/<target>/`) and of the crashes found
//! (`fuzz/regressions/<target>/`) through them on stable Rust in `cargo test`.
//!
//! | target | input | asserts |
//! |---|---|---|
//! | [`wire_decode`] | one frame | a decoded message encodes and decodes to itself; `decode` and `decode_any` agree; errors are short |
//! | [`merge_bytes`] | [parts]: a stored cart, then bytes to merge into it, in turn | a refused merge leaves heads and lines as they were; an accepted one is idempotent and survives save and load |
//! | [`schema_check`] | a saved document | a document that passes [`schema::check_document`] loads as its cart and every line it shows is valid; reading any document does not panic |
//! | [`server_sync`] | [parts]: the sync messages one peer sends about one cart, in turn | a refused message stores nothing; whatever is stored loads and passes admission |
//!
//! Every target is about one fixed cart, [`fuzz_cart`]; `examples/seed_corpus.rs` writes the
//! seed corpus for it.

use automerge::Automerge;
use cart_core::wire::{self, Decoded, IGNORED_TYPES};
use cart_core::{check_automerge_bytes, schema, Cart, CartId, ErrorCode, NewItem};

mod server;

pub use server::server_sync;

/// The names of the fuzz targets, as in `fuzz/fuzz_targets/<name>.rs` and `fuzz/corpus/<name>/`.
pub const TARGETS: [&str; 4] = ["wire_decode", "server_sync", "merge_bytes", "schema_check"];

/// The cart every target works on (the seed corpus is made for it).
pub fn fuzz_cart() -> CartId {
    CartId::from_bytes([7; 16])
}

/// The longest error message a decode error may have, in bytes: error messages go back to the
/// client and into logs, so they must not echo what a peer sent at length.
pub const MAX_ERROR_BYTES: usize = 1024;

/// Splits `data` into parts, each preceded by its length as two big-endian bytes; a length
/// beyond the end takes what is left, and a lone last byte is dropped. [`join_parts`] inverts it.
pub fn parts(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let [high, low, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*high, *low])).min(tail.len());
        let (part, after) = tail.split_at(len);
        out.push(part);
        rest = after;
    }
    out
}

/// Joins `parts` into one input that [`parts`] splits back. Parts must be shorter than 64 KiB.
pub fn join_parts(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        let len = u16::try_from(part.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&part[..usize::from(len)]);
    }
    out
}

/// Decodes `data` as a frame a client sent (`wire::decode`) and as any frame (`decode_any`).
///
/// Panics when a decoded message does not encode and decode back to itself, when the two
/// decoders disagree, or when an error message is empty or longer than [`MAX_ERROR_BYTES`].
pub fn wire_decode(data: &[u8]) {
    let any = wire::decode_any(data);
    match wire::decode(data) {
        Ok(Decoded::Message(message)) => {
            assert_eq!(
                any.as_ref(),
                Ok(&message),
                "decode and decode_any must read a frame alike"
            );
        }
        Ok(Decoded::Ignored(kind)) => assert!(
            IGNORED_TYPES.contains(&kind.as_str()),
            "only the ignored types are ignored, got {kind:?}"
        ),
        Err(e) => assert!(
            !e.message().is_empty() && e.message().len() <= MAX_ERROR_BYTES,
            "a decode error must say briefly what is wrong, got {} bytes",
            e.message().len()
        ),
    }
    match any {
        Ok(message) => {
            let again = wire::decode_any(&wire::encode(&message));
            assert_eq!(
                again,
                Ok(message),
                "a message must survive encode and decode"
            );
        }
        Err(e) => assert!(
            !e.message().is_empty() && e.message().len() <= MAX_ERROR_BYTES,
            "a decode error must say briefly what is wrong, got {} bytes",
            e.message().len()
        ),
    }
}

/// Loads the first [part](parts) of `data` as cart [`fuzz_cart`] and merges every further part
/// into it with [`Cart::merge_bytes`].
///
/// Panics when a refused merge changed the cart's heads or lines, when an accepted merge took
/// bytes that [`check_automerge_bytes`] refuses, reported a change wrongly, changes the cart
/// when merged again, or gives a cart whose save does not load back the same.
pub fn merge_bytes(data: &[u8]) {
    let parts = parts(data);
    let Some((base, incoming)) = parts.split_first() else {
        return;
    };
    let Ok(mut cart) = Cart::load(fuzz_cart(), base) else {
        return;
    };
    for bytes in incoming {
        let heads = cart.heads();
        let lines = cart.lines();
        match cart.merge_bytes(bytes) {
            Err(e) => {
                assert!(
                    matches!(
                        e.code(),
                        ErrorCode::CorruptData | ErrorCode::WrongCart | ErrorCode::ChangeTooLarge
                    ),
                    "merge_bytes refuses with corrupt_data, wrong_cart or change_too_large, got {e:?}"
                );
                assert_eq!(cart.heads(), heads, "a refused merge must not change heads");
                assert_eq!(cart.lines(), lines, "a refused merge must not change lines");
            }
            Ok(changed) => {
                assert!(
                    check_automerge_bytes(bytes).is_ok(),
                    "merged bytes must be valid automerge"
                );
                let after = cart.heads();
                assert_eq!(
                    changed,
                    after != heads,
                    "merge_bytes reports a change iff heads moved"
                );
                assert_eq!(
                    cart.merge_bytes(bytes).map_err(|e| e.code()),
                    Ok(false),
                    "merging the same bytes again changes nothing"
                );
                let reloaded = Cart::load(fuzz_cart(), &cart.save())
                    .unwrap_or_else(|e| panic!("a merged cart's save must load: {e}"));
                assert_eq!(
                    reloaded.lines(),
                    cart.lines(),
                    "save and load keep the lines"
                );
            }
        }
    }
}

/// Loads `data` as an Automerge document, when it passes the byte check every path applies
/// before loading ([`cart_core::chunk_bounds::check_bounds`]), and runs
/// [`schema::check_document`] on it for [`fuzz_cart`]; reads the lines of every document that
/// loads as the cart.
///
/// Panics when reading lines panics, when the check refuses with a code other than
/// `schema_violation`, or when a document that passes does not load as the cart or shows a line
/// whose quantity is not positive or whose details do not pass the cart's own validation.
pub fn schema_check(data: &[u8]) {
    if cart_core::chunk_bounds::check_bounds(data).is_err() {
        return;
    }
    let Ok(doc) = Automerge::load(data) else {
        return;
    };
    let verdict = schema::check_document(&doc, &fuzz_cart());
    let cart = Cart::load(fuzz_cart(), data);
    if let Ok(cart) = &cart {
        // Reading must never panic, whatever a foreign client wrote.
        let _ = cart.totals();
        let _ = cart.item_count();
    }
    match verdict {
        Err(e) => assert_eq!(
            e.code(),
            ErrorCode::SchemaViolation,
            "the schema check refuses with schema_violation, got {e:?}"
        ),
        Ok(()) => {
            let cart =
                cart.unwrap_or_else(|e| panic!("a valid document must load as its cart: {e}"));
            let lines = cart.lines();
            assert!(
                lines.len() <= cart_server::admission::line_count(&doc),
                "every line shown is counted by admission"
            );
            for line in lines {
                assert!(line.quantity > 0, "a line shown has units: {line:?}");
                assert_eq!(cart.quantity(&line.sku), line.quantity);
                let item = NewItem {
                    sku: line.sku.clone(),
                    name: line.name.clone(),
                    unit_price: line.unit_price,
                    currency: line.currency.clone(),
                    quantity: 1,
                    image_url: line.image_url.clone(),
                    variant: line.variant.clone(),
                };
                if let Err(e) = item.validate() {
                    panic!("a line of a valid cart passes validation: {line:?}: {e}");
                }
            }
        }
    }
}
