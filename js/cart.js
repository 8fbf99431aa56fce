// The Cart class behind every entry of the package (index.js for bundlers, web.js for a plain
// <script type="module">, node.js for Node and server renderers): a few KB of plain JS that give
// a cart at once. The wasm module (the Automerge cart, about 550 KB gzip) is loaded when a cart
// starts, by the loader the entry registered with `useModule`; until it is ready the cart takes
// `addItem` into a durable outbox (outbox.js) and lists the lines remembered from the last
// visit plus the outbox. Once the module is ready, the outbox is replayed into the Automerge
// cart in order, each add with its tag (so a second replay counts once), and every call goes
// to the wasm cart. See README "Before the module has arrived".
import { Outbox, sortEntries } from './outbox.js';
import { MAX_LINES, MAX_QUANTITY, cartError, checkItem, newTag, parseCartId, randomCartId } from './validate.js';

const OPTIONS = ['cartId', 'storage', 'server', 'key'];
const STORAGES = ['indexeddb', 'localstorage', 'memory'];
/** How long the listing waits after a change before it is remembered for the next visit. */
const LISTING_DELAY_MS = 300;

let loader = () => Promise.reject(new Error('no cart module registered: import the package by name (offline-cart, offline-cart/web), not cart.js'));
let glue;

/**
 * Registers how the entry loads the wasm-bindgen glue: `load` resolves to the glue's module,
 * ready to use (the .wasm instantiated). Each entry calls it once, when it is imported.
 */
export function useModule(load) {
  loader = load;
  glue = undefined;
}

/** The wasm-bindgen glue (and with it the .wasm), loaded once per page. */
const loadModule = () => (glue ??= loader());

/** Orders the adds this page makes within one millisecond (outbox keys are [cartId, time, seq, tag]). */
let seq = 0;

/** Lines of `listing` with the outbox `entries` added, as the wasm cart will list them. */
function earlyLines(listing, entries) {
  const lines = listing.map((line) => ({ ...line }));
  for (const { item } of entries) {
    let line = lines.find((other) => other.sku === item.sku);
    if (!line) lines.push((line = { quantity: 0 }));
    const quantity = line.quantity + item.quantity;
    for (const key of Object.keys(line)) delete line[key];
    Object.assign(line, item, { quantity, lineTotal: item.unitPrice * quantity });
  }
  return lines;
}

/** `array` with the array and every element frozen, as the wasm cart's snapshot parts are. */
const freezeAll = (array) => Object.freeze(array.map((element) => Object.freeze(element)));

/** Whether two statuses hold the same values (they are flat objects). */
const sameStatus = (a, b) => Object.keys(a).every((key) => a[key] === b[key]);

const notReady = (what) =>
  cartError('not_ready', `${what} needs the cart module, which is still loading; await cart.ready first (addItem, items, totals, itemCount, status, subscribe and flush work at once)`);

/**
 * A shopping cart that never refuses an add. `Cart.start` returns one at once, before the wasm
 * module has arrived; `Cart.open` resolves once it is ready. Both have the same members.
 */
export class Cart {
  #options;
  #outbox;
  #real = null;
  #listing = [];
  #entries = [];
  #unsaved = 0;
  #closed = false;
  #listeners = new Set();
  #undelivered = [];
  #listingTimer;
  /** Bumped by every change of the lines before the module is ready (see `snapshot`). */
  #revision = 0;
  /** `snapshot()` as last returned before the module is ready, with its revision. */
  #snapshot = null;

  /**
   * A cart that takes adds now. `options` as for `Cart.open`. Throws `invalid_options` or
   * `invalid_cart_id` at once; options only the module checks (`server`, `key`) reject `ready`.
   */
  static start(options = {}) {
    return new Cart(options ?? {});
  }

  /** Resolves to the cart once the module is ready and the outbox replayed; rejects like `ready`. */
  static async open(options) {
    const cart = Cart.start(options);
    return cart.ready;
  }

  constructor(options) {
    for (const key of Object.keys(options)) {
      if (!OPTIONS.includes(key)) throw cartError('invalid_options', `Cart.open expects { cartId?, storage?, server?, key? }: unknown field \`${key}\``);
    }
    if (options.storage != null && !STORAGES.includes(options.storage)) {
      throw cartError('invalid_options', `storage must be "indexeddb", "localstorage" or "memory", got ${JSON.stringify(options.storage)}`);
    }
    /** The cart id (an automerge-repo document id), known at once. */
    this.id = options.cartId == null ? randomCartId() : parseCartId(options.cartId);
    this.#options = { ...options, cartId: this.id };
    this.#outbox = new Outbox(this.id, options.storage ?? 'indexeddb', (message) => this.#emit({ type: 'warning', code: 'storage_fallback', message }));
    const stored = this.#outbox.read().then(
      ({ entries, listing }) => {
        if (this.#real) return;
        this.#listing = listing;
        this.#entries = sortEntries([...entries, ...this.#entries]);
        if (entries.length || listing.length) this.#changed('remote');
      },
      () => {},
    );
    /** Resolves to this cart once the module is ready and the outbox is replayed into it. */
    this.ready = this.#boot(stored);
    this.ready.catch((error) =>
      this.#emit({ type: 'warning', code: 'module_unavailable', message: `the cart module could not start (${error.message}); adds stay in the outbox for the next visit` }),
    );
  }

