// The package's entry before the wasm module has arrived, end to end in Chromium: the quick-add
// page (dist/early.html, www/early.js) with every .wasm response held back until the test lets
// it through, against a real cart-server serving dist/ (`?server=off`: the carts stay on the
// device). Adds made while the module is held back show at once, are durable in the outbox
// (a reload still shows them), land in the Automerge cart once the module arrives, and count
// once however often they are replayed: by two tabs, or again after a crash between the replay
// and the outbox delete.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";

import { ROOT, eventually, startCartServer } from "../../scripts/cart-server.mjs";
import { launchChromium } from "../../scripts/chromium.mjs";

const WAIT_MS = 20_000;
const PAGE = "/early.html?server=off";
const MUG = { sku: "MUG", name: "Stoneware mug", unitPrice: 1450, currency: "EUR" };
const TOTE = { sku: "TOTE", name: "Heavy tote bag", unitPrice: 1200, currency: "EUR" };

let server;
let browser;

before(async () => {
  server = await startCartServer({ staticDir: path.join(ROOT, "dist") });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/**
 * A fresh browser profile whose .wasm responses wait while `held` is true: `release()` lets the
 * waiting ones and every later one through, `hold()` holds the next ones again. Routing turns
 * the HTTP cache off, so a reload asks for the .wasm again.
 */
async function deviceWithHeldModule() {
  const context = await browser.newContext();
  context.setDefaultTimeout(WAIT_MS);
  let held = true;
  let waiting = [];
  await context.route("**/*.wasm", (route) => {
    if (held) waiting.push(route);
    else route.continue();
  });
  return {
    context,
    hold: () => (held = true),
    release: () => {
      held = false;
      for (const route of waiting.splice(0)) route.continue();
    },
    requested: () => waiting.length,
  };
}

/** A page of `context` at the quick-add page, once its cart exists. Page errors fail the test. */
async function openPage(context) {
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (error) => page.errors.push(error.message));
  await page.goto(`${server.http}${PAGE}`);
  await page.waitForFunction(() => typeof window.cart?.addItem === "function");
  return page;
}

/** `[[sku, quantity]]` of the page's cart, and whether the module is ready. */
const cartState = (page) =>
  page.evaluate(() => ({ ready: window.cart.isReady, lines: window.cart.items().map((line) => [line.sku, line.quantity]) }));

/** Waits until the page's cart lists `lines` ([[sku, quantity]]). */
async function waitForLines(page, lines, what) {
  try {
    await page.waitForFunction(
      (expected) => JSON.stringify(window.cart.items().map((line) => [line.sku, line.quantity])) === expected,
      JSON.stringify(lines),
    );
  } catch (error) {
    throw new Error(`${what}: expected ${JSON.stringify(lines)}, the cart has ${JSON.stringify((await cartState(page)).lines)} (${error.message})`);
  }
}

const waitForModule = (page) => page.waitForFunction(() => window.cart.isReady);

/** The outbox's stored entries (IndexedDB `offline-cart-outbox`, store `adds`). */
const outboxEntries = (page) =>
  page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open("offline-cart-outbox");
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const request = open.result.transaction("adds").objectStore("adds").getAll();
          request.onerror = () => reject(request.error);
          request.onsuccess = () => {
            open.result.close();
            resolve(request.result);
          };
        };
      }),
  );

/** `{ code, message }` that `cart.addItem(input)` throws, for each input. */
const refusals = (page, inputs) =>
  page.evaluate((inputs) => {
    const before = JSON.stringify(window.cart.items());
    const out = inputs.map((input) => {
      try {
        window.cart.addItem(input);
        return { accepted: true };
      } catch (error) {
        return { name: error.name, code: error.code, message: error.message };
      }
    });
    if (JSON.stringify(window.cart.items()) !== before) throw new Error("a refused add changed the cart");
    return out;
  }, inputs);

/** Inputs the cart refuses, one per check, in the order the checks run. */
const BAD_INPUTS = [
  null,
  "MUG",
  [MUG],
  { ...MUG, price: 1 },
  { name: "Mug", unitPrice: 1, currency: "EUR" },
  { ...MUG, sku: 5 },
  { ...MUG, unitPrice: "1450" },
  { ...MUG, variant: null, tag: 7 },
  { ...MUG, sku: "" },
  { ...MUG, sku: "x".repeat(65) },
  { ...MUG, sku: "a\u0007b" },
  { ...MUG, name: "  " },
  { ...MUG, unitPrice: 1.5 },
  { ...MUG, unitPrice: -1 },
  { ...MUG, unitPrice: 1_000_000_001 },
  { ...MUG, currency: "eur" },
  { ...MUG, quantity: 0 },
  { ...MUG, quantity: 1000 },
  { ...MUG, quantity: 2.5 },
  { ...MUG, imageUrl: "javascript:alert(1)" },
  { ...MUG, imageUrl: "//evil.example/x.png" },
  { ...MUG, variant: "" },
  { ...MUG, tag: "has space" },
  { ...MUG, tag: "a#b" },
  { ...MUG, quantity: 998 },
];

