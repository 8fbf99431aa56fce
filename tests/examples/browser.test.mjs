// The package's browser examples in Debian's Chromium (playwright-core): the Vite app
// (examples/vite, built into examples/vite/dist by `npx vite build examples/vite`) and the page
// without a bundler (examples/plain, loading `offline-cart/web` through an import map from
// examples/node_modules/offline-cart, the build's link to pkg/). Each adds an item, shows it,
// and still has it after a reload (IndexedDB). Served by a small static server: the examples
// need no sync server.
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
