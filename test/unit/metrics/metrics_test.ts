/**
 * The metrics module without a daemon: the README's list against the metrics defined, the
 * exposition prom-client produces for each recorder call, the runner and conmon wrappers, the
 * RPC wrapper's counting, PullImage's outcome, and the endpoint's routes.
 */
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import {
  OcidError,
  RegistryUnavailableError,
  SignatureValidationError,
} from "../../../src/errors.ts";
import { createLogger } from "../../../src/log.ts";
import {
  countingRunner,
  countingSpawnConmon,
  DEFAULT_METRICS,
  METRICS,
  type MetricsRecorder,
  noMetrics,
  pullFailureReason,
  startMetrics,
} from "../../../src/metrics/mod.ts";
import { createPrometheusMetrics } from "../../../src/metrics/prometheus.ts";
import { instrument } from "../../../src/server/instrument.ts";
import { pullImage } from "../../../src/server/image_pull.ts";
import { defaultConfig } from "../../../src/config/defaults.ts";
import type { Deps } from "../../../src/server/deps.ts";
import type { Runner } from "../../../src/process.ts";
import { CommandError } from "../../../src/errors.ts";
import { freePort } from "../../helpers/free_port.ts";

const logger = createLogger("error");

/** A recorder that keeps every call as a line. */
function recording(): MetricsRecorder & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    rpc: (m, c) => calls.push(`rpc ${m} ${c}`),
    stream: (m, c) => calls.push(`stream ${m} ${c}`),
    imagePull: (o) => calls.push(o.ok ? `pull ok ${o.bytes}` : `pull failed ${o.reason}`),
    oomKilled: (ns) => calls.push(`oom ${ns}`),
    processSpawned: (p) => calls.push(`spawned ${p}`),
    processFailed: (p) => calls.push(`failed ${p}`),
    conmonSpawnFailed: () => calls.push("conmon failed"),
  };
}

/** The README's metrics table: name → "type labels". */
async function readmeMetrics(): Promise<Map<string, string>> {
  const readme = await Deno.readTextFile(new URL("../../../README.md", import.meta.url));
  const rows = new Map<string, string>();
  for (const line of readme.split("\n")) {
    const m = /^\| `(ocid_[a-z_]+)` +\| (\w+) +\| ([^|]*)\|/.exec(line);
    if (!m) continue;
    const labels = [...m[3]!.matchAll(/`([a-z_]+)`/g)].map((l) => l[1]).join(",");
    rows.set(m[1]!, `${m[2]} ${labels}`);
  }
  return rows;
}

Deno.test("README lists every metric with its type and labels", async () => {
  const rows = await readmeMetrics();
  const defined = new Map(METRICS.map((m) => [m.name, `${m.type} ${m.labels.join(",")}`]));
  assert.deepEqual(rows, defined);
  const readme = await Deno.readTextFile(new URL("../../../README.md", import.meta.url));
  for (const name of DEFAULT_METRICS) assert.ok(readme.includes(`\`${name}\``), name);
});

