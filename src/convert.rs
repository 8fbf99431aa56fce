//! Conversions between JS values and cart-core types, with the TypeScript types they match.

use cart_core::{CartError, CurrencyTotal, ErrorCode, Line, NewItem};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::error::{from_core, js_error, INVALID_OPTIONS};
use crate::events::Status;
use crate::storage::StorageKind;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** Where a cart keeps its data: IndexedDB (default), localStorage, or page memory. */
export type StorageKind = "indexeddb" | "localstorage" | "memory";

/** Options of `Cart.open`. */
export interface OpenOptions {
  /** The cart to open; omit it to create a new cart with a random 128-bit id. */
  cartId?: string;
  /** Preferred storage. Falls back to localStorage, then memory, when it cannot be used. */
  storage?: StorageKind;
  /** The sync server's WebSocket endpoint, such as "ws://localhost:8080/sync", or the endpoints
   *  of several instances over one store (at most 16): the first is tried first, and after a
   *  failed or lost connection the cart tries the next one, round robin. Without it the cart
   *  stays on this device. */
  server?: string | readonly string[];
  /** The cart's secret for the server (16..=512 characters, no whitespace). Defaults to the one
   *  stored with the cart, or a new random one. Another device needs `cartId` and `key`. */
  key?: string;
}

/** An item to add. Prices are integers in the currency's minor unit (cents). */
export interface NewItem {
  sku: string;
  name: string;
  unitPrice: number;
  /** ISO 4217 code such as "EUR". */
  currency: string;
  /** 1..=999; defaults to 1. */
  quantity?: number;
  /** https:, http: or root-relative URL. */
  imageUrl?: string;
  variant?: string;
  /** The add's tag, 1..=64 of A-Z a-z 0-9 - _; omit it and the cart makes a random one. An add
   *  whose tag the cart already shows changes nothing, so an add replayed from an outbox (after
   *  a crash, or by two tabs) counts once. The early cart (the package's entry) sets it. */
  tag?: string;
}

/** One line of the cart, first added first. */
export interface CartLine {
  sku: string;
  name: string;
  unitPrice: number;
  currency: string;
  quantity: number;
  /** unitPrice * quantity, in minor units. */
  lineTotal: number;
  imageUrl?: string;
  variant?: string;
}

/** The sum of the lines in one currency, in minor units. */
export interface CurrencyTotal {
  currency: string;
  amount: number;
}

/** Where the cart's data is: on this device (`unsaved`) and on the server (`pending`). */
export interface CartStatus {
  /** The storage in use now; changes when a fallback happens. */
  storage: StorageKind;
  /** Local edits not yet durably stored on this device. */
  unsaved: number;
  /** The connection to the sync server; "offline" when the cart has no server. */
  connection: "offline" | "connecting" | "online";
  /** Local changes the server has not confirmed yet. */
  pending: number;
  /**
   * Why the server does not take this cart's changes, until it confirms them all; null
   * otherwise. The changes stay on this device either way.
   * - "too_many_lines", "document_too_large": the cart is over a server limit; removing lines
   *   lets it sync again.
   * - "schema_violation", "change_too_large": the server will never take these changes (a bug
   *   or a hostile page); tell the shopper their cart is kept on this device only.
   * - "wrong_key": the cart exists on the server under another key (a shared link without its
   *   key); ask for the full link.
   */
  blocked: BlockedCode | null;
  /** When the server last confirmed every local change (ms since the epoch), or null. */
  lastSyncedAt: number | null;
}

/** Why the server does not take a cart's changes: `CartStatus.blocked`. */
export type BlockedCode =
  | "too_many_lines"
  | "document_too_large"
  | "schema_violation"
  | "change_too_large"
  | "wrong_key";

/**
 * The cart at one moment, for a UI that renders from one value (React's
 * `useSyncExternalStore`, a Vue ref, a Svelte store): `snapshot()` returns the same frozen
 * object until the cart changes (an edit, a merge, a change from another tab or the server) or
 * its status does. `items` and `totals` keep their identity while the lines are unchanged, and
 * `status` while the status is.
 */
