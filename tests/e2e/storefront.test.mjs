// The storefront (dist/, built by `npm run build`) end to end: Debian's Chromium through
// playwright-core, against a real cart-server on loopback serving dist/. Each test opens its
// own browser contexts (own IndexedDB, own service worker), so carts never leak between tests.
//
// Offline is `context.setOffline(true)`, which makes the page's and the service worker's
// requests fail. In Chromium it does not close a WebSocket that is already open, so the parts
// that need the cart itself to be offline also stop cart-server (`server.down()`), exactly as
// when the shop's server goes away, and bring it back on the same port and data (`server.up()`).
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { ROOT, startCartServer, eventually } from "../../scripts/cart-server.mjs";
import { compressDir } from "../../scripts/compress.mjs";
import { launchChromium } from "../../scripts/chromium.mjs";

/** Every test is bounded; waits inside a test are shorter. */
const TEST_MS = 60_000;
const WAIT_MS = 20_000;

let server;
let serverIsDown = false;
let browser;

before(async () => {
  server = await startCartServer({ staticDir: path.join(ROOT, "dist") });
  browser = await launchChromium();
});

// A test that failed while the server was down must not take the next tests with it.
beforeEach(async () => {
  if (serverIsDown) await serverUp();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A fresh browser profile: its own storage, service worker and cookies. */
async function newDevice(options = {}) {
  const context = await browser.newContext(options);
  context.setDefaultTimeout(WAIT_MS);
  return context;
}

async function serverDown() {
  serverIsDown = true;
  await server.down();
}

async function serverUp() {
  await server.up();
  serverIsDown = false;
}

/** A page of `context` at `pathAndQuery`, once the storefront says it is ready. Page errors fail the test. */
async function openStore(context, pathAndQuery = "/") {
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (error) => page.errors.push(error.message));
  page.consoleLines = [];
  page.on("console", (message) => page.consoleLines.push(`${message.type()}: ${message.text()}`));
  await page.goto(`${server.http}${pathAndQuery}`);
  await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: WAIT_MS });
  return page;
}

/** Waits until the service worker controls `page`, so a later reload can be served offline. */
/**
 * Signs `page` in as `name` and waits for the page to say so. A sign-in that does not finish
 * fails with what the page showed and logged, and its cart's status.
 */
async function signIn(page, name) {
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Sign in" }).click();
  try {
    await page.locator("#signed-in", { hasText: `Signed in as ${name}` }).waitFor({ timeout: WAIT_MS });
  } catch (error) {
    const seen = await page
      .evaluate(() => ({
        notices: [...document.querySelectorAll("#notices li")].map((li) => li.textContent),
        button: document.querySelector("#signin button")?.disabled ? "disabled" : "enabled",
        status: window.cart?.status(),
      }))
      .catch((why) => `(the page could not be read: ${why.message})`);
    const log = page.consoleLines.slice(-20).join("\n  ");
    error.message += `\nthe page: ${JSON.stringify(seen)}\npage errors: ${JSON.stringify(page.errors)}\nconsole:\n  ${log}`;
    throw error;
  }
}

async function controlledByServiceWorker(page) {
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: WAIT_MS });
}

/**
 * `{ sku: quantity }` of the cart the page shows, read from the DOM in one step: reading row by
 * row raced with a re-render (a synced change removing a row between the count and the read
 * left the read waiting for a row that was gone).
 */
async function shownLines(root) {
  const rows = await root
    .locator(".line")
    .evaluateAll((lines) => lines.map((line) => [line.dataset.sku, Number(line.querySelector(".quantity").value)]));
  return Object.fromEntries(rows);
}

/** Waits until the page shows exactly `expected` ({ sku: quantity }). */
async function expectLines(root, expected, what) {
  let last;
  await eventually(
    `${what}: ${JSON.stringify(expected)}`,
    async () => {
      last = await shownLines(root);
      return JSON.stringify(sorted(last)) === JSON.stringify(sorted(expected));
    },
    WAIT_MS,
  ).catch((error) => {
    throw new Error(`${error.message}; shown: ${JSON.stringify(last)}`);
  });
}
const sorted = (lines) => Object.fromEntries(Object.entries(lines).sort());

/** Clicks the add button of the product card whose first sku is `sku`. */
const addProduct = (page, sku) => page.locator(`.add[data-sku="${sku}"]`).click();

