/**
 * `deno run -A bench/rpc_cost.ts`: what one trivial unary RPC costs the server in CPU, by layer
 * of ocid's transport. Starts a server process (this file with `--serve`) running ocid's own
 * `createCriServer` and `listenUnix`, with four endpoints:
 *
 * - `listen+instrument`: as the daemon serves (ocid's listener and `:authority` rewriter,
 *   handlers wrapped by `instrument`);
 * - `bind+instrument`: the same server on a second socket bound by grpc-js's `bindAsync` (no
 *   rewriter, no Duplex hop), for measurement only;
 * - `listen+raw` and `bind+raw`: a second server whose handlers are not wrapped.
 *
 * Then calls Version (or ContainerStatus with a canned answer of a running container's size)
 * `--calls` times in a row on each endpoint, rounds alternating, and prints the server's CPU
 * (the schedstat run time of all its threads) per call and the client's round-trip p50.
 * `--gap MS` waits between calls, as sparse callers do. With `--daemon`, also measures the real
 * daemon (started as the benchmark starts it) on Version.
 *
 * ```
 * deno run -A bench/rpc_cost.ts --calls 2000 --rounds 3
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { createLogger, type LogLevel } from "../src/log.ts";
import { listenUnix } from "../src/server/listener.ts";
import { createCriServer, type HandlerTable } from "../src/server/mod.ts";
import { loadCri } from "../src/cri/proto.ts";
import { version } from "../src/server/version.ts";
import { DENO_FLAGS } from "../src/v8_flags.ts";
import { connectCri, type CriClient } from "./_client.ts";
import { freePort, startDaemon, waitFor } from "./_proc.ts";
import { Cdp, type CpuProfile, summarizeProfile } from "./profile.ts";
import { percentile } from "./stats.ts";
import { startOcid } from "./peers/ocid.ts";

/** A ContainerStatus answer shaped like one for a running container. */
function cannedStatus() {
  const id = "4c1d5e0f".repeat(8);
  return {
    status: {
      id,
      metadata: { name: "bench", attempt: 0 },
      state: "CONTAINER_RUNNING",
      created_at: "1764680000000000000",
      started_at: "1764680000100000000",
      finished_at: "0",
      exit_code: 0,
      image: { image: "docker.io/library/busybox:latest", annotations: {} },
      image_ref: "sha256:" + "ab".repeat(32),
      reason: "",
      message: "",
      labels: { "io.kubernetes.container.name": "bench", app: "bench" },
      annotations: { "io.kubernetes.container.hash": "1234abcd" },
      mounts: [],
      log_path: "/var/log/pods/ns_pod_uid/bench/0.log",
      resources: null,
      image_id: "sha256:" + "ab".repeat(32),
      user: null,
    },
    info: {},
  };
}

const HANDLERS: HandlerTable = {
  Version: (req) => version(undefined, req as never),
  ContainerStatus: () => Promise.resolve(cannedStatus()),
};

async function serve(dir: string, level: LogLevel) {
  const logger = createLogger(level);
  const instrumented = createCriServer(HANDLERS, logger);
  const raw = new grpc.Server({
    "grpc.max_receive_message_length": 16 * 1024 * 1024,
    "grpc.max_send_message_length": 16 * 1024 * 1024,
  });
  const { runtimeService } = loadCri();
  raw.addService(runtimeService, {
    Version: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      HANDLERS.Version!(call.request, { signal: new AbortController().signal, method: "Version" })
        .then((r) => cb(null, r));
    },
    ContainerStatus: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, cannedStatus()),
  });
  for (const [name, server] of [["instrument", instrumented], ["raw", raw]] as const) {
    await listenUnix(server, join(dir, `listen+${name}.sock`), { logger });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(
        `unix:${join(dir, `bind+${name}.sock`)}`,
        grpc.ServerCredentials.createInsecure(),
        (err) => err ? reject(err) : resolve(),
      )
    );
  }
  await Deno.writeTextFile(join(dir, "ready"), "");
  await new Promise(() => {}); // until killed
}

