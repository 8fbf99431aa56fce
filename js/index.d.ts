// Types of the package entry (index.js). The item, line, status and event types are the wasm
// module's (offline_cart.d.ts, generated from src/convert.rs); the entry adds the cart that
// works before the module has arrived.
import type {
  CartEvent as ModuleEvent,
  CartLine,
  CartStatus,
  CurrencyTotal,
  NewItem,
  OpenOptions,
} from "./offline_cart.js";

export type {
  BlockedCode,
  CartLine,
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
  subscribe(callback: (event: CartEvent) => void): () => void;
  /** Resolves once every edit so far is durable (in the outbox, before the module is ready). */
  flush(): Promise<void>;
  sync(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
  /** Throws `not_ready` before the module is ready, as do the members below. */
  setQuantity(sku: string, quantity: number): void;
  removeItem(sku: string): boolean;
  clear(): number;
  heads(): string[];
  save(): Uint8Array;
  merge(bytes: Uint8Array): boolean;
}