/** The cart's status as the page reports it. */
const cartStatus = (page) => page.evaluate(() => window.cart.status());

/** Waits until the server has every change of the page's cart. */
async function syncedToServer(page) {
  await page.waitForFunction(
    () => {
      const status = window.cart.status();
      return status.connection === "online" && status.pending === 0 && status.unsaved === 0;
    },
    null,
    { timeout: WAIT_MS },
  );
  await page.locator('#status[data-state="account"]').waitFor({ timeout: WAIT_MS });
}

/** Waits until the page's cart has lost its server (after `server.down()`). */
async function cartOffline(page) {
  await page.waitForFunction(() => window.cart.status().connection !== "online", null, { timeout: WAIT_MS });
}

/** The cart id and key of the page's cart: what a second device needs. */
const cartAddress = (page) => page.evaluate(() => ({ id: window.cart.id, key: window.cart.key }));

/** The server's view of a cart: a fresh device opening it by its link. */
async function serverLines({ id, key }, expected, what) {
  const other = await newDevice();
  const page = await openStore(other, `/?cart=${encodeURIComponent(id)}&key=${encodeURIComponent(key)}`);
  await expectLines(page, expected, what);
  await other.close();
}

/** The value of a counter in /metrics. */
async function metric(name) {
  const text = await (await fetch(`${server.http}/metrics`)).text();
  const line = text.split("\n").find((entry) => entry.startsWith(`${name} `));
  return line ? Number(line.split(" ")[1]) : 0;
}

/** Takes the server down and the contexts offline; `reconnect()` undoes both. */
async function goOffline(...devices) {
  for (const device of devices) await device.setOffline(true);
  await serverDown();
  return async () => {
    await serverUp();
    for (const device of devices) await device.setOffline(false);
  };
}

test("items added offline survive an offline reload and reach the server once online", { timeout: TEST_MS }, async () => {
  const device = await newDevice();
  const page = await openStore(device);
  await controlledByServiceWorker(page);
  const address = await cartAddress(page);

  const reconnect = await goOffline(device);
  await cartOffline(page);
  await addProduct(page, "MUG");
  await addProduct(page, "TOTE");
  await addProduct(page, "NOTEBOOK");
  await expectLines(page, { MUG: 1, TOTE: 1, NOTEBOOK: 1 }, "three offline adds");
  await page.locator('#status[data-state="device"]', { hasText: "3 changes not yet on the server" }).waitFor({ timeout: WAIT_MS });

  // The network is off: only the service worker can serve the page, its bundles and the .wasm.
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: WAIT_MS });
  await expectLines(page, { MUG: 1, TOTE: 1, NOTEBOOK: 1 }, "the offline reload");
  assert.equal(await page.locator(".product").count() > 0, true, "the catalog comes from the service worker's cache");

  await reconnect();
  await syncedToServer(page);
  await serverLines(address, { MUG: 1, TOTE: 1, NOTEBOOK: 1 }, "the server's copy");
  assert.deepEqual(page.errors, []);

  // The cache holds the shell and the catalog, never a cart, the socket or an account.
  const cached = await page.evaluate(async () => {
    const paths = [];
    for (const name of await caches.keys()) {
      for (const request of await (await caches.open(name)).keys()) paths.push(new URL(request.url).pathname);
    }
    return paths;
  });
  assert.ok(cached.includes("/") && cached.includes("/api/catalog") && cached.some((p) => p.endsWith(".wasm")), cached.join(" "));
  assert.deepEqual(cached.filter((p) => /^\/(sync|api\/(carts|orders|signin))/.test(p)), []);
});

