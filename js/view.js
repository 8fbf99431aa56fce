// The pieces of a cart panel the drop-in element (element.js) draws, exported with it for a
// page that draws its own (the storefront demo in www/ does): cart lines with steppers, totals
// and the status badge. Every piece of product or cart text is set with textContent (through
// `h`), never parsed as HTML: cart lines can arrive from another device and catalog names are
// data, not markup.

/**
 * h(tag, props, ...children): a new element. `props` keys set properties (so `textContent`
 * and `className` work), except `attrs`, whose entries become attributes. String children
 * become text nodes.
 */
export function h(tag, props = {}, ...children) {
  const { attrs = {}, ...properties } = props;
  const element = Object.assign(document.createElement(tag), properties);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

// Amounts are integers in the currency's minor unit; Intl knows how many digits each
// currency has (2 for EUR, 0 for JPY). One formatter per locale and currency.
const formatters = new Map();

/**
 * `minor` (an integer amount in the currency's minor unit) formatted for `currency` in `locale`
 * (a BCP 47 tag such as "de-DE"; omitted: the browser's default): 1450 EUR is "€14.50" in "en"
 * and "14,50 €" in "de-DE". A tag Intl does not accept throws a RangeError.
 */
export function formatMoney(minor, currency, locale) {
  const cacheKey = `${locale ?? ''}|${currency}`;
  if (!formatters.has(cacheKey)) {
    formatters.set(cacheKey, new Intl.NumberFormat(locale, { style: 'currency', currency }));
  }
  const format = formatters.get(cacheKey);
  return format.format(minor / 10 ** format.resolvedOptions().maximumFractionDigits);
}

/**
 * The language `node` is in, as HTML inherits it: the `lang` of its closest ancestor that has
 * one (inside a shadow root, the host's), else the document's; `undefined` (the browser's
 * default) where none is set or it is empty ("unknown").
 */
export function pageLocale(node) {
  for (let at = node; at; at = at.parentElement ?? at.getRootNode?.().host) {
    if (at.hasAttribute?.('lang')) return at.getAttribute('lang') || undefined;
  }
  return document.documentElement.getAttribute('lang') || undefined;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** svg(name, attrs): a new SVG element with the attributes `attrs`. */
export function svg(name, attrs) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [attr, value] of Object.entries(attrs)) element.setAttribute(attr, value);
  return element;
}

/**
 * A line's picture when there is no other: the first letter of `name` on a tile of
 * `colours.bg` in `colours.fg` (class `art`, 100 x 100 view box). Decorative: the name is
 * always next to it.
 */
export function letterTile(name, colours = { bg: '#e5e7eb', fg: '#4b5563' }) {
  const picture = svg('svg', { viewBox: '0 0 100 100', class: 'art', 'aria-hidden': 'true', focusable: 'false' });
  picture.append(svg('rect', { width: 100, height: 100, rx: 12, fill: colours.bg }));
  const letter = svg('text', { x: 50, y: 66, 'text-anchor': 'middle', 'font-size': 48, fill: colours.fg });
  letter.textContent = name.trim().charAt(0).toUpperCase();
  picture.append(letter);
  return picture;
}

export const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** "Name (variant)": how a line is named to screen readers. */
export const lineLabel = (line) => (line.variant ? `${line.name} (${line.variant})` : line.name);

/** The `addItem` argument that adds `quantity` more of a cart line, with its details. */
export function itemFromLine({ sku, name, unitPrice, currency, imageUrl, variant }, quantity) {
  return { sku, name, unitPrice, currency, quantity, ...(imageUrl && { imageUrl }), ...(variant && { variant }) };
}

