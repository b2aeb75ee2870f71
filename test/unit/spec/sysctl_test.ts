import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../../src/errors.ts";
import {
  parseDefaultSysctls,
  podSysctls,
  sysctlNamespace,
  validateSysctls,
} from "../../../src/spec/sysctl.ts";

const podNs = { hostNetwork: false, hostIpc: false };

Deno.test("validateSysctls() accepts namespaced IPC and net sysctls", () => {
  const input = {
    "kernel.shm_rmid_forced": "1",
    "kernel.msgmax": "65536",
    "kernel.sem": "250 32000 100 128",
    "fs.mqueue.msg_max": "10",
    "net.ipv4.ip_local_port_range": "1024 65000",
    "net.ipv4.conf.eth0/100.forwarding": "1",
    "net/ipv4/conf/eth0.100/forwarding": "1",
  };
  assert.deepEqual(validateSysctls(input, podNs), input);
});

Deno.test("sysctlNamespace() tells the namespace of dot and slash forms", () => {
  assert.equal(sysctlNamespace("kernel.shmmax"), "ipc");
  assert.equal(sysctlNamespace("kernel/shmmax"), "ipc");
  assert.equal(sysctlNamespace("net/ipv4/conf/eth0.100/forwarding"), "net");
  assert.equal(sysctlNamespace("kernel.core_pattern"), undefined);
  assert.equal(sysctlNamespace("kernel.semaphore"), undefined);
  assert.equal(sysctlNamespace("vm.overcommit_memory"), undefined);
});

Deno.test("validateSysctls() rejects sysctls that are not namespaced", () => {
  for (const name of ["kernel.core_pattern", "vm.swappiness", "kernel.domainname", "fs.file-max"]) {
    assert.throws(
      () => validateSysctls({ [name]: "1" }, podNs),
      (e: unknown) =>
        e instanceof InvalidArgumentError && e.message.includes(`"${name}"`) &&
        e.message.includes("not namespaced"),
    );
  }
});

Deno.test("validateSysctls() rejects CVE-2022-0811 style injection in values", () => {
  for (
    const value of [
      "1+kernel.core_pattern=|/x",
      "1=2",
      "1\nkernel.core_pattern=|/x",
      "1\r",
      "1\0",
      "",
    ]
  ) {
    assert.throws(
      () => validateSysctls({ "kernel.shm_rmid_forced": value }, podNs),
      InvalidArgumentError,
      JSON.stringify(value),
    );
  }
});

Deno.test("validateSysctls() rejects malformed names", () => {
  for (
    const name of ["net.ipv4..x", "net.ipv4.x=1", "net.ipv4.x+y", "../net", "net.ipv4.a b", ""]
  ) {
    assert.throws(() => validateSysctls({ [name]: "1" }, podNs), InvalidArgumentError, name);
  }
});

Deno.test("validateSysctls() rejects net.* with host network and IPC ones with host IPC", () => {
  assert.throws(
    () => validateSysctls({ "net.ipv4.ip_forward": "1" }, { hostNetwork: true, hostIpc: false }),
    /host network/,
  );
  assert.throws(
    () => validateSysctls({ "kernel.msgmax": "1" }, { hostNetwork: false, hostIpc: true }),
    /host IPC/,
  );
  assert.deepEqual(
    validateSysctls({ "kernel.msgmax": "1" }, { hostNetwork: true, hostIpc: false }),
    { "kernel.msgmax": "1" },
  );
});

Deno.test("parseDefaultSysctls() reads name=value entries of namespaced sysctls, each once", () => {
  assert.deepEqual(
    parseDefaultSysctls([
      "net.ipv4.ping_group_range=0 2147483647",
      " kernel.shm_rmid_forced = 1 ",
    ]),
    { "net.ipv4.ping_group_range": "0 2147483647", "kernel.shm_rmid_forced": "1" },
  );
  assert.deepEqual(parseDefaultSysctls([]), {});
  for (
    const bad of [
      ["kernel.core_pattern=|/tmp/x"], // not namespaced: would be the node's
      ["net.ipv4.ip_forward"], // no value
      ["=1"],
      ["net.ipv4.ip_forward="],
      ["net.ipv4.ip_forward=1+kernel.core_pattern=x"], // CVE-2022-0811's smuggling
      ["net.ipv4.ip_forward=1", "net.ipv4.ip_forward=0"],
    ]
  ) {
    assert.equal(parseDefaultSysctls(bad), undefined, JSON.stringify(bad));
  }
});

Deno.test("podSysctls(): the node's defaults of the pod's own namespaces, then the pod's", () => {
  const defaults = { "net.ipv4.ip_unprivileged_port_start": "0", "kernel.shm_rmid_forced": "1" };
  const own = { "net.ipv4.ip_unprivileged_port_start": "80" };
  const none = { hostNetwork: false, hostIpc: false };
  assert.deepEqual(podSysctls(defaults, {}, none), defaults);
  assert.deepEqual(podSysctls(defaults, own, none), {
    "net.ipv4.ip_unprivileged_port_start": "80",
    "kernel.shm_rmid_forced": "1",
  });
  assert.deepEqual(podSysctls(defaults, {}, { hostNetwork: true, hostIpc: false }), {
    "kernel.shm_rmid_forced": "1",
  });
  assert.deepEqual(podSysctls(defaults, {}, { hostNetwork: false, hostIpc: true }), {
    "net.ipv4.ip_unprivileged_port_start": "0",
  });
  assert.deepEqual(podSysctls(defaults, {}, { hostNetwork: true, hostIpc: true }), {});
});
