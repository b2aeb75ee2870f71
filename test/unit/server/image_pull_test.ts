/**
 * PullImage hands the pull to the image service; any answered call, a pull's included, asks for
 * a memory release once it is answered (instrument()).
 */
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import { OcidError } from "../../../src/errors.ts";
import { createLogger } from "../../../src/log.ts";
import type { Deps } from "../../../src/server/deps.ts";
import { pullImage } from "../../../src/server/image_pull.ts";
import { instrument } from "../../../src/server/instrument.ts";
import { defaultConfig } from "../../../src/config/defaults.ts";

Deno.test("instrument() asks for a memory release after each answered call, failed ones too", async () => {
  let asked = 0;
  const images = {
    pull(ref: string) {
      assert.equal(asked, ref === "busybox" ? 0 : 1, "asked only once the call is answered");
      if (ref === "missing") return Promise.reject(new OcidError("NOT_FOUND", "no such image"));
      return Promise.resolve({ id: "sha256:abc", size: 1234 });
    },
  } as unknown as Deps["images"];
  const log = createLogger("error");
  const deps = { images, log, config: defaultConfig() };
  const handler = instrument(
    "PullImage",
    (req) => pullImage(deps, req as never),
    { logger: log, memory: { soon: () => asked++ } },
  );
  const call = (request: unknown) =>
    new Promise<{ err: grpc.ServiceError | null; reply: unknown }>((resolve) => {
      const fakeCall = { request, on() {} } as unknown as grpc.ServerUnaryCall<unknown, unknown>;
      handler(fakeCall, (err, reply) => resolve({ err: err as grpc.ServiceError | null, reply }));
    });
  const ok = await call({ image: { image: "busybox" } });
  assert.deepEqual(ok.reply, { image_ref: "sha256:abc" });
  assert.equal(asked, 1);
  const missing = await call({ image: { image: "missing" } });
  assert.match(String(missing.err?.details), /no such image/);
  assert.equal(asked, 2);
  const refused = await call({ image: {} });
  assert.match(String(refused.err?.details), /Missing image.image/);
  assert.equal(asked, 3, "a refused call is answered too");
});

Deno.test("pullImage() refuses a runtime handler the node does not have, and pulls nothing", async () => {
  const pulled: string[] = [];
  const images = {
    pull(ref: string) {
      pulled.push(ref);
      return Promise.resolve({ id: "sha256:abc", size: 1 });
    },
  } as unknown as Deps["images"];
  const deps = { images, log: createLogger("error"), config: defaultConfig() };
  const req = (runtime_handler: string) => ({ image: { image: "busybox", runtime_handler } });
  await assert.rejects(
    pullImage(deps, req("kata") as never),
    (e: unknown) =>
      e instanceof OcidError && e.code === "INVALID_ARGUMENT" &&
      /Unknown image.runtime_handler "kata"; configured: "runc"/.test(e.message),
  );
  assert.deepEqual(pulled, []);
  assert.deepEqual(await pullImage(deps, req("runc") as never), { image_ref: "sha256:abc" });
  assert.deepEqual(await pullImage(deps, req("") as never), { image_ref: "sha256:abc" });
});
