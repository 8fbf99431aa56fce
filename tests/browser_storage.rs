//! The storage conformance suite on the browser backends, in a real browser.
#![cfg(target_arch = "wasm32")]

use cart_core::storage::{conformance, MemoryStorage};
use offline_cart::storage::{IndexedDbStorage, LocalStorage};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn indexed_db_passes_the_conformance_suite() {
    let storage = IndexedDbStorage::open()
        .await
        .expect("indexeddb opens in a browser");
    conformance::run(&storage).await;
}

#[wasm_bindgen_test]
async fn local_storage_passes_the_conformance_suite() {
    let storage = LocalStorage::open().expect("localstorage opens in a browser");
    conformance::run(&storage).await;
}

#[wasm_bindgen_test]
async fn memory_passes_the_conformance_suite_in_the_browser_too() {
    conformance::run(&MemoryStorage::new()).await;
}
