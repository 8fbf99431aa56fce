//! offline-cart: the browser module. A thin wasm-bindgen layer over `cart-core` that keeps the
//! cart in IndexedDB (or localStorage, or memory), shares it live between tabs and syncs it
//! with a server.
//!
//! - [`cart`]: the JS `Cart` class and its write loop.
//! - [`storage`]: IndexedDB, localStorage and memory backends and the fallback chain.
//! - [`tabs`]: BroadcastChannel between the tabs that have the same cart open.
//! - [`server_link`]: the IO of syncing with the server (socket, timer, `sync()` promises)
//!   around `cart_core::link::Link`, which decides when to connect, retry, probe and resend.
//! - [`connection`]: the WebSocket, timer and `online` / `offline` handles it uses.
//! - [`events`]: what `subscribe` callbacks receive.
//! - [`convert`]: JS values in and out, and the TypeScript types.
//! - [`error`]: the `CartError` JS errors.

pub mod cart;
pub mod connection;
pub mod convert;
pub mod error;
pub mod events;
pub mod server_link;
pub mod storage;
pub mod tabs;

pub use cart::Cart;
