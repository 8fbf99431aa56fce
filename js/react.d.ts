// Types of `offline-cart/react` (react.js).
import type { Cart, CartSnapshot, CartStatus } from "./index.js";

/**
 * The cart's snapshot, `{ items, totals, itemCount, status }`, re-rendering the component when
 * it changes (React's `useSyncExternalStore` over `cart.snapshot()`).
 */
export function useCart(cart: Cart): CartSnapshot;

/** The cart's status, re-rendering only when the status changes (not when the lines do). */
export function useCartStatus(cart: Cart): Readonly<CartStatus>;
