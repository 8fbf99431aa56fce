// npm run load: cart-load against real processes on loopback: release cart-server instances
// (on SQLite, or on a throwaway PostgreSQL 15 from scripts/postgres.mjs), automerge-repo's own
// sync server (scripts/peer-sync-server.mjs), and the fault runs: kill -9 of an instance, an
// instance lost out of two, PostgreSQL stopped and started. Asserts nothing about time; a fault
// run that loses an acknowledged add or exits non-zero fails the script.
//
//   node scripts/load.mjs [--faults] [--figures] [--duration 30s] [--runs 3] [--sizes 100,1000]
//                         [--cost-sizes 100,300,1000]
//
// Without --faults or --figures it does both. --figures runs every setup (SQLite, PostgreSQL,
// two instances on PostgreSQL, the Node peer) at each size of --sizes --runs times and prints
// the medians with the ratios ours/peer; sizes only in --cost-sizes run once, for the cost
// table (server CPU and memory by shoppers). Writes bench/load-results.json (figures and fault
// runs, with every raw run). tests/load/ imports the helpers below for a short fault run on the
// debug binaries.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { ROOT, cargoBinaries, startCartServer } from "./cart-server.mjs";
import { startPostgres } from "./postgres.mjs";

const CLOCK_TICK_MS = 1000 / Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim() || 100);

/** The release (or debug) binaries of cart-server and cart-load, built if needed. */
export function binaries({ release }) {
  const [server, load] = cargoBinaries(["cart-server", "cart-load"], { release });
  return { server, load };
}

/**
 * CPU time (user + system, and `children`'s: reaped child processes, for PostgreSQL's exited
 * backends) in ms and resident memory in KiB of process `pid`, from /proc; zeros once it has
 * exited.
 */
export function processSample(pid, { children = false } = {}) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
    const ticks = Number(fields[11]) + Number(fields[12]) + (children ? Number(fields[13]) + Number(fields[14]) : 0);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rss = Number(status.match(/^VmRSS:\s+(\d+)/m)?.[1] ?? 0);
    return { cpuMs: ticks * CLOCK_TICK_MS, rssKiB: rss, ppid: Number(fields[1]) };
  } catch {
    return { cpuMs: 0, rssKiB: 0, ppid: 0 };
  }
}

/** CPU time in ms of a PostgreSQL cluster: the postmaster, its live backends and reaped ones. */
export function postgresSample(pg) {
  const postmaster = pg.postmasterPid();
  let { cpuMs, rssKiB } = processSample(postmaster, { children: true });
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const child = processSample(Number(entry));
    if (child.ppid === postmaster) {
      cpuMs += child.cpuMs;
      rssKiB += child.rssKiB;
    }
  }
  return { cpuMs, rssKiB };
}

/** Starts automerge-repo's sync server in a process of its own; resolves to `{ servers, pid, stop }`. */
export async function startPeer() {
  const child = spawn(process.execPath, [path.join(ROOT, "scripts", "peer-sync-server.mjs")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const match = line.match(/listening on (ws:\/\/\S+)/);
      if (match) resolve(match[1]);
    });
    child.on("exit", (code) => reject(new Error(`peer-sync-server exited with ${code}`)));
  });
  return {
    servers: [`${url}/sync`],
    pids: () => [child.pid],
    async stop() {
      const exited = new Promise((resolve) => child.on("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** The environment of every cart-server of a load run: all shoppers come from 127.0.0.1. */
const LOAD_ENV = { CART_SERVER_MAX_CONNECTIONS_PER_ADDRESS: "20000" };

/**
 * Starts a setup: "sqlite" (one instance, its own SQLite file), "postgres" (one instance on a
 * fresh cluster), "postgres2" (two instances on one fresh cluster) or "peer". Resolves to `{
 * servers, pids, instances, pg, stop }`: `servers` are the sync URLs for cart-load,
 * `instances` the cart-server handles (scripts/cart-server.mjs), `pg` the cluster.
 */
export async function startSetup(kind, { serverBinary }) {
  if (kind === "peer") return { ...(await startPeer()), instances: [] };
  const pg = kind === "sqlite" ? undefined : await startPostgres();
  const env = pg ? { ...LOAD_ENV, DATABASE_URL: pg.url } : LOAD_ENV;
  const instances = [];
  try {
    for (let i = 0; i < (kind === "postgres2" ? 2 : 1); i++) {
      instances.push(await startCartServer({ binary: serverBinary, env }));
    }
  } catch (e) {
    await Promise.all(instances.map((instance) => instance.stop()));
    pg?.stop();
    throw e;
  }
  return {
    servers: instances.map((instance) => instance.ws()),
    pids: () => instances.map((instance) => instance.pid()),
    instances,
    pg,
    async stop() {
      await Promise.all(instances.map((instance) => instance.stop()));
      pg?.stop();
    },
  };
}

/**
 * Runs cart-load (`binary`) against `servers` with `shoppers` for `duration` (such as "30s")
 * and `seed`. `during(seconds)` is called every 250 ms with the seconds since the start, for
 * faults and samples. Resolves to `{ status, report, output }`: cart-load's exit status, its
 * --json report (undefined when it wrote none) and what it printed.
 */
export async function runCartLoad({ binary, servers, shoppers, duration, seed = 7, during = () => {} }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "cart-load-"));
  const json = path.join(dir, "report.json");
  const args = [...servers.flatMap((s) => ["--server", s]), "--shoppers", String(shoppers), "--duration", duration, "--seed", String(seed), "--json", json];
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  const output = [];
  for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on("line", (line) => output.push(line));
  const start = Date.now();
  let busy = false;
  const ticker = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      await during((Date.now() - start) / 1000);
    } finally {
      busy = false;
    }
  }, 250);
  const status = await new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : 0))));
  clearInterval(ticker);
  let report;
  try {
    report = JSON.parse(readFileSync(json, "utf8"));
  } catch {
    report = undefined;
  }
  rmSync(dir, { recursive: true, force: true });
  return { status, report, output: output.join("\n") };
}

