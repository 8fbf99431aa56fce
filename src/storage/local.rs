//! [`LocalStorage`]: carts in `localStorage` through gloo-storage, for browsers or contexts
//! where IndexedDB cannot be opened.
//!
//! Each entry is one localStorage item: the key is `offline-cart:` followed by the storage key
//! as a JSON array (so no two keys can collide whatever their components hold), the value is
//! the chunk's bytes in base64. localStorage has no transactions: a batch is applied item by
//! item in order, and each item is written whole.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use cart_core::storage::{
    has_prefix, Storage, StorageError, StorageErrorKind, StorageKey, StorageOp,
};
use gloo_storage::errors::StorageError as GlooError;
use gloo_storage::Storage as _;

/// Prefix of every localStorage item this backend writes.
pub const NAMESPACE: &str = "offline-cart:";

/// The localStorage backend. Stateless: every call goes to `window.localStorage`.
#[derive(Clone, Copy)]
pub struct LocalStorage;

fn error(context: &str, e: GlooError) -> StorageError {
    let kind = match &e {
        GlooError::JsError(js) if super::is_quota_error(&js.name) => {
            StorageErrorKind::QuotaExceeded
        }
        _ => StorageErrorKind::Failed,
    };
    StorageError::new(kind, format!("localstorage {context}: {e}"))
}

fn item_key(key: &[String]) -> String {
    // Serializing strings to JSON cannot fail.
    format!(
        "{NAMESPACE}{}",
        serde_json::to_string(key).unwrap_or_default()
    )
}

impl LocalStorage {
    /// Checks that localStorage exists and accepts a write (some private modes refuse writes).
    pub fn open() -> Result<LocalStorage, StorageError> {
        let unavailable = |why: String| {
            StorageError::new(
                StorageErrorKind::Unavailable,
                format!("localstorage is not available: {why}"),
            )
        };
        let storage = web_sys::window()
            .ok_or_else(|| unavailable("no window".into()))?
            .local_storage()
            .map_err(|_| unavailable("access denied".into()))?
            .ok_or_else(|| unavailable("this browser has no localStorage".into()))?;
        let probe = format!("{NAMESPACE}probe");
        storage
            .set_item(&probe, "1")
            .map_err(|_| unavailable("writes are refused".into()))?;
        let _ = storage.remove_item(&probe);
        Ok(LocalStorage)
    }
}

impl Storage for LocalStorage {
    async fn load_range(
        &self,
        prefix: &[String],
    ) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
        let raw = gloo_storage::LocalStorage::raw();
        let length = raw.length().unwrap_or(0);
        let mut entries = Vec::new();
        for index in 0..length {
            let Some(item) = raw.key(index).ok().flatten() else {
                continue;
            };
            let Some(json) = item.strip_prefix(NAMESPACE) else {
                continue;
            };
            let Ok(key) = serde_json::from_str::<StorageKey>(json) else {
                continue;
            };
            if !has_prefix(&key, prefix) {
                continue;
            }
            let encoded: String =
                gloo_storage::LocalStorage::get(&item).map_err(|e| error("read", e))?;
            // An item that is not base64 is corrupt; pass its raw text on so the loader reports
            // it as a chunk that does not load, instead of failing the whole cart.
            let value = BASE64
                .decode(&encoded)
                .unwrap_or_else(|_| encoded.into_bytes());
            entries.push((key, value));
        }
        Ok(entries)
    }

    async fn apply(&self, ops: &[StorageOp]) -> Result<(), StorageError> {
        for op in ops {
            match op {
                StorageOp::Put { key, value } => {
                    gloo_storage::LocalStorage::set(item_key(key), BASE64.encode(value))
                        .map_err(|e| error("write", e))?
                }
                StorageOp::Remove { key } => gloo_storage::LocalStorage::delete(item_key(key)),
            }
        }
        Ok(())
    }
}
