import assert from "node:assert/strict";
import { OcidError } from "../../../src/errors.ts";
import { parseReference } from "../../../src/image/reference.ts";
import {
  hostListed,
  parseRegistriesConf,
  resolveEndpoints,
} from "../../../src/image/registries_conf.ts";

const CONF = `
unqualified-search-registries = ["docker.io"]

[[registry]]
prefix = "docker.io"
location = "docker.io"

[[registry.mirror]]
location = "127.0.0.1:5001/mirror"
insecure = true

[[registry.mirror]]
location = "mirror.example:443"

[[registry]]
prefix = "example.com/team"
location = "internal.example:5000/team"
insecure = true

[[registry]]
location = "bad.example"
blocked = true

[[registry]]
prefix = "*.digest.example"
mirror-by-digest-only = true
[[registry.mirror]]
location = "m.example"
`;

Deno.test("resolveEndpoints() lists mirrors in order, then upstream", () => {
  const conf = parseRegistriesConf(CONF);
  const eps = resolveEndpoints(parseReference("busybox"), { conf, insecureRegistries: [] });
  assert.deepEqual(eps, [
    {
      registry: "127.0.0.1:5001",
      repository: "mirror/library/busybox",
      insecure: true,
      mirror: true,
    },
    {
      registry: "mirror.example:443",
      repository: "library/busybox",
      insecure: false,
      mirror: true,
    },
    { registry: "docker.io", repository: "library/busybox", insecure: false, mirror: false },
  ]);
});

Deno.test("resolveEndpoints() rewrites a prefix to its location", () => {
  const conf = parseRegistriesConf(CONF);
  const eps = resolveEndpoints(parseReference("example.com/team/app:1"), {
    conf,
    insecureRegistries: [],
  });
  assert.deepEqual(eps, [
    { registry: "internal.example:5000", repository: "team/app", insecure: true, mirror: false },
  ]);
  // "example.com/teamwork" does not match the "example.com/team" prefix.
  const other = resolveEndpoints(parseReference("example.com/teamwork"), {
    conf,
    insecureRegistries: [],
  });
  assert.equal(other[0]!.registry, "example.com");
});

Deno.test("resolveEndpoints() refuses a blocked registry with PERMISSION_DENIED", () => {
  const conf = parseRegistriesConf(CONF);
  assert.throws(
    () => resolveEndpoints(parseReference("bad.example/x"), { conf, insecureRegistries: [] }),
    (err: unknown) => err instanceof OcidError && err.code === "PERMISSION_DENIED",
  );
});

Deno.test("resolveEndpoints() uses digest-only mirrors only for digests", () => {
  const conf = parseRegistriesConf(CONF);
  const byTag = resolveEndpoints(parseReference("r.digest.example/x:1"), {
    conf,
    insecureRegistries: [],
  });
  assert.deepEqual(byTag.map((e) => e.registry), ["r.digest.example"]);
  const byDigest = resolveEndpoints(parseReference(`r.digest.example/x@sha256:${"b".repeat(64)}`), {
    conf,
    insecureRegistries: [],
  });
  assert.deepEqual(byDigest.map((e) => e.registry), ["m.example", "r.digest.example"]);
});

Deno.test("resolveEndpoints() honours each mirror's pull-from-mirror", () => {
  const conf = parseRegistriesConf(`
[[registry]]
location = "up.example"
[[registry.mirror]]
location = "digests.example"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "tags.example"
pull-from-mirror = "tag-only"
[[registry.mirror]]
location = "any.example"
pull-from-mirror = "all"
`);
  const hosts = (ref: string) =>
    resolveEndpoints(parseReference(ref), { conf, insecureRegistries: [] }).map((e) => e.registry);
  assert.deepEqual(hosts("up.example/x:1"), ["tags.example", "any.example", "up.example"]);
  assert.deepEqual(hosts(`up.example/x@sha256:${"c".repeat(64)}`), [
    "digests.example",
    "any.example",
    "up.example",
  ]);
  for (
    const [text, why] of [
      [
        `[[registry]]\nlocation = "a.io"\n[[registry.mirror]]\nlocation = "m.io"\npull-from-mirror = "some"`,
        /must be one of all, digest-only, tag-only/,
      ],
      [
        `[[registry]]\nlocation = "a.io"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = "m.io"\npull-from-mirror = "all"`,
        /while its registry sets mirror-by-digest-only/,
      ],
    ] as const
  ) {
    assert.throws(() => parseRegistriesConf(text, "r.conf"), why);
  }
});

Deno.test("resolveEndpoints() marks configured insecure hosts for any port", () => {
  const eps = resolveEndpoints(parseReference("127.0.0.1:5000/x"), {
    conf: { registries: [] },
    insecureRegistries: ["localhost", "127.0.0.1"],
  });
  assert.equal(eps[0]!.insecure, true);
  assert.ok(hostListed("localhost:1234", ["localhost"]));
  assert.ok(!hostListed("example.com", ["localhost"]));
});

Deno.test("parseRegistriesConf() reads the V1 insecure and block tables", () => {
  const conf = parseRegistriesConf(`
[registries.insecure]
registries = ["old.example"]
[registries.block]
registries = ["evil.example"]
`);
  const eps = resolveEndpoints(parseReference("old.example/x"), { conf, insecureRegistries: [] });
  assert.equal(eps[0]!.insecure, true);
  assert.throws(() =>
    resolveEndpoints(parseReference("evil.example/x"), { conf, insecureRegistries: [] })
  );
});

Deno.test("parseRegistriesConf() rejects malformed TOML with the file name", () => {
  assert.throws(() => parseRegistriesConf("[[registry]\n", "/etc/r.conf"), /\/etc\/r\.conf/);
});
