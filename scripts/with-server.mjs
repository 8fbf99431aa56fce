// with-server.mjs CMD [ARGS...]: runs CMD beside a real cart-server (see cart-server.mjs) with
// CART_SERVER_WS (its /sync URL, without key) and CART_SERVER_HTTP set, and beside a second one
// whose line limit is 3 (CART_SERVER_WS_MAX_LINES_3), for the tests of refused changes; then
// stops both and exits with CMD's status. The servers' logs are printed when CMD fails.
import { spawn } from "node:child_process";
import { ROOT, startCartServer } from "./cart-server.mjs";

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error("usage: node scripts/with-server.mjs CMD [ARGS...]");
  process.exit(2);
}

const server = await startCartServer();
const smallServer = await startCartServer({ env: { CART_SERVER_MAX_LINES: "3" } });
let status = 1;
try {
  const child = spawn(command, args, {
    cwd: ROOT,
    stdio: "inherit",
    env: {
      ...process.env,
      CART_SERVER_WS: server.ws(),
      CART_SERVER_HTTP: server.http,
      CART_SERVER_WS_MAX_LINES_3: smallServer.ws(),
    },
  });
  status = await new Promise((resolve) => child.on("exit", (code) => resolve(code ?? 1)));
} finally {
  if (status !== 0) {
    console.error(`---- cart-server log ----\n${server.log()}`);
    console.error(`---- cart-server (3 lines) log ----\n${smallServer.log()}`);
  }
  await Promise.all([server.stop(), smallServer.stop()]);
}
process.exit(status);
