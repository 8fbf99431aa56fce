//! The IO of a cart's link to its sync server: the WebSocket, one timer, the `online` /
//! `offline` listeners and the `sync()` promises. Every decision (when to connect, retry, give
//! up, probe, resend after a refusal) is made by [`cart_core::link::Link`], natively tested;
//! this module performs the link's effects and feeds it the events of its IO.
//!
//! It knows nothing of the cart's other parts: the socket, timer and network callbacks hand an
//! [`Input`] to the function the cart gave at [`ServerLink::start`], and each call returns an
//! [`Outcome`] that the cart acts on (store, tell the page).

use std::rc::Rc;

use cart_core::link::{Blocked, Connection, Effect, Link, WarningCode};
use cart_core::session::random_peer_id;
use cart_core::{Cart, CartId};
use js_sys::{Function, Promise};
use wasm_bindgen::JsValue;

use crate::connection::{NetworkListener, Socket, Timer};
use crate::error::js_error;

/// Code of `sync()` rejections when the server did not confirm in time.
pub const OFFLINE: &str = "offline";
/// Code of `sync()` rejections when the cart has no server.
pub const NO_SERVER: &str = "no_server";

/// An event of the link's IO, handed back to [`ServerLink::handle`] by the cart.
#[derive(Debug)]
pub enum Input {
    /// The socket opened.
    Opened,
    /// A binary frame arrived.
    Frame(Vec<u8>),
    /// The socket closed or failed.
    Closed,
    /// The link's timer fired.
    Timer,
    /// The browser's `online` (true) or `offline` (false) event.
    Network(bool),
    /// The `sync()` call with this id ran out of time.
    SyncTimeout(u32),
}

/// What the cart must do after the link handled something.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The server's changes altered the cart: store it and tell the page.
    pub changed: bool,
    /// Warnings for the page.
    pub warnings: Vec<(WarningCode, String)>,
}

/// A `sync()` call waiting for the server to confirm every local change.
struct SyncWaiter {
    id: u32,
    resolve: Function,
    reject: Function,
    _deadline: Timer,
}

/// A cart's link to its server and the IO handles it holds; dropping it closes the socket,
/// clears the timer and removes the listeners.
pub struct ServerLink {
    /// The servers' URLs with the key, in the order the link numbers them.
    urls: Vec<String>,
    link: Link,
    socket: Option<Socket>,
    timer: Option<Timer>,
    _network: Option<NetworkListener>,
    input: Rc<dyn Fn(Input)>,
    waiters: Vec<SyncWaiter>,
    next_waiter: u32,
}

fn now() -> f64 {
    js_sys::Date::now()
}

/// The `/sync` URL with the cart's key as the `key` query parameter.
fn url_with_key(server: &str, key: &str) -> String {
    let separator = if server.contains('?') { '&' } else { '?' };
    let key: String = js_sys::encode_uri_component(key).into();
    format!("{server}{separator}key={key}")
}

impl ServerLink {
    /// Links cart `id` to `servers` (one or more instances, tried in turn) with `key` and starts
    /// connecting to the first. The IO's events go to `input`, which must hand them to
    /// [`ServerLink::handle`].
    pub fn start(
        id: &CartId,
        servers: &[String],
        key: &str,
        input: Rc<dyn Fn(Input)>,
    ) -> ServerLink {
        let seed = (js_sys::Math::random() * u64::MAX as f64) as u64;
        let (link, effects) = Link::new(id, random_peer_id(), servers.len(), seed, now());
        let (online, offline) = (input.clone(), input.clone());
        let mut server_link = ServerLink {
            urls: servers.iter().map(|s| url_with_key(s, key)).collect(),
            link,
            socket: None,
            timer: None,
            _network: NetworkListener::new(
                move || online(Input::Network(true)),
                move || offline(Input::Network(false)),
            ),
            input,
            waiters: Vec::new(),
            next_waiter: 0,
        };
        // Opening a socket reports nothing synchronously, so there is no outcome yet.
        let _ = server_link.perform(None, effects);
        server_link
    }

    /// The connection state.
    pub fn connection(&self) -> Connection {
        self.link.connection()
    }

    /// Why the server does not take this cart's changes, if it does not.
    pub fn blocked(&self) -> Option<&Blocked> {
        self.link.blocked()
    }

    /// When the server last confirmed every local change (ms since the epoch).
    pub fn last_synced_at(&self) -> Option<f64> {
        self.link.last_synced_at()
    }

    /// How many local changes the server has not confirmed.
    pub fn pending(&self, cart: &mut Cart) -> u32 {
        self.link.pending(cart) as u32
    }

