// A Vite 8 Vue app as a user sets it up: @vitejs/plugin-vue, plus vite-plugin-wasm for
// offline-cart's bundler build (see examples/vite/vite.config.mjs for why each setting is there).
// `npx vite build examples/vue` writes examples/vue/dist.
import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';
import wasm from 'vite-plugin-wasm';

export default defineConfig({
  base: './',
  plugins: [vue(), wasm()],
  optimizeDeps: { exclude: ['offline-cart'] },
  build: { target: 'esnext' },
});
