// The demo sign-in: the server hands out an account's cart (id and key) for a name, and this
// browser moves the anonymous cart's lines into it.
//
// The merge rule for a sku in both carts is SUM, add-wins: the anonymous quantity is added to
// the account's as new add entries, so it also sums with adds another device makes to the
// account cart meanwhile, capped at 999 per line (the cart's limit) as far as this device knows
// the account cart. Lines only in one cart are kept as they are.
import { postSignin } from './api.js';
import { itemFromLine, remember } from 'offline-cart/element';
import { serverCopy } from './server-copy.js';

const MAX_QUANTITY = 999;
// How long to wait for the server's copy of the account cart before merging into what this
// device has (the cap needs the account's quantities; adds merge correctly either way).
const ACCOUNT_WAIT_MS = 5000;

/** Adds every line of `from` to `into` (sum, capped at 999). */
function mergeLines(from, into) {
  for (const line of from.items()) {
    const have = into.items().find((other) => other.sku === line.sku)?.quantity ?? 0;
    const quantity = Math.min(line.quantity, MAX_QUANTITY - have);
    if (quantity <= 0) continue;
    into.addItem(itemFromLine(line, quantity));
  }
}

/**
 * Signs in as `name`: opens the account cart, merges `anonymous` into it, remembers the
 * account cart for the next visit, then empties and closes the anonymous cart. Resolves to
 * `{ cart, account }`; rejects with the server's message for a refused name.
 */
export async function signIn(name, anonymous, { server }) {
  const { ok, body } = await postSignin(name);
  if (!ok) throw new Error(body?.message ?? 'the sign-in failed');
  const { Cart } = await import('offline-cart');
  const cart = await Cart.open({ cartId: body.cartId, key: body.key, server });
  await serverCopy(cart, ACCOUNT_WAIT_MS);
  mergeLines(anonymous, cart);
  await cart.flush();
  // Remember the account cart before forgetting the anonymous one: a crash in between leaves
  // the lines in the account cart, never nowhere.
  remember({ cartId: cart.id, key: cart.key, account: body.account });
  anonymous.clear();
  await anonymous.close();
  return { cart, account: body.account };
}