export interface CartSnapshot {
  readonly items: readonly Readonly<CartLine>[];
  readonly totals: readonly Readonly<CurrencyTotal>[];
  /** Units in the cart, as `itemCount()`. */
  readonly itemCount: number;
  readonly status: Readonly<CartStatus>;
}

/** Codes of `warning` events. */
export type WarningCode =
  | "storage_fallback"
  | "corrupt_chunk"
  | "tab_sync_failed"
  | "cart_unavailable"
  | "wrong_key"
  | "server_refused"
  | "sync_blocked"
  | "bad_frame";

/** What `subscribe` callbacks receive. */
export type CartEvent =
  | { type: "change"; origin: "local" | "remote" }
  | { type: "status"; status: CartStatus }
  | { type: "warning"; code: WarningCode; message: string };
"#;

/// Errs with `unknown` when `value` is an object with a key outside `allowed`. serde-wasm-bindgen
/// only looks up the fields a struct declares, so a typo such as `price` would otherwise be
/// ignored silently.
fn only_known_keys(
    value: &JsValue,
    allowed: &[&str],
    unknown: impl Fn(String) -> JsValue,
) -> Result<(), JsValue> {
    if !value.is_object() {
        return Ok(());
    }
    let keys = js_sys::Object::keys(value.unchecked_ref::<js_sys::Object>());
    for key in keys.iter().filter_map(|k| k.as_string()) {
        if !allowed.contains(&key.as_str()) {
            return Err(unknown(format!(
                "unknown field `{key}`, expected one of {}",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemInput {
    sku: String,
    name: String,
    unit_price: f64,
    currency: String,
    quantity: Option<f64>,
    image_url: Option<String>,
    variant: Option<String>,
    tag: Option<String>,
}

/// The argument of `addItem`: the item, and the add's tag when the caller gives one.
pub struct ItemAdd {
    /// The item and quantity to add.
    pub item: NewItem,
    /// The tag of the add (`add:<sku>#<tag>`), checked by `cart_core::Cart::add_item_tagged`;
    /// `None` makes a random one.
    pub tag: Option<String>,
}

/// A JS number that must be a whole number, for `field`.
pub fn whole_number(value: f64, code: ErrorCode, field: &str) -> Result<i64, JsValue> {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 9.0e15 {
        Ok(value as i64)
    } else {
        Err(from_core(CartError::new(
            code,
            format!("{field} must be a whole number, got {value}"),
        )))
    }
}

/// Reads the argument of `addItem`.
pub fn new_item(value: JsValue) -> Result<ItemAdd, JsValue> {
    let invalid = |why: String| {
        from_core(CartError::new(
            ErrorCode::InvalidItem,
            format!("addItem expects {{ sku, name, unitPrice, currency, quantity?, imageUrl?, variant?, tag? }}: {why}"),
        ))
    };
    // Each field, its JS type, and whether it may be left out; js/validate.js checks the same
    // shape in the same order with the same messages (the early cart's outbox).
    const FIELDS: &[(&str, &str, bool)] = &[
        ("sku", "string", false),
        ("name", "string", false),
        ("unitPrice", "number", false),
        ("currency", "string", false),
        ("quantity", "number", true),
        ("imageUrl", "string", true),
        ("variant", "string", true),
        ("tag", "string", true),
    ];
    if !value.is_object() || js_sys::Array::is_array(&value) {
        let got = if value.is_null() {
            "null".to_string()
        } else if value.is_object() {
            "an array".to_string()
        } else {
            value.js_typeof().as_string().unwrap_or_default()
        };
        return Err(invalid(format!("expected an object, got {got}")));
    }
    let names: Vec<&str> = FIELDS.iter().map(|(name, _, _)| *name).collect();
    only_known_keys(&value, &names, invalid)?;
    for &(field, kind, optional) in FIELDS {
        let v = js_sys::Reflect::get(&value, &JsValue::from_str(field)).unwrap_or_default();
        if optional && v.is_null_or_undefined() {
            continue;
        }
        if v.is_undefined() {
            return Err(invalid(format!("missing field `{field}`")));
        }
        if v.js_typeof().as_string().as_deref() != Some(kind) {
            return Err(invalid(format!("`{field}` must be a {kind}")));
        }
    }
    let input: ItemInput =
        serde_wasm_bindgen::from_value(value).map_err(|e| invalid(e.to_string()))?;
    let item = NewItem {
        sku: input.sku,
        name: input.name,
        unit_price: whole_number(input.unit_price, ErrorCode::InvalidPrice, "unitPrice")?,
        currency: input.currency,
        quantity: match input.quantity {
            Some(q) => whole_number(q, ErrorCode::InvalidQuantity, "quantity")?,
            None => 1,
        },
        image_url: input.image_url,
        variant: input.variant,
    };
    Ok(ItemAdd {
        item,
        tag: input.tag,
    })
}

/// Reads a sku argument.
pub fn sku(value: &JsValue) -> Result<String, JsValue> {
    value.as_string().ok_or_else(|| {
        from_core(CartError::new(
            ErrorCode::InvalidSku,
            "sku must be a string such as \"TEE-1\"",
        ))
    })
}

/// Reads a quantity argument.
pub fn quantity(value: &JsValue) -> Result<i64, JsValue> {
    let number = value.as_f64().ok_or_else(|| {
        from_core(CartError::new(
            ErrorCode::InvalidQuantity,
            "quantity must be a number 0..=999; 0 removes the line",
        ))
    })?;
    whole_number(number, ErrorCode::InvalidQuantity, "quantity")
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct OpenInput {
    cart_id: Option<String>,
    storage: Option<String>,
    server: Option<Servers>,
    key: Option<String>,
}

/// `server`: one URL or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Servers {
    One(String),
    Several(Vec<String>),
}

/// The most server URLs `Cart.open` takes: a handful of instances, never an unbounded list.
const MAX_SERVERS: usize = 16;

/// The options of `Cart.open`, read and checked.
pub struct OpenOptions {
    /// The cart to open, or `None` for a new one.
    pub cart_id: Option<cart_core::CartId>,
    /// The preferred storage.
    pub storage: StorageKind,
    /// The sync server's WebSocket URLs, in the order to try them; empty for no server.
    pub servers: Vec<String>,
    /// The cart's secret for the server.
    pub key: Option<String>,
}

/// Reads the argument of `Cart.open`.
pub fn open_options(value: Option<JsValue>) -> Result<OpenOptions, JsValue> {
    let invalid = |why: String| {
        js_error(
            INVALID_OPTIONS,
            &format!("Cart.open expects {{ cartId?, storage?, server?, key? }}: {why}"),
        )
    };
    let input: OpenInput = match value {
        Some(v) if !v.is_undefined() && !v.is_null() => {
            only_known_keys(&v, &["cartId", "storage", "server", "key"], invalid)?;
            serde_wasm_bindgen::from_value(v).map_err(|e| invalid(e.to_string()))?
        }
        _ => OpenInput::default(),
    };
    let cart_id = input
        .cart_id
        .map(|id| id.parse())
        .transpose()
        .map_err(from_core)?;
    let storage = match input.storage.as_deref() {
        None => StorageKind::IndexedDb,
        Some(name) => StorageKind::parse(name).ok_or_else(|| {
            js_error(
                INVALID_OPTIONS,
                &format!(
                    "storage must be \"indexeddb\", \"localstorage\" or \"memory\", got {name:?}"
                ),
            )
        })?,
    };
    let servers = match input.server {
        None => Vec::new(),
        Some(Servers::One(url)) => vec![url],
        Some(Servers::Several(urls)) if (1..=MAX_SERVERS).contains(&urls.len()) => urls,
        Some(Servers::Several(urls)) => {
            return Err(invalid(format!(
                "server must be a URL or a list of 1 to {MAX_SERVERS} URLs, got a list of {}",
                urls.len()
            )))
        }
    };
    if let Some(server) = servers
        .iter()
        .find(|s| !(s.starts_with("ws://") || s.starts_with("wss://")))
    {
        return Err(invalid(format!(
            "server must be a ws:// or wss:// URL such as \"wss://shop.example/sync\", got {server:?}"
        )));
    }
    if let Some(key) = &input.key {
        let chars = key.chars().count();
        if !(16..=512).contains(&chars) || key.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid(
                "key must be 16..=512 characters without whitespace; omit it to use the stored or a new random key".into(),
            ));
        }
    }
    Ok(OpenOptions {
        cart_id,
        storage,
        servers,
        key: input.key,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LineOutput<'a> {
    sku: &'a str,
    name: &'a str,
    unit_price: f64,
    currency: &'a str,
    quantity: f64,
    line_total: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
}

/// Serializes `value` to a plain JS value; our output types always serialize. `None` becomes
/// `null`, as the TypeScript types say (`lastSyncedAt: number | null`); optional fields that
/// are absent instead are skipped with `skip_serializing_if`.
pub fn to_js<T: Serialize>(value: &T) -> JsValue {
    let serializer = serde_wasm_bindgen::Serializer::new().serialize_missing_as_null(true);
    value.serialize(&serializer).unwrap_or(JsValue::UNDEFINED)
}

/// The JS form of the cart's lines, `CartLine[]`, with the array and every line frozen
/// (`Object.freeze`), so the cart can hand the same array to every reader until it changes.
pub fn frozen_lines(lines: &[Line]) -> JsValue {
    let out: Vec<LineOutput> = lines
        .iter()
        .map(|l| LineOutput {
            sku: &l.sku,
            name: &l.name,
            unit_price: l.unit_price as f64,
            currency: &l.currency,
            quantity: l.quantity as f64,
            line_total: l.line_total() as f64,
            image_url: l.image_url.as_deref(),
            variant: l.variant.as_deref(),
        })
        .collect();
    frozen_array(to_js(&out))
}

/// `array` (a JS array of objects) with the array and every element frozen (`Object.freeze`).
fn frozen_array(array: JsValue) -> JsValue {
    for element in array.unchecked_ref::<js_sys::Array>().iter() {
        js_sys::Object::freeze(element.unchecked_ref::<js_sys::Object>());
    }
    js_sys::Object::freeze(array.unchecked_ref::<js_sys::Object>()).into()
}

#[derive(Serialize)]
struct TotalOutput<'a> {
    currency: &'a str,
    amount: f64,
}

/// The JS form of the totals: `CurrencyTotal[]`.
pub fn totals(totals: &[CurrencyTotal]) -> JsValue {
    let out: Vec<TotalOutput> = totals
        .iter()
        .map(|t| TotalOutput {
            currency: &t.currency,
            amount: t.amount as f64,
        })
        .collect();
    to_js(&out)
}

/// The totals as `totals` gives them, with the array and every total frozen, for a snapshot.
pub fn frozen_totals(totals: &[CurrencyTotal]) -> JsValue {
    frozen_array(self::totals(totals))
}

/// `status` as a frozen `CartStatus`, for a snapshot.
pub fn frozen_status(status: &Status) -> JsValue {
    js_sys::Object::freeze(to_js(status).unchecked_ref::<js_sys::Object>()).into()
}

/// A frozen `CartSnapshot` of the given parts (each already frozen).
pub fn snapshot(items: &JsValue, totals: &JsValue, item_count: f64, status: &JsValue) -> JsValue {
    let object = js_sys::Object::new();
    let fields = [
        ("items", items.clone()),
        ("totals", totals.clone()),
        ("itemCount", JsValue::from_f64(item_count)),
        ("status", status.clone()),
    ];
    for (key, value) in fields {
        // Setting a data property on a fresh, extensible plain object cannot fail.
        let _ = js_sys::Reflect::set(&object, &JsValue::from_str(key), &value);
    }
    js_sys::Object::freeze(&object).into()
}
