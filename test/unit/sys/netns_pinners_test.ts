/** The pinners: the default's choice, the exec ones' commands, the thread ones' outcomes. */
import assert from "node:assert/strict";
import type { Logger } from "../../../src/log.ts";
import { chooseNetnsKind } from "../../../src/sys/default_netns_pinner.ts";
import { ExecNetnsPinner } from "../../../src/sys/exec_netns_pinner.ts";
import { ExecPodNsPinner } from "../../../src/sys/exec_pod_ns_pinner.ts";
import { NetnsPinError, netnsReaderOf } from "../../../src/sys/netns_pinner.ts";
import { PodNsPinError } from "../../../src/sys/pod_ns_pinner.ts";
import { ThreadNetnsPinner, ThreadPodNsPinner } from "../../../src/sys/thread_ns_pinner.ts";
import { FakeRunner, result } from "../network/fake_runner.ts";
import { fakeThread, HOST, POD_NET_INODE, POD_NETNS, readText } from "./_fake_ns_libc.ts";

Deno.test("chooseNetnsKind() takes libc where FFI works, unless OCID_NETNS says exec", () => {
  assert.equal(chooseNetnsKind({ os: "linux", setting: undefined, ffi: true }), "libc");
  assert.equal(chooseNetnsKind({ os: "linux", setting: "", ffi: true }), "libc");
  assert.equal(chooseNetnsKind({ os: "linux", setting: "libc", ffi: true }), "libc");
  assert.equal(chooseNetnsKind({ os: "linux", setting: "exec", ffi: true }), "exec");
  assert.equal(chooseNetnsKind({ os: "linux", setting: undefined, ffi: false }), "exec");
  assert.equal(chooseNetnsKind({ os: "darwin", setting: undefined, ffi: true }), "exec");
});

Deno.test("chooseNetnsKind() refuses a bad OCID_NETNS and libc without FFI", () => {
  assert.throws(
    () => chooseNetnsKind({ os: "linux", setting: "fork", ffi: true }),
    /Invalid OCID_NETNS "fork": use "exec" or "libc"/,
  );
  assert.throws(
    () => chooseNetnsKind({ os: "linux", setting: "libc", ffi: false }),
    /OCID_NETNS is "libc" but .*--allow-ffi or set OCID_NETNS=exec/,
  );
});

Deno.test("ExecNetnsPinner.pin() runs unshare --net=<file> true", async () => {
  const runner = new FakeRunner(() => result(0));
  const pinner = new ExecNetnsPinner(runner, { unshare: "/usr/bin/unshare" });
  assert.equal(pinner.loopback, false);
  await pinner.pin("/n/a");
  assert.deepEqual(runner.calls.map((c) => [c.cmd, ...c.args]), [
    ["/usr/bin/unshare", "--net=/n/a", "true"],
  ]);
  await assert.rejects(pinner.pin("/n/b", { loopback: true }), TypeError);
  assert.equal(runner.calls.length, 1);
});

Deno.test("ExecNetnsPinner.pin() reports the failed run", async () => {
  const runner = new FakeRunner(() => result(1, "", "unshare: mount failed: Permission denied"));
  const e = await new ExecNetnsPinner(runner).pin("/n/a").catch((e) => e);
  assert.ok(e instanceof NetnsPinError);
  assert.equal(e.step, "exec");
  assert.match(
    e.message,
    /"\/n\/a" \(unshare program\): .*unshare --net=\/n\/a true failed with 1/,
  );
});

