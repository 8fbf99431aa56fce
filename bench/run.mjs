// npm run bench (scripts/bench.sh builds, then runs this): offline-cart against
// @automerge/automerge-repo 2.5.6 on the same work in one headless Chromium run, with an
// on-disk profile and IndexedDB cleared before every repetition. Prints one table (work |
// floor | automerge-repo | offline-cart | ratio; the floor of an add in memory is a bare
// Automerge.change writing the same keys, of an add + flush() one IndexedDB put) and writes bench/results.json with
// the date, the machine and every raw sample. Asserts nothing about time.
//
//   node bench/run.mjs [--smoke]     (or BENCH_SMOKE=1): every scenario with tiny counts, to
//                                    check that the bench runs and fills every row
//
// The pages are bench/dist/* (bench/webpack.config.js), served by a static server below on two
// loopback ports (two origins: two devices' storage in one profile). Our sync server is a real
// cart-server (scripts/cart-server.mjs); the peer's is automerge-repo's sync server
// (scripts/peer-sync-server.mjs: a Repo with its WebSocket server adapter and file storage).
// WebSocket bytes and messages are counted by wrapping WebSocket in the page, identically for
// both stacks.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as Automerge from "@automerge/automerge";
import { Repo, generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo";

import { launchChromiumProfile } from "../scripts/chromium.mjs";
import { startCartServer } from "../scripts/cart-server.mjs";
import { startPeerServer } from "../scripts/peer-sync-server.mjs";
import { compressDir } from "../scripts/compress.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SMOKE = process.argv.includes("--smoke") || process.env.BENCH_SMOKE === "1";

/** Repetitions and counts: the full bench, or a smoke run that only checks every row fills. */
const RUN = SMOKE
  ? { reps: 1, adds: 3, flushAdds: 3, floorWrites: 3, listings: 3, colds: 1, live: 2, concurrent: 4, mergeChanges: 5, firstVisits: 1, levels: [0, 100, 500] }
  : { reps: 5, adds: 100, flushAdds: 40, floorWrites: 100, listings: 20, colds: 5, live: 30, concurrent: 100, mergeChanges: 200, firstVisits: 3, levels: [0, 100, 500] };

/** The stacks: their page folder under bench/dist/ and the folder of their first-visit page. */
const STACKS = [
  { key: "peer", label: "automerge-repo", dir: "peer", first: "first-peer" },
  { key: "ours", label: "offline-cart", dir: "ours", first: "first-ours" },
];

/** A throttled first visit: 1.6 Mbps down, 750 kbps up, 150 ms round trip (Lighthouse's slow 4G). */
const THROTTLE = { offline: false, latency: 150, downloadThroughput: (1.6e6 / 8), uploadThroughput: (750e3 / 8) };

// ---- fixtures: cart documents in the schema of README "Document schema", one change each ----

/**
 * A cart of `lines` lines (`L-0`...) of one unit, written as `changes` Automerge changes after
 * the first (the lines first, then adds of one more unit round the lines), under a new id.
 */
function cartDocument(lines, changes = lines) {
  const id = parseAutomergeUrl(generateAutomergeUrl()).documentId;
  let doc = Automerge.change(Automerge.init(), (d) => {
    d.schema = 1;
    d.cartId = id;
  });
  for (let i = 0; i < changes; i++) {
    const sku = `L-${i % lines}`;
    doc = Automerge.change(doc, (d) => {
      if (i < lines) d[`item:${sku}`] = { name: `Product ${sku}`, unitPrice: 1999, currency: "EUR", addedAt: 1_700_000_000_000 + i };
      d[`add:${sku}#${i.toString(16).padStart(16, "0")}`] = 1;
    });
  }
  return { id, bytes: Automerge.save(doc) };
}

const FIXTURES = {
  lines50: cartDocument(50),
  lines100: cartDocument(100),
  lines200: cartDocument(200),
  lines500: cartDocument(500),
  cold: cartDocument(200, 2000),
};
/** The fixture a cart of `lines` lines is opened from (none for an empty cart). */
const linesFixture = (lines) => (lines === 0 ? undefined : `lines${lines}`);

// ---- the static server: bench/dist, a page per folder, the fixtures ----

const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html; charset=utf-8" };

/** The page of a folder: an inline script that notes when the page's scripts began, then the bundle. */
const PAGE = '<!doctype html><meta charset="utf-8"><title>bench</title><script>self.benchStart = performance.now();</script><script type="module" src="main.js"></script>';

function serve(request, response) {
  const url = new URL(request.url, "http://localhost");
  // Cross-origin isolated: performance.now() resolves 5 us instead of 100 us.
  const headers = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp", "Cache-Control": "no-cache" };
  const fixture = url.pathname.match(/^\/fixtures\/(\w+)\.bin$/);
  if (fixture && FIXTURES[fixture[1]]) {
    const { id, bytes } = FIXTURES[fixture[1]];
    response.writeHead(200, { ...headers, "Content-Type": "application/octet-stream", "x-cart-id": id });
    return response.end(bytes);
  }
  if (url.pathname.endsWith("/")) {
    response.writeHead(200, { ...headers, "Content-Type": TYPES[".html"] });
    return response.end(PAGE);
  }
  const file = path.join(HERE, "dist", path.normalize(url.pathname).replace(/^(\.\.[/\\])+/, ""));
  const accepted = String(request.headers["accept-encoding"] ?? "");
  // The brotli or gzip copy when there is one (the first-visit pages), as cart-server sends dist/.
  const encoding = [["br", ".br"], ["gzip", ".gz"]].find(([name, suffix]) => accepted.includes(name) && existsSync(file + suffix));
  try {
    const body = readFileSync(encoding ? file + encoding[1] : file);
    const type = { "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream" };
    response.writeHead(200, { ...headers, ...type, ...(encoding && { "Content-Encoding": encoding[0] }) });
    response.end(body);
  } catch {
    response.writeHead(404, headers);
    response.end();
  }
}

/** Starts a static server on a free loopback port; resolves to its origin and the server. */
function startStatic() {
  const server = createServer(serve);
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ origin: `http://127.0.0.1:${server.address().port}`, server })));
}

