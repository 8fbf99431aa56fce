// Bundles the storefront demo (www/) into dist/, consuming the wasm-pack output in pkg/ the way
// an application's own webpack build would consume the published offline-cart package.
const path = require('node:path');
const HtmlWebpackPlugin = require('html-webpack-plugin');

module.exports = {
  entry: './www/index.js',
  output: {
    path: path.resolve(__dirname, 'dist'),
    // A content hash in the name (the .wasm gets one by default): a new build never meets a
    // stale copy in a cache.
    filename: '[name].[contenthash].js',
    // dist/ holds only the latest build.
    clean: true,
  },
  experiments: {
    // wasm-pack's `bundler` target imports the .wasm file as an ES module; webpack 5 turns that
    // into a streaming, asynchronous instantiation (browsers refuse synchronous compilation of
    // modules over 4 KB on the main thread).
    asyncWebAssembly: true,
    // `import './style.css'` without css-loader or mini-css-extract-plugin: webpack emits a
    // .css file and the HTML plugin links it.
    css: true,
  },
  resolve: {
    // The demo imports 'offline-cart' exactly as a user's app does; here the name points at the
    // freshly built package instead of node_modules, so no `npm link` or install step is needed.
    alias: { 'offline-cart': path.resolve(__dirname, 'pkg') },
  },
  plugins: [
    // www/index.html is the page; the plugin adds the hashed script and stylesheet to it.
    new HtmlWebpackPlugin({ template: './www/index.html' }),
  ],
  performance: {
    // The wasm module is the whole cart engine and is measured by scripts/build.sh (raw and
    // gzip); webpack's 244 KiB default hint would warn on every build about that known size.
    assetFilter: (file) => !file.endsWith('.wasm'),
  },
};