test("a new build's shell is picked up on the next online load, and then works offline", { timeout: TEST_MS }, async () => {
  // A copy of dist/ this test can change as a new deployment would.
  const site = mkdtempSync(path.join(tmpdir(), "storefront-"));
  cpSync(path.join(ROOT, "dist"), site, { recursive: true });
  const shop = await startCartServer({ staticDir: site });
  try {
    const device = await newDevice();
    const page = await device.newPage();
    await page.goto(`${shop.http}/`);
    await page.waitForFunction(() => document.body.dataset.ready === "true");
    await controlledByServiceWorker(page);
    const oldCaches = await page.evaluate(() => caches.keys());

    // "Deploy": a changed page and therefore a changed worker (its version is the build's hash).
    const index = path.join(site, "index.html");
    writeFileSync(index, readFileSync(index, "utf8").replace("<h1>Corner Shop</h1>", "<h1>Corner Shop 2</h1>"));
    const worker = path.join(site, "sw.js");
    writeFileSync(worker, readFileSync(worker, "utf8").replace(/"version":"([0-9a-f]+)"/, '"version":"$1next"'));
    // As the build does: the .br and .gz copies the server sends are of the new files.
    compressDir(site);

    await page.reload();
    assert.equal(await page.locator("h1").textContent(), "Corner Shop 2", "the online load gets the new page");
    await page.waitForFunction(
      (old) => caches.keys().then((names) => names.length === 1 && !old.includes(names[0])),
      oldCaches,
    );
    await device.setOffline(true);
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.ready === "true");
    assert.equal(await page.locator("h1").textContent(), "Corner Shop 2", "the new shell is what loads offline");
  } finally {
    await shop.stop();
    rmSync(site, { recursive: true, force: true });
  }
});

test("two devices offline: a remove of two and a concurrent add of one leave exactly one", { timeout: TEST_MS }, async () => {
  const deviceA = await newDevice();
  const deviceB = await newDevice();
  const pageA = await openStore(deviceA);
  await addProduct(pageA, "MUG");
  await addProduct(pageA, "MUG");
  await syncedToServer(pageA);
  const { id, key } = await cartAddress(pageA);
  const pageB = await openStore(deviceB, `/?cart=${encodeURIComponent(id)}&key=${encodeURIComponent(key)}`);
  await expectLines(pageB, { MUG: 2 }, "device B joined by the link");
  assert.equal(await pageB.evaluate(() => window.cart.id), id);

  const reconnect = await goOffline(deviceA, deviceB);
  await cartOffline(pageA);
  await cartOffline(pageB);
  await pageA.getByRole("button", { name: "Remove Stoneware mug" }).click();
  await addProduct(pageB, "MUG");
  await expectLines(pageA, {}, "device A after its remove");
  await expectLines(pageB, { MUG: 3 }, "device B after its add");

  await reconnect();
  await expectLines(pageA, { MUG: 1 }, "device A after the merge");
  await expectLines(pageB, { MUG: 1 }, "device B after the merge");
  assert.deepEqual([...pageA.errors, ...pageB.errors], []);
});

test("an add in one tab appears in another tab of the same browser without a reload", { timeout: TEST_MS }, async () => {
  const device = await newDevice();
  const first = await openStore(device);
  const second = await openStore(device);
  assert.equal(await first.evaluate(() => window.cart.id), await second.evaluate(() => window.cart.id));
  await addProduct(first, "BOTTLE");
  await expectLines(second, { BOTTLE: 1 }, "the other tab");
  await second.getByRole("button", { name: "One more Steel water bottle" }).click();
  await expectLines(first, { BOTTLE: 2 }, "the first tab");
});

test("items added while the server is down sync once it is back, without user action", { timeout: TEST_MS }, async () => {
  const device = await newDevice();
  const page = await openStore(device);
  const address = await cartAddress(page);
  await serverDown();
  await cartOffline(page);
  await addProduct(page, "STICKERS");
  await addProduct(page, "SOCKS-36");
  await page.locator("#status", { hasText: "2 changes not yet on the server" }).waitFor({ timeout: WAIT_MS });
  await serverUp();
  await syncedToServer(page);
  await serverLines(address, { STICKERS: 1, "SOCKS-36": 1 }, "the server's copy");
});