// ---- the browser ----

/** Counts WebSocket frames and bytes each way in the page (installed before any page script). */
const COUNT_WEBSOCKETS = `(() => {
  const stats = (window.wsStats = { sent: 0, sentBytes: 0, received: 0, receivedBytes: 0 });
  const size = (data) => data?.byteLength ?? data?.size ?? new TextEncoder().encode(String(data)).length;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        stats.received++;
        stats.receivedBytes += size(event.data);
      });
    }
    send(data) {
      stats.sent++;
      stats.sentBytes += size(data);
      super.send(data);
    }
  };
})();`;

let context; // the browser's one persistent context (profile on disk)
const pageErrors = [];

/** Resolves `promise`, or rejects after `ms` naming `what`. */
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Clears every kind of storage of `origin` (IndexedDB, localStorage, caches) through the DevTools protocol. */
async function clearOrigin(origin) {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Storage.clearDataForOrigin", { origin, storageTypes: "all" });
  await page.close();
}

/**
 * Opens `origin`/`dir`/ (after clearing the origin's storage when `fresh`) and waits for
 * `window.bench`.
 */
async function openPage(origin, dir, { fresh = true, query = "" } = {}) {
  if (fresh) await clearOrigin(origin);
  const page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(`${dir}: ${error.message}`));
  await page.goto(`${origin}/${dir}/${query}`);
  await page.waitForFunction(() => window.bench !== undefined);
  return page;
}

/** Runs `bench[name](args)` in `page`. */
function call(page, name, args, ms = 300_000) {
  return withTimeout(page.evaluate(([n, a]) => window.bench[n](a), [name, args]), ms, `${name} ${JSON.stringify(args)}`);
}

/** Runs `body(page)` in a fresh page of `dir` `reps` times; resolves to the results, flattened when arrays. */
async function repeat(origin, dir, reps, body) {
  const results = [];
  for (let rep = 0; rep < reps; rep++) {
    const page = await openPage(origin, dir);
    try {
      const result = await body(page);
      results.push(...(Array.isArray(result) ? result : [result]));
    } finally {
      await page.close();
    }
  }
  return results;
}

// ---- the scenarios: each takes a stack and resolves to raw figures ----

async function addsScenario(stack, origin, flush) {
  const samples = {};
  for (const lines of RUN.levels) {
    samples[lines] = await repeat(origin, stack.dir, RUN.reps, (page) =>
      call(page, "adds", { fixture: linesFixture(lines), count: flush ? RUN.flushAdds : RUN.adds, flush }));
  }
  return samples;
}

