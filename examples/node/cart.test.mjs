// The package in Node, as a team's unit tests use it (node --test here; Vitest resolves the
// same `node` condition): imported by name, memory carts, no browser.
//
//   node --test examples/node/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

import { Cart, checkItem, isCartError } from 'offline-cart';

const MUG = { sku: 'MUG', name: 'Stoneware mug', unitPrice: 1450, currency: 'EUR' };

test('a memory cart adds, sets and totals in Node', async () => {
  const cart = await Cart.open({ storage: 'memory' });
  try {
    assert.equal(cart.isReady, true);
    cart.addItem({ ...MUG, quantity: 2 });
    cart.setQuantity('MUG', 3);
    assert.deepEqual(cart.totals(), [{ currency: 'EUR', amount: 4350 }]);
    assert.equal(cart.itemCount(), 3);
    assert.equal(cart.status().storage, 'memory');
  } finally {
    await cart.close();
  }
});

test('the default storage falls back to memory in Node with a storage_fallback warning', async () => {
  const warnings = [];
  const cart = Cart.start();
  cart.subscribe((event) => event.type === 'warning' && warnings.push(event.code));
  await cart.ready;
  try {
    assert.equal(cart.status().storage, 'memory');
    assert.ok(warnings.includes('storage_fallback'), `warnings: ${warnings}`);
  } finally {
    await cart.close();
  }
});

test('bad input throws a CartError that isCartError recognises, and changes nothing', async () => {
  const cart = await Cart.open({ storage: 'memory' });
  try {
    assert.throws(() => cart.addItem({ ...MUG, quantity: 0 }), (error) => isCartError(error) && error.code === 'invalid_quantity');
    assert.throws(() => checkItem({ ...MUG, price: 1 }), (error) => isCartError(error) && error.code === 'invalid_item');
    assert.equal(isCartError(new Error('plain')), false);
    assert.deepEqual(cart.items(), []);
  } finally {
    await cart.close();
  }
});

test('an edit after close throws cart_closed', async () => {
  const cart = await Cart.open({ storage: 'memory' });
  await cart.close();
  assert.throws(() => cart.addItem(MUG), (error) => isCartError(error) && error.code === 'cart_closed');
});

test('an edit while close is still flushing throws cart_closed, and what was added before is kept', async () => {
  const cart = await Cart.open({ storage: 'memory' });
  cart.addItem(MUG);
  const closing = cart.close();
  for (const edit of [() => cart.addItem(MUG), () => cart.setQuantity('MUG', 2), () => cart.removeItem('MUG'), () => cart.clear()]) {
    assert.throws(edit, (error) => isCartError(error) && error.code === 'cart_closed');
  }
  await closing;
  assert.equal(cart.itemCount(), 1);
});

test('the element module imports without a DOM, for server renderers', async () => {
  const element = await import('offline-cart/element');
  assert.equal(typeof element.OfflineCartElement, 'function');
  assert.equal(typeof element.renderStatus, 'function');
});

test('the example script merges two devices, keeping both adds, and exits once its carts are closed', async () => {
  const script = fileURLToPath(new URL('./cart.mjs', import.meta.url));
  // A cart left open would keep the process alive: the timeout fails the test then.
  const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 20_000 });
  const result = JSON.parse(stdout);
  assert.deepEqual(
    result.items.map(({ sku, quantity }) => [sku, quantity]),
    [['MUG', 2], ['TOTE', 2]],
  );
  assert.deepEqual(result.totals, [{ currency: 'EUR', amount: 5300 }]);
  assert.equal(result.same, true);
  assert.equal(result.refused, 'invalid_currency');
});
