//! Automerge bytes that would expand far beyond their size are refused before anything loads
//! them, honest carts pass, and bad bytes get `corrupt_data`, never a panic.

use std::time::Instant;

use automerge::sync;
use cart_core::chunk_bounds::{self, crafted, MAX_OPS_PER_CHANGE};
use cart_core::{check_automerge_bytes, Cart, CartId, ErrorCode, NewItem};

const BILLION: u64 = 1_000_000_000;

fn item(sku: &str, quantity: i64) -> NewItem {
    NewItem {
        sku: sku.into(),
        name: format!("Product {sku} in a longer name, as shops write them"),
        unit_price: 1250,
        currency: "EUR".into(),
        quantity,
        image_url: Some(format!("/images/{sku}.jpg")),
        variant: Some("size M".into()),
    }
}

/// A cart of `lines` lines, each added `adds` times.
fn full_cart(lines: usize, adds: usize) -> Cart {
    let mut cart = Cart::new(CartId::random().unwrap());
    for round in 0..adds {
        for line in 0..lines {
            cart.add_item(&item(&format!("SKU-{line:04}"), 1 + round as i64))
                .unwrap();
        }
    }
    cart
}

fn code_of(bytes: &[u8]) -> Option<ErrorCode> {
    chunk_bounds::check_bounds(bytes).err().map(|e| e.code())
}

#[test]
fn the_crafted_change_is_a_real_automerge_change_when_small() {
    let bytes = crafted::repeated_put_change(3);
    let doc = automerge::Automerge::load(&bytes).expect("automerge loads the crafted change");
    use automerge::ReadDoc;
    let (value, _) = doc.get(automerge::ROOT, "k").unwrap().unwrap();
    assert_eq!(value, automerge::Value::from(true));
    let extent = chunk_bounds::check_bounds(&bytes).unwrap();
    assert_eq!((extent.chunks, extent.ops, extent.changes), (1, 3, 1));
}

#[test]
fn a_change_of_a_billion_operations_is_refused_before_loading() {
    let bytes = crafted::repeated_put_change(BILLION);
    assert!(bytes.len() < 80, "{} bytes", bytes.len());
    let started = Instant::now();
    let err = check_automerge_bytes(&bytes).unwrap_err();
    println!(
        "{} bytes claiming {BILLION} operations refused in {:?}",
        bytes.len(),
        started.elapsed()
    );
    assert_eq!(err.code(), ErrorCode::ChangeTooLarge, "{}", err.message());
    assert!(
        err.message().contains("smaller changes"),
        "{}",
        err.message()
    );
}

#[test]
fn operations_out_of_proportion_to_the_bytes_are_refused_below_the_absolute_cap() {
    // Far below the absolute cap, but 2,000 operations in about seventy bytes.
    let bytes = crafted::repeated_put_change(2_000);
    assert_eq!(code_of(&bytes), Some(ErrorCode::ChangeTooLarge));
    // A change with as many operations as bytes is in proportion.
    assert_eq!(code_of(&crafted::repeated_put_change(60)), None);
}

#[test]
fn a_document_whose_op_column_repeats_a_billion_times_is_refused() {
    let run = crafted::repeat_run(BILLION, &[1]);
    // No actors, no heads, no change columns, one op column (action, integer).
    let mut body = vec![0, 0, 0, 1, 0x42, run.len() as u8];
    body.extend(&run);
    let bytes = crafted::chunk(0, &body);
    let err = check_automerge_bytes(&bytes).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ChangeTooLarge, "{}", err.message());
}

#[test]
fn a_deflate_bomb_is_refused_without_inflating_it() {
    let bytes = crafted::deflate_bomb(8 * 1024 * 1024);
    let err = check_automerge_bytes(&bytes).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ChangeTooLarge, "{}", err.message());
    assert!(err.message().contains("inflates"), "{}", err.message());
}

#[test]
fn an_honest_compressed_change_passes_and_loads() {
    let mut cart = full_cart(20, 1);
    let heads = cart.heads();
    cart.clear().unwrap();
    let change = cart.save_after(&heads);
    let compressed = crafted::compress_change(&change);
    assert!(compressed.len() < change.len());
    let extent = chunk_bounds::check_bounds(&compressed).unwrap();
    assert_eq!(
        extent,
        chunk_bounds::Extent {
            inflated_bytes: extent.inflated_bytes,
            ..chunk_bounds::check_bounds(&change).unwrap()
        }
    );
    assert!(extent.inflated_bytes > 0);
    check_automerge_bytes(&compressed).unwrap();
}

