//! What `subscribe` callbacks receive, and the list of callbacks.

use serde::Serialize;
use wasm_bindgen::JsValue;

use crate::convert::to_js;

/// The status a page shows: "saved on this device" (`unsaved == 0`) versus "saved to your
/// account" (`pending == 0` while `online`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The backend in use.
    pub storage: &'static str,
    /// Local edits not yet durably stored on this device.
    pub unsaved: u32,
    /// The connection to the sync server: `offline`, `connecting` or `online` (`offline` when
    /// the cart has none).
    pub connection: &'static str,
    /// Local changes the server has not confirmed yet.
    pub pending: u32,
    /// Why the server does not take this cart's changes, until it confirms them all: a
    /// permanent refusal code (`too_many_lines`, `document_too_large`, `schema_violation`,
    /// `change_too_large`) or `wrong_key`; `null` otherwise.
    pub blocked: Option<&'static str>,
    /// When the server last confirmed every local change, ms since the epoch; `null` before.
    pub last_synced_at: Option<f64>,
}

/// Where a change came from.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// An edit made through this `Cart` object.
    Local,
    /// Changes merged from another tab or another copy of the cart.
    Remote,
}

/// One event, serialized as `{ type: "change" | "status" | "warning", ... }`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    /// The lines may have changed.
    Change {
        /// Who changed them.
        origin: Origin,
    },
    /// The status changed.
    Status {
        /// The new status.
        status: Status,
    },
    /// Something went wrong that the cart worked around; the page may want to tell the shopper.
    Warning {
        /// Stable code: `storage_fallback`, `corrupt_chunk`, `tab_sync_failed`,
        /// `cart_unavailable`, `wrong_key`, `server_refused`, `sync_blocked`, `bad_frame`.
        code: &'static str,
        /// What happened.
        message: String,
    },
}

/// The callbacks of one cart, and warnings raised before anyone subscribed.
#[derive(Default)]
pub struct Listeners {
    next_id: u32,
    callbacks: Vec<(u32, js_sys::Function)>,
    undelivered: Vec<JsValue>,
}

impl Listeners {
    /// Adds `callback`; returns its id and the warnings nobody has seen yet, which the caller
    /// delivers to it.
    pub fn add(&mut self, callback: js_sys::Function) -> (u32, Vec<JsValue>) {
        self.next_id += 1;
        self.callbacks.push((self.next_id, callback));
        (self.next_id, std::mem::take(&mut self.undelivered))
    }

    /// Removes the callback with `id`; removing it twice does nothing.
    pub fn remove(&mut self, id: u32) {
        self.callbacks.retain(|(other, _)| *other != id);
    }

    /// The callbacks to call with `event`. A warning with no callback yet is kept for the
    /// first subscriber, so warnings raised while opening are not lost.
    pub fn prepare(&mut self, event: &Event) -> (Vec<js_sys::Function>, JsValue) {
        let value = to_js(event);
        if self.callbacks.is_empty() && matches!(event, Event::Warning { .. }) {
            self.undelivered.push(value.clone());
        }
        (
            self.callbacks.iter().map(|(_, f)| f.clone()).collect(),
            value,
        )
    }
}

/// Calls each callback with `value`. A callback that throws is reported on the console and
/// does not stop the others or the cart.
pub fn deliver(callbacks: &[js_sys::Function], value: &JsValue) {
    for callback in callbacks {
        if let Err(e) = callback.call1(&JsValue::NULL, value) {
            web_sys::console::error_2(&"offline-cart: a subscribe callback threw".into(), &e);
        }
    }
}
