// What a Vite 8 user adds for offline-cart: vite-plugin-wasm, which gives Vite the WebAssembly
// ESM integration that the package's bundler build (wasm-bindgen --target bundler) imports its
// .wasm with. The dev server's dependency pre-bundling would copy the package away from its
// .wasm, so it is excluded. `npx vite build examples/vite` writes examples/vite/dist (.mjs: the
// repository root is not `"type": "module"`).
import { defineConfig } from 'vite';
import wasm from 'vite-plugin-wasm';

export default defineConfig({
  // Relative asset URLs: the built app works from any folder it is served from.
  base: './',
  plugins: [wasm()],
  optimizeDeps: { exclude: ['offline-cart'] },
  // The glue instantiates the .wasm with top-level await.
  build: { target: 'esnext' },
});
