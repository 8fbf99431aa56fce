//! [`LocalStorage`]: carts in `localStorage`, for browsers or contexts where IndexedDB cannot
//! be opened.
//!
//! Each entry is one localStorage item: the key is `offline-cart:` followed by the storage key
//! as a JSON array (so no two keys can collide whatever their components hold), the value is
//! the chunk's bytes in base64, as a JSON string. localStorage has no transactions: a batch is
//! applied item by item in order, and each item is written whole.
//!
//! The items are read and written through gloo-storage's handle on `window.localStorage`
//! ([`gloo_storage::Storage::raw`]). The JSON and the base64 are
//! the browser's own (`JSON.stringify`/`JSON.parse`, `btoa`/`atob`) rather than gloo-storage's
//! serde_json values: they write exactly what serde_json and the base64 crate wrote here before
//! (items stored by earlier versions read back as they were), and keep both crates' code out
//! of the module (16 KB gzip).

use cart_core::storage::{
    has_prefix, Storage, StorageError, StorageErrorKind, StorageKey, StorageOp,
};
use gloo_storage::Storage as _;
use js_sys::{Array, JSON};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{DomException, Window};

/// Prefix of every localStorage item this backend writes.
pub const NAMESPACE: &str = "offline-cart:";

/// The localStorage backend. Stateless: every call goes to `window.localStorage`.
#[derive(Clone, Copy)]
pub struct LocalStorage;

fn error(context: &str, e: JsValue) -> StorageError {
    let (name, message) = match e.dyn_ref::<DomException>() {
        Some(dom) => (dom.name(), dom.message()),
        None => (
            "Error".into(),
            e.as_string().unwrap_or_else(|| "no reason given".into()),
        ),
    };
    let kind = if super::is_quota_error(&name) {
        StorageErrorKind::QuotaExceeded
    } else {
        StorageErrorKind::Failed
    };
    StorageError::new(kind, format!("localstorage {context}: {name}: {message}"))
}

/// The page's window (for `atob`/`btoa`) and its localStorage through gloo-storage. Only
/// [`LocalStorage::open`] makes a [`LocalStorage`], after checking that localStorage exists,
/// so gloo-storage's handle (which throws where there is none) is safe to take here.
fn local_storage() -> Result<(Window, web_sys::Storage), StorageError> {
    let window = web_sys::window().ok_or_else(|| open_error("no window".into()))?;
    Ok((window, gloo_storage::LocalStorage::raw()))
}

fn open_error(why: String) -> StorageError {
    StorageError::new(
        StorageErrorKind::Unavailable,
        format!("localstorage is not available: {why}"),
    )
}

fn item_key(key: &[String]) -> String {
    let parts: Array = key.iter().map(|part| JsValue::from_str(part)).collect();
    // Stringifying an array of strings cannot fail.
    let json = JSON::stringify(&parts)
        .map(String::from)
        .unwrap_or_default();
    format!("{NAMESPACE}{json}")
}

/// The storage key in an item's name, or `None` for an item that is not one of ours.
fn parse_item_key(item: &str) -> Option<StorageKey> {
    let json = item.strip_prefix(NAMESPACE)?;
    let parts = JSON::parse(json).ok()?.dyn_into::<Array>().ok()?;
    parts.iter().map(|part| part.as_string()).collect()
}

/// The chunk in an item's value. A value that is not a JSON string of base64 is corrupt: its
/// raw text is passed on so the loader reports it as a chunk that does not load, instead of
/// failing the whole cart.
fn decode_value(window: &Window, text: String) -> Vec<u8> {
    let decoded = JSON::parse(&text)
        .ok()
        .and_then(|json| json.as_string())
        .and_then(|base64| window.atob(&base64).ok())
        // atob returns one char per byte, each below U+0100.
        .and_then(|binary| binary.chars().map(|c| u8::try_from(c).ok()).collect());
    decoded.unwrap_or_else(|| text.into_bytes())
}

fn encode_value(window: &Window, bytes: &[u8]) -> Result<String, StorageError> {
    let binary: String = bytes.iter().map(|&b| char::from(b)).collect();
    let base64 = window.btoa(&binary).map_err(|e| error("encode", e))?;
    // Stringifying a string cannot fail.
    Ok(JSON::stringify(&JsValue::from_str(&base64))
        .map(String::from)
        .unwrap_or_default())
}

impl LocalStorage {
    /// Checks that localStorage exists and accepts a write (some private modes refuse writes).
    pub fn open() -> Result<LocalStorage, StorageError> {
        let storage = web_sys::window()
            .ok_or_else(|| open_error("no window".into()))?
            .local_storage()
            .map_err(|_| open_error("access denied".into()))?
            .ok_or_else(|| open_error("this browser has no localStorage".into()))?;
        let probe = format!("{NAMESPACE}probe");
        storage
            .set_item(&probe, "1")
            .map_err(|_| open_error("writes are refused".into()))?;
        let _ = storage.remove_item(&probe);
        Ok(LocalStorage)
    }
}

impl Storage for LocalStorage {
    async fn load_range(
        &self,
        prefix: &[String],
    ) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
        let (window, storage) = local_storage()?;
        let length = storage.length().unwrap_or(0);
        let mut entries = Vec::new();
        for index in 0..length {
            let Some(item) = storage.key(index).ok().flatten() else {
                continue;
            };
            let Some(key) = parse_item_key(&item) else {
                continue;
            };
            if !has_prefix(&key, prefix) {
                continue;
            }
            // `None`: another tab removed the item since `key(index)` named it.
            let Some(text) = storage.get_item(&item).map_err(|e| error("read", e))? else {
                continue;
            };
            entries.push((key, decode_value(&window, text)));
        }
        Ok(entries)
    }

    async fn apply(&self, ops: &[StorageOp]) -> Result<(), StorageError> {
        let (window, storage) = local_storage()?;
        for op in ops {
            match op {
                StorageOp::Put { key, value } => storage
                    .set_item(&item_key(key), &encode_value(&window, value)?)
                    .map_err(|e| error("write", e))?,
                StorageOp::Remove { key } => storage
                    .remove_item(&item_key(key))
                    .map_err(|e| error("remove", e))?,
            }
        }
        Ok(())
    }
}
