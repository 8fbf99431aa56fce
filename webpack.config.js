// Bundles the storefront demo (www/) into dist/, consuming the npm package in pkg/ the way an
// application's own webpack build consumes the published offline-cart package: by name, through
// its exports map (the bundler build, and `offline-cart/element`).
//
// Three entries, all ES modules: `main`, the storefront (linked from index.html),
// `offline-cart-embed`, the package's drop-in <offline-cart> element (`offline-cart/element`)
// built for pages without a bundler, under a
// fixed name so a shop can write one <script type="module" src=".../offline-cart-embed.js">,
// and `early`, the quick-add page (early.html) that takes adds before the .wasm has arrived.
// They share the package's chunks and its .wasm, which each loads by URL next to itself.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const HtmlWebpackPlugin = require('html-webpack-plugin');
const { Compilation, sources } = require('webpack');

const EMBED = 'offline-cart-embed';

// Emits what webpack does not process: www/embed.html as it is, and www/sw.js with the list of
// this build's files and a version hashed from their contents in front, so the service worker
// precaches exactly this build and a new build is a new worker with a new cache.
class ShellPlugin {
  apply(compiler) {
    compiler.hooks.thisCompilation.tap('ShellPlugin', (compilation) => {
      // After the HTML plugin and minification: every output file exists with its final bytes.
      compilation.hooks.processAssets.tap({ name: 'ShellPlugin', stage: Compilation.PROCESS_ASSETS_STAGE_REPORT }, () => {
        for (const file of ['embed.html', 'sw.js']) compilation.fileDependencies.add(path.resolve(__dirname, 'www', file));
        // `minimized: true`: copied byte for byte, not rewritten by the HTML minimizer.
        const page = fs.readFileSync(path.resolve(__dirname, 'www/embed.html'));
        compilation.emitAsset('embed.html', new sources.RawSource(page), { minimized: true });
        const files = compilation
          .getAssets()
          .map((asset) => asset.name)
          .filter((name) => !name.endsWith('.LICENSE.txt'))
          .sort();
        const hash = crypto.createHash('sha256');
        for (const name of files) hash.update(name).update(compilation.getAsset(name).source.buffer());
        const version = hash.digest('hex').slice(0, 16);
        const worker = fs.readFileSync(path.resolve(__dirname, 'www/sw.js'), 'utf8');
        const source = new sources.RawSource(`const BUILD = ${JSON.stringify({ version, files })};\n${worker}`);
        // Not minified: 4 KB, and readable where it runs (DevTools > Application).
        compilation.emitAsset('sw.js', source, { minimized: true });
      });
    });
  }
}

module.exports = {
  entry: {
    main: './www/index.js',
    [EMBED]: 'offline-cart/element',
    early: './www/early.js',
  },
  output: {
    path: path.resolve(__dirname, 'dist'),
    // A content hash in the name (the .wasm gets one by default): a new build never meets a
    // stale copy in a cache. The embed keeps its name: shops link to it.
    filename: ({ chunk }) => (chunk.name === EMBED ? '[name].js' : '[name].[contenthash].js'),
    chunkFilename: '[id].[contenthash].js',
    cssFilename: '[name].[contenthash].css',
    // ES module output: the embed is imported by <script type="module"> on any page, and finds
    // its chunks and .wasm relative to its own URL (import.meta.url).
    module: true,
    // dist/ holds only the latest build.
    clean: true,
  },
  experiments: {
    // wasm-pack's `bundler` target imports the .wasm file as an ES module; webpack 5 turns that
    // into a streaming, asynchronous instantiation (browsers refuse synchronous compilation of
    // modules over 4 KB on the main thread).
    asyncWebAssembly: true,
    outputModule: true,
    // `import './style.css'` without css-loader or mini-css-extract-plugin: webpack emits a
    // .css file and the HTML plugin links it.
    css: true,
  },
  resolve: {
    // The demo imports 'offline-cart' exactly as a user's app does: the build links
    // examples/node_modules/offline-cart to the freshly built pkg/ (scripts/package-entry.mjs),
    // so the name resolves through the package's exports map with no install step.
    modules: ['node_modules', path.resolve(__dirname, 'examples/node_modules')],
  },
  plugins: [
    // www/index.html is the page; the plugin adds the hashed script and stylesheet to it. The
    // page has no template syntax, so it is passed as a string: the plugin's template loader
    // compiles to a `with` statement, which the ES module output refuses with a warning.
    new HtmlWebpackPlugin({
      templateContent: fs.readFileSync(path.resolve(__dirname, 'www/index.html'), 'utf8'),
      chunks: ['main'],
      scriptLoading: 'module',
    }),
    new HtmlWebpackPlugin({
      filename: 'early.html',
      templateContent: fs.readFileSync(path.resolve(__dirname, 'www/early.html'), 'utf8'),
      chunks: ['early'],
      scriptLoading: 'module',
    }),
    new ShellPlugin(),
  ],
  performance: {
    // The wasm module is the whole cart engine and is measured by scripts/build.sh (raw and
    // gzip); webpack's 244 KiB default hint would warn on every build about that known size.
    assetFilter: (file) => !file.endsWith('.wasm'),
  },
};