  /** Whether the module is ready and every call goes to the Automerge cart. */
  get isReady() {
    return this.#real !== null;
  }

  async #boot(stored) {
    const [{ Cart: ModuleCart }] = await Promise.all([loadModule(), stored]);
    const real = await ModuleCart.open(this.#options);
    real.subscribe((event) => {
      this.#emit(event);
      if (event.type === 'change') this.#rememberListingSoon();
    });
    await this.#locked(() => this.#replay(real));
    return this;
  }

  /**
   * Runs `task` holding the cart's Web Lock, so two tabs do not replay at once. Where there is
   * no lock to be had (no Web Locks, or storage blocked: Firefox then refuses the request),
   * `task` runs without one: two tabs replaying at once still count each add once (its tag).
   */
  async #locked(task) {
    const locks = globalThis.navigator?.locks;
    let ran = false;
    try {
      if (locks) {
        return await locks.request(`offline-cart-outbox:${this.id}`, () => {
          ran = true;
          return task();
        });
      }
    } catch (error) {
      if (ran) throw error;
    }
    return task();
  }

  /** Replays the stored and this page's entries into `real`, then forgets them once `real` stored them durably. Runs under the cart's lock. */
  async #replay(real) {
    const { entries } = await this.#outbox.read().catch(() => ({ entries: [] }));
    const replayed = sortEntries([...entries, ...this.#entries]);
    for (const { item, tag } of replayed) {
      try {
        real.addItem({ ...item, tag });
      } catch (error) {
        this.#emit({ type: 'warning', code: 'add_refused', reason: error.code ?? 'invalid_item', item, message: `an add made before the cart was ready was refused and dropped: ${error.message}` });
      }
    }
    // From here on every call goes to the Automerge cart.
    this.#real = real;
    this.#entries = [];
    this.#listing = [];
    if (this.#closed) real.close();
    this.#emit({ type: 'change', origin: 'local' });
    await real.flush();
    // A cart that had to fall back to page memory is not durable: its outbox entries stay for
    // the next visit, whose replay counts each once (its tag).
    if (real.status().storage !== 'memory' || this.#outbox.kind === 'memory') await this.#outbox.remove(replayed);
    await this.#rememberListing();
  }

  // An edit once close() was called: refused at once, though the module's cart closes only
  // after the outbox is flushed.
  #throwIfClosed() {
    if (this.#closed) throw cartError('cart_closed', 'this cart was closed; call Cart.open again to keep editing it');
  }

  #emit(event) {
    if (this.#listeners.size === 0 && event.type === 'warning') this.#undelivered.push(event);
    for (const callback of [...this.#listeners]) {
      try {
        callback(event);
      } catch (error) {
        console.error('offline-cart: a subscribe callback threw', error);
      }
    }
  }

  /** The lines changed before the module is ready: a new revision, and a `change` event. */
  #changed(origin) {
    this.#revision++;
    this.#emit({ type: 'change', origin });
  }

  #rememberListing() {
    clearTimeout(this.#listingTimer);
    return this.#outbox.saveListing(this.#real.items()).catch(() => {});
  }

  #rememberListingSoon() {
    clearTimeout(this.#listingTimer);
    this.#listingTimer = setTimeout(() => this.#rememberListing(), LISTING_DELAY_MS);
  }

  #status() {
    return {
      storage: this.#outbox.kind,
      unsaved: this.#unsaved,
      connection: this.#options.server ? 'connecting' : 'offline',
      pending: this.#entries.length,
      blocked: null,
      lastSyncedAt: null,
    };
  }

  /** The cart's secret for the server: known once the module is ready (or when given to `start`). */
  get key() {
    return this.#real ? this.#real.key : this.#options.key;
  }

  /** Adds `item.quantity` (default 1) units; before the module is ready, into the outbox. */
  addItem(input) {
    this.#throwIfClosed();
    if (this.#real) return this.#real.addItem(input);
    const { tag = newTag(), ...item } = checkItem(input);
    const lines = this.items();
    const line = lines.find((other) => other.sku === item.sku);
    if (!line && lines.length >= MAX_LINES) {
      throw cartError('too_many_lines', `the cart already has ${MAX_LINES} lines, the most it can hold; remove a line before adding ${JSON.stringify(item.sku)}`);
    }
    if ((line?.quantity ?? 0) + item.quantity > MAX_QUANTITY) {
      throw cartError('invalid_quantity', `the line for sku ${JSON.stringify(item.sku)} would hold ${line.quantity + item.quantity} units, at most ${MAX_QUANTITY} are allowed; use setQuantity to change it`);
    }
    const at = Date.now();
    const entry = { key: [this.id, at, seq++, tag], tag, at, item };
    this.#entries.push(entry);
    this.#unsaved++;
    this.#outbox
      .put(entry)
      .catch(() => {})
      .then(() => {
        this.#unsaved--;
        if (!this.#real) this.#emit({ type: 'status', status: this.#status() });
      });
    this.#changed('local');
    this.#emit({ type: 'status', status: this.#status() });
  }

  /** The lines, first added first; before the module is ready, the remembered lines plus the outbox. */
  items() {
    return this.#real ? this.#real.items() : earlyLines(this.#listing, this.#entries);
  }

  /** The totals per currency, ordered by currency code. */
  totals() {
    if (this.#real) return this.#real.totals();
    const sums = new Map();
    for (const line of this.items()) sums.set(line.currency, (sums.get(line.currency) ?? 0) + line.lineTotal);
    return [...sums].sort(([a], [b]) => (a < b ? -1 : 1)).map(([currency, amount]) => ({ currency, amount }));
  }

  /** Units in the cart. */
  itemCount() {
    return this.#real ? this.#real.itemCount() : this.items().reduce((sum, line) => sum + line.quantity, 0);
  }

  /** Where the cart is saved; before the module is ready, `pending` counts the outbox's adds. */
  status() {
    return this.#real ? this.#real.status() : this.#status();
  }

  /**
   * `{ items, totals, itemCount, status }`, frozen: the same object until the lines or the
   * status change (compare by identity). Before the module is ready it is built from the early
   * lines; the module's cart keeps the same promise once it has taken over.
   */
  snapshot() {
    if (this.#real) return this.#real.snapshot();
    const cached = this.#snapshot?.value;
    const sameLines = this.#snapshot?.revision === this.#revision;
    const now = this.#status();
    const status = cached && sameStatus(cached.status, now) ? cached.status : Object.freeze(now);
    if (sameLines && status === cached.status) return cached;
    const items = sameLines ? cached.items : freezeAll(this.items());
    const value = Object.freeze({
      items,
      totals: sameLines ? cached.totals : freezeAll(this.totals()),
      itemCount: items.reduce((sum, line) => sum + line.quantity, 0),
      status,
    });
    this.#snapshot = { revision: this.#revision, value };
    return value;
  }

  /** Calls `callback` with every event; returns the unsubscribe function. */
  subscribe(callback) {
    this.#listeners.add(callback);
    for (const event of this.#undelivered.splice(0)) callback(event);
    return () => this.#listeners.delete(callback);
  }

  /** Resolves once every edit so far is durable: in the outbox before the module is ready. */
  flush() {
    return Promise.all([this.#outbox.flush(), this.#real?.flush()]).then(() => {});
  }

  /** Resolves once the server holds every local change (waits for the module first). */
  sync(timeoutMs) {
    return this.ready.then(() => this.#real.sync(timeoutMs));
  }

  /** Flushes, then releases the cart (once the module is ready). */
  async close() {
    this.#closed = true;
    await this.#outbox.flush();
    if (this.#real) {
      // The last change's listing, whose delayed write may not have run yet.
      await this.#rememberListing();
      await this.#real.close();
    }
  }

  /** Sets the quantity of a line (0 removes it). Throws `not_ready` before the module is ready. */
  setQuantity(sku, quantity) {
    this.#throwIfClosed();
    if (!this.#real) throw notReady('setQuantity');
    return this.#real.setQuantity(sku, quantity);
  }

  /** Removes a line; returns whether there was one. Throws `not_ready` before the module is ready. */
  removeItem(sku) {
    this.#throwIfClosed();
    if (!this.#real) throw notReady('removeItem');
    return this.#real.removeItem(sku);
  }

  /** Removes every line; returns how many. Throws `not_ready` before the module is ready. */
  clear() {
    this.#throwIfClosed();
    if (!this.#real) throw notReady('clear');
    return this.#real.clear();
  }

  /** The document heads. Throws `not_ready` before the module is ready. */
  heads() {
    if (!this.#real) throw notReady('heads');
    return this.#real.heads();
  }

  /** The whole cart as Automerge bytes. Throws `not_ready` before the module is ready. */
  save() {
    if (!this.#real) throw notReady('save');
    return this.#real.save();
  }

  /** Merges Automerge bytes of this cart. Throws `not_ready` before the module is ready. */
  merge(bytes) {
    this.#throwIfClosed();
    if (!this.#real) throw notReady('merge');
    return this.#real.merge(bytes);
  }
}
