//! Input validation. Every check returns an error that names the field, the value and the fix;
//! an operation validates all of its input before it changes the document.

use crate::error::{CartError, ErrorCode};

/// The longest sku, in characters.
pub const MAX_SKU_CHARS: usize = 64;
/// The longest item name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest variant label, in characters.
pub const MAX_VARIANT_CHARS: usize = 64;
/// The longest image URL, in bytes.
pub const MAX_IMAGE_URL_BYTES: usize = 2048;
/// The highest unit price, in minor units (ten million units of any currency).
pub const MAX_UNIT_PRICE: i64 = 1_000_000_000;
/// The highest quantity of one line.
pub const MAX_QUANTITY: i64 = 999;
/// The most lines a cart may have: `cart-server` refuses changes beyond it (its default
/// `--max-lines`), so the cart refuses to create a line past it rather than keep a change the
/// server will never take.
pub const MAX_LINES: usize = 500;

fn text(
    code: ErrorCode,
    field: &str,
    value: &str,
    max_chars: usize,
    fix: &str,
) -> Result<(), CartError> {
    let count = value.chars().count();
    let why = if value.trim().is_empty() {
        "must not be empty".to_string()
    } else if count > max_chars {
        format!("has {count} characters, at most {max_chars} are allowed")
    } else if value.chars().any(char::is_control) {
        "must not contain control characters".to_string()
    } else {
        return Ok(());
    };
    Err(CartError::new(code, format!("{field} {why}; {fix}")))
}

/// Checks a sku: 1 to [`MAX_SKU_CHARS`] characters, not blank, no control characters.
pub fn sku(value: &str) -> Result<(), CartError> {
    text(
        ErrorCode::InvalidSku,
        "sku",
        value,
        MAX_SKU_CHARS,
        "use the product's stock-keeping unit as the catalog gives it",
    )
}

/// Checks an item name: 1 to [`MAX_NAME_CHARS`] characters, not blank, no control characters.
pub fn name(value: &str) -> Result<(), CartError> {
    text(
        ErrorCode::InvalidName,
        "name",
        value,
        MAX_NAME_CHARS,
        "give the product's display name",
    )
}

/// Checks a variant label: 1 to [`MAX_VARIANT_CHARS`] characters, no control characters.
pub fn variant(value: &str) -> Result<(), CartError> {
    text(
        ErrorCode::InvalidVariant,
        "variant",
        value,
        MAX_VARIANT_CHARS,
        "use a short label such as \"M\" or \"blue\", or leave it out",
    )
}

/// Checks a unit price in minor units: an integer from 0 to [`MAX_UNIT_PRICE`].
pub fn unit_price(value: i64) -> Result<(), CartError> {
    if (0..=MAX_UNIT_PRICE).contains(&value) {
        return Ok(());
    }
    Err(CartError::new(
        ErrorCode::InvalidPrice,
        format!(
            "unitPrice must be 0..={MAX_UNIT_PRICE} minor units (cents), got {value}; give the price as an integer in the currency's minor unit"
        ),
    ))
}

/// Checks an ISO 4217 currency code: three uppercase ASCII letters such as `EUR`.
pub fn currency(value: &str) -> Result<(), CartError> {
    if value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase()) {
        return Ok(());
    }
    Err(CartError::new(
        ErrorCode::InvalidCurrency,
        format!(
            "currency must be an ISO 4217 code of three uppercase letters such as \"EUR\", got {value:?}"
        ),
    ))
}

/// Checks the quantity of an add: 1 to [`MAX_QUANTITY`].
pub fn add_quantity(value: i64) -> Result<(), CartError> {
    if (1..=MAX_QUANTITY).contains(&value) {
        return Ok(());
    }
    Err(CartError::new(
        ErrorCode::InvalidQuantity,
        format!(
            "quantity must be 1..={MAX_QUANTITY}, got {value}; use removeItem to delete a line"
        ),
    ))
}

/// The longest add tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;

