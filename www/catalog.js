// The demo store's catalog. A real shop would fetch this from its product API; the cart itself
// needs nothing from it but the fields of `addItem` (sku, name, unitPrice, currency, variant).
//
// Prices are integers in the currency's minor unit (cents), as the cart stores them. A product
// with variants has one sku per variant, because the cart keeps one line per sku. `art` picks
// one of the shapes below and its colours, so the page needs no image files.

export const catalog = [
  {
    sku: 'TEE',
    name: 'Organic cotton tee',
    unitPrice: 2490,
    currency: 'EUR',
    art: { shape: 'tee', bg: '#dbeafe', fg: '#1d4ed8' },
    variantLabel: 'Size',
    variants: ['S', 'M', 'L', 'XL'].map((size) => ({ sku: `TEE-${size}`, label: size })),
  },
  {
    sku: 'CAP',
    name: 'Canvas cap',
    unitPrice: 1900,
    currency: 'EUR',
    art: { shape: 'cap', bg: '#fef3c7', fg: '#b45309' },
    variantLabel: 'Colour',
    variants: [
      { sku: 'CAP-SAND', label: 'Sand' },
      { sku: 'CAP-NAVY', label: 'Navy' },
    ],
  },
  {
    sku: 'MUG',
    name: 'Stoneware mug',
    unitPrice: 1450,
    currency: 'EUR',
    art: { shape: 'mug', bg: '#fce7f3', fg: '#be185d' },
  },
  {
    sku: 'BOTTLE',
    name: 'Steel water bottle',
    unitPrice: 2200,
    currency: 'EUR',
    art: { shape: 'bottle', bg: '#dcfce7', fg: '#15803d' },
  },
  {
    sku: 'TOTE',
    name: 'Heavy tote bag',
    unitPrice: 1200,
    currency: 'EUR',
    art: { shape: 'tote', bg: '#ede9fe', fg: '#6d28d9' },
  },
  {
    sku: 'NOTEBOOK',
    name: 'Dot-grid notebook',
    unitPrice: 990,
    currency: 'EUR',
    art: { shape: 'notebook', bg: '#ffedd5', fg: '#c2410c' },
  },
  {
    sku: 'SOCKS',
    name: 'Merino socks',
    unitPrice: 1150,
    currency: 'EUR',
    art: { shape: 'socks', bg: '#e0f2fe', fg: '#0369a1' },
    variantLabel: 'Size',
    variants: [
      { sku: 'SOCKS-36', label: '36–40' },
      { sku: 'SOCKS-41', label: '41–45' },
    ],
  },
  {
    sku: 'STICKERS',
    name: 'Sticker pack',
    unitPrice: 400,
    currency: 'EUR',
    art: { shape: 'star', bg: '#fef9c3', fg: '#a16207' },
  },
];

// Outlines in a 100 x 100 box: `fill` paths are filled and `line` paths stroked in the
// product's colour; `cut` paths are stroked in the background colour, on top of a fill.
export const shapes = {
  tee: [['fill', 'M30 22 L42 16 Q50 24 58 16 L70 22 L86 38 L75 48 L68 42 V84 H32 V42 L25 48 L14 38 Z']],
  cap: [
    ['fill', 'M20 64 Q20 30 50 30 Q80 30 80 64 Z'],
    ['fill', 'M46 60 H90 Q92 72 80 72 H46 Z'],
  ],
  mug: [
    ['fill', 'M26 28 H66 V76 Q66 84 58 84 H34 Q26 84 26 76 Z'],
    ['line', 'M66 40 H72 Q80 40 80 50 V56 Q80 66 72 66 H66'],
  ],
  bottle: [['fill', 'M42 12 H58 V24 Q68 30 68 40 V82 Q68 88 62 88 H38 Q32 88 32 82 V40 Q32 30 42 24 Z']],
  tote: [
    ['fill', 'M22 40 H78 L73 86 H27 Z'],
    ['line', 'M38 40 V32 Q38 20 50 20 Q62 20 62 32 V40'],
  ],
  notebook: [
    ['fill', 'M28 14 H72 Q78 14 78 20 V80 Q78 86 72 86 H28 Z'],
    ['cut', 'M64 14 V86'],
  ],
  socks: [['fill', 'M38 12 H62 V54 L76 68 Q82 78 72 84 Q64 88 56 80 L38 62 Z']],
  star: [['fill', 'M50 12 L60 38 L88 40 L66 57 L73 85 L50 70 L27 85 L34 57 L12 40 L40 38 Z']],
};

const bySku = new Map();
for (const product of catalog) {
  for (const variant of product.variants ?? [{ sku: product.sku }]) {
    bySku.set(variant.sku, product);
  }
}

/** The product a cart line's sku belongs to, or undefined for a sku this catalog lacks (a line
 * added by another version of the shop, say). */
export function productOf(sku) {
  return bySku.get(sku);
}
