import assert from "node:assert/strict";
import { cgroupDir, expandSlice, parentDir } from "../../../src/cgroups/mod.ts";

Deno.test("cgroupDir() keeps a cgroupfs path", () => {
  assert.equal(cgroupDir("/kubepods/pod1/ocid-abc"), "/kubepods/pod1/ocid-abc");
  assert.equal(cgroupDir("/ocid-abc"), "/ocid-abc");
  assert.equal(cgroupDir("kubepods//pod1/"), "/kubepods/pod1");
});

Deno.test("cgroupDir() expands a systemd path into slices and a scope", () => {
  assert.equal(
    cgroupDir("kubepods-besteffort-pod1.slice:ocid:abc"),
    "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/ocid-abc.scope",
  );
  assert.equal(cgroupDir("system.slice:ocid:abc"), "/system.slice/ocid-abc.scope");
  assert.equal(cgroupDir("-.slice:ocid:abc"), "/ocid-abc.scope");
});

Deno.test("expandSlice() refuses names that are not slices", () => {
  assert.throws(() => expandSlice("kubepods"), TypeError);
  assert.throws(() => expandSlice("a--b.slice"), TypeError);
});

Deno.test("parentDir() resolves a cgroupfs parent and a systemd slice", () => {
  assert.equal(parentDir("/kubepods/burstable/pod1", "cgroupfs"), "/kubepods/burstable/pod1");
  assert.equal(parentDir("kubepods-pod1.slice", "systemd"), "/kubepods.slice/kubepods-pod1.slice");
});
