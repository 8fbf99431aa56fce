// The package in Node, as a team's unit tests use it (node --test here; examples/vitest runs
// the same kind of tests under Vitest): imported by name, memory carts, no browser.
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

test('a closed cart on the default storage leaves no timer behind in Node (the process can exit)', async () => {
  const source = `
    import { Cart } from 'offline-cart';
    const cart = Cart.start();
    await cart.ready;
    await cart.close();
    setImmediate(() => console.log(JSON.stringify(process.getActiveResourcesInfo())));
  `;
  const cwd = fileURLToPath(new URL('.', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', source], { cwd, timeout: 20_000 });
  assert.ok(!JSON.parse(stdout).includes('Timeout'), `still active: ${stdout}`);
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

test('snapshot() is the same frozen object until the cart changes', async () => {
  const cart = await Cart.open({ storage: 'memory' });
  try {
    const first = cart.snapshot();
    assert.equal(cart.snapshot(), first);
    assert.ok(Object.isFrozen(first));
    assert.deepEqual({ ...first, status: undefined }, { items: [], totals: [], itemCount: 0, status: undefined });
    cart.addItem({ ...MUG, quantity: 2 });
    const second = cart.snapshot();
    assert.notEqual(second, first);
    assert.equal(second.itemCount, 2);
    assert.equal(second.items, cart.items());
    assert.deepEqual(second.totals, [{ currency: 'EUR', amount: 2900 }]);
  } finally {
    await cart.close();
  }
});

test('before the module is ready, snapshot() is built from the early lines and kept the same way', async () => {
  const cart = Cart.start({ storage: 'memory' });
  try {
    assert.equal(cart.isReady, false);
    const first = cart.snapshot();
    assert.equal(cart.snapshot(), first);
    cart.addItem(MUG);
    const early = cart.snapshot();
    assert.notEqual(early, first);
    assert.ok(Object.isFrozen(early) && Object.isFrozen(early.items) && Object.isFrozen(early.items[0]));
    assert.equal(cart.snapshot(), early, 'no change, same object');
    assert.equal(early.itemCount, 1);
    assert.equal(early.status.pending, 1, 'the add waits in the outbox');
    await cart.ready;
    const ready = cart.snapshot();
    assert.notEqual(ready, early, 'the Automerge cart took over');
    assert.equal(ready.itemCount, 1);
    assert.equal(cart.snapshot(), ready);
  } finally {
    await cart.close();
  }
});
