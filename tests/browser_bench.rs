//! A benchmark, not a test: what `flush()`'s strict IndexedDB durability costs, in the engine it
//! runs in. It prints and asserts nothing about time, so `npm test` skips it (`#[ignore]`);
//! `npm run bench` (scripts/bench.sh) runs it in Chromium and Firefox.
//!
//! It times write transactions of one chunk-sized put each with every `durability` the
//! platform defines, then the real thing: a cart adding one line and awaiting `flush()`.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(inline_js = "
export async function millisPerWrite(durability, count, size) {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open('offline-cart-bench', 1);
    request.onupgradeneeded = () => request.result.createObjectStore('chunks');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const write = (op) => new Promise((resolve, reject) => {
    const transaction = db.transaction('chunks', 'readwrite', { durability });
    op(transaction.objectStore('chunks'));
    transaction.oncomplete = resolve;
    transaction.onabort = () => reject(transaction.error);
  });
  const value = crypto.getRandomValues(new Uint8Array(size));
  const start = performance.now();
  for (let i = 0; i < count; i++) await write((store) => store.put(value, ['bench', i]));
  const elapsed = performance.now() - start;
  await write((store) => store.clear());
  db.close();
  return elapsed / count;
}
export function now() { return performance.now(); }
")]
extern "C" {
    /// Milliseconds per write transaction of one `size`-byte put with `durability`, over
    /// `count` writes in a row.
    #[wasm_bindgen(js_name = millisPerWrite)]
    fn millis_per_write(durability: &str, count: u32, size: u32) -> js_sys::Promise;
    /// `performance.now()`.
    fn now() -> f64;
}

const WRITES: u32 = 100;
/// About the size of an incremental chunk of one add.
const CHUNK_BYTES: u32 = 600;

#[wasm_bindgen_test]
#[ignore = "a benchmark: run it with npm run bench"]
async fn strict_durability_cost() {
    // One untimed round, so that opening and the first writes' set-up count for no mode.
    wait(millis_per_write("default", 10, CHUNK_BYTES)).await;
    for durability in ["relaxed", "default", "strict"] {
        let ms = wait(millis_per_write(durability, WRITES, CHUNK_BYTES))
            .await
            .as_f64()
            .unwrap_or(f64::NAN);
        console_log!(
            "bench: IndexedDB write of {CHUNK_BYTES} B, durability {durability:>7}: {ms:.2} ms"
        );
    }
    let cart = open("{}").await;
    let start = now();
    for i in 0..WRITES {
        cart.add_item(item(&format!("SKU-{}", i % 20), 1)).unwrap();
        wait(cart.flush()).await;
    }
    let ms = (now() - start) / f64::from(WRITES);
    console_log!("bench: Cart addItem + flush() (strict, dev build): {ms:.2} ms");
    wait(cart.close()).await;
}
