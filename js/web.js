// The package's entry for pages without a bundler (`offline-cart/web`): the wasm-bindgen glue of
// `--target web` (web/offline_cart.js), which fetches and instantiates the .wasm itself.
// `init()` starts that (from offline_cart_bg.wasm beside this file, the .wasm the bundler build
// uses too, or from the URL, Response or bytes given) and resolves once the module is ready; a
// cart that starts before `init()` was called calls it with no argument. `Cart.start` works before either.
import { useModule } from './cart.js';

let started;

/**
 * Loads the wasm module: from `moduleOrPath` (a URL, a `Response`, bytes or a
 * `WebAssembly.Module`), by default `offline_cart_bg.wasm` beside this file. Call it once,
 * early; later calls return the first call's promise.
 */
export default function init(moduleOrPath) {
  started ??= import('./web/offline_cart.js').then(async (glue) => {
    await glue.default({ module_or_path: moduleOrPath });
    return glue;
  });
  return started.then(() => undefined);
}

useModule(() => init().then(() => started));

export { init };
export { Cart } from './cart.js';
export { checkItem, isCartError } from './validate.js';
