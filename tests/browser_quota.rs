//! Real full disks, not patched ones: the browser itself refuses the write. A test binary of its
//! own, so that the storage these tests fill is a fresh browser profile's and no other test runs
//! short of space.
//!
//! localStorage is filled for real in every engine (a few MB), and a cart on it moves to memory.
//! IndexedDB is filled only where the origin's quota is small enough to fill in a test: in
//! Firefox, whose test profile (webdriver.json, `dom.quotaManager.temporaryStorage.fixedLimit`)
//! gives an origin 10 MB. In Chromium the quota is a share of the whole disk, so this test is
//! skipped there. How the cart moves to memory when IndexedDB is full is
//! `a_full_disk_moves_the_cart_to_memory_without_losing_adds` (browser_cart.rs, a patched `put`),
//! in both engines; this file checks that a real full IndexedDB reads as full.
#![cfg(target_arch = "wasm32")]

mod common;

use cart_core::storage::{Storage, StorageError, StorageErrorKind, StorageKey, StorageOp};
use common::*;
use offline_cart::storage::{IndexedDbStorage, LocalStorage};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const MB: u32 = 1 << 20;

/// The warning events' messages.
fn warning_messages(events: &Recorder) -> Vec<String> {
    events
        .events
        .borrow()
        .iter()
        .filter(|e| text(e, "type") == "warning")
        .map(|e| text(e, "message"))
        .collect()
}

#[wasm_bindgen_test]
async fn a_full_local_storage_is_reported_as_full_and_the_cart_keeps_its_adds() {
    let cart = open(r#"{"storage":"localstorage"}"#).await;
    let events = Recorder::attach(&cart);
    cart.add_item(item("BEFORE", 1)).unwrap();
    wait(cart.flush()).await;

    let refused_with = fill_local_storage();
    let direct = LocalStorage
        .apply(&[StorageOp::Put {
            key: vec!["quota-test".into()],
            value: vec![7; 4096],
        }])
        .await;
    cart.add_item(item("DURING", 1)).unwrap();
    let flushed = JsFuture::from(cart.flush()).await;
    empty_local_storage();

    assert_eq!(refused_with, "QuotaExceededError");
    let error = direct.expect_err("a write to a full localStorage succeeded");
    assert_eq!(
        error.kind,
        StorageErrorKind::QuotaExceeded,
        "{}",
        error.message
    );
    flushed.expect("flush resolves once the cart is safe in memory");
    assert_eq!(text(&cart.status(), "storage"), "memory");
    assert_eq!(events.warnings(), vec!["storage_fallback"]);
    let messages = warning_messages(&events);
    assert!(
        messages[0].contains("QuotaExceededError"),
        "the warning names the cause: {messages:?}"
    );
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

/// Writes `size` random bytes under `key`. Firefox refuses the first write transaction after a
/// quota abort with InvalidStateError ("a mutation operation was attempted on a database that
/// did not allow mutations"), which reads as `Unavailable`; such writes are tried again.
async fn put_random(
    db: &IndexedDbStorage,
    key: &StorageKey,
    size: u32,
) -> Result<(), StorageError> {
    let mut tries = 0;
    loop {
        let put = StorageOp::Put {
            key: key.clone(),
            value: random_bytes(size).to_vec(),
        };
        match db.apply(&[put]).await {
            Err(error) if error.kind == StorageErrorKind::Unavailable && tries < 3 => {
                assert!(
                    error.message.contains("InvalidStateError"),
                    "{}",
                    error.message
                );
                tries += 1;
            }
            outcome => return outcome,
        }
    }
}

#[wasm_bindgen_test]
async fn a_full_indexed_db_is_reported_as_full_not_as_an_unknown_error() {
    let quota = wait(storage_quota())
        .await
        .as_f64()
        .unwrap_or(f64::INFINITY);
    if quota > f64::from(64 * MB) {
        console_log!(
            "skipped: this engine gives the origin {quota} bytes, too many to fill in a test"
        );
        return;
    }
    // Chunks that do not compress (Firefox compresses stored values), until one is refused.
    let db = IndexedDbStorage::open().await.unwrap();
    let mut written: Vec<StorageKey> = Vec::new();
    let refusal = loop {
        let key = vec!["quota-test-filler".to_string(), written.len().to_string()];
        match put_random(&db, &key, MB).await {
            Ok(()) => written.push(key),
            Err(error) => break error,
        }
        assert!(
            written.len() < 100,
            "{quota} bytes of quota, yet no write was refused"
        );
    };
    let removes: Vec<StorageOp> = written
        .iter()
        .map(|key| StorageOp::Remove { key: key.clone() })
        .collect();
    let removed = db.apply(&removes).await;

    assert_eq!(
        refusal.kind,
        StorageErrorKind::QuotaExceeded,
        "a full IndexedDB must read as full, so that the cart goes to memory and not to \
         localStorage on the same full disk: {}",
        refusal.message
    );
    assert!(
        refusal.message.contains("QuotaExceededError"),
        "{}",
        refusal.message
    );
    removed.expect("the filler is removed");
    put_random(&db, &vec!["quota-test-after".to_string()], MB)
        .await
        .expect("once space is freed the same connection writes again");
    db.apply(&[StorageOp::Remove {
        key: vec!["quota-test-after".to_string()],
    }])
    .await
    .unwrap();
}