test("checkout orders once, however often it is submitted, and needs a connection", { timeout: TEST_MS }, async () => {
  const device = await newDevice();
  const page = await openStore(device);
  const before = await metric("cart_server_orders_created_total");

  // A line the server refuses: the sold-out poster, added by script (its button is disabled).
  assert.equal(await page.locator('.add[data-sku="POSTER"]').isDisabled(), true);
  await page.evaluate(() => window.cart.addItem({ sku: "POSTER", name: "Limited poster", unitPrice: 3500, currency: "EUR" }));
  await page.locator("#checkout").click();
  await page.locator('#checkout-result[data-outcome="refused"]', { hasText: "POSTER: sold out" }).waitFor({ timeout: WAIT_MS });
  await page.getByRole("button", { name: "Remove Limited poster" }).click();

  // A price that changed since the line was added: the server's price wins and the page says so.
  await page.evaluate(() => window.cart.addItem({ sku: "MUG", name: "Stoneware mug", unitPrice: 999, currency: "EUR", quantity: 2 }));
  await addProduct(page, "STICKERS");
  await expectLines(page, { MUG: 2, STICKERS: 1 }, "the cart to order");
  // Two clicks in one task: the second meets the disabled, busy button.
  await page.evaluate(() => {
    const button = document.getElementById("checkout");
    button.click();
    button.click();
  });
  const result = page.locator('#checkout-result[data-outcome="order"]');
  await result.waitFor({ timeout: WAIT_MS });
  assert.match(await result.textContent(), /2 × Stoneware mug: €29\.00 \(price changed from €9\.99 to €14\.50 each\)/);
  const orderId = await result.locator(".order").getAttribute("data-order-id");

  // The server clears the ordered lines with a synced change.
  await expectLines(page, {}, "the cart after the order");

  // A retry with the same heads (a second submit after a lost answer) returns the same order.
  const order = await (await fetch(`${server.http}/api/orders/${orderId}?key=${encodeURIComponent(await page.evaluate(() => window.cart.key))}`)).json();
  const retry = await fetch(`${server.http}/api/carts/${order.order.cartId}/checkout`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ heads: order.order.heads, key: await page.evaluate(() => window.cart.key) }),
  });
  const repeated = await retry.json();
  assert.equal(retry.status, 200);
  assert.equal(repeated.repeated, true);
  assert.equal(repeated.order.id, orderId);
  assert.equal(await metric("cart_server_orders_created_total"), before + 1, "exactly one order was created");

  // Offline the cart stays editable and the button says checkout has to wait. Only the browser
  // goes offline here (the server stays up): the page believes navigator.onLine even while
  // Chromium keeps the cart's WebSocket nominally open.
  await device.setOffline(true);
  await page.locator('#status[data-connection="offline"]').waitFor();
  await addProduct(page, "TOTE");
  await expectLines(page, { TOTE: 1 }, "an offline add");
  const button = page.locator("#checkout");
  assert.equal(await button.textContent(), "Checkout needs a connection");
  await button.click();
  await page.locator('#checkout-result[data-outcome="offline"]', { hasText: "Checkout needs a connection" }).waitFor({ timeout: WAIT_MS });
  await device.setOffline(false);
  await syncedToServer(page);
  assert.equal(await button.textContent(), "Check out");
});

test("a product name containing HTML is shown as text, in the shelf and in the cart", { timeout: TEST_MS }, async () => {
  const device = await newDevice();
  const page = await openStore(device);
  const name = "Gift card <b>&amp; note</b>";
  const card = page.locator(".product", { has: page.locator('.add[data-sku="GIFT"]') });
  assert.equal(await card.locator("h3").textContent(), name);
  assert.equal(await card.locator("h3 b").count(), 0, "no <b> element was made");
  assert.match(await card.locator(".description").textContent(), /"<script>" in a name stays text/);
  await addProduct(page, "GIFT");
  const line = page.locator('.line[data-sku="GIFT"]');
  await line.waitFor({ timeout: WAIT_MS });
  assert.equal(await line.locator(".line-name").textContent(), name);
  assert.equal(await page.locator("#cart b, #cart script").count(), 0);
});

/**
 * The plain page with the drop-in element (embed.html, `query` appended), once the element's
 * cart is open. Page errors are collected in `page.errors`.
 */
async function openEmbed(context, query = "") {
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (error) => page.errors.push(error.message));
  await page.goto(`${server.http}/embed.html${query}`);
  await page.waitForFunction(() => document.querySelector("offline-cart")?.cart !== undefined, null, { timeout: WAIT_MS });
  return page;
}

/**
 * The embed page of a fresh device with a mug and two totes added through the page's buttons,
 * and the element's drawer open showing them (`what` names the wait). Resolves to
 * `{ page, element }`.
 */
async function embedWithLinesShown(what) {
  const page = await openEmbed(await newDevice());
  await page.locator("#add-mug").click();
  await page.locator("#add-tote").click();
  const element = page.locator("offline-cart");
  await element.getByRole("button", { name: /^Cart/ }).click();
  await expectLines(element, { MUG: 1, TOTE: 2 }, what);
  return { page, element };
}

/** Waits until the element's status badge is in `state` (its data-state). */
const badgeState = (page, state) => page.locator(`offline-cart .status[data-state="${state}"]`).waitFor({ timeout: WAIT_MS });

