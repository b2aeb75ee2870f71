import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { Buffer } from "node:buffer";
import { SignatureValidationError } from "../../../src/errors.ts";
import { parseReference } from "../../../src/image/reference.ts";
import {
  dockerScopes,
  identityMatches,
  parseSignaturePolicy,
  policyFor,
} from "../../../src/image/signature_policy.ts";
import {
  type CosignSignature,
  fetchCosignSignatures,
  signatureCheck,
} from "../../../src/image/sigstore.ts";
import { NotFoundError } from "../../../src/errors.ts";
import { cosignPayload, cosignSign } from "../../helpers/cosign.ts";
import { digestOf } from "../../helpers/images.ts";

const ec = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
const ed = generateKeyPairSync("ed25519");
const other = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
const pem = (k: typeof ec.publicKey) => k.export({ type: "spki", format: "pem" }) as string;
const KEYS: Record<string, string> = {
  "/keys/ec.pub": pem(ec.publicKey),
  "/keys/ed.pub": pem(ed.publicKey),
};
const readKey = (path: string) => {
  const k = KEYS[path];
  return k === undefined ? Promise.reject(new Error(`no such file "${path}"`)) : Promise.resolve(k);
};
const parse = (policy: unknown) => parseSignaturePolicy(JSON.stringify(policy), "/p.json", readKey);
const DIGEST = `sha256:${"a".repeat(64)}`;

Deno.test("dockerScopes(): image, repository, namespaces, host, wildcard domains", () => {
  assert.deepEqual(dockerScopes(parseReference("reg.example.com:5000/team/app/web:1")), [
    "reg.example.com:5000/team/app/web:1",
    "reg.example.com:5000/team/app/web",
    "reg.example.com:5000/team/app",
    "reg.example.com:5000/team",
    "reg.example.com:5000",
    "*.example.com",
    "*.com",
  ]);
  assert.deepEqual(dockerScopes(parseReference(`busybox@${DIGEST}`)), [
    `docker.io/library/busybox@${DIGEST}`,
    "docker.io/library/busybox",
    "docker.io/library",
    "docker.io",
    "*.io",
  ]);
});

Deno.test('policyFor(): the most specific docker scope, then the transport\'s "", then default', async () => {
  const policy = await parse({
    default: [{ type: "reject" }],
    transports: {
      docker: {
        "reg.example.com/team": [{ type: "insecureAcceptAnything" }],
        "reg.example.com/team/app:1": [{ type: "reject" }],
        "*.example.com": [{ type: "sigstoreSigned", keyPath: "/keys/ec.pub" }],
      },
      "docker-daemon": { "": [{ type: "insecureAcceptAnything" }] },
    },
  });
  const scope = (ref: string) => policyFor(policy, parseReference(ref)).scope;
  assert.equal(scope("reg.example.com/team/app:1"), "reg.example.com/team/app:1");
  assert.equal(scope("reg.example.com/team/app:2"), "reg.example.com/team");
  assert.equal(scope("mirror.example.com/x:1"), "*.example.com");
  assert.equal(scope("quay.io/x:1"), "default");
  const withAll = await parse({
    default: [{ type: "reject" }],
    transports: { docker: { "": [{ type: "insecureAcceptAnything" }] } },
  });
  assert.equal(policyFor(withAll, parseReference("quay.io/x:1")).scope, "docker");
});

