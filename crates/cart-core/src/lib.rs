//! cart-core: the offline-cart document and everything about it that needs no IO.
//!
//! - [`Cart`]: an Automerge document whose merges never lose an add (see [`schema`]).
//! - [`CartId`]: automerge-repo compatible document ids.
//! - [`chunk_bounds`]: how much work Automerge bytes may ask for, checked before loading them.
//! - [`validate`]: input checks whose errors say what to do.
//! - [`storage`]: the byte key/value [`storage::Storage`] trait, [`storage::MemoryStorage`] and
//!   the conformance suite every backend must pass.
//! - [`session`]: the client side of syncing a cart with a server, sans IO.
//! - [`link`]: the lifecycle of the connection to the server (connect, join, heartbeat,
//!   refusals, backoff), sans IO; it drives a [`session::ClientSession`].
//! - [`wire`]: automerge-repo's WebSocket protocol messages, as CBOR.
//! - [`chunks`]: the keys of stored chunks and the bookkeeping of which a writer loaded, owns
//!   and may compact away, shared by the browser's [`persist`] and the server.
//! - [`hex`]: the lower-case hexadecimal text of tags, hashes and ids.
//! - [`persist`]: how a cart is laid out in storage (snapshot plus incremental chunks) and
//!   compacted without losing another writer's chunks.
//!
//! The crate builds and tests natively; the browser binding and the server add the IO.

pub mod cart;
pub mod cart_id;
pub mod chunk_bounds;
pub mod chunks;
pub mod error;
#[cfg(feature = "conformance")]
pub mod fixtures;
pub mod hex;
mod incoming;
pub mod link;
pub mod persist;
pub mod schema;
pub mod session;
pub mod storage;
pub mod validate;
mod view;
pub mod wire;

pub use cart::{
    check_automerge_bytes, check_bounded_automerge_bytes, Cart, CurrencyTotal, Line, NewItem,
};
pub use cart_id::CartId;
pub use error::{CartError, ErrorCode};