/** What the element's shadow root has focused: the class of the focused element, or null. */
const focusedInElement = (page) => page.evaluate(() => document.querySelector("offline-cart").shadowRoot.activeElement?.className ?? null);

test("the drop-in element works on a plain page", { timeout: TEST_MS }, async () => {
  const { page, element } = await embedWithLinesShown("the element's drawer");
  assert.equal(await page.evaluate(() => window.cart === document.querySelector("offline-cart").cart), true);
  assert.equal(await page.evaluate(() => window.cart.itemCount()), 3);
  await element.getByRole("button", { name: "One more Stoneware mug" }).click();
  await expectLines(element, { MUG: 2, TOTE: 2 }, "after a click in the drawer");
  await badgeState(page, "account");
  assert.deepEqual(page.errors, []);
});

test("Escape closes the element's open drawer and gives the focus back to its toggle", { timeout: TEST_MS }, async () => {
  const device = await newDevice();
  const page = await openEmbed(device);
  await page.locator("#add-mug").click();
  // Whether the page saw each Escape as still to be handled (the element consumes only the one
  // that closes its drawer).
  await page.evaluate(() => {
    window.escapes = [];
    document.addEventListener("keydown", (event) => event.key === "Escape" && window.escapes.push(event.defaultPrevented));
  });
  const element = page.locator("offline-cart");
  const toggle = element.getByRole("button", { name: /^Cart/ });
  const drawer = element.locator(".drawer");
  await toggle.click();
  await expectLines(element, { MUG: 1 }, "the open drawer");
  assert.equal(await toggle.getAttribute("aria-expanded"), "true");

  // From a button inside the drawer: the drawer closes and the toggle has the focus.
  await element.getByRole("button", { name: "One more Stoneware mug" }).focus();
  await page.keyboard.press("Escape");
  await drawer.waitFor({ state: "hidden" });
  assert.equal(await toggle.getAttribute("aria-expanded"), "false");
  assert.equal(await focusedInElement(page), "toggle");

  // From the toggle with the drawer closed: nothing to close, the page gets the Escape.
  await page.keyboard.press("Escape");
  assert.equal(await drawer.isHidden(), true);
  assert.equal(await focusedInElement(page), "toggle");
  assert.deepEqual(await page.evaluate(() => window.escapes), [true, false]);

  // Reopened with the keyboard, Escape from the toggle closes it again.
  await page.keyboard.press("Enter");
  await drawer.waitFor({ state: "visible" });
  await page.keyboard.press("Escape");
  await drawer.waitFor({ state: "hidden" });
  assert.equal(await focusedInElement(page), "toggle");
  assert.deepEqual(page.errors, []);
});

test("removing a line with the keyboard keeps the focus in the drawer: the next line, then the empty cart", { timeout: TEST_MS }, async () => {
  const { page, element } = await embedWithLinesShown("the open drawer");
  const focusedLabel = () => page.evaluate(() => {
    const focused = document.querySelector("offline-cart").shadowRoot.activeElement;
    return focused?.getAttribute("aria-label") ?? focused?.className ?? null;
  });

  await element.getByRole("button", { name: "Remove Stoneware mug" }).focus();
  await page.keyboard.press("Enter");
  await expectLines(element, { TOTE: 2 }, "after removing the mug");
  assert.equal(await focusedLabel(), "Remove Heavy tote bag");

  await page.keyboard.press("Enter");
  await expectLines(element, {}, "after removing the totes");
  assert.equal(await focusedLabel(), "empty");
  assert.equal(await element.locator(".empty").textContent(), "Your cart is empty.");
  assert.deepEqual(page.errors, []);
});