/** The bare Automerge change an add is compared with, at each cart size (the peer's page). */
async function bareScenario(origin) {
  const samples = {};
  for (const lines of RUN.levels) {
    samples[lines] = await repeat(origin, "peer", RUN.reps, (page) => call(page, "bareAdds", { fixture: linesFixture(lines), count: RUN.adds }));
  }
  return samples;
}

async function floorScenario(origin) {
  const samples = {};
  for (const durability of ["default", "strict"]) {
    samples[durability] = await repeat(origin, "ours", RUN.reps, (page) => call(page, "floor", { durability, count: RUN.floorWrites }));
  }
  return samples;
}

function listingScenario(stack, origin) {
  return repeat(origin, stack.dir, RUN.reps, (page) => call(page, "listing", { fixture: "lines200", count: RUN.listings, lines: 200 }));
}

/**
 * Stores the 2,000-change cart in a setup page, then opens a fresh page in the same profile:
 * `?cold=` opens the cart, `?early=` (ours) lists what `Cart.start` remembered.
 */
async function coldScenario(stack, origin, mode = "cold") {
  const runs = [];
  for (let rep = 0; rep < RUN.colds; rep++) {
    const setup = await openPage(origin, stack.dir);
    await call(setup, "store", { fixture: "cold" });
    await setup.close();
    const page = await context.newPage();
    page.on("pageerror", (error) => pageErrors.push(`${stack.dir} cold: ${error.message}`));
    await page.goto(`${origin}/${stack.dir}/?${mode}=${FIXTURES.cold.id}&lines=200`);
    const run = await withTimeout(page.evaluate(() => window.coldStart), 120_000, "cold start");
    if (run.lines !== 200) throw new Error(`${stack.label} ${mode}: listed ${run.lines} lines, expected 200`);
    runs.push(run);
    await page.close();
  }
  return runs;
}

/** Two pages of one origin on one cart: live propagation each way, then concurrent adds. */
async function tabsScenario(stack, origin) {
  const a = await openPage(origin, stack.dir);
  const b = await openPage(origin, stack.dir, { fresh: false });
  try {
    const { id } = await call(a, "open", {});
    await a.evaluate(() => window.bench.add("T-0"));
    await call(a, "flush");
    await call(b, "open", { id });
    let units = 1;
    await call(b, "waitUnits", { units, ms: 20_000 });
    const live = async (from, to) => {
      const samples = [];
      for (let i = 0; i < RUN.live; i++) {
        units += 1;
        await to.evaluate((u) => { window.arrival = window.bench.waitUnits({ units: u, ms: 20_000 }); }, units);
        const sent = await from.evaluate((sku) => window.bench.add(sku), `T-${i % 5}`);
        const arrived = await withTimeout(to.evaluate(() => window.arrival), 30_000, "live propagation");
        samples.push(arrived - sent);
        await call(from, "flush");
      }
      return samples;
    };
    const aToB = await live(a, b);
    const bToA = await live(b, a);
    // Concurrent adds, interleaved: tab A and tab B add at the same time, half each.
    for (let i = 0; i < RUN.concurrent / 2; i++) {
      await Promise.all([a, b].map((page, tab) => page.evaluate((sku) => window.bench.add(sku), `C-${tab}-${i % 10}`)));
    }
    await Promise.all([call(a, "flush"), call(b, "flush")]);
    const expected = units + RUN.concurrent;
    const settled = await Promise.allSettled([a, b].map((page) => call(page, "waitUnits", { units: expected, ms: 15_000 })));
    const kept = await Promise.all([a, b].map(async (page) => (await call(page, "units")) - units));
    return { aToB, bToA, kept, of: RUN.concurrent, settled: settled.map((s) => s.status) };
  } finally {
    await a.close();
    await b.close();
  }
}

/**
 * Offline merge: replica A (origin A) forks the 50-line cart to replica B (origin B) through
 * the server; each then makes `mergeChanges` adds offline (a page without server); then both
 * reopen with the server. Counts WebSocket frames and bytes of the reconnected pages until
 * both hold every unit.
 */
