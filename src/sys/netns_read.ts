/**
 * Reads a file from inside a pinned network namespace, synchronously on the calling thread (the
 * daemon's main thread), through {@linkcode NsLibc}. For what only shows from inside a netns
 * when no process is there to read it through: `/proc/thread-self/net/dev`, the counters of a
 * pod without an infra process and without a running container.
 *
 * 1. note the inode of the thread's netns and open it (`orig`);
 * 2. open the pod's netns file and `setns` into it; check the thread is in the namespace the
 *    file holds and not in the one of step 1 (a file holding the node's netns is refused, so
 *    nothing is read from the node);
 * 3. read the file (a synchronous op: it runs on this thread, nothing else runs meanwhile);
 * 4. `setns(orig)`, check the thread's netns inode is the one of step 1; close `orig`.
 *
 * Steps 2 to 4 are `inPodNetns` and `stranded` of `pod_ns_pin.ts`, the ones the pod pinner
 * writes net sysctls with. When the thread cannot get back (step 4) the result is `fatal`: the
 * thread is stranded in the pod's netns and must not be used again (`thread_ns_pinner.ts`).
 *
 * @module
 */
import type { NsLibc } from "./libc_ns.ts";
import { failureOf, openThreadNetns, type PinFailure, text } from "./netns_pin.ts";
import { inPodNetns, stranded } from "./pod_ns_pin.ts";

/** What {@linkcode readInNetns} did. */
export type NetnsReadResult = { ok: true; /** The file's text. */ text: string } | PinFailure;

/**
 * Reads `path` with the calling thread inside the netns pinned at `netns`, leaving the thread
 * where it was; see the module doc.
 *
 * @param libc The calls (tests pass a fake).
 * @param netns The pinned network namespace file.
 * @param path The file to read inside, e.g. `/proc/thread-self/net/dev`.
 * @returns The text, or the failed step.
 */
export function readInNetns(libc: NsLibc, netns: string, path: string): NetnsReadResult {
  const fail = failureOf(libc);
  const home = openThreadNetns(libc, fail);
  if ("ok" in home) return home;
  const { before, orig } = home;
  try {
    let content = "";
    const failure = inPodNetns(libc, netns, before, orig, fail, () => {
      try {
        content = libc.readFile(path);
        return undefined;
      } catch (e) {
        return fail("read", 0, `cannot read "${path}" in "${netns}": ${text(e)}`);
      }
    });
    if (failure?.fatal) return failure;
    return stranded(libc, new Map([["net", before]]), fail) ?? failure ??
      { ok: true, text: content };
  } finally {
    libc.close(orig);
  }
}
