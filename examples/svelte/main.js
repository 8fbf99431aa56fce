// A Svelte 5 app using offline-cart/svelte (App.svelte) on the page's cart (cart.js).
import { mount } from 'svelte';
import App from './App.svelte';

mount(App, { target: document.getElementById('app') });
