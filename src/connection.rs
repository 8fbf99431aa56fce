//! The IO handles of syncing with a server: a WebSocket whose events become callbacks, timers
//! and the `online` / `offline` events. Every handle here cleans up on drop
//! (closes the socket, clears the timer, removes the listener), so dropping the state that
//! owns them is enough to stop them.

use js_sys::{ArrayBuffer, Function, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, EventTarget, MessageEvent, WebSocket};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(callback: &Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
}

/// An open (or opening) WebSocket with binary frames.
pub struct Socket {
    socket: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut()>,
}

impl Socket {
    /// Connects to `url`. `on_open` runs when the socket opens, `on_frame` for every binary
    /// frame, `on_close` once when it closes or fails to connect (a socket that errors always
    /// closes too). Errs when the URL is not a valid WebSocket URL.
    pub fn open(
        url: &str,
        on_open: impl FnMut() + 'static,
        mut on_frame: impl FnMut(Vec<u8>) + 'static,
        on_close: impl FnMut() + 'static,
    ) -> Result<Socket, JsValue> {
        let socket = WebSocket::new(url)?;
        socket.set_binary_type(BinaryType::Arraybuffer);
        let on_open = Closure::<dyn FnMut()>::new(on_open);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Ok(buffer) = event.data().dyn_into::<ArrayBuffer>() {
                on_frame(Uint8Array::new(&buffer).to_vec());
            }
        });
        let on_close = Closure::<dyn FnMut()>::new(on_close);
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Socket {
            socket,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    /// Sends one binary frame; a socket that is not open drops it (the sync protocol resends
    /// whatever the server turns out to lack after the next `join`).
    pub fn send(&self, frame: &[u8]) {
        if self.socket.ready_state() == WebSocket::OPEN {
            let _ = self.socket.send_with_u8_array(frame);
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.socket.set_onopen(None);
        self.socket.set_onmessage(None);
        self.socket.set_onclose(None);
        let _ = self.socket.close();
    }
}

/// A `setTimeout` that is cleared when dropped.
pub struct Timer {
    id: JsValue,
    _callback: Closure<dyn FnMut()>,
}

impl Timer {
    /// Runs `callback` once after `ms` milliseconds, unless the timer is dropped first.
    pub fn after(ms: f64, callback: impl FnOnce() + 'static) -> Timer {
        let mut callback = Some(callback);
        let callback = Closure::<dyn FnMut()>::new(move || {
            if let Some(f) = callback.take() {
                f();
            }
        });
        let id = set_timeout(callback.as_ref().unchecked_ref(), ms);
        Timer {
            id,
            _callback: callback,
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        clear_timeout(&self.id);
    }
}

/// Listeners for the global `online` and `offline` events, removed when dropped.
pub struct NetworkListener {
    target: EventTarget,
    online: Closure<dyn FnMut()>,
    offline: Closure<dyn FnMut()>,
}

impl NetworkListener {
    /// Calls `on_online` whenever the browser says it is back online and `on_offline` when it
    /// says it lost the network. `None` where the global object has no events (the cart then
    /// relies on its socket and reconnect timer alone).
    pub fn new(
        on_online: impl FnMut() + 'static,
        on_offline: impl FnMut() + 'static,
    ) -> Option<NetworkListener> {
        let target = js_sys::global().dyn_into::<EventTarget>().ok()?;
        let online = Closure::<dyn FnMut()>::new(on_online);
        let offline = Closure::<dyn FnMut()>::new(on_offline);
        target
            .add_event_listener_with_callback("online", online.as_ref().unchecked_ref())
            .ok()?;
        target
            .add_event_listener_with_callback("offline", offline.as_ref().unchecked_ref())
            .ok()?;
        Some(NetworkListener {
            target,
            online,
            offline,
        })
    }
}

impl Drop for NetworkListener {
    fn drop(&mut self) {
        for (event, callback) in [("online", &self.online), ("offline", &self.offline)] {
            let _ = self
                .target
                .remove_event_listener_with_callback(event, callback.as_ref().unchecked_ref());
        }
    }
}
