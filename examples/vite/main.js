// A Vite app using offline-cart as an installed package: `offline-cart` resolves to the bundler
// build (vite-plugin-wasm instantiates its .wasm, see vite.config.js) and
// `offline-cart/element` adds the drop-in <offline-cart> element on the same cart.
import { Cart } from 'offline-cart';
import 'offline-cart/element';

// Cart.start: the button works before the .wasm has arrived.
const cart = Cart.start({ cartId: localStorage.getItem('cartId') ?? undefined, storage: 'indexeddb' });
localStorage.setItem('cartId', cart.id);

const render = () => {
  document.getElementById('lines').replaceChildren(
    ...cart.items().map((line) => {
      const item = Object.assign(document.createElement('li'), { textContent: `${line.quantity} × ${line.name}` });
      Object.assign(item.dataset, { sku: line.sku, quantity: line.quantity });
      return item;
    }),
  );
  document.getElementById('status').textContent = `${cart.itemCount()} in the cart${cart.isReady ? '' : ' (loading)'}`;
};
cart.subscribe((event) => event.type === 'change' && render());
document.getElementById('add').addEventListener('click', () =>
  cart.addItem({ sku: 'MUG', name: 'Stoneware mug', unitPrice: 1450, currency: 'EUR' }),
);
render();
window.cart = cart;
cart.ready.then(render);
