// The package's browser examples in Debian's Chromium (playwright-core): the Vite app
// (examples/vite, built into examples/vite/dist by `npx vite build examples/vite`) and the page
// without a bundler (examples/plain, loading `offline-cart/web` through an import map from
// examples/node_modules/offline-cart, the build's link to pkg/). Each adds an item, shows it,
// and still has it after a reload (IndexedDB). The React, Vue and Svelte apps (examples/react,
// examples/vue, examples/svelte, each built by `npx vite build examples/<name>`) list the cart
// through the package's bindings; each sees an add merged from another device and renders a
// bounded number of times. Served by a small static server: the examples need no sync server.
//
//   node --test tests/examples/
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';

import { ROOT } from '../../scripts/cart-server.mjs';
import { launchChromium } from '../../scripts/chromium.mjs';
import { serveStatic } from '../../scripts/static-server.mjs';

const WAIT_MS = 20_000;

let server;
let browser;

before(async () => {
  server = await serveStatic(path.join(ROOT, 'examples'));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** Opens `page` of the examples in a fresh profile; page errors and failed requests fail the test. */
async function open(pagePath) {
  const context = await browser.newContext();
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('response', (response) => response.status() >= 400 && problems.push(`${response.status()} ${response.url()}`));
  await page.goto(`${server.origin}${pagePath}`);
  return { context, page, problems };
}

/** Waits until the page's cart has the Automerge module and lists `quantity` mugs. */
async function expectMugs(page, quantity) {
  await page.waitForFunction(() => window.cart?.isReady === true);
  await page.locator(`#lines li[data-sku="MUG"][data-quantity="${quantity}"]`).waitFor();
  assert.equal(await page.evaluate(() => window.cart.itemCount()), quantity);
}

for (const [name, pagePath] of [
  ['the Vite app (vite-plugin-wasm, the bundler build)', '/vite/dist/'],
  ['the page without a bundler (offline-cart/web)', '/plain/'],
]) {
  test(`${name} adds an item in Chromium and keeps it over a reload`, async () => {
    const { context, page, problems } = await open(pagePath);
    try {
      await page.waitForFunction(() => typeof window.cart?.addItem === 'function');
      await page.locator('#add').click();
      await page.locator('#add').click();
      await expectMugs(page, 2);
      await page.evaluate(() => window.cart.flush());
      await page.reload();
      await expectMugs(page, 2);
      assert.equal(await page.evaluate(() => window.cart.status().storage), 'indexeddb');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
}

test('the Vite app shows the drop-in element from offline-cart/element on its own cart', async () => {
  const { context, page, problems } = await open('/vite/dist/');
  try {
    const element = page.locator('offline-cart');
    await page.waitForFunction(() => document.querySelector('offline-cart')?.cart !== undefined);
    await element.getByRole('status').waitFor();
    assert.match(await element.getByRole('button', { name: /^Cart/ }).textContent(), /Cart/);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

/**
 * In the page: resolves once every edit is saved and the framework has drawn what that
 * scheduled (two animation frames), with the render count and the snapshot checks.
 */
const settled = () =>
  window.cart
    .flush()
    .then(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))))
    .then(() => ({
      renders: window.renders,
      renderedIsCurrent: window.rendered === window.cart.snapshot(),
      sameTwice: window.cart.snapshot() === window.cart.snapshot(),
    }));

/** Waits until the page is settled with every edit saved; returns `settled()`'s reading. */
async function settle(page) {
  await page.locator('#saved', { hasText: 'Saved on this device' }).waitFor();
  const reading = await page.evaluate(settled);
  assert.ok(reading.renderedIsCurrent, 'the component rendered the cart\'s current snapshot');
  assert.ok(reading.sameTwice, 'a snapshot read twice without a change is the same object');
  return reading.renders;
}

/** How many renders one change may cost at most (the change, then its save); a loop costs thousands. */
const RENDERS_PER_CHANGE = 4;

// Each framework app (examples/react, examples/vue, examples/svelte, built by `npx vite build
// examples/<name>`) lists the cart through its binding; `window.renders` counts its renders.
for (const [name, binding] of [
  ['React', 'useCart and useCartStatus from offline-cart/react'],
  ['Vue', 'useCart from offline-cart/vue'],
  ['Svelte', 'cartStore from offline-cart/svelte'],
]) {
  test(`the ${name} app (${binding}) shows an add merged from another device, without a render loop`, async () => {
    const { context, page, problems } = await open(`/${name.toLowerCase()}/dist/`);
    try {
      await page.waitForFunction(() => window.cart?.isReady === true);
      await page.locator('#add').click();
      await page.locator('#lines li[data-sku="MUG"][data-quantity="1"]').waitFor();
      const before = await settle(page);

      // Another device: a second cart of the same id in page memory, whose bytes are merged.
      const merged = await page.evaluate(async () => {
        const other = await window.Cart.open({ cartId: window.cart.id, storage: 'memory' });
        other.addItem({ sku: 'TEA', name: 'Green tea', unitPrice: 900, currency: 'EUR', quantity: 2 });
        const changed = window.cart.merge(other.save());
        await other.close();
        return changed;
      });
      assert.equal(merged, true, 'the merge brought in the other device\'s add');
      await page.locator('#lines li[data-sku="TEA"][data-quantity="2"]').waitFor();
      await page.locator('#count', { hasText: '3 in the cart' }).waitFor();

      const after = await settle(page);
      assert.ok(after > before, 'the merge rendered the component');
      assert.ok(after - before <= RENDERS_PER_CHANGE, `the merge cost ${after - before} renders`);
      assert.equal(await settle(page), after, 'once settled, nothing renders it again');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
}
