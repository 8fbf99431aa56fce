//! Helpers shared by the browser tests.

#![allow(dead_code)] // each test file uses its own subset

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect, JSON};
use offline_cart::Cart;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(inline_js = "
export function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }
export function dispatchNetworkEvent(type) { globalThis.dispatchEvent(new Event(type)); }

const saved = {};
function hide(name) {
  saved[name] = Object.getOwnPropertyDescriptor(globalThis, name);
  Object.defineProperty(globalThis, name, { value: undefined, configurable: true, writable: true });
}
export function hideStorage() { hide('indexedDB'); hide('localStorage'); }
export function restoreStorage() {
  for (const [name, descriptor] of Object.entries(saved)) Object.defineProperty(globalThis, name, descriptor);
}

let realPut;
export function failIndexedDbPutsWithQuota() {
  realPut = IDBObjectStore.prototype.put;
  IDBObjectStore.prototype.put = function () { throw new DOMException('the disk is full', 'QuotaExceededError'); };
}
export function restoreIndexedDbPuts() { IDBObjectStore.prototype.put = realPut; }
// Makes the next IndexedDB put throw a DOMException named `name` (`UnknownError` as Safari
// gives when it loses its connection); later puts work again.
export function failNextIndexedDbPutWith(name) {
  const put = IDBObjectStore.prototype.put;
  IDBObjectStore.prototype.put = function () {
    IDBObjectStore.prototype.put = put;
    throw new DOMException('injected by the test', name);
  };
}

// Records the durability of every readwrite transaction: the one requested and, where the
// engine has the property, the one the transaction got (else 'unsupported').
let realTransaction;
let recorded = [];
export function recordIndexedDbWrites() {
  realTransaction = IDBDatabase.prototype.transaction;
  recorded = [];
  IDBDatabase.prototype.transaction = function (stores, mode, options) {
    const transaction = realTransaction.apply(this, arguments);
    if (mode === 'readwrite') {
      recorded.push(`${options?.durability ?? 'none'}/${transaction.durability ?? 'unsupported'}`);
    }
    return transaction;
  };
}
export function stopRecordingIndexedDbWrites() {
  IDBDatabase.prototype.transaction = realTransaction;
  return recorded;
}

// Fills localStorage until the browser refuses a write for real, with ever smaller items so
// that almost nothing is left; returns the name of the error the browser threw.
const FILLER = 'offline-cart-test-filler:';
export function fillLocalStorage() {
  let refused = '';
  let n = 0;
  for (let size = 1 << 20; size >= 1; size >>= 2) {
    const value = 'x'.repeat(size);
    for (;;) {
      try { localStorage.setItem(FILLER + n++, value); } catch (error) { refused = error.name; break; }
    }
  }
  return refused;
}
export function emptyLocalStorage() {
  for (const key of Object.keys(localStorage)) if (key.startsWith(FILLER)) localStorage.removeItem(key);
}
export async function storageQuota() { return (await navigator.storage.estimate()).quota; }
// Bytes that do not compress (Firefox compresses what it stores in IndexedDB).
export function randomBytes(length) {
  const bytes = new Uint8Array(length);
  for (let at = 0; at < length; at += 65536) crypto.getRandomValues(bytes.subarray(at, at + 65536));
  return bytes;
}

