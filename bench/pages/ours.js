// offline-cart in the bench (bench/pages/harness.js): the `--target web` build in bench/pkg,
// imported on first use so that import and wasm initialisation are timed apart.
import { install } from "./harness.js";
import { benchItem } from "./peer-cart.js";

const scriptStart = performance.now();
let loaded;

install({
  name: "offline-cart",
  load() {
    loaded ??= (async () => {
      const start = performance.now();
      const module = await import(/* webpackChunkName: "offline-cart" */ "../pkg/offline_cart.js");
      const imported = performance.now();
      await module.default();
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
      onRemoteChange: (callback) => cart.subscribe((event) => event.type === "change" && event.origin === "remote" && callback()),
      sync: () => cart.sync(30000),
      close: () => cart.close(),
    };
  },
}, scriptStart);
