// A Node script that uses offline-cart as a server or a unit test would: the package imported by
// name (the exports map's `node` condition: no bundler, no browser globals), a cart kept in
// memory, two "devices" merged through save()/merge(). Prints the merged cart as JSON.
//
//   node examples/node/cart.mjs
import { Cart, isCartError } from 'offline-cart';

const phone = await Cart.open({ storage: 'memory' });
phone.addItem({ sku: 'MUG', name: 'Stoneware mug', unitPrice: 1450, currency: 'EUR' });

// The same cart on a laptop, made from the phone's bytes, then edited while apart.
const laptop = await Cart.open({ cartId: phone.id, storage: 'memory' });
laptop.merge(phone.save());
laptop.addItem({ sku: 'MUG', name: 'Stoneware mug', unitPrice: 1450, currency: 'EUR' });
phone.addItem({ sku: 'TOTE', name: 'Heavy tote bag', unitPrice: 1200, currency: 'EUR', quantity: 2 });

// Merging both ways: every add either device made is kept (the two mugs sum).
phone.merge(laptop.save());
laptop.merge(phone.save());

let refused = null;
try {
  phone.addItem({ sku: 'MUG', name: 'Stoneware mug', unitPrice: 1450, currency: 'eur' });
} catch (error) {
  if (!isCartError(error)) throw error;
  refused = error.code;
}

console.log(JSON.stringify({ items: phone.items(), totals: phone.totals(), same: JSON.stringify(laptop.items()) === JSON.stringify(phone.items()), refused }));
// close(), not free(): flushes, then lets go of the cart (and lets Node exit).
await Promise.all([phone.close(), laptop.close()]);
