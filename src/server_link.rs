//! The link between an open cart and its sync server: connects, reconnects with backoff (and at
//! once on the `online` event), feeds frames through [`ClientSession`], and answers `sync()`.
//!
//! Connectivity is judged by the socket: `navigator.onLine` can say "online" behind a captive
//! portal or with the server down, so a socket that fails or closes means offline, and only a
//! joined socket means online. The browser's `offline` event is believed, though: a socket
//! often stays open for minutes after the network is gone, so the cart drops it at once and
//! reports offline instead of pretending its changes are on their way.

use std::rc::Rc;

use cart_core::session::{random_peer_id, ClientSession, Notice};
use cart_core::CartId;
use js_sys::{Function, Promise};
use serde::Serialize;
use wasm_bindgen::JsValue;

use crate::cart::{emit, emit_status_if_changed, schedule_write, Shared};
use crate::connection::{Backoff, NetworkListener, Socket, Timer};
use crate::error::js_error;
use crate::events::{Event, Origin};

/// Code of `sync()` rejections when the server did not confirm in time.
pub const OFFLINE: &str = "offline";
/// Code of `sync()` rejections when the cart has no server.
pub const NO_SERVER: &str = "no_server";

/// The state of the connection to the server, as `status().connection` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Connection {
    /// No socket: never connected, or lost and waiting to retry (or no server at all).
    Offline,
    /// A socket is opening, or open and waiting for the server's `peer`.
    Connecting,
    /// Joined: changes flow both ways.
    Online,
}

/// A `sync()` call waiting for the server to confirm every local change.
struct SyncWaiter {
    id: u32,
    resolve: Function,
    reject: Function,
    _deadline: Timer,
}

/// Everything a cart keeps about its server.
pub struct ServerLink {
    url: String,
    session: ClientSession,
    socket: Option<Socket>,
    connection: Connection,
    backoff: Backoff,
    retry: Option<Timer>,
    _network: Option<NetworkListener>,
    last_synced_at: Option<f64>,
    waiters: Vec<SyncWaiter>,
    next_waiter: u32,
}

impl ServerLink {
    /// The connection state.
    pub fn connection(&self) -> Connection {
        self.connection
    }

    /// When the server last confirmed every local change (ms since the epoch).
    pub fn last_synced_at(&self) -> Option<f64> {
        self.last_synced_at
    }

    /// How many local changes the server has not confirmed.
    pub fn pending(&self, cart: &mut cart_core::Cart) -> u32 {
        self.session.unconfirmed(cart) as u32
    }
}

/// The `/sync` URL with the cart's key as the `key` query parameter.
fn url_with_key(server: &str, key: &str) -> String {
    let separator = if server.contains('?') { '&' } else { '?' };
    let key: String = js_sys::encode_uri_component(key).into();
    format!("{server}{separator}key={key}")
}

/// Links the cart to `server` and starts connecting.
pub(crate) fn start(shared: &Shared, id: &CartId, server: &str, key: &str) {
    let (on_online, on_offline) = (Rc::downgrade(shared), Rc::downgrade(shared));
    let network = NetworkListener::new(
        move || {
            if let Some(shared) = on_online.upgrade() {
                connect(&shared);
            }
        },
        move || {
            if let Some(shared) = on_offline.upgrade() {
                let connected = shared
                    .borrow()
                    .link
                    .as_ref()
                    .is_some_and(|l| l.socket.is_some());
                if connected {
                    disconnected(&shared);
                }
            }
        },
    );
    shared.borrow_mut().link = Some(ServerLink {
        url: url_with_key(server, key),
        session: ClientSession::new(id, random_peer_id(), None),
        socket: None,
        connection: Connection::Offline,
        backoff: Backoff::default(),
        retry: None,
        _network: network,
        last_synced_at: None,
        waiters: Vec::new(),
        next_waiter: 0,
    });
    connect(shared);
}

/// Opens a socket unless one is open or opening.
fn connect(shared: &Shared) {
    {
        let mut guard = shared.borrow_mut();
        let Some(link) = guard.link.as_mut() else {
            return;
        };
        link.retry = None;
        if link.socket.is_some() {
            return;
        }
        let (on_open, on_frame, on_close) = (
            Rc::downgrade(shared),
            Rc::downgrade(shared),
            Rc::downgrade(shared),
        );
        let opened = Socket::open(
            &link.url,
            move || {
                if let Some(shared) = on_open.upgrade() {
                    if let Some(link) = shared.borrow().link.as_ref() {
                        if let Some(socket) = &link.socket {
                            socket.send(&link.session.join());
                        }
                    }
                }
            },
            move |frame| {
                if let Some(shared) = on_frame.upgrade() {
                    receive(&shared, &frame);
                }
            },
            move || {
                if let Some(shared) = on_close.upgrade() {
                    disconnected(&shared);
                }
            },
        );
        match opened {
            Ok(socket) => {
                link.socket = Some(socket);
                link.connection = Connection::Connecting;
            }
            Err(e) => {
                web_sys::console::error_2(&"offline-cart: cannot open the sync socket".into(), &e);
            }
        }
    }
    emit_status_if_changed(shared);
}

