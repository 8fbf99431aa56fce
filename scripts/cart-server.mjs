// Starts a real cart-server for tests: built by cargo (a no-op when up to date; CART_SERVER_BIN
// names a binary built elsewhere), on a free loopback port (PORT=0, read back from its log),
// over a temporary SQLite file that is removed on stop.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT = process.env.CART_REPO_ROOT ?? fileURLToPath(new URL("..", import.meta.url));
const START_MS = 15000;

/**
 * The paths of the workspace binaries `names` (each a crate's binary of the same name), debug
 * or `release`, built by one cargo command first (a no-op when up to date) in CARGO_TARGET_DIR
 * or target/. One command for all, so that cargo resolves the features once and a second call
 * does not rebuild.
 */
export function cargoBinaries(names, { release = false } = {}) {
  const build = spawnSync("cargo", ["build", ...(release ? ["--release"] : []), ...names.flatMap((name) => ["-p", name])], {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (build.status !== 0) throw new Error(`cargo build of ${names.join(", ")} failed`);
  return names.map((name) => {
    const binary = path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, "target"), release ? "release" : "debug", name);
    if (!existsSync(binary)) throw new Error(`no ${name} binary at ${binary}`);
    return binary;
  });
}

/** The cart-server binary (debug), built if needed; CART_SERVER_BIN names one built elsewhere. */
export function serverBinary() {
  return process.env.CART_SERVER_BIN ?? cargoBinaries(["cart-server"])[0];
}

/**
 * Starts cart-server (`binary`, default: serverBinary()) as the demo shop (`CART_SERVER_DEMO`:
 * the seeded catalog and the name-only sign-in) serving `staticDir` (default: none), with `env`
 * added to its environment (for example a lower `CART_SERVER_MAX_LINES`, or a
 * postgres:// `DATABASE_URL` instead of its own SQLite file). Resolves to `{ base, http, ws,
 * log, pid, stop, down, kill, up }`: `base` is host:port, `http` its origin, `ws(key)` the
 * /sync URL with `key`, `log()` what it printed, `pid()` its process id, `stop()` shuts it down
 * with SIGTERM and removes its data, `down()` stops it with SIGTERM and `kill()` with SIGKILL
 * (kill -9: no shutdown at all), and `up()` starts it again on the same port over the same
 * data, as when a server goes away and comes back.
 */
export async function startCartServer({ staticDir, env: extraEnv = {}, binary = serverBinary() } = {}) {
  const dataDir = mkdtempSync(path.join(tmpdir(), "cart-server-"));
  const output = [];
  const env = (port) => ({
    ...process.env,
    PORT: String(port),
    DATABASE_URL: `sqlite://${path.join(dataDir, "carts.sqlite3")}`,
    CART_SERVER_STATIC_DIR: staticDir ?? path.join(dataDir, "no-storefront"),
    RUST_LOG: process.env.RUST_LOG ?? "info",
    CART_SERVER_DEMO: "true",
    ...extraEnv,
  });
  let child;
  const launch = async (port) => {
    child = spawn(binary, [], { env: env(port), stdio: ["ignore", "pipe", "pipe"] });
    createInterface({ input: child.stderr }).on("line", (line) => output.push(line));
    const started = child;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`cart-server did not start:\n${output.join("\n")}`)), START_MS);
      createInterface({ input: started.stdout }).on("line", (line) => {
        output.push(line);
        const match = line.match(/listening on http:\/\/(\S+)/);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      started.on("exit", (code) => reject(new Error(`cart-server exited with ${code}:\n${output.join("\n")}`)));
    });
  };
  const terminate = async (signal = "SIGTERM") => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.on("exit", resolve));
      child.kill(signal);
      await exited;
    }
  };
  const base = await launch(0);
  const port = Number(base.split(":").pop());
  return {
    base,
    http: `http://${base}`,
    ws: (key) => `ws://${base}/sync${key ? `?key=${encodeURIComponent(key)}` : ""}`,
    log: () => output.join("\n"),
    pid: () => child.pid,
    down: () => terminate(),
    kill: () => terminate("SIGKILL"),
    async up() {
      await launch(port);
    },
    async stop() {
      await terminate();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Resolves with `check()`'s value once it is truthy, re-checking every 50 ms. */
export async function eventually(what, check, ms = START_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
