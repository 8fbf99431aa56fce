// The drop-in for shops that do not bundle: built into dist/offline-cart-embed.js, one ES module
// that defines <offline-cart server="/sync">. The element opens the same cart the storefront
// would (session.js), shows the status badge and a cart drawer in its shadow root, and exposes
// the Cart as `element.cart` (and as `window.cart` when the page has none). The bundled package
// and its .wasm are fetched by URL next to this file.
import { cartLinesView, h, plural, renderStatus } from './render.js';
import { chosenCart, openCart, syncUrl } from './session.js';
import css from './embed.css?raw';

class OfflineCartElement extends HTMLElement {
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

if (!customElements.get('offline-cart')) customElements.define('offline-cart', OfflineCartElement);
