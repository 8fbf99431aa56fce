// The early cart's input checks, in plain JS so they run before the wasm module has arrived.
// They mirror crates/cart-core/src/validate.rs and src/convert.rs (same order, same codes, same
// messages), so an add the early cart accepts is one the wasm cart accepts on replay;
// tests/e2e/early.test.mjs compares both on the same inputs. Also: cart ids (bs58check, with a
// small SHA-256) and random add tags.

export const MAX_QUANTITY = 999;
export const MAX_LINES = 500;
const ITEM_FIELDS = ['sku', 'name', 'unitPrice', 'currency', 'quantity', 'imageUrl', 'variant', 'tag'];
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** An `Error` named `CartError` with a stable `code`, like the ones the wasm cart throws. */
export function cartError(code, message) {
  const error = new Error(message);
  error.name = 'CartError';
  error.code = code;
  return error;
}

/**
 * Whether `value` is an error the cart threw: an `Error` named `CartError` with a string `code`
 * (from the wasm module or from these checks alike).
 */
export function isCartError(value) {
  return value instanceof Error && value.name === 'CartError' && typeof value.code === 'string';
}

const invalidItem = (why) =>
  cartError('invalid_item', `addItem expects { sku, name, unitPrice, currency, quantity?, imageUrl?, variant?, tag? }: ${why}`);

function text(code, field, value, max, fix) {
  const count = [...value].length;
  let why;
  if (value.trim() === '') why = 'must not be empty';
  else if (count > max) why = `has ${count} characters, at most ${max} are allowed`;
  else if (CONTROL.test(value)) why = 'must not contain control characters';
  else return;
  throw cartError(code, `${field} ${why}; ${fix}`);
}

function wholeNumber(value, code, field) {
  if (Number.isInteger(value) && Math.abs(value) < 9e15) return value;
  throw cartError(code, `${field} must be a whole number, got ${value}`);
}

/**
 * Checks the argument of `addItem` as the wasm cart would, and returns a plain copy
 * `{ sku, name, unitPrice, currency, quantity, imageUrl?, variant?, tag? }`. Throws a
 * `CartError` (`invalid_item`, `invalid_sku`, `invalid_name`, `invalid_price`,
 * `invalid_currency`, `invalid_quantity`, `invalid_image_url`, `invalid_variant`).
 */
export function checkItem(input) {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw invalidItem(`expected an object, got ${input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input}`);
  }
  for (const key of Object.keys(input)) {
    if (!ITEM_FIELDS.includes(key)) throw invalidItem(`unknown field \`${key}\`, expected one of ${ITEM_FIELDS.join(', ')}`);
  }
  const types = { sku: 'string', name: 'string', unitPrice: 'number', currency: 'string', quantity: 'number?', imageUrl: 'string?', variant: 'string?', tag: 'string?' };
  for (const [field, type] of Object.entries(types)) {
    const value = input[field];
    if (value == null && type.endsWith('?')) continue;
    if (value === undefined) throw invalidItem(`missing field \`${field}\``);
    if (typeof value !== type.replace('?', '')) throw invalidItem(`\`${field}\` must be a ${type.replace('?', '')}`);
  }
  const item = {
    sku: input.sku,
    name: input.name,
    unitPrice: wholeNumber(input.unitPrice, 'invalid_price', 'unitPrice'),
    currency: input.currency,
    quantity: input.quantity == null ? 1 : wholeNumber(input.quantity, 'invalid_quantity', 'quantity'),
  };
  text('invalid_sku', 'sku', item.sku, 64, "use the product's stock-keeping unit as the catalog gives it");
  text('invalid_name', 'name', item.name, 200, "give the product's display name");
  if (item.unitPrice < 0 || item.unitPrice > 1e9) {
    throw cartError('invalid_price', `unitPrice must be 0..=1000000000 minor units (cents), got ${item.unitPrice}; give the price as an integer in the currency's minor unit`);
  }
  if (!/^[A-Z]{3}$/.test(item.currency)) {
    throw cartError('invalid_currency', `currency must be an ISO 4217 code of three uppercase letters such as "EUR", got ${JSON.stringify(item.currency)}`);
  }
  if (item.quantity < 1 || item.quantity > MAX_QUANTITY) {
    throw cartError('invalid_quantity', `quantity must be 1..=${MAX_QUANTITY}, got ${item.quantity}; use removeItem to delete a line`);
  }
  if (input.imageUrl != null) {
    const url = input.imageUrl;
    const lower = url.toLowerCase();
    const form = lower.startsWith('https://') || lower.startsWith('http://') || (url.startsWith('/') && !url.startsWith('//'));
    if (!form || new TextEncoder().encode(url).length > 2048 || CONTROL.test(url)) {
      throw cartError('invalid_image_url', 'imageUrl must be an https:, http: or root-relative URL of at most 2048 bytes; leave it out if the product has no image');
    }
    item.imageUrl = url;
  }
  if (input.variant != null) {
    text('invalid_variant', 'variant', input.variant, 64, 'use a short label such as "M" or "blue", or leave it out');
    item.variant = input.variant;
  }
  if (input.tag != null) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(input.tag)) {
      throw cartError('invalid_item', `tag must be 1 to 64 ASCII letters, digits, '-' or '_', got ${JSON.stringify(input.tag)}; leave it out and the cart makes one`);
    }
    item.tag = input.tag;
  }
  return item;
}

