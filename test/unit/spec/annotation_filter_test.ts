import assert from "node:assert/strict";
import { filterUserAnnotations, requestAnnotations } from "../../../src/spec/annotation_filter.ts";

const HOSTILE = {
  "org.systemd.property.CPUQuota": "1%",
  "run.oci.keep_original_groups": "1",
  "run.oci.hooks.stdout": "/tmp/x",
  "io.ocid.stop-signal": "SIGKILL",
  "io.kubernetes.cri.container-type": "sandbox",
  "example.com/team": "a",
  "io.kubernetes.container.hash": "abc",
  "org.systemd.propertyless": "no dot after property: not systemd's",
  "Run.OCI.keep_original_groups": "case differs: runtimes match case",
};

Deno.test("filterUserAnnotations() drops the keys runtimes and ocid act on", () => {
  const { kept, dropped } = filterUserAnnotations(HOSTILE, { allowed: [] });
  assert.deepEqual(dropped, [
    "org.systemd.property.CPUQuota",
    "run.oci.keep_original_groups",
    "run.oci.hooks.stdout",
    "io.ocid.stop-signal",
    "io.kubernetes.cri.container-type",
  ]);
  assert.deepEqual(kept, {
    "example.com/team": "a",
    "io.kubernetes.container.hash": "abc",
    "org.systemd.propertyless": "no dot after property: not systemd's",
    "Run.OCI.keep_original_groups": "case differs: runtimes match case",
  });
});

Deno.test("filterUserAnnotations() lets through what the allow list names, by prefix", async (t) => {
  await t.step("a whole key", () => {
    const { kept, dropped } = filterUserAnnotations(HOSTILE, {
      allowed: ["run.oci.keep_original_groups"],
    });
    assert.equal(kept["run.oci.keep_original_groups"], "1");
    assert.ok(dropped.includes("run.oci.hooks.stdout"));
  });
  await t.step("a prefix", () => {
    const { kept, dropped } = filterUserAnnotations(HOSTILE, { allowed: ["run.oci."] });
    assert.equal(kept["run.oci.keep_original_groups"], "1");
    assert.equal(kept["run.oci.hooks.stdout"], "/tmp/x");
    assert.deepEqual(dropped, [
      "org.systemd.property.CPUQuota",
      "io.ocid.stop-signal",
      "io.kubernetes.cri.container-type",
    ]);
  });
  await t.step("an empty entry allows nothing", () => {
    assert.equal(filterUserAnnotations(HOSTILE, { allowed: [""] }).dropped.length, 5);
  });
});

Deno.test("filterUserAnnotations() changes nothing of a plain set and leaves its input alone", () => {
  const input = { a: "1", "example.com/b": "2" };
  const copy = structuredClone(input);
  assert.deepEqual(filterUserAnnotations(input, { allowed: [] }), { kept: copy, dropped: [] });
  assert.deepEqual(input, copy);
});

Deno.test("requestAnnotations() reports the dropped keys, and only when there are any", () => {
  const heard: string[][] = [];
  const onDroppedAnnotations = (keys: string[]) => heard.push(keys);
  assert.deepEqual(requestAnnotations({ a: "1" }, { onDroppedAnnotations }), { a: "1" });
  assert.deepEqual(
    requestAnnotations({ a: "1", "run.oci.x": "y" }, { onDroppedAnnotations }),
    { a: "1" },
  );
  assert.deepEqual(heard, [["run.oci.x"]]);
});
