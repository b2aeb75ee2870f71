/**
 * The node's image signature policy (`[image] signature_policy`, a containers-policy.json(5)
 * file; `signature_policy_dir` per pod namespace) against the real daemon and a real registry
 * (docker-registry) holding images and cosign-format signatures made here with node:crypto: a
 * pull of an image whose signature verifies goes through; an unsigned one, one signed by another
 * key, one whose signature is for another image, and one the policy rejects fail with UNKNOWN
 * "SignatureValidationFailed: ..." (the form the kubelet reads as its SignatureValidationFailed
 * reason) and store nothing; a namespace's own policy replaces the node's for its pods; SIGHUP
 * reads the policy again. Root only. Network: bridge "ocidt53", 10.234.53.0/24 (no pod runs).
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { call } from "../../src/cri/proto.ts";
import { listDir, pushBusybox, waitFor } from "../helpers/checks.ts";
import {
  cosignPayload,
  cosignSign,
  manifestDigest,
  pushCosignSignatures,
} from "../helpers/cosign.ts";
import { startDaemon } from "../helpers/daemon.ts";
import { startRegistry } from "../helpers/registry.ts";

const BRIDGE = "ocidt53";
const SUBNET = "10.234.53.0/24";
const SLOW = { deadlineMs: 60_000 };

Deno.test({
  name: "Signature policy: sigstore-signed images pull, the rest fail as SignatureValidationFailed",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const scratch = await Deno.makeTempDir({ prefix: "ocid-it53-" });
    await using registry = await startRegistry();
    const host = registry.host;
    const key = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const stranger = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const keyPath = join(scratch, "cosign.pub");
    await Deno.writeTextFile(
      keyPath,
      key.publicKey.export({ type: "spki", format: "pem" }) as string,
    );
    // it53/signed: signed with the key, as cosign names it (the repository, no tag).
    // it53/stranger: signed with another key. it53/copied: carries signed's signature (another
    // image's digest). it53/unsigned: none. it53/open: none, in a scope that needs none.
    const images: Record<string, string> = {};
    for (const name of ["signed", "stranger", "copied", "unsigned", "open", "other"]) {
      images[name] = await pushBusybox(host, `it53/${name}`);
    }
    const digest = (name: string) => manifestDigest(host, `it53/${name}`, "1");
    const signedDigest = await digest("signed");
    await pushCosignSignatures(host, "it53/signed", signedDigest, [
      cosignSign(key.privateKey, cosignPayload(`${host}/it53/signed`, signedDigest)),
    ]);
    const strangerDigest = await digest("stranger");
    await pushCosignSignatures(host, "it53/stranger", strangerDigest, [
      cosignSign(stranger.privateKey, cosignPayload(`${host}/it53/stranger`, strangerDigest)),
    ]);
    // The same busybox bytes: copied's manifest digest is signed's; sign another digest.
    const copiedDigest = await digest("copied");
    const elsewhere = `sha256:${"e".repeat(64)}`;
    await pushCosignSignatures(host, "it53/copied", copiedDigest, [
      cosignSign(key.privateKey, cosignPayload(`${host}/it53/copied`, elsewhere)),
    ]);

    const policy = (scopes: Record<string, unknown>) =>
      JSON.stringify({ default: [{ type: "reject" }], transports: { docker: scopes } });
    const needsKey = [{
      type: "sigstoreSigned",
      keyPath,
      signedIdentity: { type: "matchRepository" },
    }];
    const policyPath = join(scratch, "policy.json");
    await Deno.writeTextFile(
      policyPath,
      policy({
        [`${host}/it53`]: needsKey,
        [`${host}/it53/open`]: [{ type: "insecureAcceptAnything" }],
        [`${host}/it53/other:1`]: [{ type: "reject" }],
      }),
    );
    const policyDir = join(scratch, "namespaces");
    await Deno.mkdir(policyDir);
    await Deno.writeTextFile(
      join(policyDir, "relaxed.json"),
      JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }),
    );
    const imageTable = `\n[image]\nsignature_policy = ${JSON.stringify(policyPath)}\n` +
      `signature_policy_dir = ${JSON.stringify(policyDir)}\n`;
    const daemon = await startDaemon({ bridge: BRIDGE, subnet: SUBNET, config: imageTable });
    try {
      const { image } = daemon.clients;
      const blobsDir = join(daemon.dirs.root, "images", "blobs", "sha256");
      const stored = async () => ({
        images: (await call(image, "ListImages", {})).images.map((i) => i.id).sort(),
        blobs: await listDir(blobsDir).catch(() => []),
      });
      const pull = (ref: string, namespace?: string) =>
        call(image, "PullImage", {
          image: { image: ref },
          ...(namespace
            ? {
              sandbox_config: {
                metadata: { name: "p", uid: "u", namespace, attempt: 0 },
              },
            }
            : {}),
        }, SLOW);
      const refused = async (ref: string, why: RegExp, namespace?: string) => {
        const before = await stored();
        await assert.rejects(pull(ref, namespace), (err: grpc.ServiceError) => {
          assert.equal(err.code, grpc.status.UNKNOWN, err.details);
          assert.match(err.details, /^SignatureValidationFailed: The signature policy "/);
          assert.match(err.details, why);
          return true;
        });
        assert.deepEqual(await stored(), before, `${ref}: nothing is stored`);
      };

      await t.step("an image signed with the policy's key is pulled", async () => {
        const res = await pull(images.signed!);
        assert.match(res.image_ref, /^sha256:[0-9a-f]{64}$/);
        assert.match(daemon.output(), /Pulled image image=.*it53\/signed:1/);
      });

      await t.step(
        "unsigned, another key's, another image's signature, rejected: refused",
        async () => {
          await refused(images.unsigned!, /requires a sigstore signature .*the registry has none/);
          await refused(images.stranger!, /does not verify with the policy's keys/);
          await refused(images.copied!, new RegExp(`a signature is for manifest ${elsewhere}`));
          await refused(images.other!, /\(scope ".*\/it53\/other:1"\) rejects/);
          await refused(`${host}/elsewhere/busybox:1`, /\(scope "default"\) rejects/);
        },
      );

      await t.step("a scope that accepts anything, and a namespace's own policy", async () => {
        await pull(images.open!);
        await pull(images.unsigned!, "relaxed");
        // A namespace without a file of its own has the node's policy.
        await refused(images.stranger!, /does not verify/, "strict");
        await assert.rejects(pull(images.unsigned!, "../relaxed"), (err: grpc.ServiceError) => {
          assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
          return true;
        });
      });

      await t.step("SIGHUP reads the policy again; a broken one changes nothing", async () => {
        const reloads = () =>
          daemon.output().split("\n").filter((l) => /Configuration reload/.test(l)).length;
        const reload = async () => {
          const before = reloads();
          Deno.kill(daemon.pid, "SIGHUP");
          await waitFor("the reload", () => Promise.resolve(reloads() > before || undefined));
        };
        await Deno.writeTextFile(policyPath, "{ not json");
        await reload();
        assert.match(daemon.output(), /Configuration reload failed.*signature policy/);
        await refused(images.stranger!, /does not verify/);
        await Deno.writeTextFile(policyPath, policy({ "": [{ type: "insecureAcceptAnything" }] }));
        await reload();
        await pull(images.stranger!);
      });
    } finally {
      await daemon.cleanup();
      await Deno.remove(scratch, { recursive: true });
    }
  },
});
