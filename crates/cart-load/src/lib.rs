//! cart-load: simulated shoppers against cart-server (or any automerge-repo sync server), and
//! the check that no acknowledged add was lost.
//!
//! - [`plan`]: what a shopper does next (seeded), and durations like `40s`; sans IO.
//! - [`ledger`]: one shopper's changes, which the server acknowledged, and the lost-add check;
//!   sans IO.
//! - [`report`]: the figures, the printed report and its one-line summary; sans IO.
//! - [`mod@run`]: the IO: one tokio task and WebSocket per shopper, reconnects to the next server
//!   ([`shop`]), and the final read of every cart through a fresh client ([`check`]); [`run()`]
//!   is both on the same servers.
//!
//! Each shopper drives `cart_core::Cart` and `cart_core::session::ClientSession`, the code the
//! browser module runs, over a real WebSocket (automerge-repo protocol 1).

pub mod ledger;
pub mod plan;
pub mod report;
pub mod run;

pub use report::Report;
pub use run::{check, run, shop, Config, Shopped};
