// The Vue and Svelte bindings in Node, as a team's unit tests would use them (both run without
// a DOM; the React hook needs a renderer and is tested in Chromium, tests/examples/). Each test
// starts a cart with the default storage, which in Node falls back to memory with warnings that
// wait for the first subscriber: the binding's callback then runs before `cart.subscribe`
// returns, which is what a binding has to survive.
//
//   node --test examples/node/
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Cart } from 'offline-cart';
import { cartStore } from 'offline-cart/svelte';
import { useCart } from 'offline-cart/vue';
import { effectScope, watch } from 'vue';

const MUG = { sku: 'MUG', name: 'Stoneware mug', unitPrice: 1450, currency: 'EUR' };

/** A ready cart whose fallback warnings are still waiting for the first subscriber. */
async function cartWithWaitingWarnings() {
  const cart = Cart.start();
  await cart.ready;
  return cart;
}

/** Whether `cart` still holds warnings for its next subscriber (checking hands them out). */
function hasWaitingWarnings(cart) {
  const events = [];
  cart.subscribe((event) => events.push(event))();
  return events.some((event) => event.type === 'warning');
}

test('cartStore hands each subscriber the current snapshot at once and every change after, until it unsubscribes', async () => {
  const cart = await cartWithWaitingWarnings();
  try {
    const store = cartStore(cart);
    const seen = [];
    const stop = store.subscribe((snapshot) => seen.push(snapshot));
    assert.equal(hasWaitingWarnings(cart), false, 'the store took the waiting warnings inside subscribe');
    assert.deepEqual(seen, [cart.snapshot()]);
    cart.addItem(MUG);
    assert.equal(seen.length, 2);
    assert.equal(seen[1], cart.snapshot());
    assert.equal(seen[1].itemCount, 1);
    stop();
    cart.addItem(MUG);
    assert.equal(seen.length, 2, 'nothing after unsubscribing');
    const again = [];
    store.subscribe((snapshot) => again.push(snapshot))();
    assert.deepEqual(again, [cart.snapshot()], 'a later subscriber gets the snapshot as it is now');
    assert.equal(again[0].itemCount, 2);
  } finally {
    await cart.close();
  }
});

test('useCart (Vue) keeps its refs on the current snapshot and unsubscribes when its scope is disposed', async () => {
  const cart = await cartWithWaitingWarnings();
  try {
    const scope = effectScope();
    const updates = [];
    const refs = scope.run(() => {
      const refs = useCart(cart);
      watch(refs.snapshot, (snapshot) => updates.push(snapshot), { flush: 'sync' });
      return refs;
    });
    assert.equal(hasWaitingWarnings(cart), false, 'useCart took the waiting warnings inside subscribe');
    assert.equal(refs.snapshot.value, cart.snapshot());
    cart.addItem({ ...MUG, quantity: 2 });
    assert.equal(refs.itemCount.value, 2);
    assert.equal(refs.items.value, cart.items());
    assert.deepEqual(refs.totals.value, [{ currency: 'EUR', amount: 2900 }]);
    assert.equal(refs.status.value, cart.snapshot().status);
    assert.deepEqual(updates, [cart.snapshot()], 'one update for one change');
    scope.stop();
    cart.addItem(MUG);
    assert.equal(refs.itemCount.value, 2, 'no updates once the scope is disposed');
  } finally {
    await cart.close();
  }
});
