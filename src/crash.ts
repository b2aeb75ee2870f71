/**
 * The crash test hook: `crashPoint("sandbox_run:after_cni")` kills the daemon with SIGKILL at
 * that step (of an RPC, or of the background cleanup after an exit) when the environment says
 * so, so that integration tests can check that a restart repairs what a `kill -9` at any step
 * leaves behind. Honoured only when `OCID_TEST_HOOKS=1` and `OCID_CRASH_AT` names the step (a
 * comma-separated list names several); a no-op otherwise.
 *
 * @module
 */

/** Every step a test may crash at, `<rpc or module file>:<step>`. */
export const CRASH_POINTS = [
  "sandbox_run:after_dirs",
  "sandbox_run:after_shm",
  "sandbox_run:after_netns",
  "sandbox_run:after_cni",
  "sandbox_run:before_pin",
  "sandbox_run:after_create",
  "sandbox_run:after_start",
  "sandbox_run:after_record",
  "sandbox_stop:after_containers",
  "sandbox_stop:after_infra",
  "sandbox_stop:after_cni",
  "sandbox_remove:after_stop",
  "sandbox_remove:after_runtime_delete",
  "sandbox_remove:after_record",
  "container_create:after_dirs",
  "container_create:after_rootfs",
  "container_create:after_spec",
  "container_create:after_create",
  "container_create:after_record",
  "container_start:before_start",
  "container_start:after_start",
  "exit_cleanup:before_delete",
  "exit_cleanup:after_runtime_cgroups",
  "image_pull:mid_blob",
  "image_pull:after_blob",
  "image_pull:after_layer",
  "image_pull:after_record",
] as const;

/** A crash point's name. */
export type CrashPointName = typeof CRASH_POINTS[number];

let armed: Set<string> | undefined;

function readEnv(): Set<string> {
  try {
    if (Deno.env.get("OCID_TEST_HOOKS") !== "1") return new Set();
    const at = Deno.env.get("OCID_CRASH_AT") ?? "";
    return new Set(at.split(",").map((s) => s.trim()).filter((s) => s !== ""));
  } catch {
    // No env permission: hooks are off.
    return new Set();
  }
}

/** Whether the environment arms the crash point `name` (see the module doc). */
export function crashArmed(name: CrashPointName): boolean {
  armed ??= readEnv();
  return armed.has(name);
}

/**
 * Kills the daemon with SIGKILL when `name` is armed by the environment (see the module doc).
 *
 * @param name the step, e.g. `sandbox_run:after_cni`
 */
export function crashPoint(name: CrashPointName): void {
  if (!crashArmed(name)) return;
  console.error(`ocid: crash hook: SIGKILL at "${name}"`);
  Deno.kill(Deno.pid, "SIGKILL");
}

/**
 * Passes `stream` through unchanged unless `name` is armed; then the daemon crashes when the
 * consumer asks for a second chunk, that is after it has handled (e.g. written to a temp file)
 * the first one. For "crash in the middle of a download".
 *
 * @param stream the bytes
 * @param name the crash point
 * @returns `stream` itself, or a stream that crashes at its second read
 */
export function crashMidStream(
  stream: ReadableStream<Uint8Array>,
  name: CrashPointName,
): ReadableStream<Uint8Array> {
  if (!crashArmed(name)) return stream;
  const reader = stream.getReader();
  let reads = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      // highWaterMark 0: pull runs only when the consumer reads, never ahead of it.
      if (reads++ > 0) crashPoint(name);
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