Deno.test("prom-client exposes every metric with its labels after one of each event", async () => {
  const m = createPrometheusMetrics({
    snapshot: () => ({
      containers: { CONTAINER_RUNNING: 2, CONTAINER_EXITED: 0 },
      pods: { SANDBOX_READY: 1 },
    }),
  });
  m.recorder.rpc("RunPodSandbox", "OK", 0.02);
  m.recorder.rpc("RunPodSandbox", "INVALID_ARGUMENT", 0.0001);
  m.recorder.stream("GetContainerEvents", "CANCELLED");
  m.recorder.imagePull({ ok: true, seconds: 1.5, bytes: 1000 });
  m.recorder.imagePull({ ok: false, seconds: 0.1, reason: "NOT_FOUND" });
  m.recorder.oomKilled("team-a");
  m.recorder.processSpawned("runc");
  m.recorder.processFailed("runc");
  m.recorder.conmonSpawnFailed();
  // prom-client's event-loop lag needs a turn of the loop to have a sample.
  await new Promise((r) => setTimeout(r, 50));
  const text = await m.scrape();
  m.registry.clear();
  for (const spec of METRICS) {
    assert.match(text, new RegExp(`^# TYPE ${spec.name} ${spec.type}$`, "m"), spec.name);
    const sampleName = spec.type === "histogram" ? `${spec.name}_bucket` : spec.name;
    const line = text.split("\n").find((l) =>
      l.startsWith(`${sampleName}{`) || l.startsWith(`${sampleName} `)
    );
    assert.ok(line, `no sample of ${spec.name}`);
    const labels = [...(line.match(/\{(.*)\}/)?.[1] ?? "").matchAll(/([a-z_]+)="/g)].map((x) =>
      x[1]
    )
      .filter((l) => l !== "le");
    assert.deepEqual(labels, [...spec.labels], spec.name);
  }
  for (const name of DEFAULT_METRICS) assert.match(text, new RegExp(`^${name} `, "m"), name);
  assert.match(text, /^ocid_operations_total\{operation="RunPodSandbox",code="OK"\} 1$/m);
  // A stream is counted with the RPCs, but its open time is no operation latency.
  assert.match(
    text,
    /^ocid_operations_total\{operation="GetContainerEvents",code="CANCELLED"\} 1$/m,
  );
  assert.doesNotMatch(
    text,
    /ocid_operations_latency_seconds_count\{operation="GetContainerEvents"/,
  );
  assert.match(
    text,
    /^ocid_operations_latency_seconds_bucket\{le="0.001",operation="RunPodSandbox"\} 1$/m,
  );
  assert.match(
    text,
    /^ocid_operations_latency_seconds_bucket\{le="60",operation="RunPodSandbox"\} 2$/m,
  );
  assert.match(text, /^ocid_image_pull_bytes_total 1000$/m);
  assert.match(text, /^ocid_image_pull_failures_total\{reason="NOT_FOUND"\} 1$/m);
  assert.match(text, /^ocid_containers_oom_killed_total\{namespace="team-a"\} 1$/m);
  assert.match(text, /^ocid_containers\{state="CONTAINER_RUNNING"\} 2$/m);
  assert.match(text, /^ocid_containers\{state="CONTAINER_EXITED"\} 0$/m);
  assert.match(text, /^ocid_pods\{state="SANDBOX_READY"\} 1$/m);
  assert.match(text, /^ocid_conmon_spawn_failures_total 1$/m);
  const lag = Number(/^nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(text)?.[1]);
  assert.ok(lag > 0, `event-loop lag is measured on Deno: ${lag}`);
  const fds = Number(/^process_open_fds (\S+)$/m.exec(text)?.[1]);
  assert.ok(fds > 2, `open fds are counted on Deno: ${fds}`);
});

Deno.test("countingRunner counts every run and the failed ones by program", async () => {
  const rec = recording();
  const fake: Runner = {
    run(cmd, args) {
      if (args[0] === "throw") return Promise.reject(new CommandError(cmd, 1, "boom"));
      return Promise.resolve({
        code: args[0] === "fail" ? 3 : 0,
        stdout: new Uint8Array(),
        stderr: new Uint8Array(),
      });
    },
  };
  const runner = countingRunner(fake, rec);
  await runner.run("/usr/sbin/runc", ["ok"]);
  await runner.run("/usr/lib/cni/bridge", ["fail"], { check: false });
  await assert.rejects(runner.run("/usr/sbin/runc", ["throw"]), CommandError);
  assert.deepEqual(rec.calls, [
    "spawned runc",
    "spawned bridge",
    "failed bridge",
    "spawned runc",
    "failed runc",
  ]);
});

Deno.test("countingSpawnConmon counts a runtime failure reported on the sync pipe", async () => {
  const rec = recording();
  const results = [
    { syncMessage: { data: 42 }, conmonPid: 7 },
    { syncMessage: { data: -1, message: "runc create failed" }, conmonPid: 8 },
  ];
  const spawn = countingSpawnConmon(() => {
    const next = results.shift();
    return next ? Promise.resolve(next) : Promise.reject(new Error("ENOENT"));
  }, rec);
  const options = { env: {}, cwd: "/" };
  await spawn("/usr/bin/conmon", [], options);
  await spawn("/usr/bin/conmon", [], options);
  await assert.rejects(spawn("/usr/bin/conmon", [], options), /ENOENT/);
  assert.deepEqual(rec.calls, [
    "spawned conmon",
    "spawned conmon",
    "conmon failed",
    "spawned conmon",
    "failed conmon",
    "conmon failed",
  ]);
});

Deno.test("instrument() counts each call with its gRPC code", async () => {
  const rec = recording();
  const call = (handler: () => Promise<unknown>) =>
    new Promise<void>((resolve) => {
      const fakeCall = { request: {}, on() {} } as unknown as grpc.ServerUnaryCall<
        unknown,
        unknown
      >;
      instrument("ContainerStatus", handler, { logger, metrics: rec })(fakeCall, () => resolve());
    });
  await call(() => Promise.resolve({}));
  await call(() => Promise.reject(new OcidError("NOT_FOUND", "no such container")));
  await call(() => Promise.reject(new Error("bug")));
  assert.deepEqual(rec.calls, [
    "rpc ContainerStatus OK",
    "rpc ContainerStatus NOT_FOUND",
    "rpc ContainerStatus INTERNAL",
  ]);
});

Deno.test("PullImage reports its bytes or its failure reason", async () => {
  const rec = recording();
  const images = {
    pull(ref: string) {
      if (ref === "missing") return Promise.reject(new OcidError("NOT_FOUND", "no such image"));
      return Promise.resolve({ id: "sha256:abc", size: 1234 });
    },
  } as unknown as Deps["images"];
  const deps = { images, log: logger, metrics: rec, config: defaultConfig() };
  await pullImage(deps, { image: { image: "busybox" } } as never);
  await assert.rejects(pullImage(deps, { image: { image: "missing" } } as never), /no such image/);
  assert.deepEqual(rec.calls, ["pull ok 1234", "pull failed NOT_FOUND"]);
  assert.equal(pullFailureReason(new TypeError("x")), "TypeError");
  assert.equal(pullFailureReason(new RegistryUnavailableError("refused")), "RegistryUnavailable");
  assert.equal(
    pullFailureReason(new SignatureValidationError("no signature")),
    "SignatureValidationFailed",
  );
  assert.equal(pullFailureReason(new DOMException("gone", "AbortError")), "CANCELLED");
});

Deno.test("startMetrics is off at port 0 and serves /metrics only at a port", async () => {
  const snapshot = () => ({ containers: {}, pods: {} });
  const off = await startMetrics({ address: "127.0.0.1", port: 0, snapshot, log: logger });
  assert.equal(off.recorder, noMetrics);
  assert.equal(off.endpoint, undefined);
  await off.close();

  const port = freePort();
  const on = await startMetrics({ address: "127.0.0.1", port, snapshot, log: logger });
  try {
    assert.deepEqual(on.endpoint, { address: "127.0.0.1", port });
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    assert.match(await res.text(), /^# TYPE ocid_operations_total counter$/m);
    const other = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(other.status, 404);
    await other.body?.cancel();
    const post = await fetch(`http://127.0.0.1:${port}/metrics`, { method: "POST" });
    assert.equal(post.status, 405);
    await post.body?.cancel();
    await assert.rejects(
      startMetrics({ address: "127.0.0.1", port, snapshot, log: logger }),
      /Cannot serve metrics on 127\.0\.0\.1:\d+: .*EADDRINUSE|in use/i,
    );
  } finally {
    await on.close();
  }
});