Deno.test("ExecPodNsPinner.pin() runs one unshare, each name and value its own argument", async () => {
  const runner = new FakeRunner(() => result(0));
  await new ExecPodNsPinner(runner).pin({
    ipc: "/p/ipc",
    uts: "/p/uts",
    hostname: "web",
    sysctls: [
      { name: "net.ipv4.ip_forward", ns: "net", path: "net/ipv4/ip_forward", value: "1" },
      { name: "kernel.shmmax", ns: "ipc", path: "kernel/shmmax", value: "42" },
    ],
    netns: "/run/netns/p1",
  });
  const [call] = runner.calls;
  assert.equal(call!.cmd, "unshare");
  assert.deepEqual(call!.args.slice(0, 4), [
    "--ipc=/p/ipc",
    "--uts=/p/uts",
    "nsenter",
    "--net=/run/netns/p1",
  ]);
  // sh -c SCRIPT $0 hostname (path value)...
  assert.deepEqual(call!.args.slice(8), ["web", "net/ipv4/ip_forward", "1", "kernel/shmmax", "42"]);
});

Deno.test("ExecPodNsPinner.pin() refuses a sysctl without its namespace before running", async () => {
  const runner = new FakeRunner(() => result(0));
  const e = await new ExecPodNsPinner(runner).pin({
    uts: "/p/uts",
    hostname: "",
    sysctls: [{ name: "kernel.shmmax", ns: "ipc", path: "kernel/shmmax", value: "1" }],
  }).catch((e) => e);
  assert.ok(e instanceof PodNsPinError && e.step === "verify", String(e));
  assert.equal(runner.calls.length, 0);
});

