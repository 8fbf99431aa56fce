// The package's entry for bundlers (webpack 5, Vite with vite-plugin-wasm, Rollup, esbuild):
// the `import`/`module`/`browser` conditions of package.json's exports map. The wasm-bindgen
// glue of `--target bundler` imports the .wasm as an ES module (WebAssembly ESM integration,
// which the bundler turns into a streaming instantiation); it is imported only when a cart
// starts, so the bundler puts it in a chunk of its own and the page gets a working cart from
// this entry alone (cart.js).
import { useModule } from './cart.js';

useModule(() => import('./offline_cart.js'));

export { Cart } from './cart.js';
export { checkItem, isCartError } from './validate.js';
