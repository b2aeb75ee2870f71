import assert from "node:assert/strict";
import { runtimeDefaultSeccomp, SECCOMP_ARCHITECTURES } from "../../../src/spec/seccomp.ts";
import { DEFAULT_CAPABILITIES } from "../../../src/spec/default.ts";
import type { Seccomp } from "../../../src/spec/types.ts";
import { loadNodeSeccompProfile, resolveSeccomp } from "../../../src/spec/seccomp_profile.ts";

function allowed(profile: Seccomp): Set<string> {
  const out = new Set<string>();
  for (const rule of profile.syscalls ?? []) {
    if (rule.action === "SCMP_ACT_ALLOW" && !rule.args) { for (const n of rule.names) out.add(n); }
  }
  return out;
}

Deno.test("runtimeDefaultSeccomp() denies by default with EPERM on x86_64 and aarch64", () => {
  const p = runtimeDefaultSeccomp({ capabilities: DEFAULT_CAPABILITIES });
  assert.equal(p.defaultAction, "SCMP_ACT_ERRNO");
  assert.equal(p.defaultErrnoRet, 1);
  assert.deepEqual(p.architectures, [...SECCOMP_ARCHITECTURES]);
  assert.ok(p.architectures?.includes("SCMP_ARCH_X86_64"));
  assert.ok(p.architectures?.includes("SCMP_ARCH_AARCH64"));
});

Deno.test("runtimeDefaultSeccomp() allows ordinary syscalls and blocks dangerous ones", () => {
  const set = allowed(runtimeDefaultSeccomp({ capabilities: DEFAULT_CAPABILITIES }));
  for (const n of ["read", "write", "openat", "execve", "mmap", "futex", "socket", "chroot"]) {
    assert.ok(set.has(n), n);
  }
  for (
    const n of [
      "mount",
      "umount2",
      "unshare",
      "setns",
      "kexec_load",
      "init_module",
      "reboot",
      "ptrace",
      "bpf",
      "perf_event_open",
      "keyctl",
      "add_key",
      "open_by_handle_at",
      "clock_settime",
      "swapon",
      "pivot_root",
      "io_uring_setup",
      "userfaultfd",
      "clone",
      "clone3",
    ]
  ) {
    assert.ok(!set.has(n), n);
  }
});

Deno.test("runtimeDefaultSeccomp() allows clone only without namespace flags", () => {
  const p = runtimeDefaultSeccomp();
  const clone = p.syscalls?.find((r) => r.names.includes("clone"));
  assert.deepEqual(clone, {
    names: ["clone"],
    action: "SCMP_ACT_ALLOW",
    args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
  });
  const clone3 = p.syscalls?.find((r) => r.names.includes("clone3"));
  assert.equal(clone3?.action, "SCMP_ACT_ERRNO");
  assert.equal(clone3?.errnoRet, 38);
});

Deno.test("runtimeDefaultSeccomp() opens guarded syscalls for their capability", () => {
  const set = allowed(
    runtimeDefaultSeccomp({ capabilities: ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_TIME"] }),
  );
  for (const n of ["mount", "unshare", "setns", "clone", "clone3", "ptrace", "clock_settime"]) {
    assert.ok(set.has(n), n);
  }
  assert.ok(!set.has("reboot"));
  assert.ok(!set.has("chroot"));
});

Deno.test("resolveSeccomp(): RuntimeDefault is the node's seccomp_profile when it has one", () => {
  // Docker's form: a rule for a capability the container may or may not hold.
  const text = JSON.stringify({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [
      { names: ["mkdir"], action: "SCMP_ACT_ERRNO" },
      { names: ["mount"], action: "SCMP_ACT_ERRNO", excludes: { caps: ["CAP_SYS_ADMIN"] } },
    ],
  });
  const runtimeDefault = { path: "/etc/ocid/seccomp.json", text };
  const resolve = (input: Parameters<typeof resolveSeccomp>[0], capabilities: string[]) =>
    resolveSeccomp(input, { field: "sc", capabilities, privileged: false, runtimeDefault });
  const rd = {
    seccomp: { profile_type: "RuntimeDefault" as const, localhost_ref: "" },
    seccomp_profile_path: "",
  };
  const names = (s: Seccomp | undefined) => s?.syscalls?.flatMap((r) => r.names);
  assert.equal(resolve(rd, [])?.defaultAction, "SCMP_ACT_ALLOW");
  assert.deepEqual(names(resolve(rd, [])), ["mkdir", "mount"]);
  assert.deepEqual(names(resolve(rd, ["CAP_SYS_ADMIN"])), ["mkdir"]);
  // The deprecated path names it too; Unconfined stays unconfined.
  const path = (p: string) => ({ seccomp: null, seccomp_profile_path: p });
  assert.deepEqual(names(resolve(path("runtime/default"), [])), ["mkdir", "mount"]);
  assert.equal(
    resolve({
      seccomp: { profile_type: "Unconfined", localhost_ref: "" },
      seccomp_profile_path: "",
    }, []),
    undefined,
  );
  // Without one, the built-in profile (deny by default).
  assert.equal(
    resolveSeccomp(rd, { field: "sc", capabilities: [], privileged: false })?.defaultAction,
    "SCMP_ACT_ERRNO",
  );
});

Deno.test("loadNodeSeccompProfile() reads a profile and refuses one that does not parse", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-seccomp-test-" });
  try {
    const good = `${dir}/good.json`;
    await Deno.writeTextFile(good, JSON.stringify({ defaultAction: "SCMP_ACT_ERRNO" }));
    assert.equal((await loadNodeSeccompProfile(good)).path, good);
    const bad = `${dir}/bad.json`;
    await Deno.writeTextFile(bad, "{not json");
    await assert.rejects(loadNodeSeccompProfile(bad), /Cannot use seccomp_profile ".*bad.json"/);
    await assert.rejects(loadNodeSeccompProfile(`${dir}/none.json`), /Cannot use seccomp_profile/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
