import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../../src/errors.ts";
import { formatReference, parseReference } from "../../../src/image/reference.ts";

const D = "sha256:" + "a".repeat(64);

Deno.test("parseReference() normalises names as kubelet and crictl expect", () => {
  const cases: [string, string][] = [
    ["busybox", "docker.io/library/busybox:latest"],
    ["busybox:1.36", "docker.io/library/busybox:1.36"],
    ["library/busybox", "docker.io/library/busybox:latest"],
    ["docker.io/busybox", "docker.io/library/busybox:latest"],
    ["index.docker.io/library/busybox", "docker.io/library/busybox:latest"],
    ["user/app:v1", "docker.io/user/app:v1"],
    ["quay.io/a/b/c:tag", "quay.io/a/b/c:tag"],
    ["localhost/x", "localhost/x:latest"],
    ["127.0.0.1:5000/x/y:2", "127.0.0.1:5000/x/y:2"],
    ["host:5000/x", "host:5000/x:latest"],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`busybox:1@${D}`, `docker.io/library/busybox:1@${D}`],
  ];
  for (const [input, want] of cases) {
    assert.equal(formatReference(parseReference(input)), want, input);
  }
});

Deno.test("parseReference() splits registry, repository, tag and digest", () => {
  assert.deepEqual(parseReference(`127.0.0.1:5000/a/b@${D}`), {
    registry: "127.0.0.1:5000",
    repository: "a/b",
    digest: D,
  });
});

Deno.test("parseReference() rejects malformed references", () => {
  for (const bad of ["", "UPPER", "a b", "x@sha256:12", "x:", "x:-bad", "/x", "a//b", " x"]) {
    assert.throws(() => parseReference(bad), InvalidArgumentError, JSON.stringify(bad));
  }
});

Deno.test("parseReference() rejects a registry port outside 1-65535", () => {
  assert.equal(parseReference("[::1]:65535/x").registry, "[::1]:65535");
  for (const bad of ["127.0.0.1:99999/x:1", "host:0/x", "[::1]:70000/x"]) {
    assert.throws(
      () => parseReference(bad),
      (e: unknown) => e instanceof InvalidArgumentError && /is not 1 to 65535/.test(e.message),
      bad,
    );
  }
});

Deno.test("parseReference() rejects names over 255 characters without echoing them whole", () => {
  assert.doesNotThrow(() => parseReference(`r.io/${"a".repeat(250)}`));
  assert.throws(() => parseReference(`r.io/${"a".repeat(251)}`), InvalidArgumentError);
  const huge = "x".repeat(1 << 20);
  assert.throws(() => parseReference(huge), (e: Error) => e.message.length < 1000);
});
