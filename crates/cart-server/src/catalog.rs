//! The catalog: what a catalog must be to be stored ([`check`], for the admin API's
//! `PUT /api/catalog`), and the demo catalog a `--demo` server seeds into its store on start
//! ([`seed_products`]).
//!
//! The demo's skus are those the storefront's cart lines use (one per variant). Seeding inserts
//! only skus the store does not have, so a restart never duplicates a product and never undoes
//! a change made to a stored one (a new price, a product marked unavailable).

use std::collections::HashSet;

use crate::store::shop::{Art, Product};

/// The most products a catalog may hold.
pub const MAX_PRODUCTS: usize = 10_000;
/// The longest description, group or variant label, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;

/// Checks a whole catalog before it replaces the stored one: at most [`MAX_PRODUCTS`], no sku
/// twice, and every product valid as a cart line would be (sku, name, price, currency, variant:
/// the rules of [`cart_core::validate`]) with plain-text descriptions and `#rrggbb` colours.
///
/// Errs with a message naming the first bad product (position and sku) and what to change.
pub fn check(products: &[Product]) -> Result<(), String> {
    if products.len() > MAX_PRODUCTS {
        return Err(format!(
            "a catalog holds at most {MAX_PRODUCTS} products, got {}",
            products.len()
        ));
    }
    let mut skus = HashSet::new();
    for (n, product) in products.iter().enumerate() {
        let at = |why: String| format!("product {n} (sku {:?}): {why}", product.sku);
        check_product(product).map_err(at)?;
        if !skus.insert(product.sku.as_str()) {
            return Err(at(
                "this sku is already in the catalog; each sku is one product".into(),
            ));
        }
    }
    Ok(())
}

fn check_product(product: &Product) -> Result<(), String> {
    let core = |e: cart_core::CartError| e.message().to_string();
    cart_core::validate::sku(&product.sku).map_err(core)?;
    cart_core::validate::name(&product.name).map_err(core)?;
    cart_core::validate::unit_price(product.unit_price).map_err(core)?;
    cart_core::validate::currency(&product.currency).map_err(core)?;
    if let Some(variant) = &product.variant {
        cart_core::validate::variant(variant).map_err(core)?;
    }
    plain_text("description", &product.description)?;
    for (field, value) in [
        ("group", &product.group),
        ("variantLabel", &product.variant_label),
    ] {
        if let Some(value) = value {
            plain_text(field, value)?;
        }
    }
    let Art { shape, bg, fg } = &product.art;
    if shape.is_empty()
        || shape.len() > 32
        || !shape.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
    {
        return Err(format!(
            "art.shape must be 1 to 32 lowercase letters or dashes, got {shape:?}"
        ));
    }
    for (field, colour) in [("art.bg", bg), ("art.fg", fg)] {
        let hex = colour
            .strip_prefix('#')
            .filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if hex.is_none() {
            return Err(format!(
                "{field} must be a colour such as \"#1d4ed8\", got {colour:?}"
            ));
        }
    }
    Ok(())
}

fn plain_text(field: &str, value: &str) -> Result<(), String> {
    if value.chars().count() > MAX_TEXT_CHARS || value.chars().any(char::is_control) {
        return Err(format!(
            "{field} must be at most {MAX_TEXT_CHARS} characters without control characters"
        ));
    }
    Ok(())
}

fn art(shape: &str, bg: &str, fg: &str) -> Art {
    Art {
        shape: shape.to_string(),
        bg: bg.to_string(),
        fg: fg.to_string(),
    }
}