/// The socket closed or failed: forget the connection and retry after the backoff.
fn disconnected(shared: &Shared) {
    {
        let mut guard = shared.borrow_mut();
        let Some(link) = guard.link.as_mut() else {
            return;
        };
        link.socket = None;
        link.session.disconnected();
        link.connection = Connection::Offline;
        let delay = link.backoff.next_delay_ms(js_sys::Math::random());
        let weak = Rc::downgrade(shared);
        link.retry = Some(Timer::after(delay, move || {
            if let Some(shared) = weak.upgrade() {
                connect(&shared);
            }
        }));
    }
    emit_status_if_changed(shared);
}

/// Handles one frame from the server.
fn receive(shared: &Shared, frame: &[u8]) {
    let (outcome, confirmed) = {
        let mut guard = shared.borrow_mut();
        let state = &mut *guard;
        let Some(link) = state.link.as_mut() else {
            return;
        };
        let outcome = link.session.receive(&mut state.cart, frame);
        if let Ok(received) = &outcome {
            if let Some(socket) = &link.socket {
                for reply in &received.replies {
                    socket.send(reply);
                }
            }
        }
        if link.session.is_connected() && link.connection != Connection::Online {
            link.connection = Connection::Online;
            link.backoff.reset();
        }
        let confirmed = if link.session.is_connected() && link.pending(&mut state.cart) == 0 {
            link.last_synced_at = Some(js_sys::Date::now());
            std::mem::take(&mut link.waiters)
        } else {
            Vec::new()
        };
        (outcome, confirmed)
    };
    match outcome {
        Ok(received) => {
            if received.changed {
                schedule_write(shared);
                emit(
                    shared,
                    Event::Change {
                        origin: Origin::Remote,
                    },
                );
            }
            if let Some(notice) = received.notice {
                let (code, message) = match notice {
                    Notice::Unavailable => (
                        "cart_unavailable",
                        "the server has no copy of this cart for this key yet; local changes will create it".to_string(),
                    ),
                    Notice::Refused { code, message } => (
                        "server_refused",
                        format!("the server refused a change ({}): {message}", code.unwrap_or_default()),
                    ),
                };
                emit(shared, Event::Warning { code, message });
            }
        }
        Err(e) => emit(
            shared,
            Event::Warning {
                code: "server_refused",
                message: e.message().to_string(),
            },
        ),
    }
    for waiter in confirmed {
        let _ = waiter.resolve.call0(&JsValue::UNDEFINED);
    }
    emit_status_if_changed(shared);
}

/// Sends what local changes (or changes merged from elsewhere) the server does not have yet.
pub(crate) fn push(shared: &Shared) {
    let mut guard = shared.borrow_mut();
    let state = &mut *guard;
    let Some(link) = state.link.as_mut() else {
        return;
    };
    let frames = link.session.local_change(&mut state.cart);
    if let Some(socket) = &link.socket {
        for frame in &frames {
            socket.send(frame);
        }
    }
}

/// A promise that resolves once the server holds every local change, and rejects with
/// `offline` when that does not happen within `timeout_ms`, or with `no_server`.
pub(crate) fn sync_promise(shared: &Shared, timeout_ms: f64) -> Promise {
    let shared = shared.clone();
    Promise::new(&mut |resolve, reject| {
        let mut guard = shared.borrow_mut();
        let state = &mut *guard;
        let Some(link) = state.link.as_mut() else {
            drop(guard);
            let _ = reject.call1(
                &JsValue::NULL,
                &js_error(
                    NO_SERVER,
                    "this cart was opened without a server; pass server to Cart.open to sync it",
                ),
            );
            return;
        };
        if link.session.is_connected() && link.pending(&mut state.cart) == 0 {
            drop(guard);
            let _ = resolve.call0(&JsValue::UNDEFINED);
            return;
        }
        link.next_waiter += 1;
        let id = link.next_waiter;
        let weak = Rc::downgrade(&shared);
        let deadline = Timer::after(timeout_ms, move || {
            let Some(shared) = weak.upgrade() else { return };
            let waiter = {
                let mut guard = shared.borrow_mut();
                let Some(link) = guard.link.as_mut() else {
                    return;
                };
                let index = link.waiters.iter().position(|w| w.id == id);
                index.map(|i| link.waiters.remove(i))
            };
            if let Some(waiter) = waiter {
                let message = format!(
                    "the server did not confirm the cart within {} s; it is saved on this device and syncs when the connection returns",
                    timeout_ms / 1000.0
                );
                let _ = waiter
                    .reject
                    .call1(&JsValue::NULL, &js_error(OFFLINE, &message));
            }
        });
        link.waiters.push(SyncWaiter {
            id,
            resolve,
            reject,
            _deadline: deadline,
        });
        let idle = link.socket.is_none();
        drop(guard);
        // A shopper asking to sync is a good moment to retry without waiting for the backoff.
        if idle {
            connect(&shared);
        }
    })
}

/// Rejects every waiting `sync()` with `error` (the cart is closing).
pub(crate) fn reject_waiters(link: ServerLink, error: &JsValue) {
    for waiter in link.waiters {
        let _ = waiter.reject.call1(&JsValue::NULL, error);
    }
}
