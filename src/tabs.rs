//! Tabs of one browser see each other's changes without reload: after a write is durable, the
//! cart posts the chunk it wrote on a BroadcastChannel named after the cart, and every other
//! `Cart` of that cart id (other tabs, or other instances in this page) merges it.

use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent};

use crate::storage::StorageKind;

/// A chunk another `Cart` of this cart wrote.
pub struct TabMessage {
    /// The backend it was written to.
    pub storage: Option<StorageKind>,
    /// The Automerge bytes.
    pub bytes: Vec<u8>,
}

impl TabMessage {
    fn parse(data: &JsValue) -> Option<TabMessage> {
        let bytes = Reflect::get(data, &"bytes".into())
            .ok()?
            .dyn_into::<Uint8Array>()
            .ok()?;
        let storage = Reflect::get(data, &"storage".into())
            .ok()
            .and_then(|s| s.as_string())
            .and_then(|s| StorageKind::parse(&s));
        Some(TabMessage {
            storage,
            bytes: bytes.to_vec(),
        })
    }
}

/// The channel of one cart.
pub struct TabChannel {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl TabChannel {
    /// Joins the channel of `cart_id`; `on_message` receives what other carts post. `None` where
    /// the browser has no BroadcastChannel (the cart then works without live tab updates).
    pub fn open(
        cart_id: &str,
        mut on_message: impl FnMut(TabMessage) + 'static,
    ) -> Option<TabChannel> {
        let channel = BroadcastChannel::new(&format!("offline-cart:{cart_id}")).ok()?;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(message) = TabMessage::parse(&event.data()) {
                on_message(message);
            }
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Some(TabChannel {
            channel,
            _on_message: on_message,
        })
    }

    /// Tells the other carts that `bytes` are now durable in `storage`.
    pub fn post(&self, storage: StorageKind, bytes: &[u8]) {
        let message = Object::new();
        // Setting properties on a fresh object cannot fail.
        let _ = Reflect::set(&message, &"storage".into(), &storage.as_str().into());
        let _ = Reflect::set(&message, &"bytes".into(), &Uint8Array::from(bytes));
        if let Err(e) = self.channel.post_message(&message) {
            web_sys::console::warn_2(
                &"offline-cart: could not tell other tabs about a change".into(),
                &e,
            );
        }
    }
}

/// Leaving the channel when the cart lets go of it (`close()`): an open BroadcastChannel keeps
/// a Node process alive, and keeps a page's channel open until garbage collection.
impl Drop for TabChannel {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}
