// `offline-cart/react`: React hooks over a cart, built on React's `useSyncExternalStore` and
// the cart's cached `snapshot()` (the same frozen object until the cart or its status changes,
// so React re-renders only when it is another object, and never loops). React is a peer dependency of the
// package, imported from the app's own copy.
import { useCallback, useSyncExternalStore } from 'react';

/**
 * `useSyncExternalStore`'s subscribe function for `cart`, the same one while `cart` is (a new
 * one would make React subscribe again on every render). Every cart event asks React to read
 * the snapshot again; React re-renders only when it is another object. The cart may call back
 * before `subscribe` returns (warnings raised before anyone subscribed); React's callback only
 * compares snapshots, so that is safe.
 */
function useSubscribe(cart) {
  return useCallback((onStoreChange) => cart.subscribe(() => onStoreChange()), [cart]);
}

/**
 * The cart's snapshot, `{ items, totals, itemCount, status }`, re-rendering the component
 * when it changes: an edit here, a merge, a change from another tab or device, or a status
 * change. The same snapshot is returned to the server renderer (a Node cart).
 */
export function useCart(cart) {
  const getSnapshot = useCallback(() => cart.snapshot(), [cart]);
  return useSyncExternalStore(useSubscribe(cart), getSnapshot, getSnapshot);
}

/**
 * The cart's status (`{ storage, unsaved, connection, pending, blocked, lastSyncedAt }`),
 * re-rendering only when the status changes, not when the lines do: for a "saved" badge.
 */
export function useCartStatus(cart) {
  const getStatus = useCallback(() => cart.snapshot().status, [cart]);
  return useSyncExternalStore(useSubscribe(cart), getStatus, getStatus);
}