async function mergeScenario(stack, origins, server) {
  const [originA, originB] = origins;
  const a = await openPage(originA, stack.dir);
  const b = await openPage(originB, stack.dir);
  const { id, key } = await call(a, "open", { fixture: "lines50", server });
  // The fork measured starts from a cart the server holds: wait for replica A's upload
  // (rejects, saying why, when it does not get there).
  await call(a, "synced");
  await call(b, "open", { id, key, server });
  try {
    await call(b, "waitUnits", { units: 50, ms: 60_000 });
  } catch (error) {
    throw new Error(`${error.message}; replica A: ${JSON.stringify(await call(a, "status"))}`);
  }
  for (const page of [a, b]) {
    await call(page, "close");
    await page.close();
  }
  for (const origin of origins) {
    const page = await openPage(origin, stack.dir, { fresh: false });
    await call(page, "open", { id, key });
    await call(page, "addMany", { count: RUN.mergeChanges, lines: 50, prefix: "L-" });
    await call(page, "close");
    await page.close();
  }
  const pages = await Promise.all(origins.map((origin) => openPage(origin, stack.dir, { fresh: false })));
  try {
    const start = Date.now();
    const units = 50 + 2 * RUN.mergeChanges;
    await Promise.all(pages.map(async (page) => {
      await call(page, "open", { id, key, server });
      await call(page, "waitUnits", { units, ms: 120_000 });
    }));
    const ms = Date.now() - start;
    const stats = await Promise.all(pages.map((page) => page.evaluate(() => ({ ...window.wsStats }))));
    const sum = (field) => stats.reduce((total, s) => total + s[field], 0);
    return { bytes: sum("sentBytes") + sum("receivedBytes"), messages: sum("sent") + sum("received"), ms, replicas: stats };
  } finally {
    for (const page of pages) await page.close();
  }
}

/**
 * A first visit over a throttled network with an empty cache: page script start to the first
 * durable add. The files go out brotli-compressed (bundleBytes wrote the copies).
 */
async function firstVisitScenario(stack, origin) {
  const samples = [];
  for (let rep = 0; rep < RUN.firstVisits; rep++) {
    await clearOrigin(origin);
    const page = await context.newPage();
    page.on("pageerror", (error) => pageErrors.push(`${stack.first}: ${error.message}`));
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.clearBrowserCache");
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
    await cdp.send("Network.emulateNetworkConditions", THROTTLE);
    await page.goto(`${origin}/${stack.first}/`, { waitUntil: "commit" });
    await page.waitForFunction(() => window.firstAdd !== undefined, null, { timeout: 120_000 });
    const { end, start } = await withTimeout(page.evaluate(async () => ({ end: await window.firstAdd, start: self.benchStart })), 120_000, "first add");
    samples.push({ ms: end - start, fromNavigationMs: end });
    await page.close();
  }
  return samples;
}

/**
 * Bytes of every .js and .wasm file of a bundle folder: raw, gzip -9, brotli (quality 11).
 * Writes the compressed copies next to the files, which the static server then sends.
 */
function bundleBytes(dir) {
  const rows = compressDir(path.join(HERE, "dist", dir)).filter((row) => /\.(js|wasm)$/.test(row.file));
  const sum = (field) => rows.reduce((total, row) => total + (row[field] ?? row.raw), 0);
  return { raw: sum("raw"), gzip: sum("gzip"), br: sum("br"), files: rows };
}

// ---- statistics and the table ----

