// Makes pkg/ the published npm package (run by scripts/package.sh after wasm-pack and
// wasm-bindgen): copies the package's JS (js/) next to the wasm-bindgen glue, turns the
// element's stylesheets (view.css, then element.css) into one module, adds the user README (js/README.md) and LICENSE, and
// rewrites package.json with the exports map, `files` and `sideEffects`. Then links
// examples/node_modules/offline-cart to pkg/, so the examples and the storefront demo import
// the package by name through its exports map, as an installed copy is imported. Prints the
// size of the entry that gives a cart before the .wasm has arrived.
//
//   node scripts/package-entry.mjs [PKG_DIR]
//
// What pkg/ holds (every entry shares cart.js, outbox.js and validate.js):
//   index.js    bundlers (webpack 5, Vite + vite-plugin-wasm): the `--target bundler` glue
//               offline_cart.js with offline_cart_bg.js and offline_cart_bg.wasm
//   web.js      `offline-cart/web`, no bundler: the `--target web` glue in web/, with `init()`
//               fetching the same offline_cart_bg.wasm (wasm-bindgen writes one .wasm for both)
//   node.js     Node, server renderers, unit tests: the web glue in web/, instantiated from
//               offline_cart_bg.wasm read from disk
//   element.js  `offline-cart/element`: <offline-cart> (with view.js, session.js, element-style.js)
//   view.css    `offline-cart/view.css`: the styles of what view.js draws, for a page drawing its own panel
//   react.js, vue.js, svelte.js  `offline-cart/react`, `/vue`, `/svelte`: the framework bindings
//               over `cart.snapshot()`; each imports its framework, an optional peer dependency
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** What `Cart.start` needs before the .wasm arrives, measured below (the bundler entry first). */
const ENTRY = ['index.js', 'cart.js', 'outbox.js', 'validate.js'];
/** The framework bindings: `offline-cart/<name>` is js/<name>.js with js/<name>.d.ts. */
const BINDINGS = ['react', 'vue', 'svelte'];
/** Every module and type file copied from js/. */
const SOURCES = [
  ...ENTRY,
  ...['web.js', 'node.js', 'element.js', 'view.js', 'session.js', 'view.css', 'index.d.ts', 'web.d.ts', 'element.d.ts'],
  ...BINDINGS.flatMap((name) => [`${name}.js`, `${name}.d.ts`]),
];
/**
 * The frameworks the bindings import, as peer dependencies: the app's own copy is used, never
 * one of the package's, and an app that uses none of the bindings installs none of them.
 * React >= 18 for `useSyncExternalStore`, Vue >= 3.2 for `onScopeDispose`, Svelte >= 3 for
 * `svelte/store`.
 */
const PEERS = { react: '>=18', vue: '>=3.2', svelte: '>=3' };
/** The wasm-bindgen output of the two targets (the web glue serves `web` and `node`; one .wasm for both). */
const GLUE = ['offline_cart.js', 'offline_cart_bg.js', 'offline_cart_bg.wasm', 'offline_cart.d.ts'];
const WEB_GLUE = ['web/offline_cart.js', 'web/offline_cart.d.ts'];
/**
 * Modules that do something when imported: the entries register their loader, the element defines
 * itself, the glue instantiates, the stylesheet styles the page (a bundler drops an `import` of a
 * file not listed here).
 */
const SIDE_EFFECTS = ['./index.js', './web.js', './node.js', './element.js', './offline_cart.js', './web/offline_cart.js', './view.css'];

/**
 * The exports map. Conditions are tried in order: `types` for TypeScript; `node` before
 * `module` and `browser`, so Node, Vite's SSR build and Vitest (which also set `module`) get the
 * entry that needs no bundler and no `window`; `browser`, `module` and `import` (webpack 5,
 * Vite, Rollup, esbuild) the bundler build; `default` (other server renderers and runtimes) the
 * Node entry. The framework bindings (`./react`, `./vue`, `./svelte`) are the same under every
 * condition.
 */
