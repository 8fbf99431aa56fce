// A Vite 8 React app as a user sets it up: @vitejs/plugin-react, plus vite-plugin-wasm for
// offline-cart's bundler build (see examples/vite/vite.config.mjs for why each setting is there).
// `npx vite build examples/react` writes examples/react/dist.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import wasm from 'vite-plugin-wasm';

export default defineConfig({
  base: './',
  plugins: [react(), wasm()],
  optimizeDeps: { exclude: ['offline-cart'] },
  build: { target: 'esnext' },
});
