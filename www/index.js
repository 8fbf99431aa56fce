// The storefront demo: a product grid and a cart panel over the offline-cart package, imported
// by name as an application's bundler would import it. Every piece of product or cart text is
// set with textContent (through `h` below), never parsed as HTML: cart lines can arrive from
// another device, so their names are data, not markup.
import { catalog, productOf, shapes } from './catalog.js';
import './style.css';

// Where the id of the last cart lives, so a reload reopens the same cart.
const LAST_ID_KEY = 'offline-cart:last-id';
const STORAGE_LABELS = {
  indexeddb: 'Saved in IndexedDB on this device',
  localstorage: 'Saved in localStorage on this device',
  memory: 'Kept in memory only: this cart is lost on reload',
};
const MAX_NOTICES = 4;
const SVG_NS = 'http://www.w3.org/2000/svg';

// h(tag, props, ...children): a new element. `props` keys set properties (so `textContent`
// and `className` work), except `attrs`, whose entries become attributes. String children
// become text nodes.
function h(tag, props = {}, ...children) {
  const { attrs = {}, ...properties } = props;
  const element = Object.assign(document.createElement(tag), properties);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

// Amounts are integers in the currency's minor unit; Intl knows how many digits each
// currency has (2 for EUR, 0 for JPY).
const formatters = new Map();
function formatMoney(minor, currency) {
  if (!formatters.has(currency)) {
    formatters.set(currency, new Intl.NumberFormat(undefined, { style: 'currency', currency }));
  }
  const format = formatters.get(currency);
  return format.format(minor / 10 ** format.resolvedOptions().maximumFractionDigits);
}

// svg(name, attrs): a new SVG element with the given attributes.
function svg(name, attrs) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [attr, value] of Object.entries(attrs)) element.setAttribute(attr, value);
  return element;
}

// The product picture: an SVG drawn from the catalog's shape, or the line's initial for a sku
// the catalog does not know.
function artwork(product, fallbackName) {
  const art = product?.art ?? { bg: '#e5e7eb', fg: '#4b5563' };
  const picture = svg('svg', { viewBox: '0 0 100 100', class: 'art', 'aria-hidden': 'true' });
  picture.append(svg('rect', { width: 100, height: 100, rx: 12, fill: art.bg }));
  if (!product) {
    const letter = svg('text', { x: 50, y: 66, 'text-anchor': 'middle', 'font-size': 48, fill: art.fg });
    letter.textContent = fallbackName.trim().charAt(0).toUpperCase();
    picture.append(letter);
    return picture;
  }
  for (const [kind, d] of shapes[art.shape]) {
    const paint = kind === 'fill' ? { fill: art.fg } : { stroke: kind === 'cut' ? art.bg : art.fg };
    picture.append(svg('path', { d, class: `shape-${kind}`, ...paint }));
  }
  return picture;
}

// Notices: warnings from the cart (storage fell back, a save failed, ...) and errors thrown by
// an action. Newest first, a few at most.
function notify(kind, text) {
  const list = document.getElementById('notices');
  list.prepend(h('li', { className: `notice ${kind}`, textContent: text }));
  while (list.children.length > MAX_NOTICES) list.lastElementChild.remove();
}

// run(action): performs a cart action and tells whether it worked, showing what a CartError
// says instead of throwing.
function run(action) {
  try {
    action();
    return true;
  } catch (error) {
    notify('error', error.code ? `${error.message} (${error.code})` : String(error));
    return false;
  }
}