// One cart line's elements, made once per line and updated in place on every change, so the
// button a keyboard user just pressed keeps its focus. `run` performs a cart action and reports
// a thrown CartError.
function lineRow(cart, line, picture, run) {
  const label = lineLabel(line);
  const quantity = h('input', { type: 'number', className: 'quantity', min: 0, max: 999, inputMode: 'numeric' });
  let current = line.quantity;
  let details = line;
  quantity.addEventListener('change', () => {
    // An emptied field or a refused number puts the stored quantity back.
    if (quantity.value === '' || !run(() => cart.setQuantity(line.sku, Number(quantity.value)))) {
      quantity.value = String(current);
    }
  });
  const stepper = (text, name, action) => {
    const button = h('button', { type: 'button', className: 'step', textContent: text, attrs: { 'aria-label': `${name} ${label}` } });
    button.addEventListener('click', () => run(action));
    return button;
  };
  // "One more" is an add, not a set: two devices that each press it while apart both count
  // when they merge (add-wins), where two concurrent sets would keep only one of them.
  const addOne = () => cart.addItem(itemFromLine(details, 1));
  const remove = h('button', { type: 'button', className: 'remove', textContent: 'Remove', attrs: { 'aria-label': `Remove ${label}` } });
  remove.addEventListener('click', () => run(() => cart.removeItem(line.sku)));

  const unit = h('span', { className: 'unit' });
  const total = h('span', { className: 'line-total' });
  const row = h(
    'li',
    { className: 'line', attrs: { 'data-sku': line.sku } },
    picture,
    h(
      'div',
      { className: 'line-info' },
      h('span', { className: 'line-name', textContent: line.name }),
      ...(line.variant ? [h('span', { className: 'line-variant', textContent: line.variant })] : []),
      unit,
    ),
    h(
      'div',
      { className: 'line-controls' },
      stepper('−', 'One less', () => cart.setQuantity(line.sku, current - 1)),
      h('label', {}, h('span', { className: 'visually-hidden', textContent: `Quantity of ${label}` }), quantity),
      stepper('+', 'One more', addOne),
      remove,
    ),
    total,
  );
  const update = (next, locale) => {
    current = next.quantity;
    details = next;
    unit.textContent = `${formatMoney(next.unitPrice, next.currency, locale)} each`;
    total.textContent = formatMoney(next.lineTotal, next.currency, locale);
    if (row.getRootNode().activeElement !== quantity) quantity.value = String(next.quantity);
  };
  return { row, update };
}

// A row is reused while its sku, name and variant stay the same; a merge that renames the
// line gets a new row with the new labels.
const rowKey = (line) => JSON.stringify([line.sku, line.name, line.variant]);

/**
 * A cart panel's lines and totals: `render(cart, locale)` brings `list` (a <ul>), `totals` (a
 * <dl>) and `empty` (shown for an empty cart) up to date with the cart, amounts formatted for
 * `locale` (omitted: the browser's default). `pictureOf(line)` draws a line's picture (default:
 * `letterTile`); `run(action)` performs a cart action, reporting what it throws. Rows are
 * updated in place, so the focus stays where it was; when the row holding it goes, the focus
 * moves to the same control of the line in its place, else to `empty`.
 */
export function cartLinesView({ list, totals, empty, pictureOf = (line) => letterTile(line.name), run }) {
  const rows = new Map();
  let shownCart;
  return function render(cart, locale) {
    if (cart !== shownCart) {
      // Another cart (after sign-in): its rows' buttons must act on it.
      for (const { row } of rows.values()) row.remove();
      rows.clear();
      shownCart = cart;
    }
    const lines = cart.items();
    const held = heldFocus(list, rows);
    const seen = new Set();
    lines.forEach((line, index) => {
      const key = rowKey(line);
      seen.add(key);
      if (!rows.has(key)) rows.set(key, lineRow(cart, line, pictureOf(line), run));
      const { row, update } = rows.get(key);
      update(line, locale);
      // Move a row only when it is out of place: moving a focused element drops its focus.
      if (list.children[index] !== row) list.insertBefore(row, list.children[index] ?? null);
    });
    for (const [key, { row }] of rows) {
      if (!seen.has(key)) {
        row.remove();
        rows.delete(key);
      }
    }
    empty.hidden = lines.length > 0;
    if (held && !held.row.isConnected) keepFocus(held, list, empty);
    const sums = cart.totals();
    totals.replaceChildren(
      ...sums.flatMap(({ currency, amount }) => [
        h('dt', { textContent: sums.length > 1 ? `Total in ${currency}` : 'Total' }),
        h('dd', { textContent: formatMoney(amount, currency, locale) }),
      ]),
    );
  };
}

/** The controls of a cart line a keyboard reaches, in order. */
const controlsOf = (row) => [...row.querySelectorAll('button, input')];

/**
 * Which row of `rows` holds the focus (in `list`'s document or shadow root), where it is in the
 * list and which of its controls has it; `undefined` when no row has the focus.
 */
function heldFocus(list, rows) {
  const focused = list.getRootNode().activeElement;
  if (!focused) return undefined;
  for (const { row } of rows.values()) {
    if (row.contains(focused)) return { row, index: [...list.children].indexOf(row), control: controlsOf(row).indexOf(focused) };
  }
  return undefined;
}

/**
 * The row that held the focus is gone (its Remove was pressed, or the line left with a change
 * from elsewhere): the focus moves to the same control of the line now in its place (or of the
 * last line), else to `empty`, so that it is not lost to the top of the page.
 */
function keepFocus(held, list, empty) {
  const next = list.children[Math.min(held.index, list.children.length - 1)];
  if (next) {
    const controls = controlsOf(next);
    controls[Math.max(held.control, 0)]?.focus();
  } else {
    empty.tabIndex = -1;
    empty.focus();
  }
}

