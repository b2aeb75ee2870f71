/**
 * The cgroup attach warmer (`src/cgroups/attach_warm.ts`) on this machine's real cgroups: its
 * write of the process's own pid into its own cgroup succeeds, and moves the process nowhere.
 * Needs root and a mounted cgroup hierarchy.
 */
import assert from "node:assert/strict";
import {
  type AttachWarmerFs,
  createAttachWarmer,
  denoAttachWarmerFs,
  detectCgroupLayout,
  ownProcsFile,
} from "../../src/cgroups/mod.ts";
import type { Logger } from "../../src/log.ts";

Deno.test("AttachWarmer writes this process onto its own cgroup for real, moving it nowhere", async () => {
  const layout = await detectCgroupLayout();
  const before = await Deno.readTextFile("/proc/self/cgroup");
  const file = ownProcsFile(layout, before);
  assert.ok(file, `a mounted hierarchy in /proc/self/cgroup:\n${before}`);

  const logged: string[] = [];
  const log: Logger = {
    debug: (m) => logged.push(m),
    info: (m) => logged.push(m),
    warn: (m) => logged.push(m),
    error: (m) => logged.push(m),
  };
  const written: Array<PromiseSettledResult<void>> = [];
  let done!: () => void;
  const wrote = new Promise<void>((r) => done = r);
  const fs: AttachWarmerFs = {
    readTextFile: denoAttachWarmerFs.readTextFile,
    async writeTextFile(path, data) {
      assert.equal(path, file);
      assert.equal(data, String(Deno.pid));
      const [result] = await Promise.allSettled([denoAttachWarmerFs.writeTextFile(path, data)]);
      written.push(result!);
      done();
      if (result!.status === "rejected") throw result!.reason;
    },
  };
  const warmer = createAttachWarmer({ layout, fs, logger: log });
  warmer.warm();
  await wrote;
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(written.length, 1);
  assert.equal(
    written[0]!.status,
    "fulfilled",
    String((written[0] as { reason?: unknown }).reason),
  );
  assert.deepEqual(logged, [], "warming stays on");
  assert.equal(await Deno.readTextFile("/proc/self/cgroup"), before);
  // And still procs of the same cgroup: the pid is listed where it was.
  const procs = (await Deno.readTextFile(file)).split("\n");
  assert.ok(procs.includes(String(Deno.pid)), `${Deno.pid} in ${file}`);
});