// A product card. Its button starts disabled and is enabled once the cart is open; `add`
// receives the item to put in the cart.
function productCard(product, add) {
  const id = `product-${product.sku}`;
  const card = h(
    'li',
    { className: 'product', attrs: { 'aria-labelledby': `${id}-name` } },
    artwork(product),
    h('h3', { id: `${id}-name`, textContent: product.name }),
    h('p', { className: 'price', textContent: formatMoney(product.unitPrice, product.currency) }),
  );
  let variantSelect;
  if (product.variants) {
    variantSelect = h(
      'select',
      { id: `${id}-variant` },
      ...product.variants.map((variant) => h('option', { value: variant.sku, textContent: variant.label })),
    );
    card.append(
      h(
        'div',
        { className: 'variant' },
        h('label', { htmlFor: variantSelect.id, textContent: product.variantLabel }),
        variantSelect,
      ),
    );
  }
  const button = h('button', {
    type: 'button',
    className: 'add',
    textContent: 'Add to cart',
    disabled: true,
    attrs: { 'aria-label': `Add ${product.name} to cart` },
  });
  button.addEventListener('click', () => {
    const variant = product.variants?.find((option) => option.sku === variantSelect.value);
    const item = {
      sku: variant?.sku ?? product.sku,
      name: product.name,
      unitPrice: product.unitPrice,
      currency: product.currency,
    };
    if (variant) item.variant = variant.label;
    add(item);
  });
  card.append(button);
  return card;
}

// One cart line's elements, made once per line and updated in place on every change, so the
// button a keyboard user just pressed keeps its focus.
function lineRow(cart, line) {
  const label = line.variant ? `${line.name} (${line.variant})` : line.name;
  const quantity = h('input', {
    type: 'number',
    className: 'quantity',
    min: 0,
    max: 999,
    inputMode: 'numeric',
  });
  let current = line.quantity;
  quantity.addEventListener('change', () => {
    // An emptied field or a refused number puts the stored quantity back.
    if (quantity.value === '' || !run(() => cart.setQuantity(line.sku, Number(quantity.value)))) {
      quantity.value = String(current);
    }
  });
  const stepper = (text, name, delta) => {
    const button = h('button', { type: 'button', className: 'step', textContent: text, attrs: { 'aria-label': `${name} ${label}` } });
    button.addEventListener('click', () => run(() => cart.setQuantity(line.sku, current + delta)));
    return button;
  };
  const remove = h('button', { type: 'button', className: 'remove', textContent: 'Remove', attrs: { 'aria-label': `Remove ${label}` } });
  remove.addEventListener('click', () => run(() => cart.removeItem(line.sku)));

  const unit = h('span', { className: 'unit' });
  const total = h('span', { className: 'line-total' });
  const row = h(
    'li',
    { className: 'line' },
    artwork(productOf(line.sku), line.name),
    h(
      'div',
      { className: 'line-info' },
      h('span', { className: 'line-name', textContent: line.name }),
      ...(line.variant ? [h('span', { className: 'line-variant', textContent: line.variant })] : []),
      unit,
    ),
    h(
      'div',
      { className: 'line-controls' },
      stepper('−', 'One less', -1),
      h('label', {}, h('span', { className: 'visually-hidden', textContent: `Quantity of ${label}` }), quantity),
      stepper('+', 'One more', 1),
      remove,
    ),
    total,
  );
  const update = (next) => {
    current = next.quantity;
    unit.textContent = `${formatMoney(next.unitPrice, next.currency)} each`;
    total.textContent = formatMoney(next.lineTotal, next.currency);
    if (document.activeElement !== quantity) quantity.value = String(next.quantity);
  };
  return { row, update };
}

// A row is reused while its sku, name and variant stay the same; a merge that renames the
// line gets a new row with the new labels.
const rowKey = (line) => JSON.stringify([line.sku, line.name, line.variant]);

function renderCart(cart, rows) {
  const list = document.getElementById('cart-lines');
  const lines = cart.items();
  const seen = new Set();
  lines.forEach((line, index) => {
    const key = rowKey(line);
    seen.add(key);
    if (!rows.has(key)) rows.set(key, lineRow(cart, line));
    const { row, update } = rows.get(key);
    update(line);
    // Move a row only when it is out of place: moving a focused element drops its focus.
    if (list.children[index] !== row) list.insertBefore(row, list.children[index] ?? null);
  });
  for (const [key, { row }] of rows) {
    if (!seen.has(key)) {
      row.remove();
      rows.delete(key);
    }
  }

  const count = cart.itemCount();
  document.getElementById('cart-count').textContent = String(count);
  document.getElementById('cart-count-text').textContent = `${count} ${count === 1 ? 'item' : 'items'} in your cart`;
  document.getElementById('cart-empty').hidden = lines.length > 0;
  document.getElementById('clear-cart').hidden = lines.length === 0;

  const totals = cart.totals();
  document.getElementById('cart-totals').replaceChildren(
    ...totals.flatMap(({ currency, amount }) => [
      h('dt', { textContent: totals.length > 1 ? `Total in ${currency}` : 'Total' }),
      h('dd', { textContent: formatMoney(amount, currency) }),
    ]),
  );
}

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