/** The `q` quantile (nearest rank) of `samples`. */
function quantile(samples, q) {
  const sorted = [...samples].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
const p50 = (s) => quantile(s, 0.5);
const p95 = (s) => quantile(s, 0.95);

const ms = (value) => (value === undefined || Number.isNaN(value) ? "?" : value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value >= 1 ? value.toFixed(2) : value.toFixed(3));
const bytes = (value) => (value === undefined ? "?" : value.toLocaleString("en-US"));
const ratio = (ours, peer) => (ours === undefined || peer === undefined || !peer ? "?" : `${(ours / peer).toFixed(ours / peer >= 10 ? 0 : 2)}x`);

/** The table's rows from the results; a failed scenario shows its error in the cell. */
function rows(results) {
  const { peer, ours, floor, bare } = results;
  const out = [];
  const row = (work, floorCell, peerCell, oursCell, ratioCell) => out.push([work, floorCell, peerCell, oursCell, ratioCell]);
  const failed = (stack, name) => stack.errors[name] && `failed: ${stack.errors[name]}`;
  const levels = RUN.levels.join(" / ");
  const perLevel = (stack, name, stat) => stack[name] && RUN.levels.map((lines) => stat(stack[name][lines]));
  const joinMs = (values) => values && `${values.map(ms).join(" / ")} ms`;
  const joinRatio = (o, p) => (o && p ? o.map((v, i) => ratio(v, p[i])).join(" / ") : "?");

  for (const [field, label] of [["gzip", "gzip -9"], ["br", "brotli"]]) {
    row(`bundle ${label}, JS + wasm`, "", peer.bundle ? `${bytes(peer.bundle[field])} B` : failed(peer, "bundle"), ours.bundle ? `${bytes(ours.bundle[field])} B` : failed(ours, "bundle"), ratio(ours.bundle?.[field], peer.bundle?.[field]));
  }
  for (const [name, work] of [["adds", "`addItem` in memory"], ["addsFlush", "`addItem` + `flush()`"]]) {
    for (const [stat, statName] of [[p50, "p50"], [p95, "p95"]]) {
      const p = perLevel(peer, name, stat);
      const o = perLevel(ours, name, stat);
      const floorCell = name === "addsFlush"
        ? floor.samples ? `${ms(stat(floor.samples.default))} ms (default), ${ms(stat(floor.samples.strict))} ms (strict)` : failed(floor, "samples")
        : bare.samples ? `${joinMs(RUN.levels.map((lines) => stat(bare.samples[lines])))} (bare \`Automerge.change\`)` : failed(bare, "samples");
      row(`${work}, ${statName}, ${levels} lines before`, floorCell, joinMs(p) ?? failed(peer, name), joinMs(o) ?? failed(ours, name), joinRatio(o, p));
    }
  }
  for (const [stat, statName] of [[p50, "p50"], [p95, "p95"]]) {
    row(`\`items()\` of 200 lines, ${statName}`, "", peer.listing ? `${ms(stat(peer.listing))} ms` : failed(peer, "listing"), ours.listing ? `${ms(stat(ours.listing))} ms` : failed(ours, "listing"), ratio(ours.listing && stat(ours.listing), peer.listing && stat(peer.listing)));
  }
  const cold = (stack) => {
    if (!stack.cold) return failed(stack, "cold");
    const part = (field) => ms(p50(stack.cold.map((run) => run[field])));
    return `${part("totalMs")} ms (import ${part("importMs")}, wasm init ${part("initMs")}, open ${part("openMs")}, listing ${part("listMs")})`;
  };
  const coldTotal = (stack) => stack.cold && p50(stack.cold.map((run) => run.totalMs));
  row("cold start, 200 lines stored as 2,000 changes: page script to first listing, p50", "", cold(peer), cold(ours), ratio(coldTotal(ours), coldTotal(peer)));
  const early = ours.coldEarly && `${ms(p50(ours.coldEarly.map((run) => run.totalMs)))} ms (module ready at ${ms(p50(ours.coldEarly.map((run) => run.readyMs)))})`;
  const earlyTotal = ours.coldEarly && p50(ours.coldEarly.map((run) => run.totalMs));
  row("cold start, the same cart: page script to first listing, p50, ours through `Cart.start` (the lines remembered from the last visit, before the module is ready)", "", coldTotal(peer) === undefined ? failed(peer, "cold") : `${ms(coldTotal(peer))} ms (as above)`, early ?? failed(ours, "coldEarly"), ratio(earlyTotal, coldTotal(peer)));
  for (const [field, label] of [["aToB", "A->B"], ["bToA", "B->A"]]) {
    const value = (stack) => stack.tabs && p50(stack.tabs[field]);
    row(`two tabs, live ${label}, p50`, "", peer.tabs ? `${ms(value(peer))} ms` : failed(peer, "tabs"), ours.tabs ? `${ms(value(ours))} ms` : failed(ours, "tabs"), ratio(value(ours), value(peer)));
  }
  const kept = (stack) => (stack.tabs ? `${stack.tabs.kept.join(" / ")} of ${stack.tabs.of} (tab A / tab B)` : failed(stack, "tabs"));
  row(`two tabs, ${RUN.concurrent} concurrent adds (half per tab, interleaved) kept`, "", kept(peer), kept(ours), "");
  for (const [field, label, format] of [["bytes", "bytes sent + received", (v) => `${bytes(v)} B`], ["messages", "messages sent + received", bytes]]) {
    row(`offline merge, 50 lines + ${RUN.mergeChanges} offline changes per replica: ${label} until both converge`, "", peer.merge ? format(peer.merge[field]) : failed(peer, "merge"), ours.merge ? format(ours.merge[field]) : failed(ours, "merge"), ratio(ours.merge?.[field], peer.merge?.[field]));
  }
  const first = (stack) => stack.firstVisit && p50(stack.firstVisit.map((s) => s.ms));
  row("first visit, 1.6 Mbps / 150 ms RTT, empty cache: page script to first durable add, p50", "", peer.firstVisit ? `${ms(first(peer))} ms` : failed(peer, "firstVisit"), ours.firstVisit ? `${ms(first(ours))} ms` : failed(ours, "firstVisit"), ratio(first(ours), first(peer)));
  return out;
}

/** The rows as a Markdown table. */
function table(tableRows) {
  const header = ["work", "floor", "automerge-repo", "offline-cart", "ratio"];
  const line = (cells) => `| ${cells.map((cell) => cell ?? "?").join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...tableRows.map(line)].join("\n");
}

// ---- main ----

async function measure(results, stack, name, work) {
  try {
    results[name] = await work();
  } catch (error) {
    results.errors[name] = error.message.split("\n")[0];
    console.error(`${stack}: ${name} failed: ${error.stack}`);
    if (stack === "offline-cart") console.error(`cart-server's last log lines:\n${cartServer.log().split("\n").slice(-40).join("\n")}`);
  }
}

