//! The cart's operations on one and on two replicas, including Dynamo's resurfacing anomaly.

use cart_core::fixtures::{self, item};
use cart_core::{validate, Cart, CartId, ErrorCode, NewItem};

fn quantities(cart: &Cart) -> Vec<(String, i64)> {
    cart.lines()
        .into_iter()
        .map(|l| (l.sku, l.quantity))
        .collect()
}

/// Two replicas of one cart, as on a phone and a laptop.
fn two_devices() -> (Cart, Cart) {
    let id = CartId::random().unwrap();
    (Cart::new(id), Cart::new(id))
}

fn sync(a: &mut Cart, b: &mut Cart) {
    a.merge(b).unwrap();
    b.merge(a).unwrap();
}

#[test]
fn adds_accumulate_and_lines_keep_their_order() {
    let mut cart = Cart::new(CartId::random().unwrap());
    cart.add_item(&item("B", 1)).unwrap();
    cart.add_item(&item("A", 2)).unwrap();
    cart.add_item(&item("B", 3)).unwrap();
    assert_eq!(quantities(&cart), vec![("B".into(), 4), ("A".into(), 2)]);
    assert_eq!(cart.item_count(), 6);
    assert_eq!(cart.totals()[0].amount, 6 * 1999);
}

#[test]
fn totals_are_kept_per_currency() {
    let mut cart = Cart::new(CartId::random().unwrap());
    cart.add_item(&item("A", 2)).unwrap();
    cart.add_item(&NewItem {
        currency: "USD".into(),
        unit_price: 99,
        ..item("B", 3)
    })
    .unwrap();
    let totals: Vec<(String, i64)> = cart
        .totals()
        .into_iter()
        .map(|t| (t.currency, t.amount))
        .collect();
    assert_eq!(totals, vec![("EUR".into(), 2 * 1999), ("USD".into(), 297)]);
}

#[test]
fn invalid_input_changes_nothing() {
    let mut cart = Cart::new(CartId::random().unwrap());
    cart.add_item(&item("A", 1)).unwrap();
    let heads = cart.heads();
    let bad = [
        (
            NewItem {
                quantity: 0,
                ..item("A", 1)
            },
            ErrorCode::InvalidQuantity,
        ),
        (
            NewItem {
                quantity: 999,
                ..item("A", 1)
            },
            ErrorCode::InvalidQuantity,
        ),
        (
            NewItem {
                unit_price: -5,
                ..item("A", 1)
            },
            ErrorCode::InvalidPrice,
        ),
        (
            NewItem {
                currency: "euro".into(),
                ..item("A", 1)
            },
            ErrorCode::InvalidCurrency,
        ),
        (
            NewItem {
                sku: String::new(),
                ..item("A", 1)
            },
            ErrorCode::InvalidSku,
        ),
        (
            NewItem {
                name: " ".into(),
                ..item("A", 1)
            },
            ErrorCode::InvalidName,
        ),
        (
            NewItem {
                image_url: Some("javascript:alert(1)".into()),
                ..item("A", 1)
            },
            ErrorCode::InvalidImageUrl,
        ),
    ];
    for (input, code) in bad {
        assert_eq!(cart.add_item(&input).unwrap_err().code(), code);
    }
    assert_eq!(
        cart.set_quantity("A", 1000).unwrap_err().code(),
        ErrorCode::InvalidQuantity
    );
    assert_eq!(
        cart.set_quantity("nope", 2).unwrap_err().code(),
        ErrorCode::UnknownItem
    );
    assert_eq!(cart.heads(), heads, "a refused operation made a change");
    assert_eq!(quantities(&cart), vec![("A".into(), 1)]);
}

