/**
 * The List responses (one repeated message field) encode each frozen entry once: a List handler
 * that answers the same frozen entry for an unchanged record has it encoded once, and the
 * response's bytes are what protobufjs makes of the whole message.
 */
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import { encodedEntry, loadCri } from "../../../src/cri/proto.ts";
import { loadCriDescriptors } from "../../../src/cri/proto_descriptors.ts";

type Method = grpc.MethodDefinition<unknown, unknown>;

function container(i: number): Record<string, unknown> {
  return {
    id: `c${i}`.padEnd(64, "0"),
    pod_sandbox_id: "p".padEnd(64, "1"),
    metadata: { name: `c${i}`, attempt: i },
    image: { image: "busybox:latest", user_specified_image: "" },
    image_ref: "sha256:" + "a".repeat(64),
    state: "CONTAINER_RUNNING",
    created_at: String(1_700_000_000_000_000_000n + BigInt(i)),
    labels: { app: "x", i: String(i) },
    annotations: {},
  };
}

const listContainers = () => loadCri().runtimeService.ListContainers as Method;
const byProtoLoader = () =>
  (loadCriDescriptors()["runtime.v1.RuntimeService"] as unknown as Record<string, Method>)
    .ListContainers!;

Deno.test("a List response's bytes are protobufjs's, frozen entries or not", () => {
  const items = Array.from({ length: 5 }, (_, i) => container(i));
  const mixed = items.map((c, i) => (i % 2 ? Object.freeze(c) : c));
  const want = byProtoLoader().responseSerialize({ containers: items });
  for (const containers of [items, mixed, mixed, []]) {
    const got = listContainers().responseSerialize({ containers });
    const expected = containers.length ? want : byProtoLoader().responseSerialize({});
    assert.deepEqual(new Uint8Array(got), new Uint8Array(expected));
  }
  assert.deepEqual(
    new Uint8Array(listContainers().responseSerialize({})),
    new Uint8Array(byProtoLoader().responseSerialize({})),
  );
  assert.deepEqual(
    listContainers().responseDeserialize(listContainers().responseSerialize({ containers: mixed })),
    byProtoLoader().responseDeserialize(want),
  );
});

Deno.test("a frozen List entry is encoded once; an unfrozen one every time", () => {
  const frozen = Object.freeze(container(1));
  const open = container(2);
  listContainers().responseSerialize({ containers: [frozen, open] });
  const first = encodedEntry(frozen);
  assert.ok(first, "the frozen entry's encoding is kept");
  assert.equal(encodedEntry(open), undefined, "an entry that may change is not");
  listContainers().responseSerialize({ containers: [frozen] });
  assert.equal(encodedEntry(frozen), first, "encoded once");
});

Deno.test("a List response with a bad entry fails as protobufjs fails", () => {
  for (const bad of [null, 5, "x"]) {
    assert.throws(
      () => listContainers().responseSerialize({ containers: [Object.freeze(container(1)), bad] }),
      TypeError,
    );
  }
});
