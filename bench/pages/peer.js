// The peer in the bench (bench/pages/harness.js): @automerge/automerge-repo 2.5.6 with its
// IndexedDB storage, BroadcastChannel and WebSocket adapters. The slim entry and an explicit
// initializeWasm keep the .wasm a separate file (like ours) and time import and init apart.
import { install } from "./harness.js";
import { addLine, lines } from "./peer-cart.js";

const scriptStart = performance.now();
let loaded;

install({
  name: "automerge-repo",
  load() {
    loaded ??= (async () => {
      const start = performance.now();
      const module = await import(/* webpackChunkName: "automerge-repo" */ "./peer-stack.js");
      const imported = performance.now();
      await module.initializeWasm();
      return { module, importMs: imported - start, initMs: performance.now() - imported };
    })();
    return loaded;
  },
  /**
   * The reference an add is held to: a bare `Automerge.change` writing the same keys (no repo,
   * no storage, no network) on a document loaded from `fixture`.
   */
  async bare({ fixture }) {
    const { module } = await loaded;
    const { Automerge } = module;
    let doc = fixture ? Automerge.load(fixture) : Automerge.init();
    return {
      add(sku) {
        doc = Automerge.change(doc, (d) => addLine(d, sku));
      },
    };
  },
  async open({ id, fixture, server }) {
    const { module } = await loaded;
    const { Repo, IndexedDBStorageAdapter, BroadcastChannelNetworkAdapter, WebSocketClientAdapter } = module;
    const network = [new BroadcastChannelNetworkAdapter()];
    if (server) network.push(new WebSocketClientAdapter(server));
    const repo = new Repo({ storage: new IndexedDBStorageAdapter(), network });
    let handle;
    if (fixture) handle = repo.import(fixture, id ? { docId: id } : undefined);
    else if (id) handle = await findWithRetry(repo, id);
    else handle = repo.create();
    return {
      id: handle.documentId,
      key: undefined,
      add: (sku) => handle.change((doc) => addLine(doc, sku)),
      flush: () => repo.flush(),
      lines: () => lines(handle.doc()),
      units: () => lines(handle.doc()).reduce((sum, line) => sum + line.quantity, 0),
      onRemoteChange: (callback) => handle.on("change", callback),
      async close() {
        await repo.flush();
        await repo.shutdown();
      },
    };
  },
}, scriptStart);

/** `repo.find(id)`, asked again while the document is unavailable (not on the server yet). */
async function findWithRetry(repo, id) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await repo.find(id);
    } catch (error) {
      if (attempt >= 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
