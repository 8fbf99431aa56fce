// The storefront demo: the catalog from cart-server, a cart panel over the offline-cart package
// (imported by name, as an application's bundler would import it), checkout and a demo
// sign-in. The page exposes its cart as `window.cart` for scripting and tests.
import { fetchCatalog } from './api.js';
import { artwork } from './art.js';
import { checkoutController } from './checkout.js';
import { cartLinesView, chosenCart, formatMoney, h, openCart, pageLocale, plural, renderStatus, syncUrl } from 'offline-cart/element';
import { signIn } from './signin.js';
// The cart lines' styles from the package, then the shop's own (which come after, so they win).
import 'offline-cart/view.css';
import './style.css';

const MAX_NOTICES = 4;
const $ = (id) => document.getElementById(id);

// Notices: warnings from the cart (storage fell back, a save failed, ...) and errors thrown by
// an action. Newest first, a few at most.
function notify(kind, text) {
  const list = $('notices');
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

// The catalog lists one product per sku; skus sold in variants share a `group` and become one
// card with a variant picker.
function groupProducts(products) {
  const groups = new Map();
  for (const product of products) {
    const key = product.group ?? product.sku;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(product);
  }
  return [...groups.values()];
}

// A product card for the skus of one group. `add(product)` puts the chosen sku in the cart.
// Buttons start disabled; `enable()` turns on those whose product is available.
function productCard(variants, add) {
  const [first] = variants;
  const id = `product-${first.group ?? first.sku}`;
  const card = h(
    'li',
    { className: 'product', attrs: { 'aria-labelledby': `${id}-name` } },
    artwork(first.art, first.name),
    h('h3', { id: `${id}-name`, textContent: first.name }),
    h('p', { className: 'description', textContent: first.description }),
    h('p', { className: 'price', textContent: formatMoney(first.unitPrice, first.currency, pageLocale(document.body)) }),
  );
  let select;
  if (first.group) {
    select = h(
      'select',
      { id: `${id}-variant` },
      ...variants.map((product) =>
        h('option', { value: product.sku, textContent: product.available ? product.variant : `${product.variant} (sold out)` }),
      ),
    );
    card.append(h('div', { className: 'variant' }, h('label', { htmlFor: select.id, textContent: first.variantLabel }), select));
  }
  const chosen = () => (select ? variants.find((product) => product.sku === select.value) : first);
  const button = h('button', { type: 'button', className: 'add', disabled: true, attrs: { 'data-sku': first.sku } });
  let ready = false;
  const refresh = () => {
    const product = chosen();
    button.disabled = !ready || !product.available;
    button.textContent = product.available ? 'Add to cart' : 'Sold out';
    button.setAttribute('aria-label', product.available ? `Add ${first.name} to cart` : `${first.name} is sold out`);
  };
  select?.addEventListener('change', refresh);
  button.addEventListener('click', () => add(chosen()));
  refresh();
  card.append(button);
  const enable = () => {
    ready = true;
    refresh();
  };
  return { card, enable };
}

async function showCatalog(add) {
  let products;
  try {
    products = await fetchCatalog();
  } catch (error) {
    $('catalog-message').hidden = false;
    $('catalog-message').textContent = `The shelf could not be loaded (${error.message}). Your cart still works.`;
    return { products: [], enable: () => {} };
  } finally {
    $('product-grid').removeAttribute('aria-busy');
  }
  const cards = groupProducts(products).map((variants) => productCard(variants, add));
  $('product-grid').replaceChildren(...cards.map(({ card }) => card));
  return { products, enable: () => cards.forEach(({ enable }) => enable()) };
}

// Registers the service worker that makes the next visit load offline (www/sw.js). Its
// navigations go to the network first, so an online load always gets the newest shell.
function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register('/sw.js').catch((error) => notify('warning', `Offline loading is unavailable: ${error.message}`));
}

async function main() {
  registerServiceWorker();
  const params = new URLSearchParams(location.search);
  const server = params.get('server') === 'off' ? undefined : syncUrl('/sync');
  const storage = params.get('storage') ?? undefined;

  let cart;
  let unsubscribe = () => {};
  const add = (product) => {
    const item = { sku: product.sku, name: product.name, unitPrice: product.unitPrice, currency: product.currency };
    if (product.variant) item.variant = product.variant;
    run(() => cart.addItem(item));
  };
  const choice = chosenCart();
  const [catalog, opened] = await Promise.all([
    showCatalog(add),
    openCart(choice, { server, storage, onWarning: (text) => notify('warning', text) }),
  ]);
  // A shared link (?cart=...&key=...) has done its job once the cart is remembered; dropping it
  // keeps a later reload from reopening that cart after a sign-in switched away from it.
  if (params.has('cart')) {
    const address = new URL(location.href);
    address.searchParams.delete('cart');
    address.searchParams.delete('key');
    history.replaceState(null, '', address);
  }

  const bySku = new Map(catalog.products.map((product) => [product.sku, product]));
  const renderLines = cartLinesView({
    list: $('cart-lines'),
    totals: $('cart-totals'),
    empty: $('cart-empty'),
    pictureOf: (line) => artwork(bySku.get(line.sku)?.art, line.name),
    run,
  });
  const checkout = checkoutController({ button: $('checkout'), output: $('checkout-result'), getCart: () => cart });

  const render = () => {
    renderLines(cart, pageLocale(document.body));
    const count = cart.itemCount();
    $('cart-count').textContent = String(count);
    // A live region: rewritten only when the count changes, so it is announced once per change.
    const countText = `${plural(count, 'item')} in your cart`;
    if ($('cart-count-text').textContent !== countText) $('cart-count-text').textContent = countText;
    $('clear-cart').hidden = count === 0;
    checkout.update(cart);
  };
  // Shows `next` and routes its events to the page; after sign-in the page switches carts.
  const show = (next, account) => {
    unsubscribe();
    cart = next;
    window.cart = next;
    unsubscribe = next.subscribe((event) => {
      if (event.type === 'change') render();
      else if (event.type === 'status') {
        renderStatus($('status'), event.status);
        checkout.update(cart);
      } else if (event.type === 'warning' && event.code !== 'cart_unavailable') {
        // cart_unavailable only means a new cart is not on the server yet.
        notify('warning', `${event.message} (${event.code})`);
      }
    });
    $('signin').hidden = Boolean(account);
    $('signed-in').hidden = !account;
    if (account) $('signed-in').textContent = `Signed in as ${account}`;
    render();
    renderStatus($('status'), cart.status());
  };
  show(opened, choice.cartId === opened.id ? choice.account : undefined);

  // The badge and the checkout button also follow the browser's own online/offline events.
  for (const name of ['online', 'offline']) {
    window.addEventListener(name, () => {
      renderStatus($('status'), cart.status());
      checkout.update(cart);
    });
  }
  $('clear-cart').addEventListener('click', () => run(() => cart.clear()));
  $('signin').addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = $('signin').querySelector('button');
    button.disabled = true;
    try {
      const { cart: account, account: name } = await signIn($('signin-name').value, cart, { server });
      show(account, name);
      $('signed-in').focus();
    } catch (error) {
      notify('error', `Sign-in failed: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  });
  // Writes are saved in the background; leaving the page is the moment to make sure.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') cart.flush().catch((error) => notify('error', `Saving failed: ${error.message}`));
  });
  catalog.enable();
  $('signin').querySelector('button').disabled = false;
  document.body.dataset.ready = 'true';
}

main().catch((error) => {
  $('status').textContent = `The cart could not start: ${error.message}`;
  notify('error', String(error));
});
