// Types of `offline-cart/element` (element.js): the drop-in <offline-cart> element, and the
// pieces it is drawn with (view.js) and its choice of cart (session.js).
import type { Cart, CartLine, CartStatus, NewItem } from "./index.js";

/**
 * `<offline-cart server="/sync" locale="de-DE">`: a status badge and a cart drawer in a shadow
 * root. Defined when the module is imported in a browser.
 *
 * Attributes: `server`, a path or ws(s) URL (default "/sync"), read when the element is put in
 * the document; `locale`, the BCP 47 tag amounts are formatted in (default: the closest `lang`,
 * else the document's, else the browser's language), observed: changing it formats again.
 *
 * Lifecycle: put in a document, the element opens its cart; removed, it closes it
 * (`cart.close()`), and put back later it opens it again (a new `Cart`). A move within the
 * page (removed and put back in the same task) keeps the cart open. Escape closes the open
 * drawer and focuses the toggle.
 */
export class OfflineCartElement extends HTMLElement {
  static readonly observedAttributes: string[];
  /** The cart while the element is in the document and its cart open; `undefined` otherwise. */
  cart: Cart | undefined;
  /**
   * Resolves to the cart once open (a `ready` event with `detail.cart` fires too). A new
   * promise is made when the element leaves the document; one still pending then rejects
   * with an `AbortError`.
   */
  readonly ready: Promise<Cart>;
}

declare global {
  interface HTMLElementTagNameMap {
    "offline-cart": OfflineCartElement;
  }
}

/** h(tag, props, ...children): a new element; `props.attrs` become attributes, other props properties. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props?: Partial<Omit<HTMLElementTagNameMap[K], "style">> & { attrs?: Record<string, string> },
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K];
/** A new SVG element with the attributes `attrs`. */
export function svg(name: string, attrs: Record<string, string | number>): SVGElement;
/** The first letter of `name` on a tile (class `art`). */
export function letterTile(name: string, colours?: { bg: string; fg: string }): SVGElement;
/**
 * An amount in minor units, formatted for `currency` in `locale` (a BCP 47 tag; omitted: the
 * browser's language): 1450 EUR is "€14.50" in "en", "14,50 €" in "de-DE".
 */
export function formatMoney(minor: number, currency: string, locale?: string): string;
/** The language `node` is in: its closest `lang` (across shadow roots), else the document's; `undefined` when none. */
export function pageLocale(node: Node): string | undefined;
/** "1 item", "2 items". */
export function plural(n: number, word: string): string;
/** "Name (variant)". */
export function lineLabel(line: CartLine): string;
/** The `addItem` argument that adds `quantity` more of `line`. */
export function itemFromLine(line: CartLine, quantity: number): NewItem;
/**
 * A cart panel: `render(cart, locale?)` brings `list`, `totals` and `empty` up to date with the
 * cart, amounts in `locale` (omitted: the browser's language). `run(action)` performs a cart
 * action and returns false when it threw. When a line holding the focus goes, the focus moves
 * to the line in its place, else to `empty`.
 */
export function cartLinesView(parts: {
  list: HTMLElement;
  totals: HTMLElement;
  empty: HTMLElement;
  pictureOf?: (line: CartLine) => Node;
  run: (action: () => unknown) => boolean;
}): (cart: Cart, locale?: string) => void;
/** The cart's connection, "offline" when the browser says it is. */
export function connectionOf(status: CartStatus): CartStatus["connection"];
/**
 * Shows `status` in `badge`: the state in words in a live region (`.status-text`,
 * `role="status"`), written only when the words change, so it is announced once per change of
 * state and not on every sync or reconnection attempt; what is on its way (`.status-detail`),
 * shown, not announced.
 * Both are made in `badge` on the first call unless it holds them; `badge` itself must not be a
 * live region. Sets data-state / data-connection / data-pending / data-blocked when they change.
 */
export function renderStatus(badge: HTMLElement, status: CartStatus): void;
/** The WebSocket URL of a sync endpoint given as a path or a ws(s) URL. */
export function syncUrl(endpoint?: string): string;
/**
 * The sync URLs of a `server` attribute: endpoints separated by whitespace, each read as
 * `syncUrl` reads it; one endpoint gives its URL, several the list `Cart.open` tries in turn,
 * none the default `/sync`.
 */
export function syncServers(attribute: string): string | string[];
/** What a cart choice holds: the cart, its key, and the demo account it belongs to. */
export interface CartChoice {
  cartId?: string;
  key?: string;
  account?: string;
}
/** Remembers the cart to reopen on the next visit; false when localStorage is blocked. */
export function remember(choice: CartChoice): boolean;
/** The cart the address names (`?cart=&key=`), else the one remembered. */
export function chosenCart(): CartChoice;
/** Opens `choice` (or a new cart, telling `onWarning` why) and remembers it. */
export function openCart(
  choice: CartChoice,
  options?: { server?: string; storage?: "indexeddb" | "localstorage" | "memory"; onWarning?: (text: string) => void },
): Promise<Cart>;
