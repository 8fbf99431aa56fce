// The app's cart, started once for the page; `window.cart` and `window.Cart` let
// tests/examples/browser.test.mjs play another device.
import { Cart } from 'offline-cart';

export const cart = Cart.start();
Object.assign(window, { cart, Cart, renders: 0 });
