// `offline-cart/svelte`: a Svelte readable store over a cart (Svelte's store contract, through
// `readable` from svelte/store: `subscribe(run)` calls `run` at once with the current value and
// returns the unsubscribe function), holding the cart's cached `snapshot()`. Svelte is a peer
// dependency of the package, imported from the app's own copy.
import { readable } from 'svelte/store';

/**
 * A readable store of the cart's snapshot, `{ items, totals, itemCount, status }`: `$cart`
 * in a component. It subscribes to the cart while it has subscribers and sets a value only
 * when the snapshot is another object (Svelte's stores treat every object as changed, so the
 * identity check is what keeps events that change nothing from re-rendering).
 */
export function cartStore(cart) {
  let current = cart.snapshot();
  const refresh = (set) => {
    const next = cart.snapshot();
    if (next !== current) set((current = next));
  };
  return readable(current, (set) => {
    // The cart may have changed while the store had no subscribers.
    refresh(set);
    // The cart may call back before `subscribe` returns (warnings raised before anyone
    // subscribed): `set` then only updates the value that `readable` hands to the new
    // subscriber once this start function has returned.
    return cart.subscribe(() => refresh(set));
  });
}