test("the element's status badge announces each change of state once, not every sync", { timeout: TEST_MS }, async () => {
  const device = await newDevice();
  const page = await openEmbed(device);
  await badgeState(page, "account");
  // Every write into the badge's live region (role="status"), as the text it put there, and
  // every state the badge showed; every status event of the cart.
  await page.evaluate(() => {
    const element = document.querySelector("offline-cart");
    const badge = element.shadowRoot.querySelector(".status");
    const live = badge.querySelector('[role="status"]');
    window.writes = [];
    new MutationObserver((records) => {
      for (const record of records) {
        window.writes.push(record.type === "childList" ? [...record.addedNodes].map((node) => node.textContent).join("") : `(${record.type} ${record.attributeName ?? ""})`);
      }
    }).observe(live, { subtree: true, childList: true, characterData: true, attributes: true });
    window.states = [];
    new MutationObserver(() => window.states.push(badge.dataset.state)).observe(badge, { attributeFilter: ["data-state"] });
    window.statuses = [];
    element.cart.subscribe((event) => event.type === "status" && window.statuses.push(event.status));
  });
  const writes = () => page.evaluate(() => window.writes);

  // An add while online: the change goes to the server and is confirmed. The badge shows it
  // syncing, but what it announces stays "Saved to your account".
  await page.locator("#add-mug").click();
  await page.waitForFunction(() => window.statuses.some((status) => status.pending > 0) && window.cart.status().pending === 0, null, { timeout: WAIT_MS });
  await badgeState(page, "account");
  const states = await page.evaluate(() => window.states);
  assert.ok(states.includes("syncing") && states.at(-1) === "account", `the badge showed the sync: ${JSON.stringify(states)}`);
  assert.deepEqual(await writes(), [], "nothing was announced for the sync");
  const live = page.locator('offline-cart [role="status"]');
  assert.equal(await live.textContent(), "Saved to your account");

  // Offline (the browser says so): announced once.
  await device.setOffline(true);
  await badgeState(page, "device");
  assert.deepEqual(await writes(), ["Offline · saved on this device"]);

  // An add while offline is saved on this device: status events, nothing new to announce.
  const seen = await page.evaluate(() => window.statuses.length);
  await page.locator("#add-tote").click();
  await page.waitForFunction((before) => window.statuses.length > before && window.cart.status().unsaved === 0, seen, { timeout: WAIT_MS });
  await badgeState(page, "device");
  assert.deepEqual(await writes(), ["Offline · saved on this device"], "an offline add is not announced");

  // Back online: announced once more (a reconnection on the way is not announced).
  await device.setOffline(false);
  await page.waitForFunction(() => window.writes.at(-1) === "Saved to your account", null, { timeout: WAIT_MS });
  assert.deepEqual(await writes(), ["Offline · saved on this device", "Saved to your account"]);

  // The server goes away: the cart tries again and again (offline, connecting, offline, …).
  // "Offline" is announced once, the attempts are only shown; "Saved" once it is back.
  await serverDown();
  await page.waitForFunction(
    (from) => window.statuses.slice(from).filter((status) => status.connection === "connecting").length >= 2,
    await page.evaluate(() => window.statuses.length),
    { timeout: WAIT_MS },
  );
  assert.deepEqual((await writes()).slice(2), ["Offline · saved on this device"], "retries are not announced");
  await serverUp();
  await page.waitForFunction(() => window.writes.at(-1) === "Saved to your account" && window.writes.length > 3, null, { timeout: WAIT_MS });
  assert.deepEqual((await writes()).slice(2), ["Offline · saved on this device", "Saved to your account"]);
  assert.deepEqual(page.errors, []);
});

test("removing the element closes its cart; put back, it opens it again; a move keeps it open", { timeout: TEST_MS }, async () => {
  const device = await newDevice();
  const page = await openEmbed(device);
  await page.locator("#add-mug").click();
  await badgeState(page, "account");

  // A move within the page (disconnected and connected in one task) keeps the same open cart.
  const moved = await page.evaluate(() => {
    const element = document.querySelector("offline-cart");
    window.firstCart = element.cart;
    document.querySelector("main").prepend(element);
    return element.cart === window.firstCart;
  });
  assert.equal(moved, true);
  const count = await page.evaluate(() => {
    window.firstCart.addItem({ sku: "TOTE", name: "Heavy tote bag", unitPrice: 1200, currency: "EUR" });
    return window.firstCart.itemCount();
  });
  assert.equal(count, 2, "the moved element's cart still takes edits");

  // Removed: the cart is closed, its edits throw cart_closed, and it is no longer window.cart.
  await page.evaluate(() => {
    window.element = document.querySelector("offline-cart");
    window.element.remove();
  });
  const after = await page.evaluate(() => {
    let code = "no error";
    try {
      window.firstCart.addItem({ sku: "MUG", name: "Stoneware mug", unitPrice: 1450, currency: "EUR" });
    } catch (error) {
      code = error.code;
    }
    return { code, elementCart: window.element.cart === undefined, windowCart: window.cart === undefined };
  });
  assert.deepEqual(after, { code: "cart_closed", elementCart: true, windowCart: true });

  // Put back: the element opens the same cart again (a new Cart object), with its lines.
  await page.evaluate(() => document.querySelector("main").append(window.element));
  await page.waitForFunction(() => window.element.cart !== undefined, null, { timeout: WAIT_MS });
  const reopened = await page.evaluate(async () => ({
    same: window.element.cart === window.firstCart,
    id: window.element.cart.id === window.firstCart.id,
    ready: (await window.element.ready) === window.element.cart,
    windowCart: window.cart === window.element.cart,
  }));
  assert.deepEqual(reopened, { same: false, id: true, ready: true, windowCart: true });
  const element = page.locator("offline-cart");
  await element.getByRole("button", { name: /^Cart/ }).click();
  await expectLines(element, { MUG: 1, TOTE: 1 }, "the reopened cart");
  await badgeState(page, "account");
  assert.deepEqual(page.errors, []);
});

