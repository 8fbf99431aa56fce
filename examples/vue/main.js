// A Vue app using offline-cart/vue (App.vue), on a cart started here; `window.cart` and
// `window.Cart` let tests/examples/browser.test.mjs play another device.
import { createApp } from 'vue';
import { Cart } from 'offline-cart';
import App from './App.vue';

const cart = Cart.start();
Object.assign(window, { cart, Cart, renders: 0 });
createApp(App, { cart }).mount('#app');