// Where the cart is: on this device (storage, unsaved) and on the server (connection, pending).
function renderStatus(status) {
  const unsaved = status.unsaved > 0 ? ` · saving ${plural(status.unsaved, 'change')}…` : '';
  let server;
  if (status.connection === 'online') {
    server = status.pending === 0 ? 'saved to your account' : `syncing ${plural(status.pending, 'change')}…`;
  } else if (status.pending > 0) {
    server = `${status.connection === 'connecting' ? 'connecting' : 'offline'}: ${plural(status.pending, 'change')} not yet on the server`;
  } else {
    server = status.connection === 'connecting' ? 'connecting…' : 'offline';
  }
  const line = document.getElementById('status');
  line.textContent = `${STORAGE_LABELS[status.storage] ?? status.storage}${unsaved} · ${server}`;
  line.dataset.storage = status.storage;
  line.dataset.connection = status.connection;
  line.dataset.pending = String(status.pending);
}

// The sync endpoint of the server that served this page (cart-server serves both).
// `?server=off` keeps the cart on this device only.
function syncUrl() {
  if (new URLSearchParams(location.search).get('server') === 'off') return undefined;
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/sync`;
}

// The last cart id, if this browser lets the page use localStorage at all.
function lastCartId() {
  try {
    return localStorage.getItem(LAST_ID_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

function rememberCartId(id) {
  try {
    localStorage.setItem(LAST_ID_KEY, id);
  } catch {
    notify('warning', 'This browser blocks localStorage: a reload will start a new cart.');
  }
}

// Opens the last cart, or a new one when there is none or it cannot be opened, synced with the
// server that served the page. `?storage=...` in the address forces a backend, to try the
// fallbacks.
async function openCart() {
  // Imported on demand, so the shelf shows while the wasm module downloads and compiles.
  const { Cart } = await import('offline-cart');
  const storage = new URLSearchParams(location.search).get('storage') ?? undefined;
  const cartId = lastCartId();
  const server = syncUrl();
  try {
    return await Cart.open({ cartId, storage, server });
  } catch (error) {
    if (!cartId) throw error;
    notify('warning', `Could not reopen cart ${cartId} (${error.message}); started a new one.`);
    return Cart.open({ storage, server });
  }
}

async function main() {
  // The shelf needs no cart: show it while the module loads and the cart opens.
  let cart;
  const add = (item) => run(() => cart.addItem(item));
  document.getElementById('product-grid').replaceChildren(...catalog.map((product) => productCard(product, add)));

  cart = await openCart();
  window.cart = cart;
  rememberCartId(cart.id);
  const rows = new Map();
  cart.subscribe((event) => {
    if (event.type === 'change') renderCart(cart, rows);
    else if (event.type === 'status') renderStatus(event.status);
    else if (event.type === 'warning') notify('warning', `${event.message} (${event.code})`);
  });
  document.getElementById('clear-cart').addEventListener('click', () => run(() => cart.clear()));
  // Writes are saved in the background; leaving the page is the moment to make sure.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') {
      cart.flush().catch((error) => notify('error', `Saving failed: ${error.message}`));
    }
  });
  renderCart(cart, rows);
  renderStatus(cart.status());
  for (const button of document.querySelectorAll('.add')) button.disabled = false;
  document.body.dataset.ready = 'true';
}

main().catch((error) => {
  document.getElementById('status').textContent = `The cart could not start: ${error.message}`;
  notify('error', String(error));
});
