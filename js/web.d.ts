// Types of `offline-cart/web` (web.js): the package's API plus `init`, which loads the wasm
// module on a page without a bundler.
export * from "./index.js";

/** What `init` can load the wasm module from. */
export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

/**
 * Loads the wasm module: from `moduleOrPath`, by default `offline_cart_bg.wasm` beside web.js. Later calls return the first call's promise. A cart that starts first calls
 * it with no argument; `Cart.start` works before it resolves.
 */
export default function init(moduleOrPath?: InitInput | Promise<InitInput>): Promise<void>;
export { init };
