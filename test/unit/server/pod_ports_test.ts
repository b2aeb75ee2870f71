import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../../src/errors.ts";
import { podPortMappings, validatePortMappings } from "../../../src/server/pod_ports.ts";
import type * as cri from "../../../src/cri/types.ts";

const mapping = (over: Partial<cri.PortMapping> = {}): cri.PortMapping => ({
  protocol: "TCP",
  container_port: 80,
  host_port: 8080,
  host_ip: "",
  ...over,
});

Deno.test("validatePortMappings() takes what kubelet sends", () => {
  validatePortMappings([
    mapping(),
    mapping({ host_port: 0 }),
    mapping({ protocol: "UDP", container_port: 65535, host_ip: "127.0.0.1" }),
    mapping({ protocol: "SCTP", host_ip: "::1" }),
  ]);
  validatePortMappings([]);
});

Deno.test("validatePortMappings() refuses ports and host IPs no plugin can honour", () => {
  const cases: [Partial<cri.PortMapping>, RegExp][] = [
    [{ container_port: 0 }, /port_mappings\[1\]\.container_port 0: expected 1 to 65535/],
    [{ container_port: 65536 }, /container_port 65536/],
    [{ host_port: 70000 }, /port_mappings\[1\]\.host_port 70000: expected 0 \(none\) to 65535/],
    [{ host_port: -1 }, /host_port -1/],
    [{ host_ip: "localhost" }, /host_ip "localhost": expected an IP address/],
  ];
  for (const [over, message] of cases) {
    assert.throws(
      () => validatePortMappings([mapping(), mapping(over)]),
      (err: unknown) => err instanceof InvalidArgumentError && message.test(err.message),
      JSON.stringify(over),
    );
  }
});

Deno.test("podPortMappings() converts in order", () => {
  assert.deepEqual(podPortMappings({ port_mappings: [mapping({ host_ip: "10.0.0.1" })] }), [
    { protocol: "TCP", containerPort: 80, hostPort: 8080, hostIp: "10.0.0.1" },
  ]);
});