test("an add before the module arrives shows at once, survives a reload and lands in the Automerge cart once", { timeout: 60_000 }, async () => {
  const device = await deviceWithHeldModule();
  let page = await openPage(device.context);
  await page.evaluate((mug) => window.cart.addItem({ ...mug, quantity: 2 }), MUG);
  assert.deepEqual(await cartState(page), { ready: false, lines: [["MUG", 2]] }, "items() shows the add at once");
  await page.evaluate(() => window.cart.flush());
  // The page asks for the module on its own time (after its chunk loads); the add above did not
  // wait for it, so neither may this check.
  await eventually("the page to ask for the .wasm, which is held back", () => device.requested() > 0, WAIT_MS);

  // Durable: a reload, with the module still held back, reads it back from the outbox.
  await page.reload();
  await page.waitForFunction(() => typeof window.cart?.addItem === "function");
  await waitForLines(page, [["MUG", 2]], "after a reload before the module");
  await page.evaluate((tote) => window.cart.addItem(tote), TOTE);
  const early = await refusals(page, BAD_INPUTS);
  assert.equal((await cartState(page)).ready, false);

  device.release();
  await waitForModule(page);
  await waitForLines(page, [["MUG", 2], ["TOTE", 1]], "replayed into the Automerge cart");
  const late = await refusals(page, BAD_INPUTS);
  assert.deepEqual(early, late, "the early cart refuses what the wasm cart refuses, with the same codes and messages");
  assert.ok(early.every((refusal) => refusal.name === "CartError" && refusal.code), JSON.stringify(early));
  await page.waitForFunction(() => window.cart.status().unsaved === 0);
  for (let i = 0; i < 100 && (await outboxEntries(page)).length > 0; i++) await page.waitForTimeout(50);
  assert.deepEqual(await outboxEntries(page), [], "replayed entries leave the outbox");

  // The next visit lists the remembered lines before the module arrives, then the same lines.
  device.hold();
  await page.reload();
  await page.waitForFunction(() => typeof window.cart?.addItem === "function");
  await waitForLines(page, [["MUG", 2], ["TOTE", 1]], "remembered from the last visit");
  assert.equal((await cartState(page)).ready, false);
  device.release();
  await waitForModule(page);
  await waitForLines(page, [["MUG", 2], ["TOTE", 1]], "the Automerge cart");
  assert.deepEqual(page.errors, []);
  await device.context.close();
});

test("an add replayed again after a crash between the replay and the outbox delete counts once", { timeout: 60_000 }, async () => {
  const device = await deviceWithHeldModule();
  const page = await openPage(device.context);
  await page.evaluate((mug) => window.cart.addItem({ ...mug, tag: "crash-1" }), MUG);
  await page.evaluate(() => window.cart.flush());
  const [entry] = await outboxEntries(page);
  assert.equal(entry.tag, "crash-1");

  device.release();
  await waitForModule(page);
  await page.waitForFunction(() => window.cart.status().unsaved === 0);
  // The crash: the entry is back in the outbox as if its delete had never happened.
  await page.evaluate(
    (entry) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open("offline-cart-outbox");
        open.onsuccess = () => {
          const tx = open.result.transaction("adds", "readwrite");
          tx.objectStore("adds").put(entry, entry.key);
          tx.oncomplete = () => {
            open.result.close();
            resolve();
          };
          tx.onerror = () => reject(tx.error);
        };
        open.onerror = () => reject(open.error);
      }),
    entry,
  );
  await page.reload();
  await page.waitForFunction(() => typeof window.cart?.addItem === "function");
  await waitForModule(page);
  await waitForLines(page, [["MUG", 1]], "replayed twice");
  for (let i = 0; i < 100 && (await outboxEntries(page)).length > 0; i++) await page.waitForTimeout(50);
  assert.deepEqual(await outboxEntries(page), []);
  assert.deepEqual(page.errors, []);
  await device.context.close();
});

test("two tabs replaying the same outbox count each add once", { timeout: 60_000 }, async () => {
  const device = await deviceWithHeldModule();
  const tabA = await openPage(device.context);
  await tabA.evaluate((mug) => window.cart.addItem({ ...mug, quantity: 3 }), MUG);
  await tabA.evaluate(() => window.cart.flush());
  // Tab B opens the same cart (remembered in localStorage) and reads A's add from the outbox,
  // so both replay it once the module arrives.
  const tabB = await openPage(device.context);
  assert.equal(await tabB.evaluate(() => window.cart.id), await tabA.evaluate(() => window.cart.id));
  await waitForLines(tabB, [["MUG", 3]], "tab B before the module");

  device.release();
  await Promise.all([waitForModule(tabA), waitForModule(tabB)]);
  await Promise.all([tabA.evaluate(() => window.cart.flush()), tabB.evaluate(() => window.cart.flush())]);
  await waitForLines(tabA, [["MUG", 3]], "tab A");
  await waitForLines(tabB, [["MUG", 3]], "tab B");

  // What both tabs stored, read by a third.
  const tabC = await openPage(device.context);
  await waitForModule(tabC);
  await waitForLines(tabC, [["MUG", 3]], "a third tab reading what both stored");
  for (const tab of [tabA, tabB, tabC]) assert.deepEqual(tab.errors, []);
  await device.context.close();
});
