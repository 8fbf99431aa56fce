// `offline-cart/vue`: a Vue 3 composable over a cart. It keeps the cart's cached `snapshot()`
// (the same frozen object until the cart or its status changes) in a shallow ref, so Vue
// re-renders only when it is another object; the snapshot is frozen, so deep reactivity would
// add nothing.
// Vue is a peer dependency of the package, imported from the app's own copy.
import { computed, getCurrentScope, onScopeDispose, shallowRef } from 'vue';

/**
 * Read-only refs of the cart: `snapshot` (`{ items, totals, itemCount, status }`) and each of
 * its parts, updated on every cart event that changes the snapshot. Call it in `setup()` (or
 * an `effectScope`): it unsubscribes when the component's scope is disposed. Outside a scope it
 * stays subscribed as long as the cart lives.
 */
export function useCart(cart) {
  // Made before subscribing: the cart may call back before `subscribe` returns (warnings
  // raised before anyone subscribed).
  const current = shallowRef(cart.snapshot());
  // A shallow ref triggers only when given another object, so events that leave the snapshot
  // as it was (warnings) re-render nothing.
  const unsubscribe = cart.subscribe(() => {
    current.value = cart.snapshot();
  });
  if (getCurrentScope()) onScopeDispose(unsubscribe);
  const part = (name) => computed(() => current.value[name]);
  return {
    snapshot: computed(() => current.value),
    items: part('items'),
    totals: part('totals'),
    itemCount: part('itemCount'),
    status: part('status'),
  };
}