Deno.test("parseSignaturePolicy() refuses what is not a policy, and keeps what ocid cannot check as a refusal", async () => {
  for (
    const [policy, why] of [
      [[], /expected an object/],
      [{}, /default must be a non-empty array/],
      [{ default: [] }, /default must be a non-empty array/],
      [{ default: [{ type: "acceptSome" }] }, /unknown requirement type "acceptSome"/],
      [{ default: [{ type: "sigstoreSigned" }] }, /exactly one of keyPath/],
      [{ default: [{ type: "sigstoreSigned", keyPath: "/keys/none.pub" }] }, /no such file/],
      [
        { default: [{ type: "sigstoreSigned", keyData: btoa("not a key") }] },
        /not a PEM public key/,
      ],
      [
        {
          default: [{
            type: "sigstoreSigned",
            keyPath: "/keys/ec.pub",
            signedIdentity: { type: "x" },
          }],
        },
        /unknown signedIdentity type "x"/,
      ],
      [
        { default: [{ type: "reject" }], transports: { docker: { "a.io": [] } } },
        /non-empty array/,
      ],
    ] as const
  ) {
    await assert.rejects(parse(policy), (err: Error) => {
      assert.match(err.message, /^Invalid signature policy "\/p.json": /);
      assert.match(err.message, why);
      return true;
    });
  }
  await assert.rejects(parseSignaturePolicy("{", "/p.json", readKey), /not JSON/);
  const kept = await parse({
    default: [{ type: "signedBy", keyType: "GPGKeys", keyPath: "/keys/gpg" }],
    transports: {
      docker: {
        "a.io/fulcio": [{ type: "sigstoreSigned", fulcio: { caPath: "/x" } }],
        "a.io/rekor": [{
          type: "sigstoreSigned",
          keyPath: "/keys/ec.pub",
          rekorPublicKeyPath: "/r",
        }],
        "a.io/remap": [{
          type: "sigstoreSigned",
          keyPath: "/keys/ec.pub",
          signedIdentity: { type: "remapIdentity", prefix: "a", signedPrefix: "b" },
        }],
        "a.io/future": [{ type: "sigstoreSigned", keyPath: "/keys/ec.pub", newRule: 1 }],
        "a.io/lax": [{ type: "insecureAcceptAnything", newRule: 1 }],
      },
    },
  });
  for (
    const ref of [
      "b.io/x:1",
      "a.io/fulcio:1",
      "a.io/rekor:1",
      "a.io/remap:1",
      "a.io/future:1",
      "a.io/lax:1",
    ]
  ) {
    assert.throws(
      () => signatureCheck(kept, parseReference(ref)),
      (err: unknown) => {
        assert.ok(err instanceof SignatureValidationError, String(err));
        assert.equal(err.code, "UNKNOWN");
        assert.match(
          err.message,
          /^SignatureValidationFailed: .* cannot be checked for .*: .*(not supported|does not know)/,
        );
        return true;
      },
      ref,
    );
  }
});

Deno.test("identityMatches(): containers/image's signedIdentity rules", () => {
  const tag = parseReference("reg.io/team/app:1");
  const byDigest = parseReference(`reg.io/team/app@${DIGEST}`);
  const cases: [Parameters<typeof identityMatches>[0], typeof tag, string, boolean][] = [
    [{ type: "matchRepoDigestOrExact" }, tag, "reg.io/team/app:1", true],
    [{ type: "matchRepoDigestOrExact" }, tag, "reg.io/team/app:2", false],
    [{ type: "matchRepoDigestOrExact" }, tag, "reg.io/team/app", false], // cosign's name-only
    [{ type: "matchRepoDigestOrExact" }, byDigest, "reg.io/team/app:7", true],
    [{ type: "matchRepoDigestOrExact" }, byDigest, "reg.io/team/other:7", false],
    [{ type: "matchRepository" }, tag, "reg.io/team/app", true],
    [{ type: "matchRepository" }, tag, "reg.io/team/other", false],
    [{ type: "matchExact" }, tag, "reg.io/team/app:1", true],
    [{ type: "matchExact" }, tag, "reg.io/team/app", false],
    [
      { type: "exactReference", dockerReference: "reg.io/golden/app:9" },
      tag,
      "reg.io/golden/app:9",
      true,
    ],
    [
      { type: "exactReference", dockerReference: "reg.io/golden/app:9" },
      tag,
      "reg.io/team/app:1",
      false,
    ],
    [
      { type: "exactRepository", dockerRepository: "reg.io/golden/app" },
      tag,
      "reg.io/golden/app:3",
      true,
    ],
    [{ type: "matchRepository" }, parseReference("busybox:1"), "docker.io/library/busybox", true],
    [{ type: "matchRepository" }, tag, "NOT A REFERENCE", false],
  ];
  for (const [identity, pulled, claimed, want] of cases) {
    assert.equal(identityMatches(identity, pulled, claimed), want, `${identity.type} ${claimed}`);
  }
});

