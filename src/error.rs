//! JavaScript errors: every error the API throws is an `Error` whose `name` is `"CartError"`
//! and whose `code` is a stable snake_case string (see the README's error table).

use cart_core::CartError;
use wasm_bindgen::JsValue;

/// Code for calls on a cart after `close()`.
pub const CART_CLOSED: &str = "cart_closed";
/// Code for `Cart.open` options that are not understood.
pub const INVALID_OPTIONS: &str = "invalid_options";

/// A JS `Error` with `name = "CartError"` and `code`.
pub fn js_error(code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name("CartError");
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

/// The JS form of a cart-core error.
pub fn from_core(error: CartError) -> JsValue {
    js_error(error.code().as_str(), error.message())
}

/// The error thrown by edits on a closed cart.
pub fn closed() -> JsValue {
    js_error(
        CART_CLOSED,
        "this cart was closed; call Cart.open again to keep editing it",
    )
}
