// Product pictures. The catalog sends `art: { shape, bg, fg }` instead of image files, so no
// markup or image travels with a product: the page draws the named shape as inline SVG (a
// product without one gets the package's letter tile, as the drop-in element draws every line).
import { letterTile, svg } from 'offline-cart/element';

// Outlines in a 100 x 100 box: `fill` paths are filled and `line` paths stroked in the
// product's colour; `cut` paths are stroked in the background colour, on top of a fill.
const SHAPES = {
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
  // A folded greeting card with a ribbon.
  card: [
    ['fill', 'M16 30 H84 Q88 30 88 34 V76 Q88 80 84 80 H16 Q12 80 12 76 V34 Q12 30 16 30 Z'],
    ['cut', 'M44 30 V80'],
    ['cut', 'M12 50 H88'],
  ],
  // A framed print with a mountain.
  poster: [
    ['fill', 'M22 12 H78 V88 H22 Z'],
    ['cut', 'M30 70 L44 48 L54 62 L62 52 L72 70 Z'],
    ['cut', 'M58 30 m-5 0 a5 5 0 1 0 10 0 a5 5 0 1 0 -10 0'],
  ],
};

/**
 * The picture of a product: its `art` shape on its background, or, for a line whose product
 * is unknown (another version of the shop added it, or the catalog has not loaded), the first
 * letter of `name`. Decorative: the name is always next to it.
 */
export function artwork(art, name) {
  const paths = SHAPES[art?.shape];
  if (!paths) return letterTile(name, art ?? undefined);
  const colours = art;
  const picture = svg('svg', { viewBox: '0 0 100 100', class: 'art', 'aria-hidden': 'true', focusable: 'false' });
  picture.append(svg('rect', { width: 100, height: 100, rx: 12, fill: colours.bg }));
  for (const [kind, d] of paths) {
    // Stroke attributes are set here rather than in a stylesheet, so the picture looks the same
    // inside the embed's shadow root.
    const paint =
      kind === 'fill'
        ? { fill: colours.fg }
        : { fill: 'none', stroke: kind === 'cut' ? colours.bg : colours.fg, 'stroke-width': 6, 'stroke-linecap': 'round', 'stroke-linejoin': 'round' };
    picture.append(svg('path', { d, ...paint }));
  }
  return picture;
}