/**
 * The cart's connection, corrected by the browser's own view: with the network gone a WebSocket
 * can stay open without carrying anything for a long while (Chromium keeps it "open" under
 * DevTools' offline mode), so the page believes `navigator.onLine === false` first.
 */
export const connectionOf = (status) => (navigator.onLine ? status.connection : 'offline');

/**
 * What the shopper should know when the server does not take the cart (`status.blocked`), and
 * what they can do about it. The cart is kept on this device in every case.
 */
const BLOCKED_TEXT = {
  too_many_lines: 'Not synced: more lines than the shop allows · remove a line to sync',
  document_too_large: 'Not synced: this cart\'s history is too large for the shop · it stays on this device',
  schema_violation: 'Not synced: the shop refused this cart · it stays on this device',
  change_too_large: 'Not synced: the shop refused a change too large for it · it stays on this device',
  wrong_key: 'Not synced: this cart belongs to another link · open the full link to sync',
};

/**
 * Where the cart is, as the badge shows it:
 * - `words`: the state in words, what the badge's live region announces: "Saved to your
 *   account", "Connecting · saved on this device", "Offline · saved on this device", why the
 *   server refuses the cart, or that it is kept in memory only. They change with the
 *   connection, the storage or a refusal, never with an edit or a sync. `shown` is the words
 *   the badge shows now: while the server cannot be reached the cart tries again and again
 *   (offline, connecting, offline, …), so a badge that says "Offline" keeps saying it while
 *   connecting, and says "Saved to your account" once the cart is back.
 * - `detail`: what is on its way, shown after the words and not announced: a connection being
 *   tried, changes being saved on this device, changes the server does not have yet.
 * - `state`, for styles and tests: "account" (online, everything on the server), "syncing"
 *   (online or connecting with changes on their way), "device" (offline, everything on this
 *   device), "offline" (offline and still saving, or kept in memory only) or "blocked" (the
 *   server refuses the cart's changes; they stay on this device).
 */
function describeStatus(status, shown) {
  const connection = connectionOf(status);
  const waiting = status.pending > 0 ? ` · ${plural(status.pending, 'change')} not yet on the server` : '';
  if (status.storage === 'memory') {
    return { state: 'offline', words: 'Kept in memory only: lost on reload', detail: waiting };
  }
  if (status.blocked) {
    const words = BLOCKED_TEXT[status.blocked] ?? `Not synced (${status.blocked}) · it stays on this device`;
    return { state: 'blocked', words, detail: '' };
  }
  if (connection === 'online') {
    const busy = status.pending > 0 || status.unsaved > 0;
    const detail = status.pending > 0 ? ` · syncing ${plural(status.pending, 'change')}` : '';
    return { state: busy ? 'syncing' : 'account', words: 'Saved to your account', detail };
  }
  const retrying = connection === 'connecting' && shown === OFFLINE;
  const words = connection === 'connecting' && !retrying ? 'Connecting · saved on this device' : OFFLINE;
  const detail = `${retrying ? ' · connecting' : ''}${status.unsaved > 0 ? ' · saving' : ''}${waiting}`;
  if (status.unsaved > 0) return { state: 'offline', words, detail };
  return { state: connection === 'connecting' ? 'syncing' : 'device', words, detail };
}

const OFFLINE = 'Offline · saved on this device';

/** Sets `element`'s text only when it differs: a live region announces every rewrite. */
function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

/**
 * Shows `status` in the badge element `badge`: the state in words in a live region
 * (`role="status"`, class `status-text`), then what is on its way (class `status-detail`),
 * shown but not announced. A screen reader announces a live region again whenever it is
 * rewritten, so the words are written only when they change: the badge announces "Offline ·
 * saved on this device", "Connecting · saved on this device" (when it did not say "Offline"
 * before: attempts to reconnect are not announced) and "Saved to your account" once each, not
 * every sync, edit or retry. The two parts are made inside `badge` on the first call unless it
 * holds them already (write them in the page, so the live region exists before its first
 * change); `badge` itself must not be a live region. Its data attributes (data-state,
 * data-connection, data-pending, data-blocked), for styles and tests, are set when they change.
 */
export function renderStatus(badge, status) {
  let live = badge.querySelector(':scope > .status-text');
  let more = badge.querySelector(':scope > .status-detail');
  if (!live || !more) {
    live = h('span', { className: 'status-text', attrs: { role: 'status' } });
    more = h('span', { className: 'status-detail' });
    badge.replaceChildren(live, more);
  }
  const { state, words, detail } = describeStatus(status, live.textContent);
  setText(live, words);
  setText(more, detail);
  const data = { state, connection: connectionOf(status), pending: String(status.pending), blocked: status.blocked ?? '' };
  for (const [name, value] of Object.entries(data)) {
    if (badge.dataset[name] !== value) badge.dataset[name] = value;
  }
}
