// The cart schema (README, "Document schema") written and read by the peer stack,
// @automerge/automerge-repo, doing the same work as offline-cart's addItem and items(): an add
// writes the item record and one `add:<sku>#<tag>` key; a listing builds the same line list.

/** A unique add tag: 16 hex digits, as offline-cart writes them. */
export function tag() {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The item a bench add puts in the cart, for both stacks. */
export function benchItem(sku) {
  return { sku, name: `Product ${sku}`, unitPrice: 1999, currency: "EUR", quantity: 1 };
}

/** `handle.change` callback body: one add of one unit of `sku`, as offline-cart writes it. */
export function addLine(doc, sku) {
  const { name, unitPrice, currency, quantity } = benchItem(sku);
  doc[`item:${sku}`] = { name, unitPrice, currency, addedAt: Date.now() };
  doc[`add:${sku}#${tag()}`] = quantity;
}

/** The lines of a cart document, as offline-cart's items() returns them: first added first. */
export function lines(doc) {
  const quantities = new Map();
  const items = [];
  for (const [key, value] of Object.entries(doc)) {
    if (key.startsWith("add:")) {
      const sku = key.slice(4, key.lastIndexOf("#"));
      quantities.set(sku, (quantities.get(sku) ?? 0) + value);
    } else if (key.startsWith("set:")) {
      const sku = key.slice(4);
      quantities.set(sku, (quantities.get(sku) ?? 0) + value);
    } else if (key.startsWith("item:")) {
      items.push([key.slice(5), value]);
    }
  }
  const result = [];
  for (const [sku, item] of items) {
    const quantity = quantities.get(sku) ?? 0;
    if (quantity <= 0) continue;
    const line = { sku, name: String(item.name), unitPrice: item.unitPrice, currency: String(item.currency), quantity, lineTotal: quantity * item.unitPrice, addedAt: item.addedAt };
    if (item.imageUrl !== undefined) line.imageUrl = String(item.imageUrl);
    if (item.variant !== undefined) line.variant = String(item.variant);
    result.push(line);
  }
  result.sort((a, b) => a.addedAt - b.addedAt || (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0));
  for (const line of result) delete line.addedAt;
  return result;
}
