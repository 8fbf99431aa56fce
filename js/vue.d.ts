// Types of `offline-cart/vue` (vue.js).
import type { ComputedRef } from "vue";
import type { Cart, CartSnapshot } from "./index.js";

/** What `useCart` returns: read-only refs of the cart's snapshot and of each of its parts. */
export interface CartRefs {
  snapshot: ComputedRef<CartSnapshot>;
  items: ComputedRef<CartSnapshot["items"]>;
  totals: ComputedRef<CartSnapshot["totals"]>;
  itemCount: ComputedRef<number>;
  status: ComputedRef<CartSnapshot["status"]>;
}

/**
 * Read-only refs of the cart, updated when its snapshot changes. Call it in `setup()` (or an
 * `effectScope`): it unsubscribes when the scope is disposed.
 */
export function useCart(cart: Cart): CartRefs;
