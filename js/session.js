// Which cart this browser shows, shared by the drop-in element and the storefront demo: the one
// named in the address (`?cart=<id>&key=<key>`, how a second device joins a cart), else the one
// remembered in localStorage, else a new one. The key is remembered beside the id because
// signing in switches to an account cart whose key came from the server.

const CURRENT_KEY = 'offline-cart:current';

/** The WebSocket URL of a sync endpoint given as a path ("/sync") or a full ws(s) URL. */
export function syncUrl(endpoint = '/sync') {
  const url = new URL(endpoint, location.href);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  return url.href;
}

/**
 * The sync URLs of an element's `server` attribute: endpoints separated by whitespace (a URL
 * holds none), each as `syncUrl` reads it. One endpoint gives its URL; several give the list
 * `Cart.open` tries in turn, one instance after another. Empty: the default `/sync`.
 */
export function syncServers(attribute) {
  const urls = attribute.split(/\s+/).filter(Boolean).map((endpoint) => syncUrl(endpoint));
  if (urls.length === 0) return syncUrl();
  return urls.length === 1 ? urls[0] : urls;
}

/** `{ cartId, key, account }` remembered by `remember`, or an empty object. */
function remembered() {
  try {
    return JSON.parse(localStorage.getItem(CURRENT_KEY)) ?? {};
  } catch {
    // No localStorage (blocked) or a damaged entry: start afresh.
    return {};
  }
}

/** Remembers the cart to reopen on the next visit; false when the browser blocks localStorage. */
export function remember({ cartId, key, account }) {
  try {
    localStorage.setItem(CURRENT_KEY, JSON.stringify({ cartId, key, account }));
    return true;
  } catch {
    return false;
  }
}

/** The cart the address names, or the remembered one: `{ cartId?, key?, account? }`. */
export function chosenCart() {
  const params = new URLSearchParams(location.search);
  if (params.get('cart')) return { cartId: params.get('cart'), key: params.get('key') ?? undefined };
  return remembered();
}

/**
 * Opens `choice` (or a new cart when it cannot be opened: `onWarning` is told why) synced
 * with `server`, and remembers it. The package's entry is imported on demand, so the page shows
 * while the wasm module downloads and compiles.
 */
export async function openCart(choice, { server, storage, onWarning = () => {} } = {}) {
  const { Cart } = await import('./index.js');
  let cart;
  try {
    cart = await Cart.open({ cartId: choice.cartId, key: choice.key, server, storage });
  } catch (error) {
    if (!choice.cartId) throw error;
    onWarning(`Could not reopen cart ${choice.cartId} (${error.message}); started a new one.`);
    choice = {};
    cart = await Cart.open({ server, storage });
  }
  if (!remember({ cartId: cart.id, key: cart.key, account: choice.account })) {
    onWarning('This browser blocks localStorage: a reload will start a new cart.');
  }
  return cart;
}
