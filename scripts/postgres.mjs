// A throwaway PostgreSQL 15 cluster for tests: Debian's binaries (/usr/lib/postgresql/15/bin,
// installed by scripts/setup.sh; PG_BIN overrides), `initdb -A trust` into a temporary
// directory (as the `postgres` user when run as root, since PostgreSQL refuses to run as root),
// listening on a free loopback port with its socket in that directory; stopped and removed at
// the end, also when the command fails or the script is interrupted.
//
//   node scripts/postgres.mjs CMD [ARGS...]
//
// runs CMD with DATABASE_URL and TEST_DATABASE_URL set to postgres://postgres@127.0.0.1:PORT/postgres
// and exits with CMD's status. Other scripts can `import { startPostgres }` for a cluster of
// their own.
import { spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Where Debian's PostgreSQL 15 binaries are. */
export const PG_BIN = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";

/** A loopback port nobody listens on right now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** The uid and gid of `user`, or throws saying what to install. */
function userIds(user) {
  const id = (flag) => {
    const out = spawnSync("id", [flag, user], { encoding: "utf8" });
    if (out.status !== 0) {
      throw new Error(`no "${user}" user to run PostgreSQL as (PostgreSQL refuses root): run bash scripts/setup.sh`);
    }
    return Number(out.stdout.trim());
  };
  return { uid: id("-u"), gid: id("-g") };
}

/**
 * Starts a cluster. Resolves to `{ url, port, dir, stop, down, up, postmasterPid }`: `url` is
 * the superuser's URL of the `postgres` database, `stop()` stops the cluster at once and
 * removes its directory (safe to call twice); `down(mode)` stops it with `pg_ctl stop -m mode`
 * ("fast" by default, "immediate" as a crash) and `up()` starts it again on the same port over
 * the same data, for fault runs; `postmasterPid()` is the running postmaster's process id.
 */
export async function startPostgres() {
  if (!existsSync(path.join(PG_BIN, "initdb"))) {
    throw new Error(`no PostgreSQL binaries in ${PG_BIN}: run bash scripts/setup.sh (installs Debian's postgresql) or set PG_BIN`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), "offline-cart-pg-"));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { uid, gid } = userIds("postgres");
    chownSync(dir, uid, gid);
  }
  const data = path.join(dir, "data");
  const log = path.join(dir, "log");
  const run = (binary, args) => {
    const [command, argv] = asRoot
      ? ["runuser", ["-u", "postgres", "--", path.join(PG_BIN, binary), ...args]]
      : [path.join(PG_BIN, binary), args];
    const out = spawnSync(command, argv, { encoding: "utf8" });
    if (out.status !== 0) {
      throw new Error(`${binary} ${args.join(" ")} failed (exit ${out.status}):\n${out.stdout}${out.stderr}`);
    }
  };
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    if (existsSync(path.join(data, "postmaster.pid"))) {
      try {
        run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      } catch (e) {
        console.error(e.message);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    run("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-instructions"]);
    const port = await freePort();
    const up = () => run("pg_ctl", ["-D", data, "-l", log, "-w", "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, "start"]);
    up();
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      port,
      dir,
      stop,
      up,
      down: (mode = "fast") => run("pg_ctl", ["-D", data, "-m", mode, "-w", "stop"]),
      postmasterPid: () => Number(readFileSync(path.join(data, "postmaster.pid"), "utf8").split("\n")[0]),
    };
  } catch (e) {
    stop();
    throw e;
  }
}

async function main() {
  const [command, ...args] = process.argv.slice(2);
  if (!command) {
    console.error("usage: node scripts/postgres.mjs CMD [ARGS...]");
    process.exit(2);
  }
  const pg = await startPostgres();
  console.error(`postgres.mjs: PostgreSQL 15 at ${pg.url} (${pg.dir})`);
  let child;
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(signal, () => {
      if (child && child.exitCode === null) child.kill(signal);
      else {
        pg.stop();
        process.exit(1);
      }
    });
  }
  let status = 1;
  try {
    child = spawn(command, args, {
      stdio: "inherit",
      env: { ...process.env, DATABASE_URL: pg.url, TEST_DATABASE_URL: pg.url },
    });
    status = await new Promise((resolve) => {
      child.on("error", (e) => {
        console.error(`postgres.mjs: cannot run ${command}: ${e.message}`);
        resolve(127);
      });
      child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  } finally {
    pg.stop();
  }
  process.exit(status);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
