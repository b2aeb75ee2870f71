/**
 * Small checks and probes the integration tests share: the gRPC status of a call, whether a
 * process runs, what a dir holds, which IPs host-local has allocated, polling, running a
 * program, and pushing the busybox test image to the test registry.
 *
 * @module
 */
import { isIP } from "node:net";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { busyboxImage, imageBlobs, skopeoPush, writeOciLayout } from "./images.ts";

/**
 * Awaits `promise` and returns the gRPC status code it ends with.
 *
 * @param promise A pending gRPC call.
 * @returns `grpc.status.OK` when it resolves, else the code of the `ServiceError` it rejects with.
 */
export async function grpcCode(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
  } catch (err) {
    return (err as grpc.ServiceError).code;
  }
  return grpc.status.OK;
}

/**
 * Whether `pid` runs. A zombie (state Z) or dead (X) process does not count, so a process
 * that exited but was not reaped yet reads as gone.
 *
 * @param pid The process ID.
 * @returns True when /proc/<pid>/stat exists and shows a live state.
 */
export function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2)[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/**
 * Lists the entry names of a dir.
 *
 * @param path The dir.
 * @returns The names, sorted; [] when the dir does not exist.
 * @throws {Deno.errors.PermissionDenied} And any other read error but NotFound.
 */
export async function listDir(path: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(path)) names.push(e.name);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return names.sort();
}

/**
 * The IPs host-local has allocated: it keeps one file per IP in `<dataDir>/<network>/`
 * (beside `lock` and `last_reserved_ip.*`, which are not counted).
 *
 * @param dataDir host-local's `dataDir`.
 * @returns The allocated IPs of every network there, sorted; [] when the dir does not exist.
 */
export async function allocatedIps(dataDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const net of await listDir(dataDir)) {
    for (const f of await listDir(join(dataDir, net))) {
      if (/^\d+\.\d+\.\d+\.\d+$/.test(f)) out.push(f);
    }
  }
  return out.sort();
}

/** Options of {@linkcode waitFor}. */
export interface WaitForOptions {
  /** How long to poll before failing. @default {30_000} */
  timeoutMs?: number;
  /** The pause between two polls. @default {50} */
  intervalMs?: number;
}

/**
 * Polls `fn` until it returns a value other than undefined. A poll that throws counts as not
 * yet; the last error is reported if time runs out.
 *
 * @param what What is awaited, for the error message ("the container to exit").
 * @param fn The poll.
 * @param options The deadline and poll interval.
 * @returns The first value `fn` returns that is not undefined.
 * @throws {Error} `Timed out waiting for <what>: <last error>` after `timeoutMs`.
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  options: WaitForOptions = {},
): Promise<T> {
  const { timeoutMs = 30_000, intervalMs = 50 } = options;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}: ${last ?? ""}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Runs a program to completion.
 *
 * @param cmd The program (looked up in PATH).
 * @param args Its arguments.
 * @returns Its stdout.
 * @throws {Error} When it exits with a non-zero code, with the command line and its stderr.
 */
export async function sh(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const decoder = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `"${[cmd, ...args].join(" ")}" failed with exit code ${out.code}: ${
        decoder.decode(out.stderr).trim()
      }`,
    );
  }
  return decoder.decode(out.stdout);
}

/**
 * Pushes the busybox test image (from `busyboxImage()`) to the registry at `host` with skopeo,
 * through an OCI layout in a temp dir that is removed afterwards.
 *
 * @param host The registry's `host:port`.
 * @param repo The repository, e.g. "it4/busybox"; its first segment names the temp dir.
 * @returns The pushed reference, `<host>/<repo>:1`.
 * @throws {Error} When skopeo fails.
 */
export async function pushBusybox(host: string, repo: string): Promise<string> {
  const ref = `${host}/${repo}:1`;
  const dir = await Deno.makeTempDir({ prefix: `ocid-${repo.split("/")[0]}-layout-` });
  try {
    const image = await busyboxImage();
    await writeOciLayout(dir, { top: image.manifest, blobs: imageBlobs(image), tag: "1" });
    await skopeoPush(dir, { tag: "1", dest: ref });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return ref;
}

/**
 * Waits until process `pid` catches signal `signo` (its `SigCgt` mask in /proc): a stop that
 * sends SIGTERM before a container's `trap` or handler is in place is lost when the process is
 * PID 1 of its namespace, which ignores signals it has no handler for.
 */
export async function waitForSignalHandler(pid: number, signo: number): Promise<void> {
  await waitFor(`process ${pid} to catch signal ${signo}`, async () => {
    const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
    const mask = /^SigCgt:\s+([0-9a-f]+)$/m.exec(status)?.[1];
    return mask !== undefined && (BigInt(`0x${mask}`) & (1n << BigInt(signo - 1))) !== 0n
      ? true
      : undefined;
  });
}

/**
 * The addresses the host-local IPAM plugin holds under `cniDataDir` (a file per address in each
 * network's dir), IPv4 and IPv6, sorted.
 */
export async function ipamReservations(cniDataDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const network of await listDir(cniDataDir).catch(() => [])) {
    for (const name of await listDir(join(cniDataDir, network))) {
      if (isIP(name) !== 0) out.push(name);
    }
  }
  return out.sort();
}