const started = Date.now();
const statics = [await startStatic(), await startStatic()];
const origins = statics.map((s) => s.origin);
const cartServer = await startCartServer();
const peerData = mkdtempSync(path.join(os.tmpdir(), "bench-peer-"));
const peerServer = await startPeerServer({ dataDir: peerData });
const profile = mkdtempSync(path.join(os.tmpdir(), "bench-profile-"));
context = await launchChromiumProfile(profile);
await context.addInitScript(COUNT_WEBSOCKETS);

const results = { floor: { errors: {} }, bare: { errors: {} } };
const servers = { peer: peerServer.url, ours: cartServer.ws() };
try {
  await measure(results.floor, "floor", "samples", () => floorScenario(origins[0]));
  await measure(results.bare, "bare Automerge.change", "samples", () => bareScenario(origins[0]));
  for (const stack of STACKS) {
    const r = (results[stack.key] = { errors: {} });
    const log = (name) => console.error(`bench: ${stack.label}: ${name}`);
    await measure(r, stack.label, "bundle", async () => bundleBytes(stack.first));
    log("addItem in memory");
    await measure(r, stack.label, "adds", () => addsScenario(stack, origins[0], false));
    log("addItem + flush()");
    await measure(r, stack.label, "addsFlush", () => addsScenario(stack, origins[0], true));
    log("items()");
    await measure(r, stack.label, "listing", () => listingScenario(stack, origins[0]));
    log("cold start");
    await measure(r, stack.label, "cold", () => coldScenario(stack, origins[0]));
    if (stack.key === "ours") await measure(r, stack.label, "coldEarly", () => coldScenario(stack, origins[0], "early"));
    log("two tabs");
    await measure(r, stack.label, "tabs", () => tabsScenario(stack, origins[0]));
    log("offline merge");
    await measure(r, stack.label, "merge", () => mergeScenario(stack, origins, servers[stack.key]));
    log("first visit");
    await measure(r, stack.label, "firstVisit", () => firstVisitScenario(stack, origins[0]));
  }
} finally {
  await context.close();
  await Promise.all([cartServer.stop(), peerServer.stop(), ...statics.map((s) => new Promise((resolve) => s.server.close(resolve)))]);
  rmSync(profile, { recursive: true, force: true });
  rmSync(peerData, { recursive: true, force: true });
}

const chromiumVersion = execFileSync("/usr/bin/chromium", ["--version"], { stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), os: `${os.type()} ${os.release()}`, chromium: chromiumVersion, node: process.version };
const tableRows = rows(results);
const date = new Date().toISOString();
console.log(`\n${date.slice(0, 10)}, ${machine.cpus} x ${machine.cpuModel}, ${machine.chromium}${SMOKE ? " (smoke run: tiny counts, figures meaningless)" : ""}\n`);
console.log(table(tableRows));
console.log(`\nratio: offline-cart / automerge-repo (below 1: ours is smaller or faster). ${((Date.now() - started) / 1000).toFixed(0)} s.`);
if (pageErrors.length) console.error(`page errors:\n${pageErrors.join("\n")}`);
const missing = tableRows.filter((cells) => cells.some((cell) => cell === undefined || /\?|failed/.test(String(cell))));
if (!SMOKE) writeFileSync(path.join(HERE, "results.json"), `${JSON.stringify({ date, machine, run: RUN, table: tableRows, results }, null, 2)}\n`);
if (missing.length) {
  console.error(`\n${missing.length} row(s) without a figure:\n${missing.map((cells) => cells[0]).join("\n")}`);
  process.exit(1);
}
