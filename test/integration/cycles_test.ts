/**
 * Pod create/remove cycles leave the node exactly as it was: mounts, netns, files under the
 * daemon's dirs, processes, the daemon's open fds, and bounded RSS growth. 50 cycles by
 * default; `OCID_CYCLES=500` runs the full 500 of issue 5. Root only. Network: bridge
 * "ocidt7", 10.234.7.0/24 (run it apart from concurrency_test, which uses the same bridge).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { call } from "../../src/cri/proto.ts";
import { startDaemon } from "../helpers/daemon.ts";
import { assertNodeClean, nodeState, podConfig, runPod } from "./_node_state.ts";

const BRIDGE = "ocidt7";
const SUBNET = "10.234.7.0/24";
const CYCLES = Number(Deno.env.get("OCID_CYCLES") ?? "50");

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  try {
    for await (const e of Deno.readDir(dir)) {
      n++;
      if (e.isDirectory) n += await countFiles(join(dir, e.name));
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return n;
}

async function fdCount(pid: number): Promise<number> {
  let n = 0;
  for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) n++;
  return n;
}

async function rssKb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? "0");
}

Deno.test({
  name: `${CYCLES} pod create/remove cycles leave the node as it was`,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const daemon = await startDaemon({ bridge: BRIDGE, subnet: SUBNET });
    try {
      const { runtime } = daemon.clients;
      // Warm-up: first-use dirs (netns bind mount, cni cache dir) and JIT.
      for (let i = 0; i < 5; i++) {
        const id = await runPod(daemon.clients, podConfig(`warm${i}`, "it7c"));
        await call(runtime, "StopPodSandbox", { pod_sandbox_id: id });
        await call(runtime, "RemovePodSandbox", { pod_sandbox_id: id });
      }
      const base = daemon.dirs.base;
      const before = {
        state: await nodeState(daemon.dirs, daemon.pid),
        files: await countFiles(base),
        fds: await fdCount(daemon.pid),
        rss: await rssKb(daemon.pid),
      };
      const t0 = performance.now();
      let midRss = 0;
      for (let i = 0; i < CYCLES; i++) {
        if (i === Math.floor(CYCLES / 2)) midRss = await rssKb(daemon.pid);
        const id = await runPod(daemon.clients, podConfig(`c${i}`, "it7c"));
        await call(runtime, "StopPodSandbox", { pod_sandbox_id: id });
        await call(runtime, "RemovePodSandbox", { pod_sandbox_id: id });
      }
      const ms = performance.now() - t0;
      const after = {
        state: await nodeState(daemon.dirs, daemon.pid),
        files: await countFiles(base),
        fds: await fdCount(daemon.pid),
        rss: await rssKb(daemon.pid),
      };
      console.log(
        `${CYCLES} cycles in ${(ms / 1000).toFixed(1)} s (${(ms / CYCLES).toFixed(0)} ms each); ` +
          `fds ${before.fds} -> ${after.fds}; RSS ${before.rss} -> ${midRss} -> ${after.rss} kB; ` +
          `files ${before.files} -> ${after.files}`,
      );
      assert.deepEqual(after.state, before.state);
      await assertNodeClean(daemon.dirs, daemon.pid, `after ${CYCLES} cycles`);
      assert.equal(after.files, before.files, "files under the daemon's dirs");
      assert.ok(after.fds <= before.fds + 2, `daemon fds ${before.fds} -> ${after.fds}`);
      // V8 grows its heap lazily, so the first cycles raise RSS; a leak keeps raising it. The
      // second half of the cycles may add at most half of what the first half added, + 16 MB.
      const first = midRss - before.rss;
      const second = after.rss - midRss;
      assert.ok(second < first / 2 + 16 * 1024, `RSS grew ${first} kB, then ${second} kB`);
    } finally {
      await daemon.cleanup();
    }
  },
});