test("the element's server attribute lists several instances: a cart whose first is down syncs through the next", { timeout: TEST_MS }, async () => {
  const page = await openEmbed(await newDevice());
  // Nothing listens on port 9 of the loopback address: the first instance refuses every connection.
  await page.evaluate(async () => {
    window.element = document.querySelector("offline-cart");
    window.element.remove();
    await new Promise((resolve) => setTimeout(resolve)); // closed, not a move
    window.element.setAttribute("server", "ws://127.0.0.1:9/sync  /sync");
    document.querySelector("main").append(window.element);
  });
  const synced = await page.evaluate(async () => {
    const cart = await window.element.ready;
    cart.addItem({ sku: "MUG", name: "Stoneware mug", unitPrice: 1450, currency: "EUR" });
    await cart.sync(20000);
    return { count: cart.itemCount(), pending: cart.status().pending };
  });
  assert.deepEqual(synced, { count: 1, pending: 0 });
  assert.deepEqual(page.errors, []);
});

test("an element removed before its cart opened rejects ready (AbortError) and opens the cart when put back", { timeout: TEST_MS }, async () => {
  const device = await newDevice();
  const page = await openEmbed(device);
  const outcome = await page.evaluate(async () => {
    const second = document.createElement("offline-cart");
    const main = document.querySelector("main");
    main.append(second);
    const first = second.ready;
    second.remove();
    const rejected = await first.then(() => "resolved", (error) => error.name);
    main.append(second);
    const cart = await second.ready;
    return {
      rejected,
      fresh: first !== second.ready,
      opened: cart === second.cart,
      sameCart: cart.id === document.querySelector("offline-cart").cart.id,
      windowCart: window.cart === document.querySelector("offline-cart").cart,
    };
  });
  assert.deepEqual(outcome, { rejected: "AbortError", fresh: true, opened: true, sameCart: true, windowCart: true });
  assert.deepEqual(page.errors, []);
});

test("the element formats amounts in its locale attribute, else in the page's language", { timeout: TEST_MS }, async () => {
  // The browser's own language, the last fallback, is set so the test does not depend on the machine's.
  const device = await newDevice({ locale: "en-US" });
  const page = await openEmbed(device);
  await page.locator("#add-mug").click();
  const element = page.locator("offline-cart");
  await element.getByRole("button", { name: /^Cart/ }).click();
  const unit = element.locator('.line[data-sku="MUG"] .unit');
  const total = element.locator(".totals dd");
  // The page is lang="en".
  await unit.filter({ hasText: /^€14\.50 each$/ }).waitFor();
  assert.equal(await total.textContent(), "€14.50");

  // An observed attribute: setting it formats again at once.
  await page.evaluate(() => document.querySelector("offline-cart").setAttribute("locale", "de-DE"));
  assert.match(await unit.textContent(), /^14,50\s€ each$/);
  assert.match(await total.textContent(), /^14,50\s€$/);

  // Without it, the closest lang: a French section around the element, at the next change.
  await page.evaluate(() => {
    const element = document.querySelector("offline-cart");
    element.removeAttribute("locale");
    const section = document.createElement("section");
    section.lang = "fr-FR";
    element.before(section);
    section.append(element);
    window.cart.addItem({ sku: "MUG", name: "Stoneware mug", unitPrice: 1450, currency: "EUR" });
  });
  await total.filter({ hasText: /^29,00\s€$/ }).waitFor();
  assert.match(await unit.textContent(), /^14,50\s€ each$/);

  // A locale that is not a language tag: the browser's language (en-US), and a notice.
  await page.evaluate(() => document.querySelector("offline-cart").setAttribute("locale", "not a tag"));
  assert.equal(await total.textContent(), "€29.00");
  assert.equal(await element.locator(".notice").textContent(), '"not a tag" is not a language tag: amounts use the browser\'s language.');
  assert.deepEqual(page.errors, []);
});