Deno.test("signatureCheck(): a signature counts when it verifies and signs this digest for this identity", async () => {
  const policy = await parse({
    default: [{ type: "insecureAcceptAnything" }],
    transports: {
      docker: {
        "reg.io/signed": [{
          type: "sigstoreSigned",
          keyPaths: ["/keys/ec.pub", "/keys/ed.pub"],
          signedIdentity: { type: "matchRepository" },
        }],
        "reg.io/both": [
          {
            type: "sigstoreSigned",
            keyPath: "/keys/ec.pub",
            signedIdentity: { type: "matchRepository" },
          },
          {
            type: "sigstoreSigned",
            keyData: btoa(pem(ed.publicKey)),
            signedIdentity: { type: "matchRepository" },
          },
        ],
        "reg.io/closed": [{ type: "reject" }],
      },
    },
  });
  assert.equal(
    signatureCheck(policy, parseReference("reg.io/open/x:1")),
    undefined,
    "accepts anything",
  );
  assert.throws(
    () => signatureCheck(policy, parseReference("reg.io/closed/x:1")),
    /rejects "reg.io\/closed\/x:1"/,
  );
  const ref = parseReference("reg.io/signed/app:1");
  const check = signatureCheck(policy, ref)!;
  const good = cosignSign(ec.privateKey, cosignPayload("reg.io/signed/app", DIGEST));
  const run = (sigs: CosignSignature[]) => check(DIGEST, () => Promise.resolve(sigs));
  await run([good]);
  await run([cosignSign(ed.privateKey, cosignPayload("reg.io/signed/app:1", DIGEST))]);
  const failsWith = async (sigs: CosignSignature[], why: RegExp) => {
    await assert.rejects(run(sigs), (err: unknown) => {
      assert.ok(err instanceof SignatureValidationError, String(err));
      assert.match(
        err.message,
        /^SignatureValidationFailed: The signature policy "\/p.json" \(scope "reg.io\/signed"\)/,
      );
      assert.match(err.message, why);
      return true;
    });
  };
  await failsWith([], /the registry has none/);
  await failsWith(
    [cosignSign(other.privateKey, good.payload)],
    /does not verify with the policy's keys/,
  );
  await failsWith([{ ...good, signature: "not base64 of anything" }], /does not verify/);
  await failsWith([{
    payload: cosignPayload("reg.io/signed/app", `sha256:${"b".repeat(64)}`),
    signature: good.signature,
  }], /does not verify/);
  await failsWith(
    [cosignSign(ec.privateKey, cosignPayload("reg.io/signed/app", `sha256:${"b".repeat(64)}`))],
    /is for manifest sha256:b{64}/,
  );
  await failsWith(
    [cosignSign(ec.privateKey, cosignPayload("reg.io/other/app", DIGEST))],
    /identity "reg.io\/other\/app" does not match matchRepository/,
  );
  await failsWith([
    cosignSign(ec.privateKey, cosignPayload("reg.io/signed/app", DIGEST, "something else")),
  ], /not a "cosign container image signature"/);
  // One good signature among bad ones is enough.
  await run([cosignSign(other.privateKey, good.payload), good]);
  // Every requirement must hold: both keys.
  const both = signatureCheck(policy, parseReference("reg.io/both/app:1"))!;
  const sign2 = (k: typeof ec.privateKey) =>
    cosignSign(k, cosignPayload("reg.io/both/app", DIGEST));
  await assert.rejects(
    both(DIGEST, () => Promise.resolve([sign2(ec.privateKey)])),
    /no signature .* is accepted/,
  );
  await both(DIGEST, () => Promise.resolve([sign2(ec.privateKey), sign2(ed.privateKey)]));
  // Signatures are read only when a requirement needs them.
  let read = 0;
  await check(DIGEST, () => {
    read++;
    return Promise.resolve([good]);
  });
  assert.equal(read, 1);
});

Deno.test("fetchCosignSignatures(): none without the .sig tag; payloads must match their digests", async () => {
  const payload = cosignPayload("reg.io/a", DIGEST);
  const manifest = (layerDigest: string) =>
    new TextEncoder().encode(JSON.stringify({
      layers: [
        { digest: layerDigest, annotations: { "dev.cosignproject.cosign/signature": "c2ln" } },
        { digest: layerDigest }, // no signature: not one
      ],
    }));
  const source = (m: Uint8Array | undefined, blob: Uint8Array) => ({
    asked: [] as string[],
    getManifest(repo: string, ref: string) {
      this.asked.push(`${repo}:${ref}`);
      return m ? Promise.resolve({ bytes: m }) : Promise.reject(new NotFoundError("no"));
    },
    getBlob: () => Promise.resolve(new Blob([Buffer.from(blob)]).stream()),
  });
  const none = source(undefined, payload);
  assert.deepEqual(await fetchCosignSignatures(none, "a", DIGEST), []);
  assert.deepEqual(none.asked, [`a:sha256-${"a".repeat(64)}.sig`]);
  const found = await fetchCosignSignatures(
    source(manifest(digestOf(payload)), payload),
    "a",
    DIGEST,
  );
  assert.deepEqual(found.map((s) => [new TextDecoder().decode(s.payload), s.signature]), [
    [new TextDecoder().decode(payload), "c2ln"],
  ]);
  await assert.rejects(
    fetchCosignSignatures(source(manifest(`sha256:${"c".repeat(64)}`), payload), "a", DIGEST),
    /does not match its digest/,
  );
});