struct Seed {
    sku: &'static str,
    name: &'static str,
    description: &'static str,
    unit_price: i64,
    available: bool,
    art: (&'static str, &'static str, &'static str),
    /// (group, variant label, variants as (sku suffix, variant)).
    variants: Option<(&'static str, &'static [(&'static str, &'static str)])>,
}

const SEEDS: &[Seed] = &[
    Seed {
        sku: "TEE",
        name: "Organic cotton tee",
        description: "A heavy organic cotton t-shirt with the logo on the chest.",
        unit_price: 2490,
        available: true,
        art: ("tee", "#dbeafe", "#1d4ed8"),
        variants: Some(("Size", &[("S", "S"), ("M", "M"), ("L", "L"), ("XL", "XL")])),
    },
    Seed {
        sku: "CAP",
        name: "Canvas cap",
        description: "A six-panel cap in washed canvas with a brass buckle.",
        unit_price: 1900,
        available: true,
        art: ("cap", "#fef3c7", "#b45309"),
        variants: Some(("Colour", &[("SAND", "Sand"), ("NAVY", "Navy")])),
    },
    Seed {
        sku: "MUG",
        name: "Stoneware mug",
        description: "A glazed stoneware mug that holds 350 ml.",
        unit_price: 1450,
        available: true,
        art: ("mug", "#fce7f3", "#be185d"),
        variants: None,
    },
    Seed {
        sku: "BOTTLE",
        name: "Steel water bottle",
        description: "An insulated steel bottle that keeps drinks cold for a day.",
        unit_price: 2200,
        available: true,
        art: ("bottle", "#dcfce7", "#15803d"),
        variants: None,
    },
    Seed {
        sku: "TOTE",
        name: "Heavy tote bag",
        description: "A tote of heavy canvas with long handles.",
        unit_price: 1200,
        available: true,
        art: ("tote", "#ede9fe", "#6d28d9"),
        variants: None,
    },
    Seed {
        sku: "NOTEBOOK",
        name: "Dot-grid notebook",
        description: "An A5 notebook with 192 dot-grid pages.",
        unit_price: 990,
        available: true,
        art: ("notebook", "#ffedd5", "#c2410c"),
        variants: None,
    },
    Seed {
        sku: "SOCKS",
        name: "Merino socks",
        description: "Warm merino wool socks.",
        unit_price: 1150,
        available: true,
        art: ("socks", "#e0f2fe", "#0369a1"),
        variants: Some(("Size", &[("36", "36–40"), ("41", "41–45")])),
    },
    Seed {
        sku: "STICKERS",
        name: "Sticker pack",
        description: "Eight vinyl stickers.",
        unit_price: 400,
        available: true,
        art: ("star", "#fef9c3", "#a16207"),
        variants: None,
    },
    Seed {
        sku: "GIFT",
        // Shown as text, never parsed as HTML: the page must print these characters as they are.
        name: "Gift card <b>&amp; note</b>",
        description: "A card with your message; \"<script>\" in a name stays text.",
        unit_price: 500,
        available: true,
        art: ("card", "#fee2e2", "#b91c1c"),
        variants: None,
    },
    Seed {
        sku: "POSTER",
        name: "Limited poster",
        description: "A screen-printed poster; sold out.",
        unit_price: 3500,
        available: false,
        art: ("poster", "#e5e7eb", "#374151"),
        variants: None,
    },
];

/// The demo catalog: one product per sku, in display order. 15 skus, one of them unavailable
/// (`POSTER`) and one with HTML characters in its name (`GIFT`).
pub fn seed_products() -> Vec<Product> {
    let mut products = Vec::new();
    for seed in SEEDS {
        let product = |sku: String, variant: Option<(&str, &str)>| Product {
            sku,
            name: seed.name.to_string(),
            description: seed.description.to_string(),
            unit_price: seed.unit_price,
            currency: "EUR".to_string(),
            available: seed.available,
            art: art(seed.art.0, seed.art.1, seed.art.2),
            group: variant.map(|_| seed.sku.to_string()),
            variant: variant.map(|(_, v)| v.to_string()),
            variant_label: variant.map(|(label, _)| label.to_string()),
        };
        match seed.variants {
            None => products.push(product(seed.sku.to_string(), None)),
            Some((label, variants)) => {
                for (suffix, variant) in variants {
                    products.push(product(
                        format!("{}-{suffix}", seed.sku),
                        Some((label, variant)),
                    ));
                }
            }
        }
    }
    products
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_catalog_is_valid_for_carts() {
        let products = seed_products();
        assert!(products.len() >= 12);
        check(&products).expect("the demo catalog is a valid catalog");
        assert!(products.iter().any(|p| !p.available));
        assert!(products.iter().any(|p| p.name.contains("<b>&amp;")));
    }

    #[test]
    fn a_catalog_with_a_bad_product_is_refused_naming_it() {
        let good = seed_products();
        let refused = |change: &dyn Fn(&mut Product)| {
            let mut products = good.clone();
            change(&mut products[2]);
            check(&products).expect_err("refused")
        };
        let sku = good[2].sku.clone();
        for (change, says) in [
            (
                &(|p: &mut Product| p.unit_price = -1) as &dyn Fn(&mut Product),
                "price",
            ),
            (&|p: &mut Product| p.currency = "euro".into(), "currency"),
            (&|p: &mut Product| p.art.bg = "blue".into(), "art.bg"),
            (
                &|p: &mut Product| p.description = "a\u{7}b".into(),
                "description",
            ),
            (
                &|p: &mut Product| p.sku = good[0].sku.clone(),
                "already in the catalog",
            ),
        ] {
            let message = refused(change);
            assert!(message.starts_with("product 2 (sku "), "{message}");
            assert!(message.contains(says), "{message}");
        }
        assert!(refused(&|p| p.unit_price = -1).contains(&sku));
        assert!(check(&[]).is_ok(), "an empty catalog is a catalog");
    }
}