    /// Handles one event of the IO.
    pub fn handle(&mut self, cart: &mut Cart, input: Input) -> Outcome {
        let now = now();
        let effects = match input {
            Input::Opened => self.link.opened(now),
            Input::Frame(frame) => self.link.received(cart, &frame, now),
            Input::Closed => {
                self.socket = None;
                self.link.closed(now)
            }
            Input::Timer => self.link.tick(cart, now),
            Input::Network(online) => self.link.network(online, now),
            Input::SyncTimeout(id) => {
                self.expire(id);
                Vec::new()
            }
        };
        self.perform(Some(cart), effects)
    }

    /// The cart changed locally: offer the change to the server.
    pub fn local_change(&mut self, cart: &mut Cart) -> Outcome {
        let effects = self.link.local_change(cart);
        self.perform(Some(cart), effects)
    }

    /// Resolves `resolve` once the server holds every local change, or calls `reject` with an
    /// `offline` error after `timeout_ms`. Retries a waiting connection at once.
    pub fn wait_for_server(
        &mut self,
        cart: &mut Cart,
        resolve: Function,
        reject: Function,
        timeout_ms: f64,
    ) -> Outcome {
        if self.link.is_confirmed(cart) {
            let _ = resolve.call0(&JsValue::UNDEFINED);
            return Outcome::default();
        }
        self.next_waiter += 1;
        let id = self.next_waiter;
        let input = self.input.clone();
        self.waiters.push(SyncWaiter {
            id,
            resolve,
            reject,
            _deadline: Timer::after(timeout_ms, move || input(Input::SyncTimeout(id))),
        });
        let effects = self.link.hurry(now());
        self.perform(Some(cart), effects)
    }

    /// Rejects every waiting `sync()` with `error` (the cart is closing) and drops the link.
    pub fn close(self, error: &JsValue) {
        for waiter in self.waiters {
            let _ = waiter.reject.call1(&JsValue::NULL, error);
        }
    }

    /// Performs the link's effects (the socket ones here, the cart's ones into the outcome),
    /// resolves the `sync()` calls the server has now satisfied, and arms the timer.
    fn perform(&mut self, cart: Option<&mut Cart>, effects: Vec<Effect>) -> Outcome {
        let mut outcome = Outcome::default();
        let mut queue: std::collections::VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Open { server } => {
                    self.socket = None;
                    match self.open_socket(server) {
                        Ok(socket) => self.socket = Some(socket),
                        Err(e) => {
                            web_sys::console::error_2(
                                &"offline-cart: cannot open the sync socket".into(),
                                &e,
                            );
                            queue.extend(self.link.closed(now()));
                        }
                    }
                }
                Effect::Send(frame) => {
                    if let Some(socket) = &self.socket {
                        socket.send(&frame);
                    }
                }
                Effect::Close => self.socket = None,
                Effect::CartChanged => outcome.changed = true,
                Effect::Warn { code, message } => outcome.warnings.push((code, message)),
            }
        }
        if let Some(cart) = cart {
            // The check walks the change graph: only when someone waits.
            if !self.waiters.is_empty() && self.link.is_confirmed(cart) {
                for waiter in std::mem::take(&mut self.waiters) {
                    let _ = waiter.resolve.call0(&JsValue::UNDEFINED);
                }
            }
        }
        self.arm_timer();
        outcome
    }

    fn open_socket(&self, server: usize) -> Result<Socket, JsValue> {
        let (opened, frame, closed) = (self.input.clone(), self.input.clone(), self.input.clone());
        Socket::open(
            &self.urls[server % self.urls.len()],
            move || opened(Input::Opened),
            move |bytes| frame(Input::Frame(bytes)),
            move || closed(Input::Closed),
        )
    }

    /// Keeps one timer armed at the link's next deadline.
    fn arm_timer(&mut self) {
        self.timer = self.link.next_deadline().map(|at| {
            let input = self.input.clone();
            Timer::after((at - now()).max(0.0), move || input(Input::Timer))
        });
    }

    /// Rejects the `sync()` call `id` with `offline`.
    fn expire(&mut self, id: u32) {
        let Some(index) = self.waiters.iter().position(|w| w.id == id) else {
            return;
        };
        let waiter = self.waiters.remove(index);
        let message = "the server did not confirm the cart in time; it is saved on this device and syncs when the connection returns";
        let _ = waiter
            .reject
            .call1(&JsValue::NULL, &js_error(OFFLINE, message));
    }
}

/// A promise for `sync()` on a cart without a server: rejects with `no_server`.
pub fn no_server() -> Promise {
    Promise::reject(&js_error(
        NO_SERVER,
        "this cart was opened without a server; pass server to Cart.open to sync it",
    ))
}
