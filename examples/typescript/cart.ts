// A TypeScript user's code against the package's types (every entry, the bindings too):
// `tsc -p examples/typescript` must pass (tests/node/package.test.mjs runs it). It is only
// type-checked, never run.
import { Cart, isCartError, type CartSnapshot, type CartStatus } from "offline-cart";
import { useCart as useReactCart, useCartStatus } from "offline-cart/react";
import { useCart as useVueCart } from "offline-cart/vue";
import { cartStore } from "offline-cart/svelte";
import type { Readable } from "svelte/store";

const cart = Cart.start({ storage: "memory" });
cart.addItem({ sku: "MUG", name: "Stoneware mug", unitPrice: 1450, currency: "EUR" });

const snapshot: CartSnapshot = cart.snapshot();
const count: number = snapshot.itemCount;
const first: string | undefined = snapshot.items[0]?.sku;
// @ts-expect-error a snapshot is read-only
snapshot.itemCount = count + 1;

const fromReact: CartSnapshot = useReactCart(cart);
const status: Readonly<CartStatus> = useCartStatus(cart);
const { items, totals, itemCount } = useVueCart(cart);
const store: Readable<CartSnapshot> = cartStore(cart);
const stop: () => void = store.subscribe((value) => value.status.unsaved);

export const seen = [first, fromReact.items, status.connection, items.value, totals.value, itemCount.value + 1, stop];

try {
  cart.setQuantity("MUG", 2);
} catch (error) {
  if (isCartError(error) && error.code === "not_ready") await cart.ready;
}