// Makes indexedDB.open hang: it becomes an upgrade of a database that another connection holds
// open and never closes, so the request stays blocked and neither succeeds nor fails.
let realOpen;
let holder;
export async function hangIndexedDbOpen() {
  holder = await new Promise((resolve, reject) => {
    const request = indexedDB.open('offline-cart-test-hang', 1);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  realOpen = IDBFactory.prototype.open;
  IDBFactory.prototype.open = function () { return realOpen.call(this, 'offline-cart-test-hang', 2); };
}
export function restoreIndexedDbOpen() {
  IDBFactory.prototype.open = realOpen;
  holder.close();
}
")]
extern "C" {
    /// Resolves after `ms` milliseconds.
    pub fn sleep(ms: u32) -> Promise;
    /// Fires the global `online` or `offline` event, as the browser does when the network
    /// comes and goes.
    #[wasm_bindgen(js_name = dispatchNetworkEvent)]
    pub fn dispatch_network_event(kind: &str);
    /// Makes `indexedDB` and `localStorage` undefined, as in a browser that refuses both.
    #[wasm_bindgen(js_name = hideStorage)]
    pub fn hide_storage();
    /// Undoes `hide_storage`.
    #[wasm_bindgen(js_name = restoreStorage)]
    pub fn restore_storage();
    /// Makes every IndexedDB put throw QuotaExceededError, as on a full disk.
    #[wasm_bindgen(js_name = failIndexedDbPutsWithQuota)]
    pub fn fail_indexed_db_puts_with_quota();
    /// Undoes `fail_indexed_db_puts_with_quota`.
    #[wasm_bindgen(js_name = restoreIndexedDbPuts)]
    pub fn restore_indexed_db_puts();
    /// Makes the next IndexedDB put throw a DOMException named `name`.
    #[wasm_bindgen(js_name = failNextIndexedDbPutWith)]
    pub fn fail_next_indexed_db_put_with(name: &str);
    /// Starts recording the durability of IndexedDB write transactions.
    #[wasm_bindgen(js_name = recordIndexedDbWrites)]
    pub fn record_indexed_db_writes();
    /// Stops recording; returns `"requested/granted"` for each write transaction, where granted
    /// is `unsupported` when the engine has no `IDBTransaction.durability`.
    #[wasm_bindgen(js_name = stopRecordingIndexedDbWrites)]
    pub fn stop_recording_indexed_db_writes() -> Vec<String>;
    /// Fills localStorage until a write really fails; returns the error's name.
    #[wasm_bindgen(js_name = fillLocalStorage)]
    pub fn fill_local_storage() -> String;
    /// Removes what `fill_local_storage` wrote.
    #[wasm_bindgen(js_name = emptyLocalStorage)]
    pub fn empty_local_storage();
    /// `navigator.storage.estimate()`'s quota in bytes.
    #[wasm_bindgen(js_name = storageQuota)]
    pub fn storage_quota() -> Promise;
    /// `length` random bytes.
    #[wasm_bindgen(js_name = randomBytes)]
    pub fn random_bytes(length: u32) -> js_sys::Uint8Array;
    /// Makes `indexedDB.open` never answer.
    #[wasm_bindgen(js_name = hangIndexedDbOpen)]
    pub fn hang_indexed_db_open() -> Promise;
    /// Undoes `hang_indexed_db_open`.
    #[wasm_bindgen(js_name = restoreIndexedDbOpen)]
    pub fn restore_indexed_db_open();
}

/// A JS value from JSON text.
pub fn js(json: &str) -> JsValue {
    JSON::parse(json).expect("test JSON is valid")
}

/// An item for `addItem`.
pub fn item(sku: &str, quantity: u32) -> JsValue {
    js(&format!(
        r#"{{"sku":"{sku}","name":"Product {sku}","unitPrice":1500,"currency":"EUR","quantity":{quantity}}}"#
    ))
}

/// Opens a cart with `options` given as JSON.
pub async fn open(options: &str) -> Cart {
    Cart::open(Some(js(options))).await.expect("open failed")
}

/// Awaits a JS promise, panicking if it rejects.
pub async fn wait(promise: Promise) -> JsValue {
    JsFuture::from(promise).await.expect("promise rejected")
}

/// `(sku, quantity)` of every line.
pub fn lines(cart: &Cart) -> Vec<(String, u32)> {
    js_sys::Array::from(&cart.items())
        .iter()
        .map(|line| {
            let sku = Reflect::get(&line, &"sku".into())
                .unwrap()
                .as_string()
                .unwrap();
            let quantity = Reflect::get(&line, &"quantity".into())
                .unwrap()
                .as_f64()
                .unwrap();
            (sku, quantity as u32)
        })
        .collect()
}

/// A property of a JS object.
pub fn prop(value: &JsValue, name: &str) -> JsValue {
    Reflect::get(value, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

/// The string property `name` of `value`.
pub fn text(value: &JsValue, name: &str) -> String {
    prop(value, name).as_string().unwrap_or_default()
}

/// Every event the cart delivers, recorded.
/// Unsubscribes when dropped, so the cart never calls a callback that no longer exists.
pub struct Recorder {
    pub events: Rc<RefCell<Vec<JsValue>>>,
    unsubscribe: Function,
    _callback: Closure<dyn FnMut(JsValue)>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.unsubscribe.call0(&JsValue::NULL);
    }
}

impl Recorder {
    pub fn attach(cart: &Cart) -> Recorder {
        let events = Rc::new(RefCell::new(Vec::new()));
        let sink = events.clone();
        let callback =
            Closure::<dyn FnMut(JsValue)>::new(move |event| sink.borrow_mut().push(event));
        let unsubscribe = cart.subscribe(callback.as_ref().unchecked_ref::<Function>().clone());
        Recorder {
            events,
            unsubscribe: unsubscribe.unchecked_into(),
            _callback: callback,
        }
    }

    /// The `code`s of the warnings received so far.
    pub fn warnings(&self) -> Vec<String> {
        self.events
            .borrow()
            .iter()
            .filter(|e| text(e, "type") == "warning")
            .map(|e| text(e, "code"))
            .collect()
    }

    /// How many events of `kind` arrived.
    pub fn count(&self, kind: &str) -> usize {
        self.events
            .borrow()
            .iter()
            .filter(|e| text(e, "type") == kind)
            .count()
    }
}
