// offline-cart in the bench (bench/pages/harness.js): the package's web entry (pkg/web.js, what
// `import { Cart, init } from "offline-cart/web"` gives: the `--target web` build), imported on
// first use; its `init()` is called apart so that import and wasm initialisation are timed
// apart (a cart then finds the module ready).
import { install } from "./harness.js";
import { benchItem } from "./peer-cart.js";

const scriptStart = performance.now();
let loaded;

install({
  name: "offline-cart",
  load() {
    loaded ??= (async () => {
      const start = performance.now();
      const module = await import(/* webpackChunkName: "offline-cart" */ "../../pkg/web.js");
      const imported = performance.now();
      await module.init();
      return { module, importMs: imported - start, initMs: performance.now() - imported };
    })();
    return loaded;
  },
  async open({ id, fixture, server, key }) {
    const { module } = await loaded;
    const options = {};
    if (id) options.cartId = id;
    if (server) options.server = server;
    if (key) options.key = key;
    const cart = await module.Cart.open(options);
    if (fixture) cart.merge(fixture);
    return {
      id: cart.id,
      key: cart.key,
      add: (sku) => cart.addItem(benchItem(sku)),
      flush: () => cart.flush(),
      lines: () => cart.items(),
      units: () => cart.itemCount(),
      status: () => cart.status(),
      onRemoteChange: (callback) => cart.subscribe((event) => event.type === "change" && event.origin === "remote" && callback()),
      sync: () => cart.sync(30000),
      close: () => cart.close(),
    };
  },
  /**
   * The cold start as a shop's page sees it: `Cart.start` lists the lines remembered from the
   * last visit before the .wasm has arrived. Resolves once `items()` shows `lines` lines, then
   * once the Automerge cart is ready.
   */
  async firstListing({ id, lines }) {
    const { Cart } = await import(/* webpackChunkName: "offline-cart" */ "../../pkg/web.js");
    const cart = Cart.start({ cartId: id });
    await new Promise((resolve) => {
      const check = () => cart.items().length >= lines && resolve();
      cart.subscribe((event) => event.type === "change" && check());
      check();
    });
    const listedAt = performance.now();
    const listed = cart.items().length;
    await cart.ready;
    return { listedAt, listed, readyAt: performance.now() };
  },
}, scriptStart);