#[test]
fn set_quantity_zero_and_remove_delete_the_line() {
    let mut cart = Cart::new(CartId::random().unwrap());
    cart.add_item(&item("A", 3)).unwrap();
    cart.add_item(&item("B", 1)).unwrap();
    cart.set_quantity("A", 5).unwrap();
    assert_eq!(cart.quantity("A"), 5);
    cart.set_quantity("A", 0).unwrap();
    assert!(cart.remove_item("B").unwrap());
    assert!(
        !cart.remove_item("B").unwrap(),
        "removing a missing line reports false"
    );
    assert!(cart.lines().is_empty());
    assert_eq!(cart.clear().unwrap(), 0);
}

#[test]
fn a_line_added_again_after_removal_goes_to_the_end() {
    let mut cart = Cart::new(CartId::random().unwrap());
    cart.add_item(&item("A", 1)).unwrap();
    cart.add_item(&item("B", 1)).unwrap();
    cart.remove_item("A").unwrap();
    cart.add_item(&item("A", 2)).unwrap();
    assert_eq!(quantities(&cart), vec![("B".into(), 1), ("A".into(), 2)]);
}

#[test]
fn new_details_replace_the_old_ones() {
    let mut cart = Cart::new(CartId::random().unwrap());
    cart.add_item(&item("A", 1)).unwrap();
    cart.add_item(&NewItem {
        unit_price: 999,
        variant: Some("XL".into()),
        ..item("A", 1)
    })
    .unwrap();
    let line = &cart.lines()[0];
    assert_eq!(
        (line.quantity, line.unit_price, line.variant.as_deref()),
        (2, 999, Some("XL"))
    );
}

#[test]
fn concurrent_adds_on_two_devices_sum() {
    let (mut phone, mut laptop) = two_devices();
    phone.add_item(&item("TEE", 1)).unwrap();
    laptop.add_item(&item("TEE", 2)).unwrap();
    sync(&mut phone, &mut laptop);
    assert_eq!(phone.quantity("TEE"), 3);
    assert_eq!(quantities(&phone), quantities(&laptop));
}

#[test]
fn deleted_items_do_not_resurface_as_in_dynamo() {
    // Dynamo's cart: a delete concurrent with an add merged by union, so the deleted quantity
    // came back. Here a remove takes exactly what it saw.
    let (mut phone, mut laptop) = two_devices();
    phone.add_item(&item("MUG", 2)).unwrap();
    sync(&mut phone, &mut laptop);
    // Partition: the phone removes the two mugs it saw, the laptop adds one more.
    phone.remove_item("MUG").unwrap();
    laptop.add_item(&item("MUG", 1)).unwrap();
    sync(&mut phone, &mut laptop);
    assert_eq!(
        phone.quantity("MUG"),
        1,
        "only the concurrently added mug remains"
    );
    assert_eq!(quantities(&phone), quantities(&laptop));
    // And a remove that has seen everything removes everything.
    laptop.remove_item("MUG").unwrap();
    sync(&mut phone, &mut laptop);
    assert!(phone.lines().is_empty());
}

#[test]
fn concurrent_set_quantities_pick_one_value_plus_concurrent_adds() {
    let id = CartId::random().unwrap();
    let (mut a, mut b, mut c) = (Cart::new(id), Cart::new(id), Cart::new(id));
    a.add_item(&item("A", 1)).unwrap();
    b.merge(&mut a).unwrap();
    c.merge(&mut a).unwrap();
    a.set_quantity("A", 4).unwrap();
    b.set_quantity("A", 7).unwrap();
    c.add_item(&item("A", 2)).unwrap();
    a.merge(&mut b).unwrap();
    a.merge(&mut c).unwrap();
    b.merge(&mut a).unwrap();
    let q = a.quantity("A");
    assert!(q == 4 + 2 || q == 7 + 2, "got {q}");
    assert_eq!(b.quantity("A"), q);
}

