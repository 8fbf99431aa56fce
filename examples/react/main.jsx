// A React app using offline-cart/react: `useCart` re-renders the list when the cart changes
// (an add here, or bytes merged from another device), `useCartStatus` the badge when the status
// does. `window.renders` counts the list's renders and `window.rendered` is the snapshot it
// last rendered (tests/examples/browser.test.mjs checks that a change renders it, with the
// cart's current snapshot, and that nothing renders it again and again).
import { createRoot } from 'react-dom/client';
import { Cart } from 'offline-cart';
import { useCart, useCartStatus } from 'offline-cart/react';

const cart = Cart.start();
Object.assign(window, { cart, Cart, renders: 0 });

function Lines() {
  const snapshot = useCart(cart);
  const { items, itemCount } = snapshot;
  window.renders++;
  window.rendered = snapshot;
  return (
    <>
      <p id="count">{itemCount} in the cart</p>
      <ul id="lines">
        {items.map((line) => (
          <li key={line.sku} data-sku={line.sku} data-quantity={line.quantity}>
            {line.quantity} × {line.name}
          </li>
        ))}
      </ul>
    </>
  );
}

function Saved() {
  const { unsaved } = useCartStatus(cart);
  return <p id="saved" role="status">{unsaved === 0 ? 'Saved on this device' : 'Saving…'}</p>;
}

function App() {
  return (
    <main>
      <h1>A React app</h1>
      <button type="button" id="add" onClick={() => cart.addItem({ sku: 'MUG', name: 'Stoneware mug', unitPrice: 1450, currency: 'EUR' })}>
        Add a mug
      </button>
      <Saved />
      <Lines />
    </main>
  );
}

createRoot(document.getElementById('root')).render(<App />);
