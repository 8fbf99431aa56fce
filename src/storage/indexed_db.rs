//! [`IndexedDbStorage`]: carts in IndexedDB, the default backend.
//!
//! One database `offline-cart` with one object store `chunks`. Keys are IndexedDB array keys
//! (`["<cartId>", "incremental", "<hash>"]`), so a prefix scan is one key range: every array
//! that starts with the prefix sorts between `[...prefix]` and `[...prefix, []]`, because an
//! array sorts after every string. Values are `Uint8Array`s.
//!
//! A write is one `readwrite` transaction; it counts as done on the transaction's `complete`
//! event, so a batch is atomic. Write transactions ask for `durability: "strict"`: `complete`
//! then fires only once the data is flushed to the disk, which is what `flush()` promises.
//! The engines' `default` need not wait for that (Firefox's does not fsync; Chromium's measured
//! as fast as `relaxed`). An engine that does not know the option ignores it and commits with
//! its default durability.

use crate::connection::Timer;
use cart_core::storage::{Storage, StorageError, StorageErrorKind, StorageKey, StorageOp};
use js_sys::{Array, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DomException, IdbDatabase, IdbFactory, IdbKeyRange, IdbOpenDbRequest, IdbRequest,
    IdbTransaction, IdbTransactionMode,
};

#[wasm_bindgen]
extern "C" {
    /// An `IDBDatabase` seen through the one call web-sys offers only behind its unstable-APIs
    /// cfg: `transaction(storeNames, mode, options)`.
    type DatabaseWithOptions;
    #[wasm_bindgen(catch, method, js_name = transaction)]
    fn transaction_with_options(
        this: &DatabaseWithOptions,
        store: &str,
        mode: IdbTransactionMode,
        options: &JsValue,
    ) -> Result<IdbTransaction, JsValue>;
}

/// The database name.
pub const DATABASE: &str = "offline-cart";
/// The object store that holds every chunk of every cart.
pub const STORE: &str = "chunks";
const VERSION: u32 = 1;
/// How long opening the database may take before the cart falls back to another backend. Some
/// browsers and modes never answer the open request at all (headless Chromium's
/// `--screenshot` mode, profiles with storage switched off half-way).
pub const OPEN_TIMEOUT_MS: f64 = 5000.0;

/// An open IndexedDB database. Clones share the connection.
#[derive(Clone)]
pub struct IndexedDbStorage {
    db: IdbDatabase,
}

fn error_from_dom(context: &str, error: Option<DomException>) -> StorageError {
    let (name, message) = error
        .map(|e| (e.name(), e.message()))
        .unwrap_or_else(|| ("UnknownError".into(), "no reason given".into()));
    let kind = match name.as_str() {
        name if super::is_quota_error(name) => StorageErrorKind::QuotaExceeded,
        "InvalidStateError" | "SecurityError" | "NotAllowedError" => StorageErrorKind::Unavailable,
        _ => StorageErrorKind::Failed,
    };
    StorageError::new(kind, format!("indexeddb {context}: {name}: {message}"))
}

fn error_from_js(context: &str, value: JsValue) -> StorageError {
    error_from_dom(context, value.dyn_into::<DomException>().ok())
}

/// Resolves when `request` succeeds; errs with the request's error, or as unavailable when it
/// has not answered within `timeout_ms`.
async fn finished(
    request: &IdbRequest,
    context: &str,
    timeout_ms: Option<f64>,
) -> Result<JsValue, StorageError> {
    let mut deadline = None;
    let promise = Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
        deadline = timeout_ms.map(|ms| {
            Timer::after(ms, move || {
                drop(reject.call1(&JsValue::NULL, &TIMED_OUT.into()))
            })
        });
    });
    let outcome = JsFuture::from(promise).await;
    drop(deadline);
    request.set_onsuccess(None);
    request.set_onerror(None);
    match outcome {
        Ok(_) => request.result().map_err(|e| error_from_js(context, e)),
        Err(reason) if reason.as_string().as_deref() == Some(TIMED_OUT) => Err(StorageError::new(
            StorageErrorKind::Unavailable,
            format!(
                "indexeddb {context}: no answer within {} s",
                timeout_ms.unwrap_or_default() / 1000.0
            ),
        )),
        Err(_) => Err(error_from_dom(context, request.error().ok().flatten())),
    }
}

/// The rejection reason of a request that timed out.
const TIMED_OUT: &str = "offline-cart: indexeddb timed out";

/// Resolves when `transaction` commits; errs when it aborts (quota, or any request failing).
///
/// Only `abort` is waited for, not `error`: a failing request's `error` event reaches the
/// transaction while `transaction.error` is still null (the spec sets it only on abort; seen
/// with a real full disk in Firefox), so rejecting there turned a full disk into "UnknownError"
/// and sent the cart to localStorage instead of memory. A request error that nobody handles
/// always aborts the transaction, and a failure while committing fires `abort` alone; by then
/// `transaction.error` names the cause.
async fn committed(transaction: &IdbTransaction, context: &str) -> Result<(), StorageError> {
    let promise = Promise::new(&mut |resolve, reject| {
        transaction.set_oncomplete(Some(&resolve));
        transaction.set_onabort(Some(&reject));
    });
    let outcome = JsFuture::from(promise).await;
    match outcome {
        Ok(_) => Ok(()),
        Err(_) => Err(error_from_dom(context, transaction.error())),
    }
}

fn factory() -> Result<IdbFactory, StorageError> {
    let unavailable = |why: &str| {
        StorageError::new(
            StorageErrorKind::Unavailable,
            format!("indexeddb is not available: {why}"),
        )
    };
    let value = js_sys::Reflect::get(&js_sys::global(), &"indexedDB".into())
        .map_err(|_| unavailable("access denied"))?;
    value
        .dyn_into::<IdbFactory>()
        .map_err(|_| unavailable("this browser or context has no indexedDB"))
}