#[test]
fn two_devices_creating_the_same_line_offline_keep_both_adds() {
    // Neither device has ever synced: both write the first change of the document.
    let (mut a, mut b) = two_devices();
    a.add_item(&item("NEW", 1)).unwrap();
    b.add_item(&NewItem {
        name: "Other name".into(),
        ..item("NEW", 5)
    })
    .unwrap();
    sync(&mut a, &mut b);
    assert_eq!(a.quantity("NEW"), 6);
    assert_eq!(
        a.lines(),
        b.lines(),
        "details resolve to the same winner everywhere"
    );
}

#[test]
fn save_and_load_keep_the_cart_and_refuse_foreign_bytes() {
    let mut cart = Cart::new(CartId::random().unwrap());
    cart.add_item(&item("A", 2)).unwrap();
    let bytes = cart.save();
    let loaded = Cart::load(*cart.id(), &bytes).unwrap();
    assert_eq!(loaded.lines(), cart.lines());

    let other = Cart::load(CartId::random().unwrap(), &bytes).unwrap_err();
    assert_eq!(other.code(), ErrorCode::WrongCart);
    let garbage = Cart::load(*cart.id(), b"definitely not automerge").unwrap_err();
    assert_eq!(garbage.code(), ErrorCode::CorruptData);
    let truncated = Cart::load(*cart.id(), &bytes[..bytes.len() / 2]).unwrap_err();
    assert_eq!(truncated.code(), ErrorCode::CorruptData);
}

#[test]
fn incremental_saves_after_a_save_rebuild_the_cart() {
    let mut cart = Cart::new(CartId::random().unwrap());
    cart.add_item(&item("A", 1)).unwrap();
    let mut bytes = cart.save();
    let saved = cart.heads();
    cart.add_item(&item("B", 2)).unwrap();
    bytes.extend(cart.save_after(&saved));
    let now = cart.heads();
    assert!(
        cart.save_after(&now).is_empty(),
        "nothing new since the current heads"
    );
    let loaded = Cart::load(*cart.id(), &bytes).unwrap();
    assert_eq!(loaded.lines(), cart.lines());
}

#[test]
fn merging_bytes_reports_whether_anything_changed() {
    let (mut a, mut b) = two_devices();
    a.add_item(&item("A", 1)).unwrap();
    let bytes = a.save();
    assert!(b.merge_bytes(&bytes).unwrap());
    assert!(
        !b.merge_bytes(&bytes).unwrap(),
        "merging the same bytes twice changes nothing"
    );
}

#[test]
fn documents_written_by_the_cart_pass_the_schema_check() {
    let mut cart = Cart::new(CartId::random().unwrap());
    cart.add_item(&NewItem {
        image_url: Some("/img/a.svg".into()),
        variant: Some("M".into()),
        ..item("A", 2)
    })
    .unwrap();
    cart.set_quantity("A", 3).unwrap();
    cart.add_item(&item("B#2", 1)).unwrap();
    cart_core::schema::check_document(cart.doc(), cart.id()).unwrap();
}

#[test]
fn a_cart_written_by_javascript_with_text_strings_reads_and_checks() {
    // @automerge/automerge stores a plain JS string as a text object; such carts are valid.
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ObjType, ROOT};
    let id = CartId::random().unwrap();
    let mut doc = AutoCommit::new();
    let text = |doc: &mut AutoCommit, obj: &automerge::ObjId, key: &str, value: &str| {
        let t = doc.put_object(obj, key, ObjType::Text).unwrap();
        doc.update_text(&t, value).unwrap();
    };
    doc.put(ROOT, "schema", 1).unwrap();
    text(&mut doc, &ROOT, "cartId", &id.to_string());
    let record = doc.put_object(ROOT, "item:TEE-1", ObjType::Map).unwrap();
    text(&mut doc, &record, "name", "Logo tee");
    text(&mut doc, &record, "currency", "EUR");
    doc.put(&record, "unitPrice", 1999.0).unwrap();
    doc.put(&record, "addedAt", 1.0).unwrap();
    doc.put(ROOT, "add:TEE-1#js1", 2.0).unwrap();
    cart_core::schema::check_document(&doc, &id).unwrap();
    let stranger = CartId::random().unwrap();
    let err = cart_core::schema::check_document(&doc, &stranger).unwrap_err();
    assert_eq!(
        err.code(),
        ErrorCode::SchemaViolation,
        "a cartId of another cart is refused"
    );

    let cart = Cart::load(id, &doc.save()).unwrap();
    let lines = cart.lines();
    assert_eq!(
        (
            lines[0].name.as_str(),
            lines[0].currency.as_str(),
            lines[0].quantity
        ),
        ("Logo tee", "EUR", 2)
    );
    let other = Cart::load(CartId::random().unwrap(), &doc.save()).unwrap_err();
    assert_eq!(
        other.code(),
        ErrorCode::WrongCart,
        "a text cartId is checked too"
    );
}

