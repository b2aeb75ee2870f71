/**
 * `loadCri()` builds the grpc-js service definitions with protobufjs alone: the same wire bytes
 * and decoded shapes as `@grpc/proto-loader`, without loading proto-loader (and its descriptor
 * of the whole file for every type) into the daemon.
 */
import assert from "node:assert/strict";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type * as grpc from "@grpc/grpc-js";
import { IMAGE_SERVICE_RPCS, loadCri, RUNTIME_SERVICE_RPCS } from "../../../src/cri/proto.ts";
import { loadCriDescriptors } from "../../../src/cri/proto_descriptors.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

type Method = grpc.MethodDefinition<unknown, unknown>;

function byProtoLoader(service: string, name: string): Method {
  const def = loadCriDescriptors()[`runtime.v1.${service}`] as unknown as Record<string, Method>;
  return def[name]!;
}

Deno.test("loadCri() has proto-loader's paths, streaming flags and original names", () => {
  const { runtimeService, imageService } = loadCri();
  for (
    const [service, names, ours] of [
      ["RuntimeService", RUNTIME_SERVICE_RPCS, runtimeService],
      ["ImageService", IMAGE_SERVICE_RPCS, imageService],
    ] as const
  ) {
    for (const name of names) {
      const a = ours[name] as Method;
      const b = byProtoLoader(service, name);
      assert.equal(a.path, b.path);
      assert.equal(a.requestStream, b.requestStream);
      assert.equal(a.responseStream, b.responseStream);
      assert.equal(a.originalName, b.originalName);
    }
  }
});

const SAMPLES: [string, string, Record<string, unknown>][] = [
  ["RuntimeService", "RunPodSandbox", {
    config: {
      metadata: { name: "p", namespace: "ns", uid: "u", attempt: 3 },
      hostname: "h",
      port_mappings: [{ protocol: "UDP", container_port: 53, host_port: 5353, host_ip: "" }],
      labels: { a: "b" },
      linux: {
        cgroup_parent: "/x",
        security_context: { namespace_options: { network: "NODE", pid: "POD" } },
        resources: { cpu_quota: "-1", memory_limit_in_bytes: "9007199254740993" },
      },
    },
    runtime_handler: "runc",
  }],
  ["RuntimeService", "ExecSync", { container_id: "c", cmd: ["echo", "ü"], timeout: "5" }],
  ["RuntimeService", "ContainerStats", {}],
  ["ImageService", "PullImage", { image: { image: "busybox", annotations: { k: "v" } } }],
];

Deno.test("loadCri() encodes and decodes like proto-loader, both ways", () => {
  const { runtimeService, imageService } = loadCri();
  for (const [service, name, request] of SAMPLES) {
    const ours = (service === "ImageService" ? imageService : runtimeService)[name] as Method;
    const theirs = byProtoLoader(service, name);
    const bytes = ours.requestSerialize(request);
    assert.deepEqual(new Uint8Array(bytes), new Uint8Array(theirs.requestSerialize(request)));
    assert.deepEqual(ours.requestDeserialize(bytes), theirs.requestDeserialize(bytes));
    const empty = ours.responseSerialize({});
    assert.deepEqual(ours.responseDeserialize(empty), theirs.responseDeserialize(empty));
  }
  const status = runtimeService.PodSandboxStatus as Method;
  const response = {
    status: { id: "x", state: "SANDBOX_NOTREADY", created_at: "1700000000000000001" },
    info: { k: "v" },
  };
  const bytes = status.responseSerialize(response);
  const decoded = status.responseDeserialize(bytes) as Record<string, Record<string, unknown>>;
  assert.deepEqual(
    decoded,
    byProtoLoader("RuntimeService", "PodSandboxStatus").responseDeserialize(bytes),
  );
  assert.equal(decoded.status!.created_at, "1700000000000000001");
  assert.equal(decoded.status!.state, "SANDBOX_NOTREADY");
  assert.throws(() => status.requestSerialize([]), /array/);
});

Deno.test("the daemon's module graph does not load @grpc/proto-loader", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", join(ROOT, "src/main.ts")],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { specifier: string; dependencies?: { specifier: string }[] }[];
  };
  const specifiers = graph.modules.flatMap((m) => (m.dependencies ?? []).map((d) => d.specifier));
  assert.ok(specifiers.includes("@grpc/grpc-js"), "the graph lists the imports");
  const importers = graph.modules
    .filter((m) => (m.dependencies ?? []).some((d) => d.specifier.includes("proto-loader")))
    .map((m) => m.specifier);
  assert.deepEqual(importers, [], "src/main.ts's graph imports @grpc/proto-loader");
});
