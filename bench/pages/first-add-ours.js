// First visit (bench scenario "first durable add"): offline-cart's page, measured by
// bench/run.mjs over a throttled network with an empty cache. `window.firstAdd` resolves with
// the milliseconds from navigation start until the shopper's first add is durable in
// IndexedDB. Everything our page needs for a working cart is this bundle; its bytes are the
// bundle rows of the table. Adapt this file when the early-add entry lands.
import init, { Cart } from "../pkg/offline_cart.js";
import { benchItem } from "./peer-cart.js";

window.firstAdd = (async () => {
  await init();
  const cart = await Cart.open();
  cart.addItem(benchItem("FIRST-1"));
  await cart.flush();
  return performance.now();
})();
