//! The JS `Cart` class: a newtype over [`cart_core::Cart`] plus the IO around it.
//!
//! Every edit applies to the document at once and returns; a single write loop per cart then
//! stores the new changes, one chunk per storage transaction, in order. Events are delivered
//! after the cart's state is released, so callbacks may call back into the cart.

use std::cell::RefCell;
use std::rc::Rc;

use cart_core::persist::{migrate, Persister};
use cart_core::session::random_key;
use cart_core::storage::{Storage, StorageOp};
use cart_core::{CartError, CartId};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local, JsFuture};

use crate::convert;
use crate::error::{self, from_core};
use crate::events::{deliver, Event, Listeners, Origin, Status};
use crate::server_link::{self, Input, Outcome, ServerLink};
use crate::storage::{Backend, Fallback, StorageKind};
use crate::tabs::{TabChannel, TabMessage};

/// Everything one open cart holds.
pub(crate) struct State {
    pub(crate) cart: cart_core::Cart,
    /// The cart's secret for the sync server.
    key: String,
    /// The sync server, when the cart has one.
    pub(crate) link: Option<ServerLink>,
    persister: Persister,
    backend: Backend,
    tabs: Option<TabChannel>,
    listeners: Listeners,
    /// A write loop is running.
    writing: bool,
    /// `flush()` promises waiting for the write loop to go idle.
    flush_waiters: Vec<Function>,
    /// Local edits made, and how many of them are durable.
    edits: u32,
    saved_edits: u32,
    last_status: Status,
    closed: bool,
    /// Bumped by every change to the cart, local or merged (see [`changed`]).
    revision: u64,
    /// `items()` as last returned, frozen, with the revision it was built at: a listing is
    /// converted to JS once per change, not once per read.
    listing: Option<(u64, JsValue)>,
    /// `snapshot()` as last returned, with its parts and what it was built at.
    snapshot: Option<SnapshotCache>,
}

/// A built `snapshot()`: reused while the revision and the status stay the same; its totals
/// are reused while the revision does, its status while the status does.
struct SnapshotCache {
    revision: u64,
    status: Status,
    totals: JsValue,
    status_value: JsValue,
    value: JsValue,
}

impl State {
    /// The frozen `items()` array, converted once per revision.
    fn listing(&mut self) -> JsValue {
        match &self.listing {
            Some((revision, items)) if *revision == self.revision => items.clone(),
            _ => {
                let items = convert::frozen_lines(&self.cart.lines());
                self.listing = Some((self.revision, items.clone()));
                items
            }
        }
    }

    /// The frozen `CartSnapshot`: the cached one while neither the revision nor the status
    /// changed, else a new one that keeps each unchanged part of the old.
    fn snapshot(&mut self) -> JsValue {
        let status = self.status();
        let cached = self.snapshot.as_ref();
        if let Some(c) = cached.filter(|c| c.revision == self.revision && c.status == status) {
            return c.value.clone();
        }
        let totals = match cached {
            Some(c) if c.revision == self.revision => c.totals.clone(),
            _ => convert::frozen_totals(&self.cart.totals()),
        };
        let status_value = match cached {
            Some(c) if c.status == status => c.status_value.clone(),
            _ => convert::frozen_status(&status),
        };
        let items = self.listing();
        let item_count = self.cart.item_count() as f64;
        let value = convert::snapshot(&items, &totals, item_count, &status_value);
        self.snapshot = Some(SnapshotCache {
            revision: self.revision,
            status,
            totals,
            status_value,
            value: value.clone(),
        });
        value
    }

    fn status(&mut self) -> Status {
        let (connection, pending, blocked, last_synced_at) = match &self.link {
            Some(link) => (
                link.connection().as_str(),
                link.pending(&mut self.cart),
                link.blocked().map(|b| b.code()),
                link.last_synced_at(),
            ),
            None => ("offline", 0, None, None),
        };
        Status {
            storage: self.backend.kind().as_str(),
            unsaved: self.edits - self.saved_edits,
            connection,
            pending,
            blocked,
            last_synced_at,
        }
    }
}

/// One open cart, shared by the JS object and the callbacks of its IO.
pub(crate) type Shared = Rc<RefCell<State>>;

fn js_now() -> i64 {
    js_sys::Date::now() as i64
}

