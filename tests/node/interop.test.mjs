// Interoperability of cart-server with the stock automerge-repo client, which nobody here wrote:
// @automerge/automerge-repo with @automerge/automerge-repo-network-websocket, in Node.
//
// The test starts a real cart-server (scripts/cart-server.mjs) and drives it with several Node
// repos.
//
// Run: node --test tests/node/interop.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { Repo, cbor } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";

import { startCartServer, eventually } from "../../scripts/cart-server.mjs";
import { addLine, quantity } from "./cart-schema.mjs";

const KEY = "node-interop-secret-0123456789";

let server; // the running cart-server
let base; // its host:port
const repos = [];

before(async () => {
  server = await startCartServer();
  base = server.base;
});

after(async () => {
  await Promise.all(repos.map((repo) => repo.shutdown().catch(() => {})));
  await server?.stop();
});

/** A stock repo (no storage) connected to cart-server with `key`; records `error` messages. */
function connect(key = KEY) {
  const adapter = new WebSocketClientAdapter(`ws://${base}/sync?key=${key}`);
  const errors = [];
  const receive = adapter.receiveMessage.bind(adapter);
  adapter.receiveMessage = (bytes) => {
    const message = cbor.decode(new Uint8Array(bytes));
    if (message.type === "error") errors.push(message);
    receive(bytes);
  };
  const repo = new Repo({ network: [adapter] });
  repos.push(repo);
  return { repo, errors };
}


async function metric(name) {
  const text = await (await fetch(`http://${base}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(" ")[1]) : undefined;
}

let cartUrl; // shared by the tests below, which run in order

test("a cart created by a stock automerge-repo client is found by another by URL", async () => {
  const a = connect();
  const handle = a.repo.create();
  handle.change((doc) => {
    doc.schema = 1;
    doc.cartId = handle.documentId;
    addLine(doc, "TEE-1", "Organic T-shirt", 2500, 2, "a1");
  });
  cartUrl = handle.url;
  await eventually("the server to store the cart", async () => (await metric("cart_server_carts_stored")) === 1);

  const b = connect();
  const found = await eventually("the cart to be found", async () => {
    try {
      const h = await b.repo.find(cartUrl);
      return quantity(h.doc(), "TEE-1") === 2 ? h : undefined;
    } catch {
      return undefined; // not on the server yet
    }
  });
  const doc = found.doc();
  assert.equal(doc.schema, 1);
  assert.equal(String(doc.cartId), handle.documentId);
  assert.equal(String(doc["item:TEE-1"].name), "Organic T-shirt");
  assert.equal(doc["item:TEE-1"].unitPrice, 2500);

  // And back: B's edit reaches A live.
  found.change((d) => addLine(d, "MUG-2", "Mug", 1200, 1, "b1"));
  await eventually("A to see B's line", () => quantity(handle.doc(), "MUG-2") === 1);
  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
});

test("a client with another key cannot find the cart", async () => {
  const stranger = connect("a-different-secret-98765432");
  await assert.rejects(stranger.repo.find(cartUrl), /unavailable/);
});

test("a schema-breaking change from a stock client is refused and not stored", async () => {
  const c = connect();
  const handle = await c.repo.find(cartUrl);
  handle.change((doc) => {
    doc["add:TEE-1#evil"] = 5000; // quantities are 1..=999
  });
  const error = await eventually("an error message", () => c.errors[0]);
  assert.equal(error.code, "schema_violation");
  assert.match(error.message, /add:TEE-1#evil/);
  assert.equal(error.documentId, handle.documentId);

  // A fresh client sees the cart without the refused change.
  const d = connect();
  const fresh = await d.repo.find(cartUrl);
  await eventually("the full cart", () => quantity(fresh.doc(), "MUG-2") === 1);
  assert.equal(fresh.doc()["add:TEE-1#evil"], undefined);
  assert.equal(quantity(fresh.doc(), "TEE-1"), 2);
  assert.equal(await metric('cart_server_errors_total{kind="schema_violation"}'), 1);
});
