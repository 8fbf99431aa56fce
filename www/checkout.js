// The checkout button and what it reports. Checkout is the one step that needs the server: it
// orders the cart exactly as this page shows it (its heads), so the cart is synced first. The
// server creates one order per cart state, so a retry can never order twice; the button is
// also disabled while a checkout is in flight, so a double click sends one request.
import { postCheckout } from './api.js';
import { connectionOf, h, formatMoney, lineLabel, pageLocale, plural } from 'offline-cart/element';

/** Amounts are formatted in the page's language. */
const money = (amount, currency) => formatMoney(amount, currency, pageLocale(document.body));

const NEEDS_CONNECTION = 'Checkout needs a connection';
const REASONS = { unknown_sku: 'no longer sold', unavailable: 'sold out' };

/**
 * Wires `button` to check out `getCart()`, writing the outcome into `output` (an aria-live
 * region). `update(cart)` refreshes the button after any change or status event.
 */
export function checkoutController({ button, output, getCart }) {
  let busy = false;

  const update = (cart) => {
    const online = connectionOf(cart.status()) === 'online';
    // Offline the button stays enabled: pressing it explains why checkout has to wait.
    button.disabled = busy || cart.itemCount() === 0;
    button.textContent = busy ? 'Placing your order…' : online ? 'Check out' : NEEDS_CONNECTION;
  };

  const say = (kind, ...children) => {
    output.dataset.outcome = kind;
    output.replaceChildren(...children);
  };

  const offline = () =>
    say('offline', h('p', { textContent: `${NEEDS_CONNECTION}. Your cart is saved on this device; keep shopping and check out once you are back online.` }));

  async function checkout() {
    const cart = getCart();
    if (connectionOf(cart.status()) !== 'online') return offline();
    try {
      // The server orders the cart at these heads, so it must hold every change in them.
      await cart.sync();
      const heads = cart.heads();
      let answer = await postCheckout(cart.id, heads, cart.key);
      if (answer.status === 409 && answer.body?.code === 'sync_first') {
        await cart.sync();
        answer = await postCheckout(cart.id, heads, cart.key);
      }
      showAnswer(answer);
    } catch (error) {
      // sync() rejects with code "offline"; fetch rejects with a TypeError when no answer came.
      if (error.code === 'offline' || error instanceof TypeError) return offline();
      say('error', h('p', { textContent: `Checkout failed: ${error.message}` }));
    }
  }

  function showAnswer({ ok, status, body }) {
    if (ok) return say('order', orderSummary(body.order, body.repeated));
    if (body?.code === 'lines_refused') {
      return say(
        'refused',
        h('p', { textContent: 'Some lines cannot be ordered; change them and check out again:' }),
        h('ul', {}, ...body.lines.map((line) => h('li', { textContent: `${line.sku}: ${REASONS[line.reason] ?? line.message}` }))),
      );
    }
    // The button is disabled on an empty cart: the server found nothing left because another
    // device's order already took these lines (its clear reaches this page through sync).
    if (body?.code === 'empty_cart') {
      return say('refused', h('p', { textContent: 'Nothing left to order: these items were already ordered, from this or another device.' }));
    }
    say('error', h('p', { textContent: `Checkout failed: ${body?.message ?? `HTTP ${status}`}` }));
  }

  button.addEventListener('click', async () => {
    if (busy) return;
    busy = true;
    update(getCart());
    try {
      await checkout();
    } finally {
      busy = false;
      update(getCart());
    }
  });
  return { update };
}

// The order as the server made it: its prices win, and a line whose price changed since it was
// put in the cart says so.
function orderSummary(order, repeated) {
  const lines = order.lines.map((line) => {
    const item = h('li', { textContent: `${line.quantity} × ${lineLabel(line)}: ${money(line.lineTotal, line.currency)}` });
    if (line.priceChanged) {
      item.append(
        h('span', {
          className: 'price-change',
          textContent: ` (price changed from ${money(line.cartUnitPrice, line.currency)} to ${money(line.unitPrice, line.currency)} each)`,
        }),
      );
    }
    return item;
  });
  const totals = order.totals.map(({ currency, amount }) => money(amount, currency)).join(' + ');
  return h(
    'div',
    { className: 'order', attrs: { 'data-order-id': order.id } },
    h('h3', { textContent: repeated ? 'Your order (already placed)' : 'Thank you for your order' }),
    h('p', { textContent: `Order ${order.id} · ${plural(order.lines.length, 'line')} · ${totals}` }),
    h('ul', {}, ...lines),
  );
}