/** CPU time of all threads of a process, in milliseconds (schedstat: nanoseconds). */
function cpuMs(pid: number): number {
  let ns = 0;
  for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/schedstat`).split(" ")[0]);
    } catch {
      // The thread ended.
    }
  }
  return ns / 1e6;
}

interface Sample {
  cpuPerCall: number;
  p50: number;
}

/**
 * Clients by endpoint, never closed: a grpc-js client's close sends GOAWAY, and Deno's
 * node:http2 server can crash on a GOAWAY after a hundred or so streams (denoland/deno#36788).
 */
const clients = new Map<string, CriClient>();

async function measure(
  endpoint: string,
  pid: number,
  rpc: string,
  calls: number,
  gapMs = 0,
): Promise<Sample> {
  let client = clients.get(endpoint);
  if (!client) clients.set(endpoint, client = connectCri(endpoint, { timeoutMs: 10_000 }));
  {
    const request = rpc === "Version" ? { version: "v1" } : { container_id: "x", verbose: false };
    for (let i = 0; i < 500; i++) await client.runtime[rpc]!(request); // warm up
    const before = cpuMs(pid);
    const lat: number[] = [];
    for (let i = 0; i < calls; i++) {
      if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      const t = performance.now();
      await client.runtime[rpc]!(request);
      lat.push(performance.now() - t);
    }
    const after = cpuMs(pid);
    lat.sort((a, b) => a - b);
    return { cpuPerCall: (after - before) / calls, p50: percentile(lat, 50) };
  }
}

function report(name: string, samples: Sample[]) {
  const cpu = samples.map((s) => s.cpuPerCall.toFixed(3)).join(" ");
  const p50 = samples.map((s) => s.p50.toFixed(3)).join(" ");
  console.log(`${name.padEnd(28)} cpu/call ms: ${cpu}   p50 ms: ${p50}`);
}

async function main() {
  const { values } = parseArgs({
    options: {
      serve: { type: "string" },
      "log-level": { type: "string", default: "info" },
      calls: { type: "string", default: "2000" },
      rounds: { type: "string", default: "3" },
      rpc: { type: "string", default: "Version,ContainerStatus" },
      daemon: { type: "boolean", default: false },
      gap: { type: "string", default: "0" },
      only: { type: "string" },
      profile: { type: "boolean", default: false },
    },
  });
  if (values.serve) return serve(values.serve, values["log-level"] as LogLevel);
  const calls = Number(values.calls);
  const rounds = Number(values.rounds);
  const gap = Number(values.gap);
  const dir = await Deno.makeTempDir({ prefix: "ocid-rpc-cost-" });
  const inspect = `127.0.0.1:${freePort()}`;
  let cdp: Cdp | undefined;
  const server = startDaemon(
    Deno.execPath(),
    [
      "run",
      "-A",
      ...DENO_FLAGS,
      ...(values.profile ? [`--inspect=${inspect}`] : []),
      new URL(import.meta.url).pathname,
      "--serve",
      dir,
      "--log-level",
      values["log-level"]!,
    ],
    { logPath: join(dir, "server.log") },
  );
  try {
    await waitFor("the server", () => {
      try {
        Deno.statSync(join(dir, "ready"));
        return true;
      } catch {
        return false;
      }
    });
    cdp = values.profile ? await Cdp.connect(inspect) : undefined;
    if (cdp) {
      await cdp.send("Profiler.enable");
      await cdp.send("Profiler.setSamplingInterval", { interval: 100 });
    }
    const endpoints = values.only?.split(",") ??
      ["listen+instrument", "bind+instrument", "listen+raw", "bind+raw"];
    for (const rpc of values.rpc!.split(",")) {
      const results = new Map<string, Sample[]>(endpoints.map((e) => [e, []]));
      for (let r = 0; r < rounds; r++) {
        for (const e of endpoints) {
          const last = r === rounds - 1;
          if (cdp && last) await cdp.send("Profiler.start");
          results.get(e)!.push(
            await measure(`unix://${join(dir, `${e}.sock`)}`, server.pid, rpc, calls, gap),
          );
          if (cdp && last) {
            const { profile } = await cdp.send<{ profile: CpuProfile }>("Profiler.stop");
            const summary = summarizeProfile(profile, 25);
            console.log(
              `profile of ${rpc} on ${e}: ${(summary.busyMs / calls).toFixed(3)} ms/call`,
            );
            for (const [cat, ms] of Object.entries(summary.byCategory)) {
              console.log(`  ${cat.padEnd(10)} ${(ms / calls).toFixed(3)}`);
            }
            for (const { frame, ms } of summary.top) {
              console.log(`  ${(ms / calls).toFixed(3)} ${frame}`);
            }
          }
        }
      }
      console.log(`${rpc}, ${calls} calls x ${rounds} rounds:`);
      for (const [e, s] of results) report(e, s);
    }
  } finally {
    cdp?.close();
    await server.stop(2_000);
    await Deno.remove(dir, { recursive: true });
  }
  if (values.daemon) {
    await using peer = await startOcid();
    await waitFor("ocid", async () => {
      const client = connectCri(peer.endpoint, { timeoutMs: 1_000 });
      try {
        await client.runtime.Version!({ version: "v1" });
        return true;
      } catch {
        return false;
      } finally {
        client.close();
      }
    }, { timeoutMs: 90_000, intervalMs: 200 });
    const samples = [];
    for (let r = 0; r < rounds; r++) {
      samples.push(await measure(peer.endpoint, peer.daemon.pid, "Version", calls, gap));
    }
    console.log("Version on the real daemon:");
    report("daemon", samples);
  }
}

if (import.meta.main) {
  await main();
  Deno.exit(0); // without closing the clients (see `clients`)
}
