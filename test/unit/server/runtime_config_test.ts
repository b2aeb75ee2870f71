/**
 * RuntimeConfig on the wire: the kubelet (KubeletCgroupDriverFromCRI) reads
 * `GetLinux().GetCgroupDriver()` and keeps its own setting when `linux` is nil. SYSTEMD is the
 * enum's zero, which proto3 need not send: the `linux` message must be on the wire anyway.
 */
import assert from "node:assert/strict";
import type * as cri from "../../../src/cri/types.ts";
import { criMethod } from "../../../src/cri/proto.ts";
import { runtimeConfig } from "../../../src/server/runtime_config.ts";
import type { Config } from "../../../src/config/types.ts";

async function onTheWire(cgroupManager: "systemd" | "cgroupfs") {
  const res = await runtimeConfig(
    { config: { cgroupManager } as Config },
    {} as cri.RuntimeConfigRequest,
  );
  const method = criMethod("RuntimeConfig");
  const bytes = new Uint8Array(method.responseSerialize(res));
  return {
    bytes,
    decoded: method.responseDeserialize(Buffer.from(bytes)) as cri.RuntimeConfigResponse,
  };
}

Deno.test("RuntimeConfig sends linux even for SYSTEMD, the enum's zero", async () => {
  const systemd = await onTheWire("systemd");
  assert.equal(systemd.bytes[0], 0x0a, "field 1 (linux), length-delimited, is present");
  assert.equal(systemd.decoded.linux?.cgroup_driver, "SYSTEMD");
  const cgroupfs = await onTheWire("cgroupfs");
  assert.deepEqual([...cgroupfs.bytes], [0x0a, 0x02, 0x08, 0x01]);
  assert.equal(cgroupfs.decoded.linux?.cgroup_driver, "CGROUPFS");
});
