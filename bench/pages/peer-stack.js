// What a page needs of @automerge/automerge-repo for a working cart, in one chunk: the repo
// (slim: the .wasm is a separate file, which initializeWasm() fetches and compiles from next
// to the bundle, where webpack emits it), its IndexedDB storage and its BroadcastChannel and
// WebSocket network adapters; and Automerge itself, for the bare change the adds are compared with.
export { Automerge, Repo, initializeWasm } from "@automerge/automerge-repo/slim";
export { IndexedDBStorageAdapter } from "@automerge/automerge-repo-storage-indexeddb";
export { BroadcastChannelNetworkAdapter } from "@automerge/automerge-repo-network-broadcastchannel";
export { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
