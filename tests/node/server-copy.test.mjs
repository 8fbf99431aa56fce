// The storefront's wait for the server's copy of an account cart (www/server-copy.js), with
// scripted carts: it must finish however the answer comes, including a warning raised while the
// cart was opening, which `subscribe` hands to its first subscriber before it returns.
//
//   node --test tests/node/server-copy.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { serverCopy } from '../../www/server-copy.js';

/** A cart that replays `backlog` inside `subscribe`, as the real one does, and counts listeners. */
function scriptedCart({ backlog = [], sync = () => new Promise(() => {}), itemCount = 0 } = {}) {
  const listeners = new Set();
  return {
    listeners,
    subscribe(callback) {
      listeners.add(callback);
      for (const event of backlog.splice(0)) callback(event);
      return () => listeners.delete(callback);
    },
    sync,
    itemCount: () => itemCount,
    emit: (event) => [...listeners].forEach((callback) => callback(event)),
  };
}

const unavailable = { type: 'warning', code: 'cart_unavailable', message: 'not on the server yet' };

test('a cart_unavailable warning raised while the cart was opening ends the wait at once', async () => {
  const cart = scriptedCart({ backlog: [unavailable] });
  await serverCopy(cart, 60_000);
  assert.equal(cart.listeners.size, 0, 'the wait unsubscribed');
});

test('a remote change ends the wait; a local one does not', async () => {
  const cart = scriptedCart();
  let finished = false;
  const waiting = serverCopy(cart, 60_000).then(() => (finished = true));
  cart.emit({ type: 'change', origin: 'local' });
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(finished, false);
  cart.emit({ type: 'change', origin: 'remote' });
  await waiting;
  assert.equal(cart.listeners.size, 0);
});

test('a sync of a cart that already has lines ends the wait; a failed sync ends it too', async () => {
  await serverCopy(scriptedCart({ sync: () => Promise.resolve(), itemCount: 2 }), 60_000);
  await serverCopy(scriptedCart({ sync: () => Promise.reject(new Error('offline')) }), 60_000);
});

test('a server that says nothing ends the wait after the time given, not at the sync of an empty cart', async () => {
  const cart = scriptedCart({ sync: () => Promise.resolve() });
  let finished = false;
  const waiting = serverCopy(cart, 50).then(() => (finished = true));
  // By the next macrotask the sync has resolved; an empty cart's sync does not end the wait.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(finished, false);
  await waiting;
  assert.equal(cart.listeners.size, 0);
});
