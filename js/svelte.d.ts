// Types of `offline-cart/svelte` (svelte.js).
import type { Readable } from "svelte/store";
import type { Cart, CartSnapshot } from "./index.js";

/** A readable store of the cart's snapshot (`$cart` in a component), set when it changes. */
export function cartStore(cart: Cart): Readable<CartSnapshot>;