fn key_array(key: &[String]) -> Array {
    key.iter().map(|part| JsValue::from_str(part)).collect()
}

impl IndexedDbStorage {
    /// Opens (creating on first use) the `offline-cart` database.
    ///
    /// Errs with `Unavailable` when the browser refuses IndexedDB (some private modes, disabled
    /// storage) or the open request fails.
    pub async fn open() -> Result<IndexedDbStorage, StorageError> {
        let request: IdbOpenDbRequest =
            factory()?
                .open_with_u32(DATABASE, VERSION)
                .map_err(|e| StorageError {
                    kind: StorageErrorKind::Unavailable,
                    ..error_from_js("open", e)
                })?;
        let upgrade = Closure::once(move |event: web_sys::Event| {
            let created = event
                .target()
                .and_then(|t| t.dyn_into::<IdbRequest>().ok())
                .and_then(|r| r.result().ok())
                .and_then(|db| db.dyn_into::<IdbDatabase>().ok())
                .map(|db| db.create_object_store(STORE));
            if !matches!(created, Some(Ok(_))) {
                web_sys::console::error_1(
                    &"offline-cart: could not create the IndexedDB store".into(),
                );
            }
        });
        request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
        let opened = finished(&request, "open", Some(OPEN_TIMEOUT_MS)).await;
        request.set_onupgradeneeded(None);
        if opened.is_err() {
            // Should the browser answer after all, close that connection rather than keep it.
            let late = Closure::once_into_js(move |event: web_sys::Event| {
                let db = event
                    .target()
                    .and_then(|t| t.dyn_into::<IdbRequest>().ok())
                    .and_then(|r| r.result().ok());
                if let Some(db) = db.and_then(|db| db.dyn_into::<IdbDatabase>().ok()) {
                    db.close();
                }
            });
            request.set_onsuccess(Some(late.unchecked_ref()));
        }
        let db: IdbDatabase = opened
            .map_err(|e| StorageError {
                kind: StorageErrorKind::Unavailable,
                ..e
            })?
            .unchecked_into();
        // Let another tab upgrade the database: close this connection instead of blocking it.
        // Later writes then fail as unavailable and the cart falls back, losing nothing.
        let on_version_change = Closure::<dyn FnMut(web_sys::Event)>::new({
            let db = db.clone();
            move |_| db.close()
        });
        db.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
        on_version_change.forget();
        Ok(IndexedDbStorage { db })
    }

    /// Closes the connection; pending transactions still complete.
    pub fn close(&self) {
        self.db.close();
    }

    fn transaction(&self, mode: IdbTransactionMode) -> Result<IdbTransaction, StorageError> {
        let transaction = if mode == IdbTransactionMode::Readwrite {
            let options = js_sys::Object::new();
            // Setting a property on a fresh plain object cannot fail.
            let _ = js_sys::Reflect::set(&options, &"durability".into(), &"strict".into());
            // Engines without the option skip the unknown dictionary member (WebIDL); should
            // one refuse the argument instead, its default durability is the best there is.
            self.db
                .unchecked_ref::<DatabaseWithOptions>()
                .transaction_with_options(STORE, mode, &options)
                .or_else(|_| self.db.transaction_with_str_and_mode(STORE, mode))
        } else {
            self.db.transaction_with_str_and_mode(STORE, mode)
        };
        transaction.map_err(|e| StorageError {
            kind: StorageErrorKind::Unavailable,
            ..error_from_js("transaction", e)
        })
    }
}

impl Storage for IndexedDbStorage {
    async fn load_range(
        &self,
        prefix: &[String],
    ) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
        let lower = key_array(prefix);
        let upper = key_array(prefix);
        upper.push(&Array::new());
        let range =
            IdbKeyRange::bound(&lower, &upper).map_err(|e| error_from_js("key range", e))?;
        let transaction = self.transaction(IdbTransactionMode::Readonly)?;
        let store = transaction
            .object_store(STORE)
            .map_err(|e| error_from_js("store", e))?;
        let keys_request = store
            .get_all_keys_with_key(&range)
            .map_err(|e| error_from_js("getAllKeys", e))?;
        let values_request = store
            .get_all_with_key(&range)
            .map_err(|e| error_from_js("getAll", e))?;
        let keys: Array = finished(&keys_request, "getAllKeys", None)
            .await?
            .unchecked_into();
        let values: Array = finished(&values_request, "getAll", None)
            .await?
            .unchecked_into();
        let entries = keys
            .iter()
            .zip(values.iter())
            .filter_map(|(key, value)| {
                let key: Option<StorageKey> = key
                    .dyn_into::<Array>()
                    .ok()?
                    .iter()
                    .map(|p| p.as_string())
                    .collect();
                let value = value.dyn_into::<Uint8Array>().ok()?;
                Some((key?, value.to_vec()))
            })
            .collect();
        Ok(entries)
    }

    async fn apply(&self, ops: &[StorageOp]) -> Result<(), StorageError> {
        let transaction = self.transaction(IdbTransactionMode::Readwrite)?;
        let store = transaction
            .object_store(STORE)
            .map_err(|e| error_from_js("store", e))?;
        for op in ops {
            let queued = match op {
                StorageOp::Put { key, value } => {
                    store.put_with_key(&Uint8Array::from(value.as_slice()), &key_array(key))
                }
                StorageOp::Remove { key } => store.delete(&key_array(key)),
            };
            if let Err(e) = queued {
                let _ = transaction.abort();
                return Err(error_from_js("write", e));
            }
        }
        committed(&transaction, "write").await
    }
}
