// Types of the package's entries (index.js for bundlers, node.js for Node; web.d.ts adds `init`).
// The item, line, status and event types are the wasm module's (offline_cart.d.ts, generated
// from src/convert.rs); the entry adds the cart that works before the module has arrived, the
// error codes and `isCartError`.
import type {
  CartEvent as ModuleEvent,
  WarningCode,
  CartLine,
  CartSnapshot,
  CartStatus,
  CurrencyTotal,
  NewItem,
  OpenOptions,
} from "./offline_cart.js";

export type {
  BlockedCode,
  CartLine,
  CartSnapshot,
  CartStatus,
  CurrencyTotal,
  NewItem,
  OpenOptions,
  StorageKind,
  WarningCode,
} from "./offline_cart.js";

/** Codes of the warnings only the entry raises. */
export type EarlyWarningCode =
  /** The wasm module could not be loaded or the cart not opened; adds stay in the outbox. */
  | "module_unavailable"
  /** The Automerge cart refused an add replayed from the outbox (for example a 501st line). */
  | "add_refused";

/** Every `code` of a `warning` event. */
export type CartWarningCode = WarningCode | EarlyWarningCode;

/**
 * Every `code` of a thrown `CartError` (README "Errors"; crates/cart-core/src/error.rs and
 * src/error.rs, checked by tests/node/package.test.mjs).
 */
export type CartErrorCode =
  /** empty, too long (64 characters) or control characters */
  | "invalid_sku"
  /** empty, too long (200 characters) or control characters */
  | "invalid_name"
  /** empty, too long (64 characters) or control characters */
  | "invalid_variant"
  /** `unitPrice` not a whole number in 0..=1,000,000,000 */
  | "invalid_price"
  /** not three uppercase letters (ISO 4217) */
  | "invalid_currency"
  /** add outside 1..=999, set outside 0..=999, or a line that would exceed 999 */
  | "invalid_quantity"
  /** `addItem` of a 501st line; remove a line first */
  | "too_many_lines"
  /** not `https:`, `http:` or root-relative, or over 2,048 bytes */
  | "invalid_image_url"
  /** `addItem`'s argument is not an item (missing field, wrong type, unknown field) */
  | "invalid_item"
  /** `setQuantity` on a sku with no line */
  | "unknown_item"
  /** `Cart.open`'s `cartId` is not a cart id */
  | "invalid_cart_id"
  /** `Cart.open` options that are not understood */
  | "invalid_options"
  /** `merge` bytes that are not Automerge */
  | "corrupt_data"
  /** `merge` bytes of another cart */
  | "wrong_cart"
  /** bytes that would expand far beyond their size (README "Limits on Automerge bytes") */
  | "change_too_large"
  /** a document that does not follow the cart's schema */
  | "schema_violation"
  /** storage refused a write the call needed */
  | "storage"
  /** an edit after `close()` */
  | "cart_closed"
  /** `sync()` not confirmed in time */
  | "offline"
  /** `sync()` on a cart without a server */
  | "no_server"
  /** a call that needs the wasm module before `cart.ready` resolved */
  | "not_ready";

/** What the cart throws for bad input or a bad state: the cart is unchanged. */
export interface CartError extends Error {
  name: "CartError";
  /** Stable: branch on it, not on `message`. */
  code: CartErrorCode;
}

/** Whether `value` is a `CartError` (an `Error` named "CartError" with a string `code`). */
export function isCartError(value: unknown): value is CartError;

/** What `subscribe` callbacks receive: the module's events, and the entry's own warnings. */
export type CartEvent =
  | ModuleEvent
  | { type: "warning"; code: "module_unavailable"; message: string }
  | { type: "warning"; code: "add_refused"; reason: string; item: NewItem; message: string };

/** An add checked by `checkItem`: the quantity filled in, unknown fields refused. */
export type CheckedItem = Required<Pick<NewItem, "sku" | "name" | "unitPrice" | "currency" | "quantity">> &
  Pick<NewItem, "imageUrl" | "variant" | "tag">;

/**
 * Checks the argument of `addItem` exactly as the cart does (same error codes and messages),
 * without the wasm module. Throws a `CartError`.
 */
export function checkItem(input: NewItem): CheckedItem;

/**
 * A shopping cart that never refuses an add. `Cart.start` returns one at once, before the wasm
 * module has arrived: `addItem` goes to a durable IndexedDB outbox, and `items()` lists the
 * lines remembered from the last visit plus the outbox. Once the module is ready the outbox is
 * replayed into the Automerge cart, in order, and every call goes there.
 */
export class Cart {
  private constructor();
  /** A cart that takes adds now. Throws `invalid_options` or `invalid_cart_id` at once. */
  static start(options?: OpenOptions): Cart;
  /** Resolves to the cart once the module is ready and the outbox replayed into it. */
  static open(options?: OpenOptions): Promise<Cart>;
  /** Resolves to this cart once the module is ready and the outbox replayed into it. */
  readonly ready: Promise<Cart>;
  /** Whether every call goes to the Automerge cart. */
  readonly isReady: boolean;
  /** The cart id (an automerge-repo document id), known at once. */
  readonly id: string;
  /** The cart's secret for the server; `undefined` before the module is ready unless given. */
  readonly key: string | undefined;
  /** Adds `item.quantity` (default 1) units; into the outbox before the module is ready. */
  addItem(item: NewItem): void;
  /** The lines, first added first; frozen once the module is ready (copy to sort). */
  items(): readonly Readonly<CartLine>[];
  totals(): CurrencyTotal[];
  itemCount(): number;
  /** Before the module is ready, `pending` counts the outbox's adds. */
  status(): CartStatus;
  /**
   * `{ items, totals, itemCount, status }`, frozen: the same object until the lines or the
   * status change, so a UI compares snapshots by identity (`offline-cart/react`, `/vue` and
   * `/svelte` are built on it). `items` and `totals` keep their identity while the lines are
   * unchanged, `status` while the status is.
   */
  snapshot(): CartSnapshot;
  /**
   * Calls `callback` with every event; returns the unsubscribe function. Warnings raised before
   * anyone subscribed (while opening) reach the first subscriber during this call, before it
   * returns.
   */
  subscribe(callback: (event: CartEvent) => void): () => void;
  /** Resolves once every edit so far is durable (in the outbox, before the module is ready). */
  flush(): Promise<void>;
  /** Resolves once the server holds every local change; rejects `offline` after `timeoutMs` (10,000) or `no_server`. */
  sync(timeoutMs?: number): Promise<void>;
  /**
   * Ends the cart: flushes every edit to storage, then releases storage, the tab channel and
   * the server connection; later edits throw `cart_closed`. Call this, not wasm-bindgen's
   * `free()` (which the module's own class has): `free()` drops the cart's memory without
   * flushing or closing its connection. In Node, a cart keeps the process alive until closed.
   */
  close(): Promise<void>;
  /** Throws `not_ready` before the module is ready, as do the members below. */
  setQuantity(sku: string, quantity: number): void;
  removeItem(sku: string): boolean;
  clear(): number;
  heads(): string[];
  save(): Uint8Array;
  merge(bytes: Uint8Array): boolean;
}
