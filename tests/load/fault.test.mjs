// A short fault run on real processes (issue 12, section 5): two cart-server instances (the
// debug binary `cargo test` built) on a throwaway PostgreSQL 15, cart-load's shoppers spread
// over both, and one instance killed with kill -9 in the middle. Its shoppers move to the
// other; cart-load reads every cart back and exits 0 only when no acknowledged add was lost.
// The full-length fault runs and the figures are `npm run load` (scripts/load.mjs).
import assert from "node:assert/strict";
import test from "node:test";

import { acknowledgedBetween, binaries, faultRun } from "../../scripts/load.mjs";

const KILL_AT = 3;

test("a kill -9 of one of two instances on PostgreSQL loses no acknowledged add and its shoppers carry on on the other", async () => {
  const bins = binaries({ release: false });
  const fault = {
    name: "kill -9 of one of two instances",
    kind: "postgres2",
    steps: [{ at: KILL_AT, run: (setup) => setup.instances[1].kill() }],
  };
  const record = await faultRun(fault, { bins, shoppers: 20, duration: "8s" });
  assert.equal(record.status, 0, `cart-load exited ${record.status}:\n${record.output}`);
  assert.equal(record.lost, 0);
  assert.ok(record.adds_checked > 0, "acknowledged adds were read back and checked");
  assert.ok(record.acknowledgedBeforeFault > 0, `changes acknowledged before the kill: ${record.timeline}`);
  assert.ok(record.acknowledgedAfterFault > 0, `changes acknowledged after the kill: ${record.timeline}`);
  assert.ok(record.errors > 0, "the killed instance's shoppers saw their connection fail");
  assert.equal(acknowledgedBetween({ acknowledged_per_second: record.timeline }, 0, Infinity), record.acknowledged);
});
