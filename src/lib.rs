//! offline-cart: wasm binding (in progress).
