// The bench scenarios, written once for both stacks (bench/pages/ours.js and peer.js give each
// its `stack`: load, open, and a cart with add, flush, lines, units, onRemoteChange, close).
// Each scenario returns raw samples in milliseconds; bench/run.mjs computes p50/p95, drives
// the pages (one per repetition, storage cleared by the driver before each) and prints the table.

/** Yields to the event loop (one task), so background writes and messages run between samples. */
const yieldTask = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Milliseconds since the epoch with sub-millisecond precision: comparable across pages. */
const wallClock = () => performance.timeOrigin + performance.now();

/**
 * Opens a cart with `stack` from fixture `name` (a cart document written by bench/run.mjs,
 * served with its cart id in `x-cart-id`), or a new cart when `name` is undefined.
 */
async function openFixture(stack, name, options = {}) {
  if (!name) return stack.open(options);
  const { id, fixture } = await fetchFixture(name);
  return stack.open({ ...options, id, fixture });
}

/** Fixture `name`: its cart id and document bytes. */
async function fetchFixture(name) {
  const response = await fetch(`/fixtures/${name}.bin`);
  if (!response.ok) throw new Error(`fixture ${name}: HTTP ${response.status}`);
  return { id: response.headers.get("x-cart-id"), fixture: new Uint8Array(await response.arrayBuffer()) };
}

/** Times `count` runs of `work`, yielding between them. */
async function sample(count, work) {
  const samples = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await work(i);
    samples.push(performance.now() - start);
    await yieldTask();
  }
  return samples;
}

/** The sku of the `i`th timed add: the first five lines over and over (existing lines when the cart was filled first, so a full cart of 500 lines takes them too). */
const hotSku = (i) => `L-${i % 5}`;

/**
 * Installs `window.bench` for `stack`, and runs the cold start when the page was opened with
 * `?cold=<cartId>`: from the page's first script (`self.benchStart`, set inline by the HTML;
 * else `scriptStart`, when the bundle began) to the first listing. With `?early=<cartId>` (a
 * stack with `firstListing`: ours), the same to the listing remembered from the last visit,
 * shown before the module is ready, and to the module being ready.
 */
export function install(stack, scriptStart) {
  let cart; // the cart this page holds open for the multi-page scenarios
  const waiters = new Set(); // checks run at each remote change of `cart`
  const bench = {
    stack: stack.name,

    /** `addItem` alone (`flush: false`) or `addItem` + `flush()`, on a cart opened from `fixture` (none: a new cart). */
    async adds({ fixture: name, count, flush }) {
      await stack.load();
      const c = await openFixture(stack, name);
      await c.flush();
      const samples = await sample(count, async (i) => {
        c.add(hotSku(i));
        if (flush) await c.flush();
      });
      await c.close();
      return samples;
    },

    /** Bare Automerge changes writing what an add writes, on the document of `fixture` (the peer stack only). */
    async bareAdds({ fixture: name, count }) {
      await stack.load();
      const doc = await stack.bare({ fixture: name && (await fetchFixture(name)).fixture });
      return sample(count, (i) => doc.add(hotSku(i)));
    },

    /** The listing of a cart opened from `fixture`, `count` times; checks it has `lines` lines. */
    async listing({ fixture: name, count, lines }) {
      await stack.load();
      const c = await openFixture(stack, name);
      const listed = c.lines().length;
      if (listed !== lines) throw new Error(`${stack.name}: listed ${listed} lines, expected ${lines}`);
      const samples = await sample(count, () => c.lines());
      await c.close();
      return samples;
    },

    /** Stores the cart of `fixture` durably and closes it (the setup page of the cold start). */
    async store({ fixture: name }) {
      await stack.load();
      const c = await openFixture(stack, name);
      await c.flush();
      await c.close();
    },

    /** Opens and keeps the cart `id` (a new one when omitted) with `server`/`key` when given. */
    async open({ id, fixture: name, server, key }) {
      await stack.load();
      cart = await openFixture(stack, name, { id, server, key });
      cart.onRemoteChange(() => waiters.forEach((check) => check()));
      await cart.flush();
      return { id: cart.id, key: cart.key };
    },
    /** One add to the open cart; resolves with the wall-clock time it started. */
    add(sku) {
      const start = wallClock();
      cart.add(sku);
      return start;
    },
    /** `count` adds of one unit to the lines `prefix0`..`prefix{lines-1}`, one task each. */
    async addMany({ count, lines, prefix }) {
      await sample(count, (i) => cart.add(`${prefix}${i % lines}`));
    },
    floor: idbFloor,
    flush: () => cart.flush(),
    /** Resolves once the server holds every local change (stacks that can tell; others at once). */
    synced: () => cart.sync?.(),
    /** The cart's status, for stacks that have one (else null). */
    status: () => cart.status?.() ?? null,
    units: () => cart.units(),
    close: () => cart.close(),
    /** Resolves with the wall-clock time the open cart first holds at least `units` units (checked at every remote change), or rejects after `ms`. */
    waitUnits({ units, ms }) {
      return new Promise((resolve, reject) => {
        let timer;
        const check = () => {
          if (cart.units() < units) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(wallClock());
        };
        timer = setTimeout(() => {
          waiters.delete(check);
          const status = cart.status ? `; status ${JSON.stringify(cart.status())}` : "";
          reject(new Error(`${stack.name}: ${cart.units()} units after ${ms} ms, expected ${units}${status}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
  };
  window.bench = bench;

  const query = new URLSearchParams(location.search);
  const cold = query.get("cold");
  const early = query.get("early");
  if (early) {
    window.coldStart = (async () => {
      const start = self.benchStart ?? scriptStart;
      const { listedAt, listed, readyAt } = await stack.firstListing({ id: early, lines: Number(query.get("lines")) });
      return { totalMs: listedAt - start, readyMs: readyAt - start, lines: listed };
    })();
  } else if (cold) {
    window.coldStart = (async () => {
      const { importMs, initMs } = await stack.load();
      const opening = performance.now();
      const c = await stack.open({ id: cold });
      const listing = performance.now();
      const listed = c.lines().length;
      const end = performance.now();
      return { importMs, initMs, openMs: listing - opening, listMs: end - listing, totalMs: end - (self.benchStart ?? scriptStart), lines: listed };
    })();
  }
}

/** The floor: write transactions of one 600-byte put each (about an add's chunk), with `durability`. */
export async function idbFloor({ durability, count }) {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open("bench-floor", 1);
    request.onupgradeneeded = () => request.result.createObjectStore("chunks");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const value = crypto.getRandomValues(new Uint8Array(600));
  const samples = await sample(count, (i) => new Promise((resolve, reject) => {
    const transaction = db.transaction("chunks", "readwrite", { durability });
    transaction.objectStore("chunks").put(value, ["bench", i]);
    transaction.oncomplete = resolve;
    transaction.onabort = () => reject(transaction.error);
  }));
  db.close();
  return samples;
}
