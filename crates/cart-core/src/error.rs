//! The one error type of cart-core.
//!
//! Every error carries a stable machine-readable [`ErrorCode`] (the browser module exposes it as
//! `error.code`) and a lowercase message that says what went wrong and what to do next.

use std::fmt;

/// A stable, machine-readable reason for a [`CartError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The sku is empty, too long or contains control characters.
    InvalidSku,
    /// The item name is empty, too long or contains control characters.
    InvalidName,
    /// The unit price is negative, fractional or above [`crate::validate::MAX_UNIT_PRICE`].
    InvalidPrice,
    /// The currency is not three uppercase ASCII letters (ISO 4217).
    InvalidCurrency,
    /// The quantity is outside the range the operation accepts.
    InvalidQuantity,
    /// The image URL is too long or not an `https:`, `http:` or root-relative URL.
    InvalidImageUrl,
    /// The variant label is too long or contains control characters.
    InvalidVariant,
    /// The input is not shaped like an item (a field is missing or has the wrong type).
    InvalidItem,
    /// The operation names a sku that has no line in the cart.
    UnknownItem,
    /// The text is not a cart id (bs58check of 16 bytes, optionally as an `automerge:` URL).
    InvalidCartId,
    /// The bytes are not an Automerge document or change.
    CorruptData,
    /// The bytes are an Automerge document of a different cart.
    WrongCart,
    /// The document breaks the cart schema (see the README's "Document schema").
    SchemaViolation,
    /// A storage backend failed.
    Storage,
    /// The cart already has [`crate::validate::MAX_LINES`] lines; a new one would not sync.
    TooManyLines,
    /// The bytes would expand to more operations, changes or inflated bytes than
    /// [`crate::chunk_bounds`] allows; refused before loading them.
    ChangeTooLarge,
}

impl ErrorCode {
    /// The code as the snake_case string that JavaScript sees as `error.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidSku => "invalid_sku",
            ErrorCode::InvalidName => "invalid_name",
            ErrorCode::InvalidPrice => "invalid_price",
            ErrorCode::InvalidCurrency => "invalid_currency",
            ErrorCode::InvalidQuantity => "invalid_quantity",
            ErrorCode::InvalidImageUrl => "invalid_image_url",
            ErrorCode::InvalidVariant => "invalid_variant",
            ErrorCode::InvalidItem => "invalid_item",
            ErrorCode::UnknownItem => "unknown_item",
            ErrorCode::InvalidCartId => "invalid_cart_id",
            ErrorCode::CorruptData => "corrupt_data",
            ErrorCode::WrongCart => "wrong_cart",
            ErrorCode::SchemaViolation => "schema_violation",
            ErrorCode::Storage => "storage",
            ErrorCode::TooManyLines => "too_many_lines",
            ErrorCode::ChangeTooLarge => "change_too_large",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from cart-core: a [`ErrorCode`] plus a message for people.
///
/// An operation that returns an error has changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartError {
    code: ErrorCode,
    message: String,
}

impl CartError {
    /// Creates an error with `code` and a lowercase `message` that says what to do next.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        CartError {
            code,
            message: message.into(),
        }
    }

    /// The stable reason for this error.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CartError {}
