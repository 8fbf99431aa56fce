// `offline-cart/element`: the drop-in <offline-cart server="/sync">. Importing this module
// defines the element (once per page). It opens the cart the address or the last visit names
// (session.js), shows the status badge and a cart drawer in its shadow root (styles:
// element.css, made a module by the build as element-style.js), and exposes the Cart as
// `element.cart` (and as `window.cart` when the page has none). The module also exports the
// pieces it is drawn with (view.js) and its cart choice (session.js), for a page that draws its
// own panel. The storefront demo builds it into dist/offline-cart-embed.js for pages without a
// bundler (webpack.config.js).
//
// Lifecycle: each time the element is put in a document it opens its cart, and when it leaves
// the document it closes it (`cart.close()`: flushed, then the storage, tab channel and server
// connection released). A move within the page (removed and put back in the same task, as
// `append` of a connected element does) keeps the cart: the close waits a microtask and is
// skipped when the element is connected again by then.
import { cartLinesView, h, pageLocale, plural, renderStatus } from './view.js';
import { chosenCart, openCart, syncServers } from './session.js';
import css from './element-style.js';

export * from './view.js';
export * from './session.js';

/**
 * A pending promise with its settle functions. A rejection nobody awaits is not reported as
 * unhandled: `ready` is there for pages that want it.
 */
function deferred() {
  let settle;
  const promise = new Promise((resolve, reject) => (settle = { resolve, reject }));
  promise.catch(() => {});
  return { promise, ...settle };
}

/**
 * `<offline-cart server="/sync" locale="de-DE">`: the status badge and a cart drawer over a
 * `Cart`. Where there is no DOM (a server renderer importing the module) it extends an empty
 * class and is not defined, so the import does not throw.
 */
export class OfflineCartElement extends (globalThis.HTMLElement ?? class {}) {
  /** Changing `locale` formats the amounts again. */
  static observedAttributes = ['locale'];

  /** The Cart while the element is connected and its cart open; `undefined` otherwise. */
  cart = undefined;

  /** The shadow root's parts, drawn afresh on each connection (a move keeps them). */
  #parts;
  /** The current connection: its cart (a promise), and what to undo when it ends. */
  #session;
  /** The last connection's cart closing: a reconnection opens the cart once it is closed. */
  #closing = Promise.resolve();
  #ready = deferred();

  /**
   * Resolves to the cart once open (a `ready` event with `detail.cart` fires too). A new promise
   * is made when the element leaves the document; one still pending then rejects (AbortError).
   */
  get ready() {
    return this.#ready.promise;
  }

