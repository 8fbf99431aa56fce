// First visit (bench scenario "first durable add"): the peer's page, automerge-repo 2.5.6 with
// its IndexedDB storage and BroadcastChannel adapters, as bench/pages/first-add-ours.js.
import { Repo, initializeWasm } from "@automerge/automerge-repo/slim";
import { IndexedDBStorageAdapter } from "@automerge/automerge-repo-storage-indexeddb";
import { BroadcastChannelNetworkAdapter } from "@automerge/automerge-repo-network-broadcastchannel";
import { addLine } from "./peer-cart.js";

window.firstAdd = (async () => {
  await initializeWasm();
  const repo = new Repo({ storage: new IndexedDBStorageAdapter(), network: [new BroadcastChannelNetworkAdapter()] });
  const handle = repo.create();
  handle.change((doc) => addLine(doc, "FIRST-1"));
  await repo.flush();
  return performance.now();
})();