/// Checks the tag of an add (the `<tag>` of `add:<sku>#<tag>`): 1 to [`MAX_TAG_CHARS`] ASCII
/// letters, digits, `-` or `_`, so it can never contain the separator `#`.
pub fn add_tag(value: &str) -> Result<(), CartError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if !value.is_empty() && value.len() <= MAX_TAG_CHARS && value.chars().all(allowed) {
        return Ok(());
    }
    Err(CartError::new(
        ErrorCode::InvalidItem,
        format!(
            "tag must be 1 to {MAX_TAG_CHARS} ASCII letters, digits, '-' or '_', got {value:?}; leave it out and the cart makes one"
        ),
    ))
}

/// Checks the quantity given to set-quantity: 0 (removes the line) to [`MAX_QUANTITY`].
pub fn set_quantity(value: i64) -> Result<(), CartError> {
    if (0..=MAX_QUANTITY).contains(&value) {
        return Ok(());
    }
    Err(CartError::new(
        ErrorCode::InvalidQuantity,
        format!("quantity must be 0..={MAX_QUANTITY}, got {value}; 0 removes the line"),
    ))
}

/// Checks an image URL: at most [`MAX_IMAGE_URL_BYTES`], and `https:`, `http:` or a path from
/// the site root (`/img/tee.svg`), so a stored cart can never carry a `javascript:` URL.
pub fn image_url(value: &str) -> Result<(), CartError> {
    let lower = value.to_ascii_lowercase();
    let allowed_form = lower.starts_with("https://")
        || lower.starts_with("http://")
        || (value.starts_with('/') && !value.starts_with("//"));
    if allowed_form && value.len() <= MAX_IMAGE_URL_BYTES && !value.chars().any(char::is_control) {
        return Ok(());
    }
    Err(CartError::new(
        ErrorCode::InvalidImageUrl,
        format!(
            "imageUrl must be an https:, http: or root-relative URL of at most {MAX_IMAGE_URL_BYTES} bytes; leave it out if the product has no image"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_refuse_blank_long_and_control_characters() {
        assert!(sku("TEE-1").is_ok());
        assert_eq!(sku("").unwrap_err().code(), ErrorCode::InvalidSku);
        assert_eq!(sku("   ").unwrap_err().code(), ErrorCode::InvalidSku);
        assert_eq!(
            sku(&"x".repeat(65)).unwrap_err().code(),
            ErrorCode::InvalidSku
        );
        assert_eq!(name("a\u{7}b").unwrap_err().code(), ErrorCode::InvalidName);
        assert!(
            name(&"é".repeat(200)).is_ok(),
            "limits count characters, not bytes"
        );
    }

    #[test]
    fn prices_are_whole_minor_units_within_reason() {
        assert!(unit_price(0).is_ok());
        assert!(unit_price(MAX_UNIT_PRICE).is_ok());
        assert_eq!(unit_price(-1).unwrap_err().code(), ErrorCode::InvalidPrice);
        assert_eq!(
            unit_price(MAX_UNIT_PRICE + 1).unwrap_err().code(),
            ErrorCode::InvalidPrice
        );
    }

    #[test]
    fn currencies_are_three_uppercase_letters() {
        assert!(currency("EUR").is_ok());
        for bad in ["eur", "EU", "EURO", "€", "E1R"] {
            assert_eq!(
                currency(bad).unwrap_err().code(),
                ErrorCode::InvalidCurrency
            );
        }
    }

    #[test]
    fn quantity_messages_say_what_to_do() {
        let err = add_quantity(0).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidQuantity);
        assert_eq!(
            err.message(),
            "quantity must be 1..=999, got 0; use removeItem to delete a line"
        );
        assert!(set_quantity(0).is_ok());
        assert!(set_quantity(1000).is_err());
    }

    #[test]
    fn image_urls_cannot_carry_script() {
        assert!(image_url("https://cdn.example/tee.png").is_ok());
        assert!(image_url("/img/tee.svg").is_ok());
        for bad in [
            "javascript:alert(1)",
            "//evil.example/x.png",
            "data:text/html,x",
            "",
        ] {
            assert_eq!(
                image_url(bad).unwrap_err().code(),
                ErrorCode::InvalidImageUrl,
                "{bad}"
            );
        }
    }
}