/// The cart changed (a local edit, or changes merged from a tab, the server or `merge`): bumps
/// the revision, stores the change and tells the subscribers.
fn changed(shared: &Shared, origin: Origin) {
    shared.borrow_mut().revision += 1;
    schedule_write(shared);
    emit(shared, Event::Change { origin });
}

pub(crate) fn emit(shared: &Shared, event: Event) {
    let (callbacks, value) = shared.borrow_mut().listeners.prepare(&event);
    deliver(&callbacks, &value);
}

pub(crate) fn emit_status_if_changed(shared: &Shared) {
    let changed = {
        let mut s = shared.borrow_mut();
        let status = s.status();
        (s.last_status != status).then(|| {
            s.last_status = status;
            status
        })
    };
    if let Some(status) = changed {
        emit(shared, Event::Status { status });
    }
}

fn warn_fallbacks(shared: &Shared, fallbacks: Vec<Fallback>) {
    let now = shared.borrow().backend.kind();
    for (i, fallback) in fallbacks.iter().enumerate() {
        let to = fallbacks.get(i + 1).map_or(now, |next| next.from);
        emit(
            shared,
            Event::Warning {
                code: "storage_fallback",
                message: fallback.message(to),
            },
        );
    }
}

/// Runs `step` on the server link (when the cart has one) and the cart, then, with the cart
/// released, stores and announces what the server changed, passes on the link's warnings and
/// reports the status.
fn drive_link(
    shared: &Shared,
    step: impl FnOnce(&mut ServerLink, &mut cart_core::Cart) -> Outcome,
) {
    let outcome = {
        let mut guard = shared.borrow_mut();
        let s = &mut *guard;
        s.link.as_mut().map(|link| step(link, &mut s.cart))
    };
    let outcome = outcome.unwrap_or_default();
    if outcome.changed {
        changed(shared, Origin::Remote);
    }
    for (code, message) in outcome.warnings {
        emit(
            shared,
            Event::Warning {
                code: code.as_str(),
                message,
            },
        );
    }
    emit_status_if_changed(shared);
}

/// A promise that resolves once the server holds every local change, and rejects with
/// `offline` when that does not happen within `timeout_ms`, or with `no_server`.
fn sync_promise(shared: &Shared, timeout_ms: f64) -> Promise {
    if shared.borrow().link.is_none() {
        return server_link::no_server();
    }
    let shared = shared.clone();
    Promise::new(&mut |resolve, reject| {
        drive_link(&shared, |link, cart| {
            link.wait_for_server(cart, resolve, reject, timeout_ms)
        });
    })
}

/// Starts the write loop unless it is running.
pub(crate) fn schedule_write(shared: &Shared) {
    let start = !std::mem::replace(&mut shared.borrow_mut().writing, true);
    if start {
        spawn_local(write_loop(shared.clone()));
    }
}