#[test]
fn honest_carts_pass_the_bounds() {
    let mut cart = full_cart(500, 1);
    let save = cart.save();
    let document = chunk_bounds::check_bounds(&save).unwrap();
    let heads = cart.heads();
    let clear = cart
        .clear_change(automerge::ActorId::from([7u8; 16].as_slice()))
        .unwrap()
        .unwrap();
    let clear_extent = chunk_bounds::check_bounds(&clear).unwrap();
    cart.clear().unwrap();
    let after = cart.save_after(&heads);
    chunk_bounds::check_bounds(&after).unwrap();
    let history = cart.save_after(&[]);
    let changes = chunk_bounds::check_bounds(&history).unwrap();
    println!(
        "500 lines, 1 add each: save {} bytes {document:?}; clear change {} bytes {clear_extent:?}; all changes {} bytes {changes:?}",
        save.len(),
        clear.len(),
        history.len()
    );
    assert!(
        clear_extent.ops * 4 < MAX_OPS_PER_CHANGE,
        "{clear_extent:?}"
    );
    assert!(document.ops * 4 < chunk_bounds::MAX_OPS, "{document:?}");
}

#[test]
fn merge_bytes_refuses_the_crafted_change_and_leaves_the_cart_unchanged() {
    let mut cart = full_cart(2, 1);
    let before = cart.save();
    let err = cart
        .merge_bytes(&crafted::repeated_put_change(BILLION))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ChangeTooLarge);
    assert_eq!(cart.save(), before);
}

#[test]
fn a_sync_message_carrying_the_crafted_change_is_refused() {
    let id = CartId::random().unwrap();
    let mut cart = Cart::new(id);
    let mut server = Cart::new(id);
    server.add_item(&item("A", 1)).unwrap();
    let mut message = server
        .generate_sync_message(&mut sync::State::new())
        .unwrap();
    message.changes = vec![crafted::repeated_put_change(BILLION)].into();
    let err = cart
        .receive_sync_message(&mut sync::State::new(), message)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ChangeTooLarge);
    assert!(cart.lines().is_empty());
    assert!(cart.heads().is_empty());
}

#[test]
fn a_sync_message_whose_bloom_filter_asks_for_billions_of_probes_is_refused() {
    // Version 0x42, no heads, no needs, one have: no last sync, a bloom filter of one entry
    // with 10 bits and 2^32 - 1 probes per hash (automerge writes 7), no changes.
    let bloom = [1, 10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0];
    let mut bytes = vec![0x42, 0, 0, 1, 0, bloom.len() as u8];
    bytes.extend(bloom);
    bytes.push(0);
    let message = sync::Message::decode(&bytes).expect("automerge decodes it");
    let err = chunk_bounds::check_sync_message(&message).unwrap_err();
    assert_eq!(err.code(), ErrorCode::CorruptData, "{}", err.message());
    assert!(
        err.message().contains("4294967295 probes"),
        "{}",
        err.message()
    );

    let mut cart = full_cart(1, 1);
    let heads = cart.heads();
    let err = cart
        .receive_sync_message(&mut sync::State::new(), message)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::CorruptData);
    assert_eq!(cart.heads(), heads);
}

#[test]
fn an_honest_sync_message_passes() {
    let id = CartId::random().unwrap();
    let mut server = Cart::new(id);
    server.add_item(&item("A", 1)).unwrap();
    let mut state = sync::State::new();
    let first = server.generate_sync_message(&mut state).unwrap();
    assert!(chunk_bounds::check_sync_message(&first).is_ok());
    let mut device = Cart::new(id);
    let mut device_state = sync::State::new();
    device
        .receive_sync_message(&mut device_state, first)
        .unwrap();
    let reply = device.generate_sync_message(&mut device_state).unwrap();
    assert!(!reply.have.is_empty());
    assert!(chunk_bounds::check_sync_message(&reply).is_ok());
    server.receive_sync_message(&mut state, reply).unwrap();
    let with_changes = server.generate_sync_message(&mut state).unwrap();
    assert!(chunk_bounds::check_sync_message(&with_changes).unwrap().ops > 0);
}

#[test]
fn truncated_or_garbled_bytes_are_corrupt_data_never_a_panic() {
    let mut cart = full_cart(3, 2);
    let heads = cart.heads();
    cart.add_item(&item("LAST", 1)).unwrap();
    let change = cart.save_after(&heads);
    let save = cart.save();
    for bytes in [&save, &change] {
        for end in 1..bytes.len() {
            let code = code_of(&bytes[..end]);
            assert!(
                matches!(code, Some(ErrorCode::CorruptData)),
                "prefix of {end} bytes: {code:?}"
            );
        }
        for at in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut garbled = bytes.clone();
                garbled[at] ^= flip;
                // Any answer but a panic; a count that grew is refused, not expanded.
                let _ = chunk_bounds::check_bounds(&garbled);
            }
        }
    }
    assert_eq!(code_of(b"not automerge"), Some(ErrorCode::CorruptData));
    let mut unknown_type = crafted::repeated_put_change(1);
    unknown_type[8] = 9;
    assert_eq!(code_of(&unknown_type), Some(ErrorCode::CorruptData));
    let endless_leb = crafted::chunk(1, &[0xff; 12]);
    assert_eq!(code_of(&endless_leb), Some(ErrorCode::CorruptData));
}
