// automerge-repo's own sync server, as a team would deploy it instead of cart-server: the
// configuration of automerge/automerge-repo-sync-server (src/server.js) on
// @automerge/automerge-repo 2.5.6: a Repo with NodeWSServerAdapter over a `ws` server that an
// HTTP server upgrades, NodeFSStorageAdapter over a data directory, the peer id
// `storage-server-<hostname>`, and `sharePolicy: async () => false` (it announces nothing and
// answers what clients ask for by id). Only the HTTP framework differs: node:http instead of
// express, for the same upgrade and the same "is running" page.
//
//   node scripts/peer-sync-server.mjs [DATA_DIR]
//
// listens on a free loopback port (PORT overrides), prints `peer-sync-server listening on
// ws://127.0.0.1:PORT` and serves until SIGTERM or SIGINT. DATA_DIR (or the env var DATA_DIR)
// defaults to a temporary directory, removed at exit. Other scripts can `import {
// startPeerServer }` for one in their own process (bench/run.mjs does).
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Repo } from "@automerge/automerge-repo";
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket";
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs";
import { WebSocketServer } from "ws";

/**
 * Starts the sync server on 127.0.0.1:`port` (0: a free port) storing into `dataDir`, created
 * if missing. Resolves to `{ url, port, stop }`: `url` is ws://127.0.0.1:PORT (any path
 * upgrades), `stop()` shuts the Repo down and closes the sockets.
 */
export function startPeerServer({ dataDir, port = 0 }) {
  mkdirSync(dataDir, { recursive: true });
  const socket = new WebSocketServer({ noServer: true });
  const repo = new Repo({
    network: [new NodeWSServerAdapter(socket)],
    storage: new NodeFSStorageAdapter(dataDir),
    peerId: `storage-server-${hostname()}`,
    // As the sync server: it only syncs documents clients already know and ask for by id.
    sharePolicy: async () => false,
  });
  const server = createServer((request, response) => {
    response.end("👍 @automerge/automerge-repo-sync-server is running");
  });
  server.on("upgrade", (request, stream, head) => {
    socket.handleUpgrade(request, stream, head, (ws) => socket.emit("connection", ws, request));
  });
  return new Promise((resolve, reject) => {
    server.on("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const { port: bound } = server.address();
      resolve({
        url: `ws://127.0.0.1:${bound}`,
        port: bound,
        async stop() {
          // Repo.shutdown flushes every handle and throws "DocHandle is not ready" when a
          // document is still loading (seen at the end of a 1,000-shopper run); what was saved
          // is on disk either way, so the sockets still close.
          await repo.shutdown().catch((e) => console.error(`peer-sync-server: shutdown: ${e.message}`));
          socket.close();
          server.close();
          server.closeAllConnections();
        },
      });
    });
  });
}

async function main() {
  const given = process.argv[2] ?? process.env.DATA_DIR;
  const dataDir = given ?? mkdtempSync(path.join(tmpdir(), "peer-sync-server-"));
  const peer = await startPeerServer({ dataDir, port: Number(process.env.PORT ?? 0) });
  console.log(`peer-sync-server listening on ${peer.url}`);
  const exit = async () => {
    await peer.stop();
    if (!given) rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on("SIGTERM", exit);
  process.on("SIGINT", exit);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
