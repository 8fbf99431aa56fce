//! The storage conformance suite on the browser backends, in a real browser.
#![cfg(target_arch = "wasm32")]

use cart_core::storage::{conformance, MemoryStorage, Storage, StorageOp};
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

/// localStorage items keep the format earlier versions wrote through gloo-storage, serde_json
/// and the base64 crate (name: the key as a JSON array, value: a JSON string of base64): such an
/// item reads back, and a put writes the same name and value byte for byte.
#[wasm_bindgen_test]
async fn local_storage_keeps_the_item_format_of_earlier_versions() {
    let storage = LocalStorage::open().expect("localstorage opens in a browser");
    let raw = web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .expect("localstorage");
    let name = r#"offline-cart:["format-test","in\"cremental","h\n"]"#;
    let value = r#""AAEC/w==""#;
    let key: Vec<String> = vec!["format-test".into(), "in\"cremental".into(), "h\n".into()];
    let bytes = vec![0, 1, 2, 255];
    raw.set_item(name, value).unwrap();
    let loaded = storage.load_range(&["format-test".into()]).await.unwrap();
    assert_eq!(loaded, vec![(key.clone(), bytes.clone())]);

    raw.remove_item(name).unwrap();
    let put = StorageOp::Put {
        key: key.clone(),
        value: bytes,
    };
    storage.apply(&[put]).await.unwrap();
    assert_eq!(raw.get_item(name).unwrap().as_deref(), Some(value));
    storage.apply(&[StorageOp::Remove { key }]).await.unwrap();
    assert_eq!(raw.get_item(name).unwrap(), None);
}
