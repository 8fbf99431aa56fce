// First visit (bench scenario "first durable add"): offline-cart's page, measured by
// bench/run.mjs over a throttled network with an empty cache. `window.firstAdd` resolves with
// the milliseconds from navigation start until the shopper's first add is durable in
// IndexedDB. Everything our page needs for a working cart is this bundle; its bytes are the
// bundle rows of the table. The page starts with the package entry's `Cart.start`, as a shop
// would: the add is durable in the outbox before the .wasm has arrived (README "Before the
// module has arrived"), and is replayed into the Automerge cart once it has.
import { Cart } from "../../pkg/web.js";
import { benchItem } from "./peer-cart.js";

window.firstAdd = (async () => {
  const cart = Cart.start();
  cart.addItem(benchItem("FIRST-1"));
  await cart.flush();
  return performance.now();
})();
