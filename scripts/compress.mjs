// Writes FILE.br (brotli, quality 11) and FILE.gz (gzip -9) next to every compressible file of a
// built site (dist/ by default), so cart-server sends them to browsers that accept them instead
// of compressing on each request or not at all. A file under 1 KB, or whose compressed form is
// not smaller, gets no sibling; a sibling left by an earlier run is removed then, so the server
// never sends bytes of an old build. Prints raw, gzip and brotli sizes of each file.
//
//   node scripts/compress.mjs [DIR]
//
// Runs after webpack (scripts/build.sh), so the service worker's precache list in sw.js names
// only the plain files; the server picks the encoding per request.
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

/** Extensions of text and WebAssembly files worth compressing (images and fonts already are). */
const COMPRESSIBLE = new Set([".wasm", ".js", ".mjs", ".css", ".html", ".svg", ".json", ".webmanifest", ".txt", ".map"]);

/** Below this size the saving does not pay for the extra file and header bytes. */
const MIN_BYTES = 1024;

/** The encodings written, as [file suffix, compressor]. */
const ENCODINGS = [
  [".br", (bytes) => brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  })],
  [".gz", (bytes) => gzipSync(bytes, { level: 9 })],
];

/**
 * Compresses every compressible file under `dir` (recursively) and returns one row per file:
 * `{ file, raw, gzip, br }`, the sizes in bytes (`null` where no sibling was written).
 */
export function compressDir(dir) {
  const rows = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const file = path.join(entry.parentPath ?? entry.path, entry.name);
    if (!entry.isFile() || !COMPRESSIBLE.has(path.extname(entry.name))) continue;
    const bytes = readFileSync(file);
    const row = { file: path.relative(dir, file), raw: bytes.length, gzip: null, br: null };
    for (const [suffix, compress] of ENCODINGS) {
      const packed = bytes.length >= MIN_BYTES ? compress(bytes) : null;
      if (packed && packed.length < bytes.length) {
        writeFileSync(file + suffix, packed);
        row[suffix === ".br" ? "br" : "gzip"] = packed.length;
      } else {
        rmSync(file + suffix, { force: true });
      }
    }
    rows.push(row);
  }
  return rows.sort((a, b) => b.raw - a.raw);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2] ?? "dist";
  const cell = (n) => (n === null ? "-" : String(n)).padStart(9);
  console.log(`${"file".padEnd(36)} ${"raw B".padStart(9)} ${"gzip B".padStart(9)} ${"br B".padStart(9)}`);
  for (const { file, raw, gzip, br } of compressDir(dir)) {
    console.log(`${file.padEnd(36)} ${cell(raw)} ${cell(gzip)} ${cell(br)}`);
  }
}
