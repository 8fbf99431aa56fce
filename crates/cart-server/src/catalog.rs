//! The demo catalog the server seeds into its store on start ([`seed_products`]).
//!
//! The skus are those the storefront's cart lines use (one per variant). Seeding inserts only
//! skus the store does not have, so a restart never duplicates a product and never undoes a
//! change made to a stored one (a new price, a product marked unavailable).

use crate::store::shop::{Art, Product};

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
        let mut skus: Vec<&str> = products.iter().map(|p| p.sku.as_str()).collect();
        skus.sort_unstable();
        skus.dedup();
        assert_eq!(skus.len(), products.len(), "skus are unique");
        for p in &products {
            cart_core::validate::sku(&p.sku).unwrap();
            cart_core::validate::name(&p.name).unwrap();
            cart_core::validate::unit_price(p.unit_price).unwrap();
            cart_core::validate::currency(&p.currency).unwrap();
            if let Some(v) = &p.variant {
                cart_core::validate::variant(v).unwrap();
            }
        }
        assert!(products.iter().any(|p| !p.available));
        assert!(products.iter().any(|p| p.name.contains("<b>&amp;")));
    }
}