/** Seconds of a duration like "30s" or "2m". */
function seconds(duration) {
  const match = String(duration).match(/^(\d+(?:\.\d+)?)(ms|s|m)$/);
  if (!match) throw new Error(`a duration like 30s or 2m, got ${duration}`);
  return Number(match[1]) * { ms: 0.001, s: 1, m: 60 }[match[2]];
}

/** Acknowledged changes in the seconds [from, to) of a report's per-second counts. */
export function acknowledgedBetween(report, from, to) {
  return report.acknowledged_per_second.slice(from, to).reduce((sum, n) => sum + n, 0);
}

// ---- figures ----

const SETUPS = [
  { kind: "sqlite", label: "1 instance, SQLite" },
  { kind: "postgres", label: "1 instance, PostgreSQL" },
  { kind: "postgres2", label: "2 instances, PostgreSQL" },
  { kind: "peer", label: "automerge-repo sync server (Node)" },
];

/**
 * One measured run: a fresh setup, cart-load for `duration`, and the servers' CPU and memory
 * over the shopping time (from /proc: cart-server or node, and PostgreSQL's processes).
 */
async function measuredRun({ kind, bins, shoppers, duration, seed }) {
  const setup = await startSetup(kind, { serverBinary: bins.server });
  try {
    const cpu = () => setup.pids().reduce((sum, pid) => sum + processSample(pid).cpuMs, 0);
    const rss = () => setup.pids().reduce((sum, pid) => sum + processSample(pid).rssKiB, 0);
    const before = { cpuMs: cpu(), rssKiB: rss(), pgCpuMs: setup.pg ? postgresSample(setup.pg).cpuMs : 0 };
    const window = seconds(duration);
    let after;
    let rssPeakKiB = before.rssKiB;
    const run = await runCartLoad({
      binary: bins.load,
      servers: setup.servers,
      shoppers,
      duration,
      seed,
      during(t) {
        if (t > window) {
          after ??= { cpuMs: cpu(), pgCpuMs: setup.pg ? postgresSample(setup.pg).cpuMs : 0 };
          return;
        }
        rssPeakKiB = Math.max(rssPeakKiB, rss());
      },
    });
    if (!run.report) throw new Error(`cart-load wrote no report (exit ${run.status}):\n${run.output}`);
    after ??= { cpuMs: cpu(), pgCpuMs: setup.pg ? postgresSample(setup.pg).cpuMs : 0 };
    const acknowledged = acknowledgedBetween(run.report, 0, Math.round(window));
    const { lost, acknowledged_per_second: timeline, error_kinds: errorKinds, ...figures } = run.report;
    return {
      status: run.status,
      ...figures,
      lost: lost.length,
      lostAdds: lost,
      errorKinds,
      // What cart-load printed, for a run that did not pass (its LOST lines and read-back errors).
      output: run.status === 0 ? undefined : run.output,
      timeline,
      server: {
        cpuMs: after.cpuMs - before.cpuMs,
        postgresCpuMs: after.pgCpuMs - before.pgCpuMs,
        acknowledgedInWindow: acknowledged,
        idleRssKiB: before.rssKiB,
        peakRssKiB: rssPeakKiB,
      },
    };
  } finally {
    await setup.stop();
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The medians of a cell's runs. */
function summarize(runs) {
  const m = (f) => median(runs.map(f));
  return {
    runs: runs.length,
    throughput: m((r) => r.throughput),
    p50_ms: m((r) => r.p50_ms),
    p99_ms: m((r) => r.p99_ms),
    serverCpuMsPerChange: m((r) => r.server.cpuMs / Math.max(1, r.server.acknowledgedInWindow)),
    postgresCpuMsPerChange: m((r) => r.server.postgresCpuMs / Math.max(1, r.server.acknowledgedInWindow)),
    serverCpuShare: m((r) => r.server.cpuMs / (r.duration_s * 1000)),
    peakRssMiB: m((r) => r.server.peakRssKiB / 1024),
    rssKiBPerShopper: m((r) => (r.server.peakRssKiB - r.server.idleRssKiB) / r.shoppers),
    lost: runs.reduce((sum, r) => sum + r.lost, 0),
    nonZeroExits: runs.filter((r) => r.status !== 0).length,
  };
}

async function figures({ bins, duration, runs, sizes, costSizes }) {
  const cells = [];
  const allSizes = [...new Set([...sizes, ...costSizes])].sort((a, b) => a - b);
  for (const shoppers of allSizes) {
    const repeat = sizes.includes(shoppers) ? runs : 1;
    for (const setup of SETUPS) {
      const raw = [];
      for (let i = 0; i < repeat; i++) {
        console.error(`load: ${setup.label}, ${shoppers} shoppers, run ${i + 1}/${repeat}`);
        const run = await measuredRun({ kind: setup.kind, bins, shoppers, duration, seed: 7 + i });
        console.error(`  ${run.throughput.toFixed(1)}/s, p99 ${run.p99_ms.toFixed(1)} ms, ${run.errors} errors, ${run.lost} lost, exit ${run.status}`);
        raw.push(run);
      }
      cells.push({ setup: setup.kind, label: setup.label, shoppers, ...summarize(raw), raw });
    }
  }
  return cells;
}

function markdownTable(header, rows) {
  const line = (cells) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

function figureTables(cells, runs) {
  const peer = (shoppers) => cells.find((c) => c.setup === "peer" && c.shoppers === shoppers);
  const fixed = (n, digits = 1) => n.toFixed(digits);
  const throughputRows = cells
    .filter((c) => c.runs === runs)
    .map((c) => {
      const p = peer(c.shoppers);
      return [c.label, c.shoppers, fixed(c.throughput), fixed(c.p50_ms), fixed(c.p99_ms), c.setup === "peer" ? "1" : fixed(c.throughput / p.throughput, 2), c.setup === "peer" ? "1" : fixed(c.p99_ms / p.p99_ms, 2), c.lost];
    });
  const costRows = cells.map((c) => [
    c.label,
    c.shoppers,
    fixed(c.serverCpuMsPerChange, 3),
    c.setup.startsWith("postgres") ? fixed(c.postgresCpuMsPerChange, 3) : "",
    `${fixed(c.serverCpuShare * 100, 0)}%`,
    fixed(c.peakRssMiB),
    fixed(c.rssKiBPerShopper),
  ]);
  return [
    markdownTable(["setup", "shoppers", "acknowledged changes/s", "p50 ms", "p99 ms", "throughput ours/peer", "p99 ours/peer", "lost"], throughputRows),
    markdownTable(["setup", "shoppers (carts = connections)", "server CPU ms per acknowledged change", "PostgreSQL CPU ms per change", "server CPU (share of one core)", "server peak RSS MiB", "RSS KiB per shopper"], costRows),
  ];
}

// ---- faults ----

/**
 * The fault runs of issue 12, section 4: a setup and the steps made to it at given seconds of
 * the run.
 */
export const FAULTS = [
  {
    name: "kill -9 of the one instance (SQLite), restarted on the same port over the same data",
    kind: "sqlite",
    steps: [
      { at: 10, run: (setup) => setup.instances[0].kill() },
      { at: 11, run: (setup) => setup.instances[0].up() },
    ],
  },
  {
    name: "two instances on PostgreSQL, one killed with kill -9 (not restarted)",
    kind: "postgres2",
    steps: [{ at: 10, run: (setup) => setup.instances[1].kill() }],
  },
  {
    name: "PostgreSQL stopped (pg_ctl stop -m immediate) and started again, under two instances",
    kind: "postgres2",
    steps: [
      { at: 10, run: (setup) => setup.pg.down("immediate") },
      { at: 15, run: (setup) => setup.pg.up() },
    ],
  },
];

/**
 * Runs the fault `{ name, kind, steps }` (as in FAULTS) under cart-load (`bins`) with
 * `shoppers` for `duration`. Resolves to the run's record: cart-load's exit status, `ok` when
 * it is 0 and nothing was lost, the changes acknowledged before the first step and after the
 * last, and the report's figures.
 */
export async function faultRun({ name, kind, steps }, { bins, shoppers, duration, seed = 7 }) {
  const setup = await startSetup(kind, { serverBinary: bins.server });
  const started = [];
  try {
    const run = await runCartLoad({
      binary: bins.load,
      servers: setup.servers,
      shoppers,
      duration,
      seed,
      during(t) {
        // In order, each once: a step waits for the one before it (kill, then restart).
        while (started.length < steps.length && t >= steps[started.length].at) {
          const step = steps[started.length];
          started.push((started.at(-1) ?? Promise.resolve()).then(() => step.run(setup)));
        }
      },
    });
    await Promise.all(started);
    const report = run.report;
    const ok = run.status === 0 && report?.lost.length === 0;
    return {
      name,
      setup: kind,
      shoppers,
      duration,
      steps: steps.map((s) => s.at),
      status: run.status,
      ok,
      acknowledged: report?.acknowledged,
      acknowledgedBeforeFault: report ? acknowledgedBetween(report, 0, steps[0].at) : 0,
      acknowledgedAfterFault: report ? acknowledgedBetween(report, steps.at(-1).at + 1, Infinity) : 0,
      adds_checked: report?.adds_checked,
      lost: report?.lost.length,
      errors: report?.errors,
      error_kinds: report?.error_kinds,
      p99_ms: report?.p99_ms,
      timeline: report?.acknowledged_per_second,
      summary: run.output.split("\n").at(-1),
      output: ok ? undefined : run.output,
    };
  } finally {
    await setup.stop();
  }
}

// ---- main ----

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1];
}

async function main() {
  const wantFaults = process.argv.includes("--faults");
  const wantFigures = process.argv.includes("--figures");
  const both = !wantFaults && !wantFigures;
  const duration = option("--duration", "30s");
  const runs = Number(option("--runs", "3"));
  const sizes = option("--sizes", "100,1000").split(",").map(Number);
  const costSizes = option("--cost-sizes", "100,300,1000").split(",").map(Number);
  const bins = binaries({ release: true });
  const started = Date.now();
  const results = { date: new Date().toISOString(), machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version }, duration };
  let failed = false;
  if (both || wantFaults) {
    results.faults = [];
    for (const f of FAULTS) {
      console.error(`load: fault run: ${f.name}`);
      const record = await faultRun(f, { bins, shoppers: 100, duration });
      console.error(`  ${record.ok ? "ok" : "FAILED"}: ${record.summary}`);
      results.faults.push(record);
      failed ||= !record.ok;
    }
    console.log(`\nFault runs (100 shoppers, ${duration}; acknowledged changes before the fault / after it):\n`);
    console.log(
      markdownTable(
        ["fault", "cart-load exit", "acknowledged before / after", "adds checked", "lost", "errors"],
        results.faults.map((r) => [r.name, r.status, `${r.acknowledgedBeforeFault} / ${r.acknowledgedAfterFault}`, r.adds_checked, r.lost, r.errors]),
      ),
    );
  }
  if (both || wantFigures) {
    results.runs = runs;
    results.figures = await figures({ bins, duration, runs, sizes, costSizes });
    const [throughput, cost] = figureTables(results.figures, runs);
    console.log(`\nMedians of ${runs} runs of ${duration} (seeds 7..${6 + runs}); ratios against the Node peer at the same size:\n`);
    console.log(throughput);
    console.log(`\nCost by size (server = cart-server or node; one run where only one was made):\n`);
    console.log(cost);
    failed ||= results.figures.some((c) => c.lost > 0);
  }
  results.seconds = Math.round((Date.now() - started) / 1000);
  writeFileSync(path.join(ROOT, "bench", "load-results.json"), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\n${results.seconds} s; bench/load-results.json written.`);
  process.exit(failed ? 1 : 0);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
