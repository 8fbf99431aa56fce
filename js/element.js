// `offline-cart/element`: the drop-in <offline-cart server="/sync">. Importing this module
// defines the element (once per page). It opens the cart the address or the last visit names
// (session.js), shows the status badge and a cart drawer in its shadow root (styles:
// element.css, made a module by the build as element-style.js), and exposes the Cart as
// `element.cart` (and as `window.cart` when the page has none). The module also exports the
// pieces it is drawn with (view.js) and its cart choice (session.js), for a page that draws its
// own panel. The storefront demo builds it into dist/offline-cart-embed.js for pages without a
// bundler (webpack.config.js).
import { cartLinesView, h, plural, renderStatus } from './view.js';
import { chosenCart, openCart, syncUrl } from './session.js';
import css from './element-style.js';

export * from './view.js';
export * from './session.js';

/**
 * `<offline-cart server="/sync">`: the status badge and a cart drawer over a `Cart`. Where there
 * is no DOM (a server renderer importing the module) it extends an empty class and is not
 * defined, so the import does not throw.
 */
export class OfflineCartElement extends (globalThis.HTMLElement ?? class {}) {
  /** The Cart, once open (the `ready` promise resolves to it, and a `ready` event fires). */
  cart = undefined;

  constructor() {
    super();
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
  }

  async connectedCallback() {
    if (this.shadowRoot) return; // moved in the page: already set up
    const root = this.attachShadow({ mode: 'open' });
    const badge = h('p', { className: 'status', textContent: 'Opening your cart…', attrs: { role: 'status', part: 'status' } });
    const count = h('span', { className: 'count', textContent: '0' });
    const toggle = h('button', { type: 'button', className: 'toggle', attrs: { 'aria-expanded': 'false', 'aria-controls': 'drawer', part: 'toggle' } }, 'Cart ', count);
    const notice = h('p', { className: 'notice', attrs: { 'aria-live': 'polite' } });
    const list = h('ul', { className: 'lines' });
    const totals = h('dl', { className: 'totals' });
    const empty = h('p', { className: 'empty', textContent: 'Your cart is empty.' });
    const drawer = h('section', { id: 'drawer', className: 'drawer', hidden: true, attrs: { 'aria-label': 'Cart', part: 'drawer' } }, empty, list, totals, notice);
    root.append(h('style', { textContent: css }), h('div', { className: 'bar' }, badge, toggle), drawer);
    toggle.addEventListener('click', () => {
      drawer.hidden = !drawer.hidden;
      toggle.setAttribute('aria-expanded', String(!drawer.hidden));
    });

    const run = (action) => {
      try {
        action();
        return true;
      } catch (error) {
        notice.textContent = error.message;
        return false;
      }
    };
    try {
      const cart = await openCart(chosenCart(), {
        server: this.hasAttribute('server') ? syncUrl(this.getAttribute('server')) : syncUrl('/sync'),
        onWarning: (text) => (notice.textContent = text),
      });
      const renderLines = cartLinesView({ list, totals, empty, run });
      const render = () => {
        renderLines(cart);
        count.textContent = String(cart.itemCount());
        toggle.setAttribute('aria-label', `Cart, ${plural(cart.itemCount(), 'item')}`);
      };
      cart.subscribe((event) => {
        if (event.type === 'change') render();
        else if (event.type === 'status') renderStatus(badge, event.status);
      });
      for (const name of ['online', 'offline']) window.addEventListener(name, () => renderStatus(badge, cart.status()));
      render();
      renderStatus(badge, cart.status());
      this.cart = cart;
      window.cart ??= cart;
      this.resolveReady(cart);
      this.dispatchEvent(new CustomEvent('ready', { detail: { cart } }));
    } catch (error) {
      badge.textContent = `The cart could not start: ${error.message}`;
      this.rejectReady(error);
    }
  }
}

if (globalThis.customElements && !customElements.get('offline-cart')) customElements.define('offline-cart', OfflineCartElement);
