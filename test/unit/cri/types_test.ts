/**
 * Keeps `src/cri/types.ts` in step with `proto/api.proto`, and checks at compile time that the
 * decoded and encodable shapes fit together the way handlers rely on.
 */
import assert from "node:assert/strict";
import { formatTypeScript, generateTypes } from "../../../src/cri/gen_types.ts";
import { loadCri } from "../../../src/cri/proto.ts";
import { loadCriDescriptors } from "../../../src/cri/proto_descriptors.ts";
import type * as cri from "../../../src/cri/types.ts";

Deno.test("src/cri/types.ts is what gen_types.ts generates from proto/api.proto", async () => {
  const expected = await formatTypeScript(generateTypes(loadCriDescriptors()));
  const actual = await Deno.readTextFile(new URL("../../../src/cri/types.ts", import.meta.url));
  assert.ok(
    actual === expected,
    "src/cri/types.ts is stale: run `deno run -A src/cri/gen_types.ts`",
  );
});

Deno.test("generateTypes() covers every message and enum of the definition", () => {
  const source = generateTypes(loadCriDescriptors());
  for (const [fullName, def] of Object.entries(loadCriDescriptors())) {
    const name = fullName.slice("runtime.v1.".length);
    const format = "format" in def ? String(def.format) : "";
    if (!format) {
      assert.match(source, new RegExp(`export interface ${name}Rpcs \\{`));
    } else if (format.endsWith("EnumDescriptorProto")) {
      assert.match(source, new RegExp(`export type ${name} =`));
    } else {
      assert.match(source, new RegExp(`export (interface|type) ${name}\\b`));
      assert.match(source, new RegExp(`export (interface|type) ${name}Init\\b`));
    }
  }
  assert.match(source, /export type ProfileType =/);
});

// Compile-time checks: `deno test` type-checks this file, so a wrong shape fails the run.
type Assert<T extends true> = T;
type Extends<A, B> = [A] extends [B] ? true : false;

export type DecodedFitsInit = Assert<
  Extends<cri.PodSandboxConfig, cri.PodSandboxConfigInit>
>;
export type StatusFitsInit = Assert<Extends<cri.ContainerStatus, cri.ContainerStatusInit>>;
export type Int64IsString = Assert<Extends<cri.PodSandboxStatus["created_at"], string>>;
export type Int64InitTakesNumber = Assert<
  Extends<number, NonNullable<cri.PodSandboxStatusInit["created_at"]>>
>;
export type SubMessageIsNullable = Assert<Extends<null, cri.PodSandboxConfig["linux"]>>;
export type EnumIsNames = Assert<
  Extends<cri.PodSandboxState, "SANDBOX_READY" | "SANDBOX_NOTREADY">
>;
export type RpcMapRequest = Assert<
  Extends<cri.RuntimeServiceRpcs["RunPodSandbox"]["request"], cri.RunPodSandboxRequest>
>;
export type RpcMapStream = Assert<
  Extends<cri.RuntimeServiceRpcs["GetContainerEvents"]["responseStream"], true>
>;

Deno.test("a handler may return a partial response with int64 as bigint or number", () => {
  const response: cri.PodSandboxStatusResponseInit = {
    status: { id: "abc", state: "SANDBOX_READY", created_at: 1_700_000_000_123_456_789n },
    timestamp: 42,
  };
  const method = loadCri().runtimeService.PodSandboxStatus;
  assert.ok(method);
  const decoded = method.responseDeserialize(
    method.responseSerialize(response),
  ) as cri.PodSandboxStatusResponse;
  assert.equal(decoded.status?.created_at, "1700000000123456789");
  assert.equal(decoded.status?.network, null);
  assert.deepEqual(decoded.containers_statuses, []);
  assert.equal(decoded.timestamp, "42");
});