const EXPORTS = {
  '.': {
    types: './index.d.ts',
    node: './node.js',
    browser: './index.js',
    module: './index.js',
    import: './index.js',
    default: './node.js',
  },
  './web': { types: './web.d.ts', default: './web.js' },
  './element': { types: './element.d.ts', default: './element.js' },
  './view.css': './view.css',
  ...Object.fromEntries(BINDINGS.map((name) => [`./${name}`, { types: `./${name}.d.ts`, default: `./${name}.js` }])),
  './package.json': './package.json',
};

const pkg = path.resolve(process.argv[2] ?? path.join(ROOT, 'pkg'));
const manifestPath = path.join(pkg, 'package.json');
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
for (const file of GLUE.concat(WEB_GLUE)) {
  if (!existsSync(path.join(pkg, file))) throw new Error(`${pkg} has no ${file}: run scripts/package.sh (wasm-pack, then wasm-bindgen --target web)`);
}

// The web glue looks for the .wasm beside itself; the package's one .wasm is a folder up. A
// bundler resolves this `new URL(..., import.meta.url)` at build time, so it must name a file
// that is there.
const webGlue = path.join(pkg, 'web', 'offline_cart.js');
const wasmUrl = "new URL('offline_cart_bg.wasm', import.meta.url)";
const glueText = readFileSync(webGlue, 'utf8');
if (glueText.split(wasmUrl).length === 2) writeFileSync(webGlue, glueText.replace(wasmUrl, "new URL('../offline_cart_bg.wasm', import.meta.url)"));
else if (!glueText.includes("new URL('../offline_cart_bg.wasm', import.meta.url)")) throw new Error(`${webGlue} does not name its .wasm as ${wasmUrl} once: check the wasm-bindgen version`);

for (const file of SOURCES) copyFileSync(path.join(ROOT, 'js', file), path.join(pkg, file));
// The element's shadow root gets both: the lines and totals it shares with view.js's users, then its frame.
const css = ['view.css', 'element.css'].map((file) => readFileSync(path.join(ROOT, 'js', file), 'utf8')).join('\n');
writeFileSync(
  path.join(pkg, 'element-style.js'),
  `// Generated by scripts/package-entry.mjs from js/view.css and js/element.css: the <offline-cart> element's shadow-root styles.\nexport default ${JSON.stringify(css)};\n`,
);
copyFileSync(path.join(ROOT, 'js', 'README.md'), path.join(pkg, 'README.md'));
copyFileSync(path.join(ROOT, 'LICENSE'), path.join(pkg, 'LICENSE'));

const written = {
  name: manifest.name,
  version: manifest.version,
  description: manifest.description,
  license: manifest.license,
  repository: manifest.repository,
  type: 'module',
  exports: EXPORTS,
  main: './node.js',
  module: './index.js',
  types: './index.d.ts',
  files: [...SOURCES, 'element-style.js', ...GLUE, ...WEB_GLUE, 'README.md', 'LICENSE'],
  sideEffects: SIDE_EFFECTS,
  peerDependencies: PEERS,
  peerDependenciesMeta: Object.fromEntries(Object.keys(PEERS).map((name) => [name, { optional: true }])),
  engines: { node: '>=20' },
};
for (const key of Object.keys(written)) if (written[key] === undefined) delete written[key];
writeFileSync(manifestPath, `${JSON.stringify(written, null, 2)}\n`);

// node_modules/offline-cart for the examples (and, through resolve.modules, the demo's webpack build).
const modules = path.join(ROOT, 'examples', 'node_modules');
const link = path.join(modules, 'offline-cart');
mkdirSync(modules, { recursive: true });
rmSync(link, { recursive: true, force: true });
symlinkSync(path.relative(modules, pkg), link, 'dir');

let raw = 0;
let gzip = 0;
for (const file of ENTRY) {
  const bytes = readFileSync(path.join(pkg, file));
  raw += bytes.length;
  gzip += gzipSync(bytes, { level: 9 }).length;
}
console.log(`${'JS entry'.padEnd(16)} ${String(raw).padStart(9)} B raw ${String(gzip).padStart(9)} B gzip -9 (${ENTRY.join(' + ')}, unminified)`);
