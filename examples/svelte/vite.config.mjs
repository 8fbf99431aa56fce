// A Vite 8 Svelte app as a user sets it up: @sveltejs/vite-plugin-svelte, plus vite-plugin-wasm
// for offline-cart's bundler build (see examples/vite/vite.config.mjs for why each setting is
// there). `npx vite build examples/svelte` writes examples/svelte/dist.
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import wasm from 'vite-plugin-wasm';

export default defineConfig({
  base: './',
  plugins: [svelte(), wasm()],
  optimizeDeps: { exclude: ['offline-cart'] },
  build: { target: 'esnext' },
});
