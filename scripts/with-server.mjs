// with-server.mjs CMD [ARGS...]: runs CMD with a real cart-server beside it.
//
// Builds cart-server (a no-op when up to date), starts it on a free loopback port over a
// temporary SQLite file, waits for /healthz, runs CMD with CART_SERVER_WS (its /sync URL) and
// CART_SERVER_HTTP set, then stops the server (SIGTERM) and exits with CMD's status. The
// server's log is printed when CMD fails.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error("usage: node scripts/with-server.mjs CMD [ARGS...]");
  process.exit(2);
}

const build = spawnSync("cargo", ["build", "-p", "cart-server", "--bin", "cart-server"], { cwd: root, stdio: "inherit" });
if (build.status !== 0) process.exit(build.status ?? 1);
const binary = path.join(process.env.CARGO_TARGET_DIR ?? path.join(root, "target"), "debug", "cart-server");

const port = await new Promise((resolve, reject) => {
  const probe = createServer().listen(0, "127.0.0.1", () => {
    const { port } = probe.address();
    probe.close(() => resolve(port));
  });
  probe.on("error", reject);
});

const dir = mkdtempSync(path.join(tmpdir(), "cart-server-"));
const logFile = path.join(dir, "server.log");
const server = spawn("sh", ["-c", `exec "$0" > "${logFile}" 2>&1`, binary], {
  env: { ...process.env, PORT: String(port), DATABASE_URL: `sqlite://${dir}/carts.sqlite3`, CART_SERVER_STATIC_DIR: path.join(root, "dist") },
  stdio: "ignore",
});
const http = `http://127.0.0.1:${port}`;

async function healthy() {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${http}/healthz`)).ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

let status = 1;
try {
  if (!(await healthy())) throw new Error(`cart-server did not become healthy on ${http}`);
  const child = spawn(command, args, {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, CART_SERVER_WS: `ws://127.0.0.1:${port}/sync`, CART_SERVER_HTTP: http },
  });
  status = await new Promise((resolve) => child.on("exit", (code) => resolve(code ?? 1)));
} catch (error) {
  console.error(String(error));
} finally {
  server.kill("SIGTERM");
  await new Promise((r) => (server.exitCode !== null ? r() : server.on("exit", r)));
  if (status !== 0) console.error(`---- cart-server log ----\n${readFileSync(logFile, "utf8")}`);
  rmSync(dir, { recursive: true, force: true });
}
process.exit(status);
