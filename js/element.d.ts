// Types of `offline-cart/element` (element.js): the drop-in <offline-cart> element, and the
// pieces it is drawn with (view.js) and its choice of cart (session.js).
import type { Cart, CartLine, CartStatus, NewItem } from "./index.js";

/**
 * `<offline-cart server="/sync">`: a status badge and a cart drawer in a shadow root. Defined
 * when the module is imported in a browser. `server` is a path or ws(s) URL (default "/sync").
 */
export class OfflineCartElement extends HTMLElement {
  /** The cart, once open (`undefined` before). */
  cart: Cart | undefined;
  /** Resolves to the cart once open (a `ready` event with `detail.cart` fires too). */
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
/** An amount in minor units, formatted for `currency`. */
export function formatMoney(minor: number, currency: string): string;
/** "1 item", "2 items". */
export function plural(n: number, word: string): string;
/** "Name (variant)". */
export function lineLabel(line: CartLine): string;
/** The `addItem` argument that adds `quantity` more of `line`. */
export function itemFromLine(line: CartLine, quantity: number): NewItem;
/**
 * A cart panel: `render(cart)` brings `list`, `totals` and `empty` up to date with the cart.
 * `run(action)` performs a cart action and returns false when it threw.
 */
export function cartLinesView(parts: {
  list: HTMLElement;
  totals: HTMLElement;
  empty: HTMLElement;
  pictureOf?: (line: CartLine) => Node;
  run: (action: () => unknown) => boolean;
}): (cart: Cart) => void;
/** The cart's connection, "offline" when the browser says it is. */
export function connectionOf(status: CartStatus): CartStatus["connection"];
/** Shows `status` in `badge` (text, and data-state / data-connection / data-pending / data-blocked). */
export function renderStatus(badge: HTMLElement, status: CartStatus): void;
/** The WebSocket URL of a sync endpoint given as a path or a ws(s) URL. */
export function syncUrl(endpoint?: string): string;
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
