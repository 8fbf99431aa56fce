// The shop's HTTP API on cart-server (crates/cart-server/README.md, "HTTP API"). Each call
// resolves to `{ ok, status, body }` for any answer the server gave, so callers branch on the
// documented error codes; it rejects only when no answer came (offline, server down).

async function call(method, path, payload) {
  const response = await fetch(path, {
    method,
    headers: payload ? { 'Content-Type': 'application/json' } : {},
    body: payload ? JSON.stringify(payload) : undefined,
  });
  let body = null;
  try {
    body = await response.json();
  } catch {
    // A proxy's HTML error page, say: the status still tells what happened.
  }
  return { ok: response.ok, status: response.status, body };
}

/** `GET /api/catalog`: `{ products: [...] }`. The service worker answers it from its cache offline. */
export async function fetchCatalog() {
  const { ok, status, body } = await call('GET', '/api/catalog');
  if (!ok) throw new Error(`the catalog could not be loaded (HTTP ${status})`);
  return body.products;
}

/** `POST /api/carts/{id}/checkout` with the cart's heads and key. */
export const postCheckout = (cartId, heads, key) =>
  call('POST', `/api/carts/${encodeURIComponent(cartId)}/checkout`, { heads, key });

/** `POST /api/signin`: `{ account, cartId, key }` of the demo account `name`. */
export const postSignin = (name) => call('POST', '/api/signin', { name });