#[test]
fn a_cart_at_old_heads_shows_the_lines_of_then() {
    let mut cart = Cart::new(CartId::random().unwrap());
    cart.add_item(&item("TEE", 2)).unwrap();
    let then = cart.heads();
    cart.add_item(&item("MUG", 1)).unwrap();
    let mut old = cart.at(&then).expect("the cart has these heads");
    assert_eq!(quantities(&old), vec![("TEE".to_string(), 2)]);
    old.add_item(&item("CAP", 1)).unwrap();
    assert_eq!(
        cart.quantity("CAP"),
        0,
        "editing the copy leaves the cart alone"
    );
    let mut stranger = Cart::new(CartId::random().unwrap());
    stranger.add_item(&item("X", 1)).unwrap();
    assert!(cart.at(&stranger.heads()).is_none());
}

#[test]
fn a_clear_change_removes_what_it_saw_and_is_the_same_every_time() {
    let (mut phone, mut laptop) = two_devices();
    phone.add_item(&item("TEE", 2)).unwrap();
    phone.add_item(&item("MUG", 1)).unwrap();
    sync(&mut phone, &mut laptop);
    let at = phone.heads();
    // The laptop adds concurrently with the clear: one more TEE and a new line.
    laptop.add_item(&item("TEE", 1)).unwrap();
    laptop.add_item(&item("CAP", 1)).unwrap();
    let actor = automerge::ActorId::from([7u8; 16].as_slice());
    let mut seen = phone.at(&at).unwrap();
    let change = seen
        .clear_change(actor.clone())
        .unwrap()
        .expect("lines to clear");
    let again = phone.at(&at).unwrap().clear_change(actor).unwrap().unwrap();
    assert_eq!(
        change, again,
        "the same state and actor make the same change"
    );
    assert_eq!(quantities(&seen).len(), 2, "the cart itself is unchanged");
    // A lone change does not load by itself: send it after the cart it was made on.
    let mut with = |change: &[u8]| {
        let bytes = [seen.save(), change.to_vec()].concat();
        Cart::load(*phone.id(), &bytes).expect("the cart and its change load")
    };
    let (mut cleared, mut cleared_again) = (with(&change), with(&again));
    assert_eq!(
        cleared.heads(),
        cleared_again.heads(),
        "the same change hash"
    );
    laptop.merge(&mut cleared).unwrap();
    let before = laptop.heads();
    laptop.merge(&mut cleared_again).unwrap();
    assert_eq!(laptop.heads(), before, "merging it twice changes nothing");
    sync(&mut phone, &mut laptop);
    let expected = vec![("TEE".to_string(), 1), ("CAP".to_string(), 1)];
    let mut got = quantities(&laptop);
    got.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(quantities(&phone), quantities(&laptop));
    let mut empty = Cart::new(CartId::random().unwrap());
    let actor = automerge::ActorId::from([8u8; 16].as_slice());
    assert_eq!(empty.clear_change(actor).unwrap(), None);
}