/// Writes until storage holds every change, then resolves the `flush()` promises.
async fn write_loop(shared: Shared) {
    loop {
        let next = {
            let mut guard = shared.borrow_mut();
            let s = &mut *guard;
            s.persister
                .next_write(&mut s.cart)
                .map(|write| (write, s.backend.clone(), s.edits))
        };
        let Some((write, backend, edits)) = next else {
            let waiters = {
                let mut s = shared.borrow_mut();
                s.writing = false;
                std::mem::take(&mut s.flush_waiters)
            };
            for resolve in waiters {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
            return;
        };
        match backend.apply(write.ops()).await {
            Ok(()) => {
                let mut s = shared.borrow_mut();
                if let (Some(tabs), Some(StorageOp::Put { value, .. })) =
                    (&s.tabs, write.ops().first())
                {
                    tabs.post(backend.kind(), value);
                }
                s.persister.committed(write);
                s.saved_edits = edits;
            }
            Err(failure) => {
                let (next_backend, fallbacks) = backend.after_failure(failure).await;
                {
                    let mut s = shared.borrow_mut();
                    s.persister = Persister::fresh(*s.cart.id());
                    s.backend = next_backend;
                }
                warn_fallbacks(&shared, fallbacks);
            }
        }
        emit_status_if_changed(&shared);
    }
}

/// A promise that resolves once storage holds every change made so far.
fn flush_promise(shared: &Shared) -> Promise {
    let shared = shared.clone();
    Promise::new(&mut |resolve, _reject| {
        let idle = {
            let mut guard = shared.borrow_mut();
            let s = &mut *guard;
            let idle = !s.writing && !s.persister.has_unsaved(&mut s.cart);
            if !idle {
                s.flush_waiters.push(resolve.clone());
            }
            idle
        };
        if idle {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        } else {
            schedule_write(&shared);
        }
    })
}

/// Merges a chunk another `Cart` of this cart stored and announced.
fn merge_from_tab(shared: &Shared, message: TabMessage) {
    let outcome = {
        let mut guard = shared.borrow_mut();
        let s = &mut *guard;
        if s.closed {
            return;
        }
        let had_unsaved = s.persister.has_unsaved(&mut s.cart);
        s.cart.merge_bytes(&message.bytes).inspect(|&changed| {
            let kind = s.backend.kind();
            let shared_storage = message.storage == Some(kind) && kind != StorageKind::Memory;
            if changed && shared_storage && !had_unsaved {
                let heads = s.cart.heads();
                s.persister.mark_durable(heads);
            }
        })
    };
    match outcome {
        Ok(true) => changed(shared, Origin::Remote),
        Ok(false) => {}
        Err(e) => emit(
            shared,
            Event::Warning {
                code: "tab_sync_failed",
                message: format!("a change from another tab was ignored: {}", e.message()),
            },
        ),
    }
}

/// A shopping cart that never refuses an add: an Automerge document kept in IndexedDB (or
/// localStorage, or memory), shared live between the tabs of this browser.
#[wasm_bindgen]
pub struct Cart {
    shared: Shared,
    id: String,
}

#[wasm_bindgen]
impl Cart {
    /// Opens the cart `options.cartId`, or a new cart with a random id, from `options.storage`
    /// (default `"indexeddb"`; falls back to localStorage, then memory, with a `warning` event).
    /// Chunks that an earlier IndexedDB failure sent to localStorage are read too, and moved
    /// back to IndexedDB.
    /// Chunks that cannot be read are skipped with a `warning` event; the rest of the cart loads.
    /// With `options.server` the cart connects to that sync server and keeps connecting until
    /// it succeeds (given several instances, to each in turn); it works offline all the while. Rejects with a `CartError` only for invalid
    /// options.
    pub async fn open(
        #[wasm_bindgen(unchecked_param_type = "OpenOptions")] options: Option<JsValue>,
    ) -> Result<Cart, JsValue> {
        let options = convert::open_options(options)?;
        let id = match options.cart_id {
            Some(id) => id,
            None => CartId::random().map_err(from_core)?,
        };
        let (mut backend, mut fallbacks) = Backend::open(options.storage).await;
        // Chunks written after an earlier failure may sit in a backend after this one: read
        // them too, and move them back here.
        let restored = loop {
            let others = backend.fallbacks().await;
            match migrate::open(&backend, &others, id).await {
                Ok(restored) => break restored,
                Err(failure) => {
                    let (next, more) = backend.after_failure(failure).await;
                    backend = next;
                    fallbacks.extend(more);
                }
            }
        };
        let stored_key = restored.key;
        let key = match (options.key, &stored_key) {
            (Some(given), _) => given,
            (None, Some(stored)) => stored.clone(),
            (None, None) => random_key().map_err(from_core)?,
        };
        if stored_key.as_deref() != Some(key.as_str()) {
            // Keep the key with the cart so that reopening presents the same one. Should this
            // write fail, the key still works for this session; the write loop's fallback
            // handles the storage itself.
            let _ = backend.apply(&[Persister::key_write(&id, &key)]).await;
        }
        let state = State {
            cart: restored.cart.with_clock(js_now),
            key,
            link: None,
            persister: restored.persister,
            last_status: Status {
                storage: backend.kind().as_str(),
                unsaved: 0,
                connection: "offline",
                pending: 0,
                blocked: None,
                last_synced_at: None,
            },
            backend,
            tabs: None,
            listeners: Listeners::default(),
            writing: false,
            flush_waiters: Vec::new(),
            edits: 0,
            saved_edits: 0,
            closed: false,
            revision: 0,
            listing: None,
            snapshot: None,
        };
        let shared = Rc::new(RefCell::new(state));
        let weak = Rc::downgrade(&shared);
        let tabs = TabChannel::open(&id.to_string(), move |message| {
            if let Some(shared) = weak.upgrade() {
                merge_from_tab(&shared, message);
            }
        });
        shared.borrow_mut().tabs = tabs;
        warn_fallbacks(&shared, fallbacks);
        for chunk in restored.skipped {
            emit(
                &shared,
                Event::Warning {
                    code: "corrupt_chunk",
                    message: format!(
                        "stored chunk {} could not be read and was skipped (it is kept): {}",
                        chunk.key.join("/"),
                        chunk.reason
                    ),
                },
            );
        }
        if !options.servers.is_empty() {
            let key = shared.borrow().key.clone();
            let weak = Rc::downgrade(&shared);
            let input = Rc::new(move |input: Input| {
                if let Some(shared) = weak.upgrade() {
                    drive_link(&shared, |link, cart| link.handle(cart, input));
                }
            });
            let link = ServerLink::start(&id, &options.servers, &key, input);
            shared.borrow_mut().link = Some(link);
            emit_status_if_changed(&shared);
        }
        Ok(Cart {
            shared,
            id: id.to_string(),
        })
    }

    /// The cart's secret for the sync server. Another device opens the same cart with
    /// `{ cartId, key }`; keep it as private as a session cookie.
    #[wasm_bindgen(getter)]
    pub fn key(&self) -> String {
        self.shared.borrow().key.clone()
    }

    /// Resolves once the server holds every local change. Rejects with a `CartError` whose code
    /// is `offline` when that does not happen within `timeoutMs` (default 10 000), or
    /// `no_server` when the cart was opened without a server. The cart stays fully usable.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn sync(&self, #[wasm_bindgen(js_name = timeoutMs)] timeout_ms: Option<f64>) -> Promise {
        sync_promise(&self.shared, timeout_ms.unwrap_or(10_000.0))
    }

    /// The cart id (an automerge-repo document id).
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        self.id.clone()
    }

    /// Adds `item.quantity` (default 1) units of `item.sku`. With `item.tag`, an add whose tag
    /// the cart already shows changes nothing (a replayed outbox entry counts once). Throws a
    /// `CartError` for invalid input (`invalid_item` for a bad tag), changing nothing.
    #[wasm_bindgen(js_name = addItem)]
    pub fn add_item(
        &self,
        #[wasm_bindgen(unchecked_param_type = "NewItem")] item: JsValue,
    ) -> Result<(), JsValue> {
        let convert::ItemAdd { item, tag } = convert::new_item(item)?;
        self.edit(Origin::Local, |cart| match &tag {
            Some(tag) => cart.add_item_tagged(&item, tag).map(|_| ()),
            None => cart.add_item(&item),
        })
    }

    /// Sets the quantity of the line for `sku` (0 removes it). Throws for a quantity outside
    /// 0..=999 or a sku that has no line.
    #[wasm_bindgen(js_name = setQuantity)]
    pub fn set_quantity(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] sku: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] quantity: JsValue,
    ) -> Result<(), JsValue> {
        let sku = convert::sku(&sku)?;
        let quantity = convert::quantity(&quantity)?;
        self.edit(Origin::Local, |cart| cart.set_quantity(&sku, quantity))
    }

    /// Removes the line for `sku`; returns whether there was one.
    #[wasm_bindgen(js_name = removeItem)]
    pub fn remove_item(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] sku: JsValue,
    ) -> Result<bool, JsValue> {
        let sku = convert::sku(&sku)?;
        self.edit(Origin::Local, |cart| cart.remove_item(&sku))
    }

    /// Removes every line; returns how many were removed.
    pub fn clear(&self) -> Result<u32, JsValue> {
        self.edit(Origin::Local, |cart| cart.clear().map(|n| n as u32))
    }

    /// The lines, first added first. The array and its lines are frozen: the same array is
    /// returned until the cart changes, so reading it on every render costs nothing.
    #[wasm_bindgen(unchecked_return_type = "readonly Readonly<CartLine>[]")]
    pub fn items(&self) -> JsValue {
        self.shared.borrow_mut().listing()
    }

    /// `{ items, totals, itemCount, status }`, frozen: the same object until the cart changes
    /// (its revision: an edit, a merge, a change from another tab or the server) or its status
    /// does, so a UI can compare snapshots by identity (React's `useSyncExternalStore`).
    /// `items` and `totals` keep their identity while the lines are unchanged, `status` while
    /// the status is.
    #[wasm_bindgen(unchecked_return_type = "CartSnapshot")]
    pub fn snapshot(&self) -> JsValue {
        self.shared.borrow_mut().snapshot()
    }

    /// The totals per currency, ordered by currency code.
    #[wasm_bindgen(unchecked_return_type = "CurrencyTotal[]")]
    pub fn totals(&self) -> JsValue {
        convert::totals(&self.shared.borrow().cart.totals())
    }

    /// The document heads: hex hashes of the latest changes, naming exactly this state of the
    /// cart. Checkout sends them so that the server prices what the shopper saw.
    #[wasm_bindgen(unchecked_return_type = "string[]")]
    pub fn heads(&self) -> JsValue {
        let heads = self.shared.borrow_mut().cart.heads();
        heads
            .iter()
            .map(|hash| JsValue::from_str(&hash.to_string()))
            .collect::<js_sys::Array>()
            .into()
    }

    /// The number of units in the cart.
    #[wasm_bindgen(js_name = itemCount)]
    pub fn item_count(&self) -> f64 {
        self.shared.borrow().cart.item_count() as f64
    }

    /// Calls `callback` with every `CartEvent`; returns a function that unsubscribes.
    /// Warnings raised before anyone subscribed (for example while opening) go to the first
    /// subscriber during this call, before it returns: a callback that unsubscribes must not
    /// count on the returned function being assigned yet.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(event: CartEvent) => void")] callback: Function,
    ) -> JsValue {
        let (id, backlog) = self.shared.borrow_mut().listeners.add(callback.clone());
        for warning in backlog {
            deliver(std::slice::from_ref(&callback), &warning);
        }
        let weak = Rc::downgrade(&self.shared);
        Closure::<dyn FnMut()>::new(move || {
            if let Some(shared) = weak.upgrade() {
                shared.borrow_mut().listeners.remove(id);
            }
        })
        .into_js_value()
    }

    /// Resolves once every change made so far is committed to storage (in memory, when the
    /// cart had to fall back to it: see `status().storage`).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn flush(&self) -> Promise {
        flush_promise(&self.shared)
    }

    /// The whole cart as Automerge bytes, for `merge` on another device or for any Automerge
    /// implementation.
    pub fn save(&self) -> Vec<u8> {
        self.shared.borrow_mut().cart.save()
    }

    /// Merges Automerge bytes of this cart (for example `save()` from another device); returns
    /// whether anything changed. Throws `corrupt_data` or `wrong_cart`, changing nothing.
    pub fn merge(&self, bytes: &[u8]) -> Result<bool, JsValue> {
        self.edit(Origin::Remote, |cart| cart.merge_bytes(bytes))
    }

    /// Where the cart is saved: `storage` and `unsaved` for this device; `connection`,
    /// `pending` and `lastSyncedAt` for the server.
    #[wasm_bindgen(unchecked_return_type = "CartStatus")]
    pub fn status(&self) -> JsValue {
        convert::to_js(&self.shared.borrow_mut().status())
    }

    /// Flushes, then releases storage, the tab channel and the server connection (waiting
    /// `sync()` calls reject with `cart_closed`). Later edits throw `cart_closed`; reads keep
    /// working. Closing twice is harmless.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        let shared = self.shared.clone();
        future_to_promise(async move {
            JsFuture::from(flush_promise(&shared)).await?;
            let link = {
                let mut s = shared.borrow_mut();
                if !s.closed {
                    s.closed = true;
                    // Dropping the channel leaves it (TabChannel closes on drop).
                    s.tabs = None;
                    s.backend.close();
                }
                s.link.take()
            };
            if let Some(link) = link {
                link.close(&error::closed());
            }
            emit_status_if_changed(&shared);
            Ok(JsValue::UNDEFINED)
        })
    }
}

impl Cart {
    /// Runs one edit; when it changed the document, stores it and tells the subscribers.
    fn edit<R>(
        &self,
        origin: Origin,
        op: impl FnOnce(&mut cart_core::Cart) -> Result<R, CartError>,
    ) -> Result<R, JsValue> {
        let (result, did_change) = {
            let mut guard = self.shared.borrow_mut();
            let s = &mut *guard;
            if s.closed {
                return Err(error::closed());
            }
            let before = s.cart.heads();
            let result = op(&mut s.cart).map_err(from_core)?;
            let did_change = s.cart.heads() != before;
            if did_change {
                s.edits += 1;
            }
            (result, did_change)
        };
        if did_change {
            changed(&self.shared, origin);
            drive_link(&self.shared, |link, cart| link.local_change(cart));
        }
        Ok(result)
    }
}
