// The storefront's service worker: after one visit the shop loads and works offline.
//
// webpack.config.js emits this file as dist/sw.js with `BUILD = { version, files }` put in front:
// `files` are the build's output files (hashed bundles, .wasm, CSS, pages) and `version` a hash
// of their contents, so every new build is a new worker with its own cache.
//
// - Hashed bundles and the .wasm never change under their name: cache first.
// - Pages (navigations): network first, the cached copy offline. An online load therefore always
//   gets the newest shell, whose new hashed files the new worker has precached; the new worker
//   takes over at once (skipWaiting + clients.claim) and deletes the older caches.
// - GET /api/catalog: network first, falling back to the cached copy.
// - Never cached, never answered from a cache: the sync socket, carts, checkout, orders, sign-in,
//   metrics. They are the cart's and the account's live state.
/* global BUILD */

const CACHE = `offline-cart-shell-${BUILD.version}`;
const CATALOG = '/api/catalog';
const NEVER_CACHED = ['/sync', '/api/carts/', '/api/orders/', '/api/signin', '/metrics', '/healthz'];

self.addEventListener('install', (event) => {
  const urls = [...BUILD.files.map((file) => `/${file}`), '/', CATALOG];
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(urls))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name.startsWith('offline-cart-shell-') && name !== CACHE).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

// The network's answer, stored under `key` when it is a success; the cached one when the
// network gives none.
async function networkFirst(request, key) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(key, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(key);
    if (cached) return cached;
    throw error;
  }
}

async function cacheFirst(request) {
  return (await caches.match(request, { cacheName: CACHE })) ?? fetch(request);
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (NEVER_CACHED.some((prefix) => url.pathname.startsWith(prefix))) return;
  if (url.pathname === CATALOG) {
    event.respondWith(networkFirst(request, CATALOG));
  } else if (request.mode === 'navigate') {
    // Query parameters (?cart=...&key=...) do not change the page: one cached copy per path,
    // stored without the query so a shared cart link never lands in the cache.
    const path = url.pathname === '/index.html' ? '/' : url.pathname;
    event.respondWith(networkFirst(new Request(path), path));
  } else if (BUILD.files.includes(url.pathname.slice(1))) {
    event.respondWith(cacheFirst(request));
  }
});