const randomBytes = (n) => crypto.getRandomValues(new Uint8Array(n));

/** A random add tag: 16 hex digits, like the ones cart-core makes. */
export const newTag = () => [...randomBytes(8)].map((b) => b.toString(16).padStart(2, '0')).join('');

// SHA-256 (FIPS 180-4), for the four checksum bytes of a cart id; crypto.subtle would do it
// only asynchronously and only in secure contexts. Constants from the primes, as the standard
// defines them.
const PRIMES = [];
for (let n = 2; PRIMES.length < 64; n++) if (PRIMES.every((p) => n % p)) PRIMES.push(n);
const frac = (x) => ((x - Math.floor(x)) * 2 ** 32) >>> 0;
const K = PRIMES.map((p) => frac(Math.cbrt(p)));
const H0 = PRIMES.slice(0, 8).map((p) => frac(Math.sqrt(p)));

/** The SHA-256 digest of `bytes` (a Uint8Array). */
export function sha256(bytes) {
  const length = ((bytes.length + 9 + 63) >> 6) << 6;
  const data = new Uint8Array(length);
  data.set(bytes);
  data[bytes.length] = 0x80;
  const view = new DataView(data.buffer);
  view.setUint32(length - 4, bytes.length * 8);
  view.setUint32(length - 8, Math.floor(bytes.length / 2 ** 29));
  const h = [...H0];
  const w = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let block = 0; block < length; block += 64) {
    for (let i = 0; i < 64; i++) {
      if (i < 16) w[i] = view.getUint32(block + i * 4);
      else {
        const a = w[i - 15], b = w[i - 2];
        w[i] = w[i - 16] + (rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3)) + w[i - 7] + (rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10));
      }
    }
    let [a, b, c, d, e, f, g, k] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      [k, g, f, e, d, c, b, a] = [g, f, e, (d + t1) | 0, c, b, a, (t1 + t2) | 0];
    }
    [a, b, c, d, e, f, g, k].forEach((x, i) => (h[i] = (h[i] + x) | 0));
  }
  const out = new DataView(new ArrayBuffer(32));
  h.forEach((x, i) => out.setUint32(i * 4, x));
  return new Uint8Array(out.buffer);
}

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const checksum = (payload) => sha256(sha256(payload)).subarray(0, 4);

function base58(bytes) {
  let n = bytes.reduce((acc, b) => acc * 256n + BigInt(b), 0n);
  let out = '';
  for (; n > 0n; n /= 58n) out = ALPHABET[Number(n % 58n)] + out;
  for (const b of bytes) {
    if (b) break;
    out = '1' + out;
  }
  return out;
}

/** A new random cart id: 16 random bytes as bs58check, an automerge-repo document id. */
export function randomCartId() {
  const payload = randomBytes(16);
  const data = new Uint8Array(20);
  data.set(payload);
  data.set(checksum(payload), 16);
  return base58(data);
}

/** The cart id `text` (bs58check of 16 bytes, optionally an `automerge:` URL) in its plain form. Throws `invalid_cart_id`. */
export function parseCartId(text) {
  const invalid = () =>
    cartError('invalid_cart_id', `${JSON.stringify(text)} is not a cart id (bs58check of 16 bytes, as cart.id gives it); omit cartId to create a new cart`);
  if (typeof text !== 'string') throw invalid();
  const id = text.startsWith('automerge:') ? text.slice(10) : text;
  let n = 0n;
  for (const c of id) {
    const digit = ALPHABET.indexOf(c);
    if (digit < 0) throw invalid();
    n = n * 58n + BigInt(digit);
  }
  const zeros = id.length - id.replace(/^1+/, '').length;
  const bytes = [];
  for (; n > 0n; n >>= 8n) bytes.unshift(Number(n & 255n));
  const data = new Uint8Array([...new Array(zeros).fill(0), ...bytes]);
  if (data.length !== 20 || checksum(data.subarray(0, 16)).some((b, i) => b !== data[16 + i])) throw invalid();
  return id;
}
