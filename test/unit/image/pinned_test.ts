import assert from "node:assert/strict";
import { isPinned, isPinnedPattern } from "../../../src/image/pinned.ts";
import { toCriImage } from "../../../src/server/image_status.ts";
import type { ImageRecord } from "../../../src/image/mod.ts";

Deno.test("isPinnedPattern() takes names, name* and *word*, as CRI-O's pinned_images", () => {
  for (const ok of ["registry.k8s.io/pause:3.10", "quay.io/critical/*", "*coredns*", "a"]) {
    assert.equal(isPinnedPattern(ok), true, ok);
  }
  for (const bad of ["", "*", "**", "*coredns", "a*b", "quay.io/*/x*", "a b"]) {
    assert.equal(isPinnedPattern(bad), false, bad);
  }
});

Deno.test("isPinned() matches any tag or digest: exact, prefix, keyword", () => {
  const names = [
    "registry.k8s.io/coredns/coredns:v1.11.1",
    "registry.k8s.io/coredns/coredns@sha256:abc",
  ];
  assert.equal(isPinned(names, ["registry.k8s.io/coredns/coredns:v1.11.1"]), true);
  assert.equal(isPinned(names, ["registry.k8s.io/coredns/coredns:v1.11"]), false);
  assert.equal(isPinned(names, ["registry.k8s.io/*"]), true);
  assert.equal(isPinned(names, ["docker.io/*"]), false);
  assert.equal(isPinned(names, ["*coredns*"]), true);
  assert.equal(isPinned(names, ["*sha256:abc*"]), true);
  assert.equal(isPinned(names, []), false);
});

Deno.test("toCriImage() reports pinned for the pause image and for a pinned_images match", () => {
  const rec = {
    id: "sha256:1",
    repoTags: ["quay.io/critical/agent:1"],
    repoDigests: [],
    size: 1,
    pinned: false,
  } as unknown as ImageRecord;
  assert.equal(toCriImage(rec, []).pinned, false);
  assert.equal(toCriImage(rec, ["quay.io/critical/*"]).pinned, true);
  assert.equal(toCriImage({ ...rec, pinned: true }, []).pinned, true);
});
