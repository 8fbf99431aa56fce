//! The JS `Cart` in a real browser: persistence, two carts on one storage, fallbacks, corrupt
//! data and bad input.
#![cfg(target_arch = "wasm32")]

mod common;

use cart_core::persist::Persister;
use cart_core::storage::{Storage, StorageOp};
use common::*;
use offline_cart::storage::{IndexedDbStorage, LocalStorage};
use offline_cart::Cart;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn error_code(error: JsValue) -> (String, String) {
    assert!(
        error.is_instance_of::<js_sys::Error>(),
        "errors are Error objects"
    );
    assert_eq!(text(&error, "name"), "CartError");
    (text(&error, "code"), text(&error, "message"))
}

#[wasm_bindgen_test]
async fn a_reopened_cart_keeps_its_lines_in_indexed_db() {
    let cart = open("{}").await;
    assert_eq!(text(&cart.status(), "storage"), "indexeddb");
    cart.add_item(item("TEE", 2)).unwrap();
    cart.add_item(item("MUG", 1)).unwrap();
    cart.set_quantity("TEE".into(), 3.into()).unwrap();
    let id = cart.id();
    wait(cart.close()).await;

    let reopened = open(&format!(r#"{{"cartId":"{id}"}}"#)).await;
    assert_eq!(lines(&reopened), vec![("TEE".into(), 3), ("MUG".into(), 1)]);
    wait(reopened.close()).await;
}

#[wasm_bindgen_test]
async fn a_reopened_cart_keeps_its_lines_in_local_storage() {
    let cart = open(r#"{"storage":"localstorage"}"#).await;
    assert_eq!(text(&cart.status(), "storage"), "localstorage");
    cart.add_item(item("CAP", 4)).unwrap();
    let id = cart.id();
    wait(cart.close()).await;
    let reopened = open(&format!(r#"{{"cartId":"{id}","storage":"localstorage"}}"#)).await;
    assert_eq!(lines(&reopened), vec![("CAP".into(), 4)]);
}

#[wasm_bindgen_test]
async fn flush_resolves_when_the_edits_are_stored() {
    let cart = open("{}").await;
    let events = Recorder::attach(&cart);
    cart.add_item(item("A", 1)).unwrap();
    assert_eq!(prop(&cart.status(), "unsaved").as_f64(), Some(1.0));
    wait(cart.flush()).await;
    assert_eq!(prop(&cart.status(), "unsaved").as_f64(), Some(0.0));
    let heads = js_sys::Array::from(&cart.heads());
    let head = heads.get(0).as_string().unwrap_or_default();
    assert_eq!(
        (heads.length(), head.len()),
        (1, 64),
        "one head, a hex SHA-256"
    );
    assert_eq!(events.count("change"), 1);
    assert!(
        events.count("status") >= 2,
        "status went to 1 unsaved and back to 0"
    );
    // What flush promised is really in IndexedDB: a second cart reads it.
    let other = open(&format!(r#"{{"cartId":"{}"}}"#, cart.id())).await;
    assert_eq!(lines(&other), vec![("A".into(), 1)]);
}

#[wasm_bindgen_test]
async fn two_carts_on_one_storage_see_each_other_and_lose_nothing() {
    // The two-tab case: two Cart objects on one IndexedDB, joined by BroadcastChannel.
    let tab_a = open("{}").await;
    let id = tab_a.id();
    let tab_b = open(&format!(r#"{{"cartId":"{id}"}}"#)).await;
    let b_events = Recorder::attach(&tab_b);

    tab_a.add_item(item("SHARED", 1)).unwrap();
    wait(tab_a.flush()).await;
    for _ in 0..50 {
        if !lines(&tab_b).is_empty() {
            break;
        }
        wait(sleep(20)).await;
    }
    assert_eq!(
        lines(&tab_b),
        vec![("SHARED".into(), 1)],
        "tab B did not see tab A's add"
    );
    assert!(b_events
        .events
        .borrow()
        .iter()
        .any(|e| text(e, "origin") == "remote"));
    // And the other way, with writes that only carry the newest changes.
    for round in 1..=3 {
        tab_b.add_item(item("SHARED", 1)).unwrap();
        wait(tab_b.flush()).await;
        let expected = vec![("SHARED".to_string(), 1 + round)];
        for _ in 0..50 {
            if lines(&tab_a) == expected {
                break;
            }
            wait(sleep(20)).await;
        }
        assert_eq!(lines(&tab_a), expected, "tab A missed tab B's add {round}");
    }

    // Both add at once, many times, so that both compact.
    for i in 0..40 {
        tab_a.add_item(item(&format!("A{}", i % 3), 1)).unwrap();
        tab_b.add_item(item(&format!("B{}", i % 2), 1)).unwrap();
        if i % 5 == 0 {
            wait(tab_a.flush()).await;
            wait(tab_b.flush()).await;
        }
    }
    wait(tab_a.close()).await;
    wait(tab_b.close()).await;
    let reopened = open(&format!(r#"{{"cartId":"{id}"}}"#)).await;
    assert_eq!(
        reopened.item_count(),
        84.0,
        "adds were lost: {:?}",
        lines(&reopened)
    );
}

#[wasm_bindgen_test]
async fn without_indexed_db_and_local_storage_the_cart_still_takes_adds() {
    hide_storage();
    let opened = Cart::open(Some(js("{}"))).await;
    restore_storage();
    let cart = opened.expect("open falls back instead of failing");
    let events = Recorder::attach(&cart);
    assert_eq!(text(&cart.status(), "storage"), "memory");
    assert_eq!(
        events.warnings(),
        vec!["storage_fallback", "storage_fallback"]
    );
    cart.add_item(item("STILL", 2)).unwrap();
    wait(cart.flush()).await;
    assert_eq!(lines(&cart), vec![("STILL".into(), 2)]);
}

#[wasm_bindgen_test]
async fn an_indexed_db_that_never_answers_falls_back_to_local_storage() {
    wait(hang_indexed_db_open()).await;
    let opened = Cart::open(Some(js("{}"))).await;
    restore_indexed_db_open();
    let cart = opened.expect("open gives up on IndexedDB instead of hanging");
    let events = Recorder::attach(&cart);
    assert_eq!(text(&cart.status(), "storage"), "localstorage");
    assert_eq!(events.warnings(), vec!["storage_fallback"]);
    cart.add_item(item("A", 1)).unwrap();
    wait(cart.flush()).await;
    let (id, key) = (cart.id(), cart.key());
    wait(cart.close()).await;

    // IndexedDB answers again: the cart and its secret come back from localStorage.
    let reopened = open(&format!(r#"{{"cartId":"{id}"}}"#)).await;
    assert_eq!(text(&reopened.status(), "storage"), "indexeddb");
    assert_eq!(lines(&reopened), vec![("A".into(), 1)]);
    assert_eq!(reopened.key(), key, "the cart's secret was lost");
    wait(reopened.close()).await;
}

#[wasm_bindgen_test]
async fn a_full_disk_moves_the_cart_to_memory_without_losing_adds() {
    let cart = open("{}").await;
    let events = Recorder::attach(&cart);
    cart.add_item(item("BEFORE", 1)).unwrap();
    wait(cart.flush()).await;
    fail_indexed_db_puts_with_quota();
    cart.add_item(item("DURING", 1)).unwrap();
    let flushed = JsFuture::from(cart.flush()).await;
    restore_indexed_db_puts();
    flushed.expect("flush resolves once the cart is safe in memory");
    assert_eq!(text(&cart.status(), "storage"), "memory");
    assert_eq!(events.warnings(), vec!["storage_fallback"]);
    cart.add_item(item("AFTER", 1)).unwrap();
    assert_eq!(
        lines(&cart),
        vec![
            ("BEFORE".into(), 1),
            ("DURING".into(), 1),
            ("AFTER".into(), 1)
        ]
    );
}

#[wasm_bindgen_test]
async fn adds_stored_in_local_storage_after_an_indexed_db_failure_are_read_back() {
    // The issue's scenario: one IndexedDB write fails as Safari's lost connection does, the
    // cart moves to localStorage, and IndexedDB works again by the time the cart is reopened.
    let cart = open("{}").await;
    let events = Recorder::attach(&cart);
    cart.add_item(item("BEFORE", 1)).unwrap();
    wait(cart.flush()).await;
    fail_next_indexed_db_put_with("UnknownError");
    cart.add_item(item("FIRST", 1)).unwrap();
    wait(cart.flush()).await;
    assert_eq!(text(&cart.status(), "storage"), "localstorage");
    assert_eq!(events.warnings(), vec!["storage_fallback"]);
    cart.add_item(item("SECOND", 1)).unwrap();
    wait(cart.flush()).await;
    let id = cart.id();
    wait(cart.close()).await;

    let reopened = open(&format!(r#"{{"cartId":"{id}"}}"#)).await;
    let all = vec![
        ("BEFORE".to_string(), 1),
        ("FIRST".to_string(), 1),
        ("SECOND".to_string(), 1),
    ];
    assert_eq!(text(&reopened.status(), "storage"), "indexeddb");
    assert_eq!(
        lines(&reopened),
        all,
        "adds stored in localStorage were lost"
    );
    wait(reopened.close()).await;
    // Moved, not copied: IndexedDB alone holds the whole cart, localStorage nothing of it.
    let prefix = vec![id.clone()];
    let left = LocalStorage.load_range(&prefix).await.unwrap();
    assert!(left.is_empty(), "left in localStorage: {left:?}");
    let held = IndexedDbStorage::open()
        .await
        .unwrap()
        .load_range(&prefix)
        .await
        .unwrap();
    let restored = Persister::restore(id.parse().unwrap(), held);
    assert_eq!(restored.cart.item_count(), 3);
}

#[wasm_bindgen_test]
async fn flush_waits_for_writes_with_strict_durability() {
    let cart = open("{}").await;
    record_indexed_db_writes();
    cart.add_item(item("DURABLE", 1)).unwrap();
    let flushed = JsFuture::from(cart.flush()).await;
    let writes = stop_recording_indexed_db_writes();
    flushed.expect("flush resolves");
    assert!(!writes.is_empty(), "flush wrote nothing to IndexedDB");
    for write in &writes {
        let (requested, granted) = write.split_once('/').unwrap_or_default();
        assert_eq!(requested, "strict", "{writes:?}");
        assert!(
            granted == "strict" || granted == "unsupported",
            "{writes:?}"
        );
    }
    console_log!("IndexedDB write transactions: {writes:?}");
}

#[wasm_bindgen_test]
async fn a_corrupt_stored_chunk_is_skipped_with_a_warning() {
    let cart = open("{}").await;
    cart.add_item(item("GOOD", 1)).unwrap();
    let id = cart.id();
    wait(cart.close()).await;
    let db = IndexedDbStorage::open().await.unwrap();
    let bad_key = vec![id.clone(), "incremental".into(), "corrupt".into()];
    db.apply(&[StorageOp::Put {
        key: bad_key.clone(),
        value: b"\x85\x6f\x4a\x83 garbage".to_vec(),
    }])
    .await
    .unwrap();

    let reopened = open(&format!(r#"{{"cartId":"{id}"}}"#)).await;
    let events = Recorder::attach(&reopened);
    assert_eq!(
        events.warnings(),
        vec!["corrupt_chunk"],
        "the warning reaches the first subscriber"
    );
    assert_eq!(lines(&reopened), vec![("GOOD".into(), 1)]);
    reopened.add_item(item("NEW", 1)).unwrap();
    wait(reopened.close()).await;
    let stored = db.load_range(&[id]).await.unwrap();
    assert!(
        stored.iter().any(|(key, _)| *key == bad_key),
        "the corrupt chunk was deleted"
    );
}

#[wasm_bindgen_test]
async fn bad_input_throws_coded_errors_and_changes_nothing() {
    let cart = open(r#"{"storage":"memory"}"#).await;
    cart.add_item(item("A", 1)).unwrap();
    let before = lines(&cart);
    let bad_items = [
        (
            r#"{"sku":"A","name":"A","unitPrice":100,"currency":"EUR","quantity":0}"#,
            "invalid_quantity",
        ),
        (
            r#"{"sku":"A","name":"A","unitPrice":100,"currency":"EUR","quantity":2.5}"#,
            "invalid_quantity",
        ),
        (
            r#"{"sku":"A","name":"A","unitPrice":1.5,"currency":"EUR"}"#,
            "invalid_price",
        ),
        (
            r#"{"sku":"A","name":"A","unitPrice":-1,"currency":"EUR"}"#,
            "invalid_price",
        ),
        (
            r#"{"sku":"A","name":"A","unitPrice":100,"currency":"eur"}"#,
            "invalid_currency",
        ),
        (
            r#"{"sku":"","name":"A","unitPrice":100,"currency":"EUR"}"#,
            "invalid_sku",
        ),
        (
            r#"{"sku":"A","unitPrice":100,"currency":"EUR"}"#,
            "invalid_item",
        ),
        (
            r#"{"sku":"A","name":"A","price":100,"unitPrice":1,"currency":"EUR"}"#,
            "invalid_item",
        ),
        (
            r#"{"sku":"A","name":"A","unitPrice":1,"currency":"EUR","imageUrl":"javascript:x"}"#,
            "invalid_image_url",
        ),
        ("42", "invalid_item"),
    ];
    for (input, expected) in bad_items {
        let error = cart
            .add_item(js(input))
            .err()
            .unwrap_or_else(|| panic!("{input} was accepted"));
        let (code, message) = error_code(error);
        assert_eq!(code, expected, "{input} -> {message}");
    }
    let (code, message) = error_code(cart.add_item(item("A", 0)).unwrap_err());
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "invalid_quantity",
            "quantity must be 1..=999, got 0; use removeItem to delete a line"
        )
    );
    assert_eq!(
        error_code(cart.set_quantity("NOPE".into(), 2.into()).unwrap_err()).0,
        "unknown_item"
    );
    assert_eq!(
        error_code(cart.set_quantity("A".into(), "x".into()).unwrap_err()).0,
        "invalid_quantity"
    );
    assert_eq!(
        error_code(cart.set_quantity(7.into(), 1.into()).unwrap_err()).0,
        "invalid_sku"
    );
    assert_eq!(
        error_code(cart.merge(b"not automerge").unwrap_err()).0,
        "corrupt_data"
    );
    // Seventy bytes that ask for a billion operations: refused before Automerge expands them.
    let bomb = cart_core::chunk_bounds::crafted::repeated_put_change(1_000_000_000);
    assert_eq!(
        error_code(cart.merge(&bomb).unwrap_err()).0,
        "change_too_large"
    );
    let other = open(r#"{"storage":"memory"}"#).await;
    other.add_item(item("X", 1)).unwrap();
    assert_eq!(
        error_code(cart.merge(&other.save()).unwrap_err()).0,
        "wrong_cart"
    );
    assert_eq!(lines(&cart), before, "a refused call changed the cart");

    wait(cart.close()).await;
    assert_eq!(
        error_code(cart.add_item(item("A", 1)).unwrap_err()).0,
        "cart_closed"
    );
    assert_eq!(lines(&cart), before, "reads still work after close");
}

#[wasm_bindgen_test]
async fn an_add_with_a_tag_counts_once_however_often_it_is_replayed() {
    // The early cart's outbox replays each add with its tag; a crash between the replay and
    // the outbox delete, or two tabs, replay it again.
    let tagged = r#"{"sku":"MUG","name":"Mug","unitPrice":900,"currency":"EUR","quantity":2,"tag":"early-1"}"#;
    let cart = open(r#"{"storage":"memory"}"#).await;
    let events = Recorder::attach(&cart);
    cart.add_item(js(tagged)).unwrap();
    cart.add_item(js(tagged)).unwrap();
    assert_eq!(lines(&cart), vec![("MUG".into(), 2)]);
    assert_eq!(events.count("change"), 1, "the replay changed nothing");
    let other = open(&format!(
        r#"{{"cartId":"{}","storage":"memory"}}"#,
        cart.id()
    ))
    .await;
    other.add_item(js(tagged)).unwrap();
    assert!(cart.merge(&other.save()).is_ok());
    assert_eq!(
        lines(&cart),
        vec![("MUG".into(), 2)],
        "the same add made by two carts counts once"
    );
    cart.add_item(item("MUG", 1)).unwrap();
    assert_eq!(
        lines(&cart),
        vec![("MUG".into(), 3)],
        "untagged adds still add"
    );
    for bad in ["", "a#b", "has space"] {
        let input = format!(
            r#"{{"sku":"MUG","name":"Mug","unitPrice":900,"currency":"EUR","tag":"{bad}"}}"#
        );
        assert_eq!(
            error_code(cart.add_item(js(&input)).unwrap_err()).0,
            "invalid_item",
            "tag {bad:?}"
        );
    }
    assert_eq!(lines(&cart), vec![("MUG".into(), 3)]);
}

#[wasm_bindgen_test]
async fn items_is_one_frozen_array_until_the_cart_changes() {
    let cart = open(r#"{"storage":"memory"}"#).await;
    cart.add_item(item("TEE", 1)).unwrap();
    let first = cart.items();
    assert!(
        js_sys::Object::is_frozen(first.unchecked_ref::<js_sys::Object>()),
        "the array is frozen"
    );
    let line = js_sys::Array::from(&first).get(0);
    assert!(
        js_sys::Object::is_frozen(line.unchecked_ref::<js_sys::Object>()),
        "its lines are frozen"
    );
    assert!(
        js_sys::Object::is(&first, &cart.items()),
        "no change, same array"
    );
    cart.add_item(item("TEE", 2)).unwrap();
    let second = cart.items();
    assert!(
        !js_sys::Object::is(&first, &second),
        "a local edit rebuilds it"
    );
    assert_eq!(lines(&cart), vec![("TEE".into(), 3)]);
    let other = open(&format!(
        r#"{{"cartId":"{}","storage":"memory"}}"#,
        cart.id()
    ))
    .await;
    other.add_item(item("MUG", 1)).unwrap();
    assert!(cart.merge(&other.save()).unwrap());
    assert!(
        !js_sys::Object::is(&second, &cart.items()),
        "a merge rebuilds it"
    );
    assert_eq!(lines(&cart), vec![("TEE".into(), 3), ("MUG".into(), 1)]);
}

/// Whether `a` and `b` are the same JS value (`Object.is`).
fn same(a: &JsValue, b: &JsValue) -> bool {
    js_sys::Object::is(a, b)
}

/// Whether `value` is a frozen object.
fn frozen(value: &JsValue) -> bool {
    js_sys::Object::is_frozen(value.unchecked_ref::<js_sys::Object>())
}

#[wasm_bindgen_test]
async fn snapshot_is_one_frozen_object_until_the_cart_or_its_status_changes() {
    let cart = open(r#"{"storage":"memory"}"#).await;
    cart.add_item(item("TEE", 1)).unwrap();
    wait(cart.flush()).await;
    let first = cart.snapshot();
    assert!(frozen(&first), "frozen");
    assert!(same(&first, &cart.snapshot()), "no change, same object");
    assert!(
        same(&prop(&first, "items"), &cart.items()),
        "items() inside"
    );
    assert_eq!(prop(&first, "itemCount").as_f64(), Some(1.0));
    assert_eq!(prop(&prop(&first, "status"), "unsaved").as_f64(), Some(0.0));
    for part in ["totals", "status"] {
        assert!(frozen(&prop(&first, part)), "{part} frozen");
    }

    cart.add_item(item("TEE", 2)).unwrap();
    let edited = cart.snapshot();
    assert!(!same(&first, &edited), "an edit makes a new one");
    assert_eq!(prop(&edited, "itemCount").as_f64(), Some(3.0));
    assert_eq!(
        prop(&prop(&edited, "status"), "unsaved").as_f64(),
        Some(1.0)
    );
    assert!(!same(&prop(&first, "totals"), &prop(&edited, "totals")));

    wait(cart.flush()).await;
    let saved = cart.snapshot();
    assert!(!same(&edited, &saved), "a status change makes a new one");
    assert!(same(&prop(&edited, "items"), &prop(&saved, "items")));
    assert!(same(&prop(&edited, "totals"), &prop(&saved, "totals")));
    assert_eq!(prop(&prop(&saved, "status"), "unsaved").as_f64(), Some(0.0));

    let other = open(&format!(
        r#"{{"cartId":"{}","storage":"memory"}}"#,
        cart.id()
    ))
    .await;
    other.add_item(item("MUG", 1)).unwrap();
    assert!(cart.merge(&other.save()).unwrap());
    let merged = cart.snapshot();
    assert!(!same(&saved, &merged), "a merge makes a new one");
    assert_eq!(prop(&merged, "itemCount").as_f64(), Some(4.0));
    assert!(!cart.merge(&other.save()).unwrap());
    assert!(
        same(&merged, &cart.snapshot()),
        "a merge that changes nothing keeps it"
    );
}

#[wasm_bindgen_test]
async fn open_refuses_options_it_does_not_understand() {
    for (options, expected) in [
        (r#"{"storage":"floppy"}"#, "invalid_options"),
        (r#"{"cartID":"x"}"#, "invalid_options"),
        (r#"{"cartId":"not-an-id"}"#, "invalid_cart_id"),
        (
            r#"{"server":"https://shop.example/sync"}"#,
            "invalid_options",
        ),
        (r#"{"server":[]}"#, "invalid_options"),
        (
            r#"{"server":["ws://127.0.0.1:1/sync","https://shop.example/sync"]}"#,
            "invalid_options",
        ),
        (r#"{"server":[1]}"#, "invalid_options"),
    ] {
        let error = Cart::open(Some(js(options)))
            .await
            .err()
            .unwrap_or_else(|| panic!("{options} was accepted"));
        assert_eq!(error_code(error).0, expected, "{options}");
    }
    let seventeen = [r#""ws://127.0.0.1:1/sync""#; 17].join(",");
    let error = Cart::open(Some(js(&format!(r#"{{"server":[{seventeen}]}}"#))))
        .await
        .err()
        .expect("seventeen servers are refused");
    assert_eq!(error_code(error).0, "invalid_options");
}

#[wasm_bindgen_test]
async fn merge_brings_in_another_devices_copy() {
    let phone = open(r#"{"storage":"memory"}"#).await;
    phone.add_item(item("TEE", 1)).unwrap();
    let laptop = open(&format!(
        r#"{{"cartId":"{}","storage":"memory"}}"#,
        phone.id()
    ))
    .await;
    laptop.merge(&phone.save()).unwrap();
    phone.remove_item("TEE".into()).unwrap();
    laptop.add_item(item("TEE", 2)).unwrap();
    assert!(phone.merge(&laptop.save()).unwrap());
    assert_eq!(
        lines(&phone),
        vec![("TEE".into(), 2)],
        "the removed unit must not resurface"
    );
}

#[wasm_bindgen_test]
async fn a_line_past_the_limit_throws_too_many_lines_and_changes_nothing() {
    let cart = open(r#"{"storage":"memory"}"#).await;
    let id: cart_core::CartId = cart.id().parse().unwrap();
    let full = cart_core::fixtures::cart_with_lines(&id, cart_core::validate::MAX_LINES);
    assert!(cart.merge(&full).unwrap());
    let heads = cart.heads();
    let (code, message) = error_code(cart.add_item(item("ONE-TOO-MANY", 1)).unwrap_err());
    assert_eq!(code, "too_many_lines");
    assert!(message.contains("remove a line"), "{message}");
    assert_eq!(
        js_sys::JSON::stringify(&cart.heads()).unwrap(),
        js_sys::JSON::stringify(&heads).unwrap(),
        "nothing changed"
    );
    // More of a line the cart has is still fine.
    cart.add_item(item("SKU-0", 1)).unwrap();
}
