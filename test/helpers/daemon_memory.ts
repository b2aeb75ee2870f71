/**
 * The test daemon's memory as it logs it after a full GC (SIGUSR2; start the daemon with
 * `--v8-flags=--expose-gc` for the GC to be forced).
 *
 * @module
 */
import { waitFor } from "./checks.ts";
import type { TestDaemon } from "./daemon.ts";

/** The daemon's memory after a full GC: SIGUSR2 makes it log `Memory rss=… heapUsed=…`. */
export async function memoryAfterGc(
  daemon: TestDaemon,
): Promise<{ rss: number; heapUsed: number }> {
  const count = () => daemon.output().split("\n").filter((l) => / info Memory /.test(l));
  const seen = count().length;
  Deno.kill(daemon.pid, "SIGUSR2");
  const line = await waitFor("the daemon's Memory log line", () => {
    const lines = count();
    return Promise.resolve(lines.length > seen ? lines.at(-1) : undefined);
  });
  const field = (k: string) => {
    const m = new RegExp(`\\b${k}=(\\d+)`).exec(line);
    if (!m) throw new Error(`No ${k} in "${line}"`);
    return Number(m[1]);
  };
  return { rss: field("rss"), heapUsed: field("heapUsed") };
}