/** A logger keeping its records. */
function recordingLogger(): Logger & { records: [string, string, Record<string, unknown>][] } {
  const records: [string, string, Record<string, unknown>][] = [];
  const at = (level: string) => (msg: string, fields: Record<string, unknown> = {}) =>
    void records.push([level, msg, fields]);
  return { records, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

class Stranded extends Error {}
const strandedHandler = (detail: string): never => {
  throw new Stranded(detail);
};

Deno.test("ThreadNetnsPinner.pin() pins on the calling thread and logs the section's time", async () => {
  const thread = fakeThread();
  const logger = recordingLogger();
  const pinner = new ThreadNetnsPinner({ libc: thread.libc, logger, onStranded: strandedHandler });
  assert.equal(pinner.kind, "libc");
  assert.equal(pinner.loopback, true);
  await pinner.pin("/n/a", { loopback: true });
  assert.equal(thread.mounts.get("/n/a"), 1000);
  assert.deepEqual(thread.landings.map((l) => l.what), ["lo up"]);
  const [level, msg, fields] = logger.records[0]!;
  assert.equal(
    `${level} ${msg} ${fields.what} ${fields.ok}`,
    "debug Pinned namespaces in-process net true",
  );
  assert.match(String(fields.ms), /^\d+\.\d{3}$/);
});

Deno.test("ThreadNetnsPinner.pin() throws NetnsPinError for a failed step, and the thread stays usable", async () => {
  const thread = fakeThread({ errors: { "mount net /n/a": 16 } });
  const pinner = new ThreadNetnsPinner({ libc: thread.libc, onStranded: strandedHandler });
  const e = await pinner.pin("/n/a").catch((e) => e);
  assert.ok(e instanceof NetnsPinError, String(e));
  assert.equal(e.step, "mount");
  assert.equal(e.errno, "EBUSY");
  assert.deepEqual(thread.now(), HOST);
  await pinner.pin("/n/b");
  assert.equal(thread.mounts.get("/n/b"), 1001);
});

Deno.test("ThreadNetnsPinner.pin() hands a stranded thread to onStranded", async () => {
  const thread = fakeThread({ errors: { [`setns net ${HOST.net}`]: 22 } });
  const pinner = new ThreadNetnsPinner({ libc: thread.libc, onStranded: strandedHandler });
  const e = await pinner.pin("/n/a").catch((e) => e);
  assert.ok(e instanceof Stranded, String(e));
  assert.match(e.message, /^net "\/n\/a": setns: error 22$/);
});

Deno.test("ThreadNetnsPinner.readInNetns() reads inside a pinned netns, or gives undefined", () => {
  const thread = fakeThread({ errors: { "open /run/netns/gone": 2 } });
  const logger = recordingLogger();
  const pinner = new ThreadNetnsPinner({ libc: thread.libc, logger, onStranded: strandedHandler });
  const path = "/proc/thread-self/net/dev";
  assert.equal(pinner.readInNetns(POD_NETNS, path), readText(path, POD_NET_INODE));
  assert.equal(pinner.readInNetns("/run/netns/gone", path), undefined);
  assert.deepEqual(thread.now(), HOST);
  assert.deepEqual(thread.openFds(), []);
  assert.deepEqual(
    logger.records.map(([level, msg, f]) => `${level} ${msg} ${f.what} ${f.ok} ${f.step ?? ""}`),
    [
      "debug Read in a pinned netns in-process read net true ",
      "debug Read in a pinned netns in-process read net false enter",
    ],
  );
});

Deno.test("ThreadNetnsPinner.readInNetns() hands a stranded thread to onStranded", () => {
  const thread = fakeThread({ errors: { [`setns net ${HOST.net}`]: 22 } });
  const pinner = new ThreadNetnsPinner({ libc: thread.libc, onStranded: strandedHandler });
  assert.throws(
    () => pinner.readInNetns(POD_NETNS, "/proc/thread-self/net/dev"),
    (e) => e instanceof Stranded && /^read net "\/run\/netns\/pod": setns: /.test(e.message),
  );
});

Deno.test("netnsReaderOf() gives the thread pinner, and nothing for the exec one", () => {
  const thread = new ThreadNetnsPinner({ libc: fakeThread().libc, onStranded: strandedHandler });
  assert.equal(netnsReaderOf(thread), thread);
  assert.equal(netnsReaderOf(new ExecNetnsPinner(new FakeRunner(() => result(0)))), undefined);
});

Deno.test("ThreadPodNsPinner.pin() pins and sets inside, or throws PodNsPinError", async () => {
  const spec = {
    ipc: "/p/ipc",
    uts: "/p/uts",
    hostname: "web",
    sysctls: [{
      name: "net.core.somaxconn",
      ns: "net" as const,
      path: "net/core/somaxconn",
      value: "x",
    }],
    netns: POD_NETNS,
  };
  const ok = fakeThread();
  await new ThreadPodNsPinner({ libc: ok.libc, onStranded: strandedHandler }).pin(spec);
  assert.deepEqual([...ok.mounts.keys()], ["/p/ipc", "/p/uts"]);

  const bad = fakeThread({ errors: { "write /proc/sys/net/core/somaxconn=x": 22 } });
  const e = await new ThreadPodNsPinner({ libc: bad.libc, onStranded: strandedHandler })
    .pin(spec).catch((e) => e);
  assert.ok(e instanceof PodNsPinError, String(e));
  assert.equal(
    e.message,
    'sysctl write failed: EINVAL: sysctl "net.core.somaxconn" = "x": error 22',
  );
  assert.equal(bad.mounts.size, 0);

  const stuck = fakeThread({ strands: "ipc" });
  const s = await new ThreadPodNsPinner({ libc: stuck.libc, onStranded: strandedHandler })
    .pin(spec).catch((e) => e);
  assert.ok(s instanceof Stranded, String(s));
});

Deno.test("exitStranded() logs why and ends the process at once with status 70", async () => {
  const module = new URL("../../../src/sys/thread_ns_pinner.ts", import.meta.url).href;
  const logModule = new URL("../../../src/log.ts", import.meta.url).href;
  const script = `
    import { exitStranded } from "${module}";
    import { createLogger } from "${logModule}";
    globalThis.addEventListener("unload", () => console.log("unload ran"));
    exitStranded(createLogger("info"), "setns: EINVAL");
    console.log("still running");`;
  const out = await new Deno.Command(Deno.execPath(), { args: ["eval", script] }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 70, stderr);
  assert.equal(stdout, "", "no unload handler and nothing after the call ran");
  assert.match(stderr, /error The main thread cannot get back .* detail="setns: EINVAL" status=70/);
});
