// The cart document schema (README, "Document schema") as a JavaScript client writes and reads
// it with plain values; Automerge stores the strings as text, which the schema accepts.

/** Adds a line: the details record plus one add entry with the unique `tag`. */
export function addLine(doc, sku, name, unitPrice, quantity, tag) {
  doc[`item:${sku}`] = { name, unitPrice, currency: "EUR", addedAt: Date.now() };
  doc[`add:${sku}#${tag}`] = quantity;
}

/** The quantity of the line for `sku`: `set:<sku>` plus every `add:<sku>#…` entry. */
export function quantity(doc, sku) {
  let total = doc[`set:${sku}`] ?? 0;
  for (const [key, value] of Object.entries(doc)) {
    if (key.startsWith(`add:${sku}#`)) total += value;
  }
  return total;
}
