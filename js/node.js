// The package's entry for Node, server renderers and unit tests (the `node` and `default`
// conditions of package.json's exports map): the same cart, with the web build's glue
// (web/offline_cart.js) instantiating offline_cart_bg.wasm read from disk, when a cart first
// starts. Importing it touches no browser global (`window`, `document`, IndexedDB), so a
// server-rendered page can import the package; a cart opened here keeps its data in memory
// (`storage: "memory"`; the default storage falls back to memory with a `storage_fallback`
// warning), without a server unless one is given.
import { readFile } from 'node:fs/promises';
import { useModule } from './cart.js';

useModule(async () => {
  const glue = await import('./web/offline_cart.js');
  const bytes = await readFile(new URL('./offline_cart_bg.wasm', import.meta.url));
  await glue.default({ module_or_path: bytes });
  return glue;
});

export { Cart } from './cart.js';
export { checkItem, isCartError } from './validate.js';
