// A team's unit tests of its cart code under Vitest, the test runner of Vite projects: the
// package imported by name resolves to its Node entry (the exports map's `node` condition), so
// carts run in memory with no browser and no wasm plugin.
//
//   npx vitest run --root examples/vitest
import { afterEach, describe, expect, test } from 'vitest';

import { Cart, isCartError } from 'offline-cart';
import { cartStore } from 'offline-cart/svelte';

const MUG = { sku: 'MUG', name: 'Stoneware mug', unitPrice: 1450, currency: 'EUR' };
const TOTE = { sku: 'TOTE', name: 'Heavy tote bag', unitPrice: 1200, currency: 'EUR' };

const open = [];
/** A memory cart closed after the test. */
async function memoryCart(options = {}) {
  const cart = await Cart.open({ storage: 'memory', ...options });
  open.push(cart);
  return cart;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((cart) => cart.close()));
});

describe("a storefront's cart code under Vitest", () => {
  test('adds, quantities and totals in a memory cart', async () => {
    const cart = await memoryCart();
    cart.addItem({ ...MUG, quantity: 2 });
    cart.addItem(TOTE);
    cart.setQuantity('TOTE', 3);
    expect(cart.items().map(({ sku, quantity }) => [sku, quantity])).toEqual([['MUG', 2], ['TOTE', 3]]);
    expect(cart.totals()).toEqual([{ currency: 'EUR', amount: 6500 }]);
    expect(cart.status().storage).toBe('memory');
  });

  test('two devices merged keep every add', async () => {
    const phone = await memoryCart();
    phone.addItem(MUG);
    const laptop = await memoryCart({ cartId: phone.id });
    laptop.merge(phone.save());
    laptop.addItem(MUG);
    phone.addItem(TOTE);
    phone.merge(laptop.save());
    expect(phone.items().map(({ sku, quantity }) => [sku, quantity])).toEqual([['MUG', 2], ['TOTE', 1]]);
    expect(phone.itemCount()).toBe(3);
  });

  test('refusals are CartErrors with a code, and change nothing', async () => {
    const cart = await memoryCart();
    let refused;
    try {
      cart.addItem({ ...MUG, quantity: 1000 });
    } catch (error) {
      refused = error;
    }
    expect(isCartError(refused)).toBe(true);
    expect(refused.code).toBe('invalid_quantity');
    expect(cart.items()).toEqual([]);
  });

  test('a binding over the cart: the Svelte store follows an add', async () => {
    const cart = await memoryCart();
    const seen = [];
    const stop = cartStore(cart).subscribe((snapshot) => seen.push(snapshot.itemCount));
    cart.addItem({ ...MUG, quantity: 2 });
    await expect.poll(() => seen.at(-1)).toBe(2);
    stop();
    expect(seen[0]).toBe(0);
  });
});
