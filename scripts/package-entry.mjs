// Makes js/ the entry of the npm package in pkg/ (run by scripts/build.sh after wasm-pack):
// copies the entry's modules and types next to the wasm-bindgen glue, points package.json's
// `main`, `module` and `types` at them, lists them in `files`, and prints the entry's size.
// The entry imports the glue (and with it the .wasm) only dynamically, so a bundler puts the
// module in a chunk of its own and a page gets a working cart from the entry alone.
//
//   node scripts/package-entry.mjs [PKG_DIR]
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** The entry's modules, the first being the one `main` names. */
const MODULES = ["index.js", "outbox.js", "validate.js"];
const TYPES = "index.d.ts";

const pkg = path.resolve(process.argv[2] ?? path.join(ROOT, "pkg"));
const manifestPath = path.join(pkg, "package.json");
const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
if (!manifest.files?.includes("offline_cart.js")) {
  throw new Error(`${manifestPath} does not list offline_cart.js: run wasm-pack first`);
}
for (const file of [...MODULES, TYPES]) copyFileSync(path.join(ROOT, "js", file), path.join(pkg, file));
manifest.main = manifest.module = MODULES[0];
manifest.types = TYPES;
manifest.files = [...new Set([...manifest.files, ...MODULES, TYPES])];
writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);

let raw = 0;
let gzip = 0;
for (const file of MODULES) {
  const bytes = readFileSync(path.join(pkg, file));
  raw += bytes.length;
  gzip += gzipSync(bytes, { level: 9 }).length;
}
console.log(`${"JS entry".padEnd(16)} ${String(raw).padStart(9)} B raw ${String(gzip).padStart(9)} B gzip -9 (${MODULES.join(" + ")}, unminified)`);
