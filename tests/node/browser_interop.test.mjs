// The browser module and a client nobody here wrote, on one cart: the built storefront runs the
// offline-cart package in real headless Chromium (Debian's, through playwright-core), the stock
// @automerge/automerge-repo runs in Node, and both sync through a real cart-server. Edits go
// both ways.
//
// Needs dist/ (npm run build); `npm test` builds it first.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";

import { Repo } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";

import { ROOT, startCartServer, eventually } from "../../scripts/cart-server.mjs";
import { launchChromium } from "../../scripts/chromium.mjs";
import { addLine, quantity } from "./cart-schema.mjs";

let server;
let browser;
let page;
let repo;

before(async () => {
  server = await startCartServer({ staticDir: path.join(ROOT, "dist") });
  browser = await launchChromium();
  page = await browser.newPage();
  page.on("pageerror", (error) => assert.fail(`page error: ${error.message}`));
  await page.goto(`${server.http}/`);
  await page.waitForFunction(() => document.body.dataset.ready === "true");
});

after(async () => {
  await repo?.shutdown().catch(() => {});
  await browser?.close();
  await server?.stop();
});

/** `[sku, quantity]` of every line the page's cart shows. */
const pageLines = () => page.evaluate(() => window.cart.items().map((line) => [line.sku, line.quantity]));

test("an edit in the browser module reaches a stock automerge-repo client, and one back", async () => {
  const { id, key } = await page.evaluate(async () => {
    window.cart.addItem({ sku: "TEE-1", name: "Logo tee", unitPrice: 1999, currency: "EUR", quantity: 2 });
    await window.cart.sync();
    return { id: window.cart.id, key: window.cart.key };
  });

  repo = new Repo({ network: [new WebSocketClientAdapter(server.ws(key))] });
  const handle = await repo.find(`automerge:${id}`);
  await eventually("Node to see the browser's line", () => quantity(handle.doc(), "TEE-1") === 2);
  assert.equal(String(handle.doc()["item:TEE-1"].name), "Logo tee");
  assert.equal(handle.doc()["item:TEE-1"].unitPrice, 1999);

  handle.change((doc) => {
    doc["add:TEE-1#node1"] = 1;
    addLine(doc, "MUG-2", "Enamel mug", 1200, 3, "node2");
  });
  await eventually("the browser to show Node's edits", async () => {
    const lines = await pageLines();
    return JSON.stringify(lines) === JSON.stringify([["TEE-1", 3], ["MUG-2", 3]]);
  });
  const status = await page.evaluate(() => window.cart.status());
  assert.equal(status.connection, "online");
});
