// The npm package as built into pkg/ (scripts/package.sh): what `npm pack` would publish, its
// exports map, its types as a TypeScript user compiles them, and its TypeScript error codes
// against the codes the sources throw.
//
//   node --test tests/node/package.test.mjs   (after npm run build)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

import { ROOT } from '../../scripts/cart-server.mjs';

const PKG = path.join(ROOT, 'pkg');
const manifest = JSON.parse(readFileSync(path.join(PKG, 'package.json'), 'utf8'));
const read = (...parts) => readFileSync(path.join(ROOT, ...parts), 'utf8');
const matches = (text, pattern) => [...text.matchAll(pattern)].map((match) => match[1]);

test('npm pack would publish exactly the files package.json lists, with the user README and the LICENSE', () => {
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: PKG, encoding: 'utf8' }));
  const published = packed.files.map((file) => file.path).sort();
  assert.deepEqual(published, [...manifest.files, 'package.json'].sort());
  assert.equal(readFileSync(path.join(PKG, 'README.md'), 'utf8'), read('js', 'README.md'));
  assert.match(readFileSync(path.join(PKG, 'LICENSE'), 'utf8'), /^MIT License/);
  assert.equal(manifest.license, 'MIT');
});

test('every file the exports map names is in the package', () => {
  const targets = Object.values(manifest.exports).flatMap((entry) => (typeof entry === 'string' ? [entry] : Object.values(entry)));
  for (const target of targets) {
    assert.ok(existsSync(path.join(PKG, target)), `${target} is missing`);
    assert.ok(manifest.files.includes(target.replace(/^\.\//, '')) || target === './package.json', `${target} is not in files`);
  }
});

test('Node and server renderers get the node entry: its condition comes before module, browser and import', () => {
  const conditions = Object.keys(manifest.exports['.']);
  assert.equal(conditions[0], 'types');
  for (const bundler of ['module', 'browser', 'import']) assert.ok(conditions.indexOf('node') < conditions.indexOf(bundler), `node after ${bundler}`);
  assert.equal(manifest.exports['.'].node, './node.js');
  assert.equal(manifest.exports['.'].default, './node.js');
  assert.equal(manifest.exports['.'].import, './index.js');
});

test('the framework bindings import React, Vue and Svelte as optional peer dependencies, never bundled', () => {
  for (const [binding, framework] of [['react', 'react'], ['vue', 'vue'], ['svelte', 'svelte/store']]) {
    assert.deepEqual(manifest.exports[`./${binding}`], { types: `./${binding}.d.ts`, default: `./${binding}.js` });
    const name = framework.split('/')[0];
    assert.ok(manifest.peerDependencies[name], `${name} is a peer dependency`);
    assert.deepEqual(manifest.peerDependenciesMeta[name], { optional: true });
    assert.match(readFileSync(path.join(PKG, `${binding}.js`), 'utf8'), new RegExp(`from '${framework}';`), `${binding}.js imports the app's ${framework}`);
  }
  assert.equal(manifest.dependencies, undefined, 'the package depends on nothing at run time');
});

test('the types of every entry, the bindings too, compile for a TypeScript user (examples/typescript, strict)', () => {
  const tsc = path.join(ROOT, 'node_modules', '.bin', 'tsc');
  execFileSync(tsc, ['-p', path.join(ROOT, 'examples', 'typescript')], { cwd: ROOT, encoding: 'utf8' });
});

test('the package ships one .wasm, shared by the bundler, web and node entries', () => {
  const wasm = manifest.files.filter((file) => file.endsWith('.wasm'));
  assert.deepEqual(wasm, ['offline_cart_bg.wasm']);
  assert.match(readFileSync(path.join(PKG, 'web', 'offline_cart.js'), 'utf8'), /new URL\('\.\.\/offline_cart_bg\.wasm', import\.meta\.url\)/);
  assert.deepEqual(readdirSync(path.join(PKG, 'web')).sort(), ['offline_cart.d.ts', 'offline_cart.js']);
});

test('CartErrorCode in the types lists every code the sources throw, and no other', () => {
  const thrown = new Set([
    // cart-core's ErrorCode::as_str
    ...matches(read('crates', 'cart-core', 'src', 'error.rs'), /ErrorCode::\w+ => "([a-z_]+)"/g),
    // the binding's own codes (src/error.rs, src/server_link.rs)
    ...matches(read('src', 'error.rs') + read('src', 'server_link.rs'), /pub const [A-Z_]+: &str = "([a-z_]+)";/g),
    // the JS entry's (cart.js, validate.js)
    ...matches(read('js', 'cart.js') + read('js', 'validate.js'), /cartError\('([a-z_]+)'/g),
  ]);
  const types = read('js', 'index.d.ts');
  const union = types.slice(types.indexOf('export type CartErrorCode'), types.indexOf('export interface CartError'));
  const declared = new Set(matches(union, /\| "([a-z_]+)"/g));
  assert.deepEqual([...declared].sort(), [...thrown].sort());
});
