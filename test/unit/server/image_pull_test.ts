/**
 * PullImage hands the pull to the image service and asks for a memory release after it.
 */
import assert from "node:assert/strict";
import { OcidError } from "../../../src/errors.ts";
import { createLogger } from "../../../src/log.ts";
import type { Deps } from "../../../src/server/deps.ts";
import { pullImage } from "../../../src/server/image_pull.ts";

Deno.test("pullImage() asks for a memory release after each pull, failed ones too", async () => {
  let asked = 0;
  const images = {
    pull(ref: string) {
      assert.equal(asked, ref === "busybox" ? 0 : 1, "released only once the pull is over");
      if (ref === "missing") return Promise.reject(new OcidError("NOT_FOUND", "no such image"));
      return Promise.resolve({ id: "sha256:abc", size: 1234 });
    },
  } as unknown as Deps["images"];
  const deps = {
    images,
    log: createLogger("error"),
    memory: { soon: () => asked++, close: () => {} },
  };
  const reply = await pullImage(deps, { image: { image: "busybox" } } as never);
  assert.equal(reply.image_ref, "sha256:abc");
  assert.equal(asked, 1);
  await assert.rejects(pullImage(deps, { image: { image: "missing" } } as never), /no such image/);
  assert.equal(asked, 2);
  await assert.rejects(pullImage(deps, { image: {} } as never), /Missing image.image/);
  assert.equal(asked, 2, "a request refused before pulling asks for nothing");
});
