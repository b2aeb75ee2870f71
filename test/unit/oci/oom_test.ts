import assert from "node:assert/strict";
import {
  capEffHas,
  clampOomScoreAdj,
  hasCapSysResource,
  ownOomScoreAdj,
} from "../../../src/oci/oom.ts";

Deno.test("clampOomScoreAdj() keeps a value at or above the daemon's own when restricted", () => {
  assert.equal(clampOomScoreAdj(-998, -500, true), -500);
  assert.equal(clampOomScoreAdj(100, -500, true), 100);
  assert.equal(clampOomScoreAdj(-998, -500, false), -998);
});

Deno.test("clampOomScoreAdj() clamps into [-1000, 1000]", () => {
  assert.equal(clampOomScoreAdj(5000, 0, false), 1000);
  assert.equal(clampOomScoreAdj(-5000, -1000, true), -1000);
  assert.equal(clampOomScoreAdj(1.7, 0, false), 1);
});

Deno.test("capEffHas() reads a bit of CapEff", () => {
  const status = "Name:\tdeno\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\n";
  assert.equal(capEffHas(status, 24), false); // CAP_SYS_RESOURCE cleared
  assert.equal(capEffHas(status, 21), true);
  assert.equal(capEffHas(status, 40), true);
  assert.equal(capEffHas("CapEff:\t000001ffffffffff\n", 24), true);
  assert.equal(capEffHas("no caps here", 0), false);
});

Deno.test("ownOomScoreAdj() and hasCapSysResource() read this process", () => {
  const own = ownOomScoreAdj();
  assert.ok(own >= -1000 && own <= 1000);
  const status = Deno.readTextFileSync("/proc/self/status");
  assert.equal(hasCapSysResource(), capEffHas(status, 24));
});
