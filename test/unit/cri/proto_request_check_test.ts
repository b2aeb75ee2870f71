/**
 * Values no handler can take: unknown enum values (decoding keeps them as numbers) and NUL bytes
 * in strings; the per-RPC check names the field that holds one.
 */
import assert from "node:assert/strict";
import { criMethod, loadCri } from "../../../src/cri/proto.ts";

/** A request as the server decodes it after a client sent `request`. */
function overTheWire(
  method: "RunPodSandbox" | "CreateContainer" | "ListContainers",
  request: object,
) {
  const m = criMethod(method);
  return m.requestDeserialize(m.requestSerialize(request) as Buffer);
}

const checks = loadCri().requestChecks;

Deno.test("requestChecks names the field holding an enum value the CRI does not name", () => {
  const create = overTheWire("CreateContainer", {
    pod_sandbox_id: "p",
    config: { metadata: { name: "c" }, stop_signal: 99 },
  }) as { config: { stop_signal: unknown } };
  assert.equal(create.config.stop_signal, 99, "decoding keeps the number");
  assert.equal(
    checks.get("CreateContainer")!(create),
    "config.stop_signal holds 99, which runtime.v1.Signal does not name",
  );
  const pod = overTheWire("RunPodSandbox", {
    config: {
      metadata: { name: "p" },
      port_mappings: [{ protocol: "UDP", container_port: 53 }, { protocol: 7, container_port: 80 }],
    },
  });
  assert.equal(
    checks.get("RunPodSandbox")!(pod),
    "config.port_mappings[1].protocol holds 7, which runtime.v1.Protocol does not name",
  );
  const nested = overTheWire("CreateContainer", {
    config: {
      linux: { security_context: { namespace_options: { pid: 9 } } },
      mounts: [{ container_path: "/x", propagation: 5 }],
    },
  });
  assert.match(
    checks.get("CreateContainer")!(nested)!,
    /^config\.mounts\[0\]\.propagation holds 5/,
  );
  const list = overTheWire("ListContainers", { filter: { state: { state: 12 } } });
  assert.equal(
    checks.get("ListContainers")!(list),
    "filter.state.state holds 12, which runtime.v1.ContainerState does not name",
  );
});

Deno.test("requestChecks passes named and default enum values", () => {
  const create = overTheWire("CreateContainer", {
    config: {
      stop_signal: "SIGTERM",
      mounts: [{ container_path: "/x", propagation: "PROPAGATION_PRIVATE" }],
    },
  });
  assert.equal(checks.get("CreateContainer")!(create), undefined);
  assert.equal(checks.get("RunPodSandbox")!(overTheWire("RunPodSandbox", {})), undefined);
});

Deno.test("requestChecks names the string holding a NUL byte; annotation values may", () => {
  const create = (config: object) =>
    overTheWire("CreateContainer", { pod_sandbox_id: "p", config });
  const cases: [object, string][] = [
    [{ working_dir: "/a\0b" }, "config.working_dir holds a NUL byte"],
    [{ command: ["sleep", "1\0"] }, "config.command[1] holds a NUL byte"],
    [{ mounts: [{ host_path: "/tmp\0x" }] }, "config.mounts[0].host_path holds a NUL byte"],
    [{ labels: { a: "b\0" } }, 'config.labels["a"] holds a NUL byte'],
    [{ annotations: { "a\0": "b" } }, 'config.annotations key "a\\u0000" holds a NUL byte'],
  ];
  for (const [config, found] of cases) {
    assert.equal(checks.get("CreateContainer")!(create(config)), found);
  }
  assert.equal(checks.get("CreateContainer")!(create({ annotations: { a: "b\0c" } })), undefined);
  const m = criMethod("ExecSync");
  const exec = m.requestDeserialize(
    m.requestSerialize({ container_id: "c", cmd: ["echo", "a\0b"] }) as Buffer,
  );
  assert.equal(checks.get("ExecSync")!(exec), "cmd[1] holds a NUL byte");
  assert.equal(checks.has("Version"), true, "its version string is checked too");
});
