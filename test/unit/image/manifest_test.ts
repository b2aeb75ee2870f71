import assert from "node:assert/strict";
import { NotFoundError, OcidError } from "../../../src/errors.ts";
import {
  type ImageIndex,
  layerCompression,
  parseManifest,
  selectPlatform,
} from "../../../src/image/manifest.ts";
import { chainIds, sha256Digest } from "../../../src/image/digest.ts";
import { basicCredentials, parseChallenge } from "../../../src/image/auth.ts";

const d = (c: string) => `sha256:${c.repeat(64)}`;
const index: ImageIndex = {
  kind: "index",
  mediaType: "application/vnd.oci.image.index.v1+json",
  manifests: [
    { mediaType: "m", digest: d("1"), size: 1, platform: { os: "linux", architecture: "amd64" } },
    {
      mediaType: "m",
      digest: d("2"),
      size: 1,
      platform: { os: "linux", architecture: "arm", variant: "v7" },
    },
    { mediaType: "m", digest: d("3"), size: 1, platform: { os: "linux", architecture: "arm64" } },
    { mediaType: "m", digest: d("4"), size: 1, platform: { os: "windows", architecture: "amd64" } },
  ],
};

Deno.test("selectPlatform() picks os, architecture and variant", () => {
  const pick = (architecture: string, variant?: string) =>
    selectPlatform(index, {
      name: "x",
      platform: { os: "linux", architecture, ...(variant ? { variant } : {}) },
    }).digest;
  assert.equal(pick("amd64"), d("1"));
  assert.equal(pick("arm64", "v8"), d("3"));
  assert.equal(pick("arm", "v7"), d("2"));
  assert.throws(() => pick("s390x"), NotFoundError);
});

Deno.test("parseManifest() tells indexes from manifests and refuses schema 1", () => {
  const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const m = parseManifest(
    enc({ schemaVersion: 2, config: { digest: d("a"), size: 2 }, layers: [] }),
    {
      contentType: "application/vnd.docker.distribution.manifest.v2+json",
      name: "x",
    },
  );
  assert.equal(m.kind, "manifest");
  assert.equal(m.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
  assert.equal(parseManifest(enc({ manifests: [] }), { name: "x" }).kind, "index");
  assert.throws(
    () => parseManifest(enc({ schemaVersion: 1, fsLayers: [] }), { name: "x" }),
    (e: unknown) => e instanceof OcidError && e.code === "UNIMPLEMENTED",
  );
  assert.throws(
    () => parseManifest(enc({ schemaVersion: 2 }), { name: "x" }),
    /no config or layers/,
  );
});

Deno.test("layerCompression() reads the media type", () => {
  assert.equal(layerCompression("application/vnd.docker.image.rootfs.diff.tar.gzip"), "gzip");
  assert.equal(layerCompression("application/vnd.oci.image.layer.v1.tar+gzip"), "gzip");
  assert.equal(layerCompression("application/vnd.oci.image.layer.v1.tar+zstd"), "zstd");
  assert.equal(layerCompression("application/vnd.oci.image.layer.v1.tar"), "none");
});

Deno.test("chainIds() follows the OCI definition", () => {
  const [a, b] = [d("a"), d("b")];
  assert.deepEqual(chainIds([a, b]), [a, sha256Digest(`${a} ${b}`)]);
});

Deno.test("parseChallenge() reads a Bearer challenge with quoted params", () => {
  assert.deepEqual(
    parseChallenge(
      'Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"',
    ),
    {
      scheme: "bearer",
      params: {
        realm: "https://auth.example/token",
        service: "reg",
        scope: "repository:a/b:pull,push",
      },
    },
  );
  assert.equal(parseChallenge('Basic realm="x"')?.scheme, "basic");
  assert.equal(parseChallenge(null), undefined);
});

Deno.test("basicCredentials() reads username/password or the base64 auth field", () => {
  assert.deepEqual(basicCredentials({ username: "u", password: "p" }), ["u", "p"]);
  assert.deepEqual(basicCredentials({ auth: btoa("u:p:q") }), ["u", "p:q"]);
  assert.equal(basicCredentials({ registryToken: "t" }), undefined);
});