test("the element has no accessibility violations (axe-core), with its drawer closed and open", { timeout: TEST_MS }, async () => {
  const device = await newDevice();
  const page = await openEmbed(device);
  await page.locator("#add-mug").click();
  await badgeState(page, "account");
  await page.addScriptTag({ path: path.join(ROOT, "node_modules", "axe-core", "axe.min.js") });
  // Every rule axe runs by default (WCAG 2.x A and AA, and its best practices).
  const violations = () =>
    page.evaluate(async () => {
      const results = await window.axe.run(document);
      return results.violations.map((violation) => ({
        id: violation.id,
        help: violation.help,
        targets: violation.nodes.map((node) => node.target.join(" ")),
      }));
    });
  assert.deepEqual(await violations(), [], "drawer closed");
  const element = page.locator("offline-cart");
  await element.getByRole("button", { name: /^Cart/ }).click();
  await expectLines(element, { MUG: 1 }, "the open drawer");
  assert.deepEqual(await violations(), [], "drawer open");
  assert.deepEqual(page.errors, []);
});

test("signing in merges the anonymous cart into the account cart: sums per sku", { timeout: TEST_MS }, async () => {
  const name = `alice-${Date.now()}`;
  // The account cart already holds a mug and stickers, from another device.
  const other = await newDevice();
  const otherPage = await openStore(other);
  await signIn(otherPage, name);
  await addProduct(otherPage, "MUG");
  await addProduct(otherPage, "STICKERS");
  await syncedToServer(otherPage);

  // This browser shopped anonymously: two mugs and a tote.
  const device = await newDevice();
  const page = await openStore(device);
  await addProduct(page, "MUG");
  await addProduct(page, "MUG");
  await addProduct(page, "TOTE");
  const anonymous = await cartAddress(page);
  await signIn(page, name);

  const merged = { MUG: 3, STICKERS: 1, TOTE: 1 };
  await expectLines(page, merged, "the account cart after the merge");
  assert.notEqual(await page.evaluate(() => window.cart.id), anonymous.id);
  await expectLines(otherPage, merged, "the other device's account cart");
  await syncedToServer(page);

  // The page remembers the account cart; the anonymous cart is emptied.
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: WAIT_MS });
  await page.locator("#signed-in", { hasText: `Signed in as ${name}` }).waitFor({ timeout: WAIT_MS });
  await expectLines(page, merged, "the account cart after a reload");
  await serverLines(anonymous, {}, "the anonymous cart");
});

test("a filled cart fits a desktop and a phone screen (screenshots; UPDATE_SCREENSHOT=1 renews docs/storefront.png)", { timeout: TEST_MS }, async () => {
  const device = await newDevice({ viewport: { width: 1280, height: 900 } });
  const page = await openStore(device);
  await page.locator("#product-TEE-variant").selectOption("TEE-M");
  await addProduct(page, "TEE-S");
  await addProduct(page, "MUG");
  await addProduct(page, "MUG");
  await addProduct(page, "GIFT");
  await addProduct(page, "SOCKS-36");
  await expectLines(page, { "TEE-M": 1, MUG: 2, GIFT: 1, "SOCKS-36": 1 }, "the cart to photograph");
  await syncedToServer(page);
  // Adding scrolled the page; the picture shows it from the top. docs/storefront.png is only
  // rewritten on request (UPDATE_SCREENSHOT=1), so a test run leaves the work tree as it was;
  // otherwise the pictures go to the temporary directory, for a person to look at.
  await page.evaluate(() => window.scrollTo(0, 0));
  const docs = path.join(ROOT, "docs");
  const shots = process.env.UPDATE_SCREENSHOT === "1" ? docs : tmpdir();
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: path.join(shots, "storefront.png") });

  // The phone layout: the top of the page and the cart.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(tmpdir(), "storefront-phone.png") });
  await page.locator("#cart").scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(tmpdir(), "storefront-phone-cart.png") });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.equal(overflow, 0, "nothing is wider than a phone screen");
});
