// The early cart's outbox: adds taken before the wasm module was ready, and the listing the
// cart showed last, kept per cart in their own IndexedDB database `offline-cart-outbox`
// (stores `adds`, keyed [cartId, at, seq, tag], and `listings`, keyed cartId). When IndexedDB
// cannot be opened or a write fails, localStorage takes over (`offline-cart-outbox:<cartId>`,
// a JSON array), then page memory. Reads take IndexedDB's and localStorage's entries together,
// so nothing written to the fallback is forgotten. Every write is queued behind the previous
// one, so `flush()` (the queue's tail) resolves once every earlier write is durable: IndexedDB
// writes ask for `durability: "strict"`, as the wasm cart's do.

const DB = 'offline-cart-outbox';
const OPEN_TIMEOUT_MS = 5000;
const lsKey = (kind, cartId) => `offline-cart-${kind}:${cartId}`;

const request = (r) =>
  new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
const done = (tx) =>
  new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = tx.onerror = () => reject(tx.error ?? new Error('the IndexedDB transaction was aborted'));
  });

function openDb() {
  return new Promise((resolve, reject) => {
    // Throws where there is no IndexedDB (Node), rejecting before any timer is left running.
    const r = indexedDB.open(DB, 1);
    const timer = setTimeout(() => reject(new Error(`IndexedDB did not open within ${OPEN_TIMEOUT_MS} ms`)), OPEN_TIMEOUT_MS);
    r.onupgradeneeded = () => {
      r.result.createObjectStore('adds');
      r.result.createObjectStore('listings');
    };
    r.onsuccess = () => {
      clearTimeout(timer);
      resolve(r.result);
    };
    r.onerror = () => {
      clearTimeout(timer);
      reject(r.error);
    };
    r.onblocked = () => {
      clearTimeout(timer);
      reject(new Error('IndexedDB is blocked by another tab'));
    };
  });
}

const lsRead = (key) => {
  try {
    return JSON.parse(localStorage.getItem(key)) ?? undefined;
  } catch {
    return undefined;
  }
};

let dbPromise;

/** The outbox and remembered listing of one cart. */
export class Outbox {
  /** `storage`: the cart's preferred storage ("indexeddb" by default, "localstorage", "memory"). */
  constructor(cartId, storage = 'indexeddb', onFallback = () => {}) {
    this.cartId = cartId;
    this.kind = storage;
    this.onFallback = onFallback;
    this.memory = [];
    this.tail = Promise.resolve();
    if (storage === 'indexeddb') {
      this.db = (dbPromise ??= openDb());
      this.db.catch((error) => this.#fallBack('indexeddb', error));
    }
  }

  /** Moves on from `from` to the next storage, unless that happened already. */
  #fallBack(from, error) {
    if (this.kind !== from || from === 'memory') return;
    this.kind = from === 'indexeddb' ? 'localstorage' : 'memory';
    this.onFallback(`the outbox could not use ${from} (${error?.message ?? error}); early adds go to ${this.kind}`);
  }

  /** Queues `write` behind earlier writes; retries it on the next storage when it fails. */
  #queue(write) {
    const attempt = async () => {
      for (;;) {
        const kind = this.kind;
        try {
          return await write(kind);
        } catch (error) {
          if (kind === 'memory') throw error;
          this.#fallBack(kind, error);
        }
      }
    };
    const result = this.tail.then(attempt);
    this.tail = result.catch(() => {});
    return result;
  }

  /** Resolves once every write queued so far is done. */
  flush() {
    return this.tail;
  }

  #lsUpdate(change) {
    const key = lsKey('outbox', this.cartId);
    const next = change(lsRead(key) ?? []);
    if (next.length) localStorage.setItem(key, JSON.stringify(next));
    else localStorage.removeItem(key);
  }

  /** Stores `entry` ({ key, tag, at, item }); resolves once it is durable. */
  put(entry) {
    return this.#queue(async (kind) => {
      if (kind === 'indexeddb') {
        const db = await this.db;
        const tx = db.transaction('adds', 'readwrite', { durability: 'strict' });
        tx.objectStore('adds').put(entry, entry.key);
        await done(tx);
      } else if (kind === 'localstorage') {
        this.#lsUpdate((entries) => [...entries, entry]);
      } else {
        this.memory.push(entry);
      }
    });
  }

  /** Forgets `entries` wherever they are stored. */
  remove(entries) {
    const keys = new Set(entries.map((entry) => JSON.stringify(entry.key)));
    const kept = (list) => list.filter((entry) => !keys.has(JSON.stringify(entry.key)));
    return this.#queue(async (kind) => {
      this.memory = kept(this.memory);
      if (kind === 'memory') return;
      if (lsRead(lsKey('outbox', this.cartId))) this.#lsUpdate(kept);
      if (kind === 'indexeddb') {
        const db = await this.db;
        const tx = db.transaction('adds', 'readwrite', { durability: 'strict' });
        for (const entry of entries) tx.objectStore('adds').delete(entry.key);
        await done(tx);
      }
    });
  }

  /** `{ entries, listing }`: every stored entry of this cart in order, and the remembered lines (or []). */
  read() {
    return this.#queue(async (kind) => {
      let entries = [...this.memory, ...(kind !== 'memory' ? lsRead(lsKey('outbox', this.cartId)) ?? [] : [])];
      let listing = kind !== 'memory' ? lsRead(lsKey('listing', this.cartId)) : undefined;
      if (kind === 'indexeddb') {
        const db = await this.db;
        const tx = db.transaction(['adds', 'listings'], 'readonly');
        const range = IDBKeyRange.bound([this.cartId], [this.cartId, []]);
        const [stored, remembered] = await Promise.all([request(tx.objectStore('adds').getAll(range)), request(tx.objectStore('listings').get(this.cartId))]);
        entries = [...stored, ...entries];
        listing = remembered ?? listing;
      }
      return { entries: sortEntries(entries), listing: Array.isArray(listing) ? listing : [] };
    });
  }

  /** Remembers `lines` (the cart's `items()`) for the next visit's early cart. */
  saveListing(lines) {
    return this.#queue(async (kind) => {
      if (kind === 'indexeddb') {
        const db = await this.db;
        const tx = db.transaction('listings', 'readwrite');
        tx.objectStore('listings').put(lines, this.cartId);
        await done(tx);
      } else if (kind === 'localstorage') {
        localStorage.setItem(lsKey('listing', this.cartId), JSON.stringify(lines));
      }
    });
  }
}

/** Entries in the order they were made, each once. */
export function sortEntries(entries) {
  const byKey = new Map(entries.map((entry) => [JSON.stringify(entry.key), entry]));
  const order = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  // Keys are [cartId, at, seq, tag]: by time, then by the page's counter.
  return [...byKey.values()].sort((a, b) => order(a.key[1], b.key[1]) || order(a.key[2], b.key[2]) || order(a.key[3], b.key[3]));
}
