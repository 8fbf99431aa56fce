// The quick-add page (early.html): the package's entry alone, no bundled catalog. `Cart.start`
// gives a cart at once, before the wasm module has arrived: the buttons work from the first
// paint, adds go to the durable outbox, and the list shows the lines remembered from the last
// visit plus the outbox until the Automerge cart takes over. The page exposes its cart as
// `window.cart` (tests/e2e/early.test.mjs drives it with the .wasm held back).
import { Cart } from 'offline-cart';
import { cartLinesView, pageLocale, renderStatus, syncUrl } from 'offline-cart/element';

const CART_KEY = 'offline-cart:early';
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const run = (action) => {
  try {
    action();
    return true;
  } catch (error) {
    $('notice').textContent = `${error.message} (${error.code})`;
    return false;
  }
};

let cartId = params.get('cart') ?? undefined;
try {
  cartId ??= localStorage.getItem(CART_KEY) ?? undefined;
} catch {
  // No localStorage: a new cart each visit.
}
const cart = Cart.start({ cartId, server: params.get('server') === 'off' ? undefined : syncUrl('/sync') });
try {
  localStorage.setItem(CART_KEY, cart.id);
} catch {
  // As above.
}
window.cart = cart;

const renderLines = cartLinesView({ list: $('lines'), totals: $('totals'), empty: $('empty'), run });
const render = () => {
  renderLines(cart, pageLocale(document.body));
  // A live region: written only when it changes, so it is announced once.
  const moduleText = cart.isReady ? 'Cart module ready' : 'Cart module loading · adds are kept on this device';
  if ($('module').textContent !== moduleText) $('module').textContent = moduleText;
};
cart.subscribe((event) => {
  if (event.type === 'change') render();
  else if (event.type === 'status') renderStatus($('status'), event.status);
  else if (event.type === 'warning') $('notice').textContent = event.message;
});
for (const button of document.querySelectorAll('button[data-sku]')) {
  const { sku, name, price } = button.dataset;
  button.addEventListener('click', () => run(() => cart.addItem({ sku, name, unitPrice: Number(price), currency: 'EUR' })));
}
render();
renderStatus($('status'), cart.status());
cart.ready.then(render, () => render());