#[test]
fn later_incremental_saves_merge_into_a_replica_that_has_their_history() {
    // What a tab receives from another: first a whole save, then only the newest changes.
    let (mut writer, mut reader) = two_devices();
    writer.add_item(&item("A", 1)).unwrap();
    assert!(reader.merge_bytes(&writer.save()).unwrap());
    let seen = writer.heads();
    writer.add_item(&item("B", 2)).unwrap();
    assert!(reader.merge_bytes(&writer.save_after(&seen)).unwrap());
    assert_eq!(quantities(&reader), quantities(&writer));
}

#[test]
fn bytes_with_a_corrupt_chunk_are_refused_and_change_nothing() {
    let (mut writer, mut reader) = two_devices();
    writer.add_item(&item("A", 1)).unwrap();
    let mut bytes = writer.save();
    // A second chunk with Automerge's magic bytes and garbage after them.
    bytes.extend_from_slice(&[0x85, 0x6f, 0x4a, 0x83, 1, 2, 3, 4, 1, 9, 9, 9]);
    let err = reader.merge_bytes(&bytes).unwrap_err();
    assert_eq!(err.code(), ErrorCode::CorruptData);
    assert!(reader.lines().is_empty());
}

#[test]
fn another_carts_document_is_refused_whichever_id_wins_the_conflict() {
    // Merged, both carts' `cartId` values stand in conflict and either may be the one shown;
    // the check must see both. Many random actor pairs cover both outcomes.
    for _ in 0..40 {
        let mut mine = Cart::new(CartId::random().unwrap());
        mine.add_item(&item("A", 1)).unwrap();
        let mut theirs = Cart::new(CartId::random().unwrap());
        theirs.add_item(&item("B", 1)).unwrap();
        let err = mine.merge_bytes(&theirs.save()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::WrongCart);
        assert_eq!(quantities(&mine), vec![("A".into(), 1)]);
    }
}

#[test]
fn a_line_past_the_limit_is_refused_and_changes_nothing() {
    let id = CartId::from_bytes([61; 16]);
    let mut cart = Cart::load(id, &fixtures::cart_with_lines(&id, validate::MAX_LINES)).unwrap();
    let heads = cart.heads();
    let err = cart.add_item(&item("ONE-TOO-MANY", 1)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::TooManyLines);
    assert!(err.message().contains("remove a line"), "{}", err.message());
    assert_eq!(cart.heads(), heads, "nothing changed");
    assert_eq!(cart.lines().len(), validate::MAX_LINES);

    // More of a line the cart has is fine, and a removed line frees its place.
    cart.add_item(&item("SKU-0", 1)).unwrap();
    assert!(cart.remove_item("SKU-1").unwrap());
    cart.add_item(&item("ONE-TOO-MANY", 1)).unwrap();
    assert_eq!(cart.lines().len(), validate::MAX_LINES);
}

#[test]
fn an_add_replayed_with_its_tag_counts_once_on_every_replica() {
    let (mut phone, mut tab) = two_devices();
    assert!(phone.add_item_tagged(&item("A", 2), "outbox-1").unwrap());
    assert!(!phone.add_item_tagged(&item("A", 2), "outbox-1").unwrap());
    // A second tab replays the same queued add before it has seen the first one.
    assert!(tab.add_item_tagged(&item("A", 2), "outbox-1").unwrap());
    sync(&mut phone, &mut tab);
    assert_eq!(quantities(&phone), vec![("A".into(), 2)]);
    assert_eq!(quantities(&tab), vec![("A".into(), 2)]);
    assert!(phone.add_item_tagged(&item("A", 1), "outbox-2").unwrap());
    assert_eq!(phone.quantity("A"), 3);
}

#[test]
fn a_tag_that_could_break_the_add_key_is_refused() {
    let mut cart = Cart::new(CartId::random().unwrap());
    for tag in ["", "a#b", "with space", &"x".repeat(65)] {
        let err = cart.add_item_tagged(&item("A", 1), tag).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidItem, "{tag:?}");
    }
    assert!(cart.lines().is_empty());
}
