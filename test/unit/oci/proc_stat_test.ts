import assert from "node:assert/strict";
import {
  hasEnded,
  parseProcStat,
  readProcStat,
  readProcStatSync,
} from "../../../src/oci/proc_stat.ts";

Deno.test("parseProcStat() reads comm (spaces and parentheses too), state, pgrp and start time", () => {
  const fields = ["S", "1", "4242", "4242", "0", "-1", "4194560", "1", "0", "0", "0", "0", "0"];
  const text = `4243 (a (b) c) ${fields.join(" ")} 0 0 20 0 1 0 987654 123 45 0\n`;
  assert.deepEqual(parseProcStat(text), {
    comm: "a (b) c",
    state: "S",
    pgrp: 4242,
    startTime: "987654",
  });
  assert.equal(hasEnded(parseProcStat("1 (x) Z 0 1")), true);
  assert.equal(hasEnded(parseProcStat("1 (x) X 0 1")), true);
  assert.equal(hasEnded(parseProcStat("1 (x) R 0 1")), false);
});

Deno.test("readProcStat() reads this process; none for no pid or one that does not exist", async () => {
  const own = await readProcStat(Deno.pid);
  assert.ok(own && /^\d+$/.test(own.startTime) && own.comm.length > 0);
  assert.deepEqual(readProcStatSync(Deno.pid)?.startTime, own.startTime);
  assert.equal(await readProcStat(0), undefined);
  assert.equal(readProcStatSync(-1), undefined);
  assert.equal(await readProcStat(2 ** 30), undefined);
});