  connectedCallback() {
    if (this.#session) return; // moved within the page: the cart stays open
    this.#parts = this.#draw();
    this.#start();
  }

  disconnectedCallback() {
    // A move calls disconnectedCallback and then connectedCallback in the same task.
    queueMicrotask(() => {
      if (!this.isConnected && this.#session) this.#end();
    });
  }

  attributeChangedCallback(name) {
    if (name === 'locale') this.#session?.render?.();
  }

  /** The locale amounts are formatted in: the `locale` attribute, else the page's language. */
  #locale() {
    const tag = this.getAttribute('locale') || pageLocale(this);
    if (tag === undefined) return undefined;
    try {
      Intl.getCanonicalLocales(tag);
      return tag;
    } catch {
      // Said once: the notice is a live region, and this runs on every render.
      const notice = `"${tag}" is not a language tag: amounts use the browser's language.`;
      if (this.#parts.notice.textContent !== notice) this.#parts.notice.textContent = notice;
      return undefined;
    }
  }

  /**
   * Draws the badge, the toggle and the (closed) drawer into the shadow root, replacing what an
   * earlier connection drew; returns the parts.
   */
  #draw() {
    const root = this.shadowRoot ?? this.attachShadow({ mode: 'open' });
    // The badge's live region exists before its first change, so that change is announced.
    const badge = h(
      'p',
      { className: 'status', attrs: { part: 'status' } },
      h('span', { className: 'status-text', textContent: 'Opening your cart…', attrs: { role: 'status' } }),
      h('span', { className: 'status-detail' }),
    );
    const count = h('span', { className: 'count', textContent: '0' });
    const toggle = h('button', { type: 'button', className: 'toggle', attrs: { 'aria-expanded': 'false', 'aria-controls': 'drawer', part: 'toggle' } }, 'Cart ', count);
    const notice = h('p', { className: 'notice', attrs: { 'aria-live': 'polite' } });
    const list = h('ul', { className: 'lines' });
    const totals = h('dl', { className: 'totals' });
    const empty = h('p', { className: 'empty', textContent: 'Your cart is empty.' });
    const drawer = h('section', { id: 'drawer', className: 'drawer', hidden: true, attrs: { 'aria-label': 'Cart', part: 'drawer' } }, empty, list, totals, notice);
    const frame = h('div', {}, h('div', { className: 'bar' }, badge, toggle), drawer);
    root.replaceChildren(h('style', { textContent: css }), frame);

    const show = (open) => {
      drawer.hidden = !open;
      toggle.setAttribute('aria-expanded', String(open));
    };
    toggle.addEventListener('click', () => show(drawer.hidden));
    // Escape closes the open drawer and gives the focus back to the toggle, so it is not lost
    // with the hidden drawer.
    frame.addEventListener('keydown', (event) => {
      if (event.key !== 'Escape' || drawer.hidden) return;
      event.preventDefault();
      show(false);
      toggle.focus();
    });
    return { badge, count, toggle, notice, list, totals, empty };
  }

  /** Opens the cart (once the last connection's is closed) and shows it until `#end`. */
  #start() {
    const { badge, count, toggle, notice, list, totals, empty } = this.#parts;
    const session = { ended: false, undo: [] };
    this.#session = session;
    const server = syncServers(this.getAttribute('server') ?? '');
    session.cart = this.#closing.then(() => openCart(chosenCart(), { server, onWarning: (text) => (notice.textContent = text) }));
    session.cart.then(
      (cart) => {
        if (session.ended) return; // left the document while opening: #end closes it
        const run = (action) => {
          try {
            action();
            return true;
          } catch (error) {
            notice.textContent = error.message;
            return false;
          }
        };
        const renderLines = cartLinesView({ list, totals, empty, run });
        session.render = () => {
          renderLines(cart, this.#locale());
          count.textContent = String(cart.itemCount());
          toggle.setAttribute('aria-label', `Cart, ${plural(cart.itemCount(), 'item')}`);
        };
        const showStatus = () => renderStatus(badge, cart.status());
        session.undo.push(
          cart.subscribe((event) => {
            if (event.type === 'change') session.render();
            else if (event.type === 'status') renderStatus(badge, event.status);
          }),
        );
        for (const name of ['online', 'offline']) {
          window.addEventListener(name, showStatus);
          session.undo.push(() => window.removeEventListener(name, showStatus));
        }
        session.render();
        showStatus();
        this.cart = cart;
        window.cart ??= cart;
        this.#ready.resolve(cart);
        this.dispatchEvent(new CustomEvent('ready', { detail: { cart } }));
      },
      (error) => {
        if (session.ended) return;
        badge.querySelector('.status-text').textContent = `The cart could not start: ${error.message}`;
        this.#ready.reject(error);
      },
    );
  }

  /** Stops showing the cart and closes it; a later connection opens it again. */
  #end() {
    const session = this.#session;
    this.#session = undefined;
    session.ended = true;
    for (const undo of session.undo) undo();
    if (this.cart && window.cart === this.cart) window.cart = undefined;
    this.cart = undefined;
    this.#ready.reject(new DOMException('the <offline-cart> element left the document before its cart opened', 'AbortError'));
    this.#ready = deferred();
    // A cart that failed to open has nothing to close (its error is on the badge already).
    this.#closing = session.cart.then(
      (cart) =>
        cart.close().catch((error) => {
          console.error('offline-cart: closing the cart of a removed <offline-cart> failed', error);
        }),
      () => {},
    );
  }
}

if (globalThis.customElements && !customElements.get('offline-cart')) customElements.define('offline-cart', OfflineCartElement);
