/**
 * What `ocid doctor` reads of the machine, behind one interface so that unit tests can run
 * every check on fakes. {@linkcode realDoctorHost} reads the real machine.
 *
 * @module
 */
import { statfs } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { type CgroupLayout, detectCgroupLayout } from "../cgroups/layout.ts";
import { call, criClients } from "../cri/proto.ts";
import type { Runner } from "../process.ts";
import { denoRunner } from "../process.ts";
import { defaultMounter } from "../sys/default_mounter.ts";

/** File facts a check needs. */
export interface FileInfo {
  isFile: boolean;
  isDirectory: boolean;
  isSocket: boolean;
  /** Permission bits. */
  mode: number;
}

/** Space on a filesystem. */
export interface SpaceInfo {
  /** Bytes available to an unprivileged writer. */
  available: number;
  total: number;
  /** `f_type` of statfs(2). */
  type: number;
}

/** What answers on a socket. */
export type SocketProbe =
  | { kind: "absent" }
  | { kind: "not-socket" }
  | { kind: "stale"; error: string }
  | { kind: "cri"; runtimeName: string; runtimeVersion: string }
  | { kind: "other"; error: string };

/** The machine as `ocid doctor` sees it. */
export interface DoctorHost {
  /** Runs a program (version queries, CNI VERSION). */
  runner: Runner;
  /** Facts about a path (following symlinks), or undefined when it does not exist. */
  stat(path: string): Promise<FileInfo | undefined>;
  /** True when the path is an executable file. */
  isExecutable(path: string): Promise<boolean>;
  /** Reads a text file; throws `Deno.errors.NotFound` when missing. */
  readTextFile(path: string): Promise<string>;
  /** Names in a directory; throws `Deno.errors.NotFound` when missing. */
  readDir(path: string): Promise<string[]>;
  /** Space on the filesystem holding `path` (or its nearest existing ancestor). */
  space(path: string): Promise<SpaceInfo>;
  cgroupLayout(): Promise<CgroupLayout>;
  /** The effective capability set of this process. */
  capEff(): Promise<bigint>;
  /** The effective uid. */
  uid(): number;
  /** True when systemd is PID 1. */
  systemdIsInit(): boolean;
  /**
   * Mounts a small overlay in a fresh temporary dir under `dir` (or, when `dir` does not exist
   * yet, its nearest existing ancestor: the same filesystem unless `dir` becomes a mount), then
   * unmounts and removes it; throws the cause.
   */
  tryOverlay(dir: string): Promise<void>;
  /** Who answers on a unix socket. */
  probeSocket(path: string): Promise<SocketProbe>;
}

/** The nearest existing directory at or above `path`. */
async function existingAncestor(path: string): Promise<string> {
  let p = path;
  for (;;) {
    try {
      await Deno.stat(p);
      return p;
    } catch {
      const parent = join(p, "..");
      if (parent === p) return "/";
      p = parent;
    }
  }
}

/** Reads the real machine. */
export function realDoctorHost(runner: Runner = denoRunner): DoctorHost {
  return {
    runner,
    async stat(path) {
      try {
        const s = await Deno.stat(path);
        return {
          isFile: s.isFile,
          isDirectory: s.isDirectory,
          isSocket: s.isSocket === true,
          mode: (s.mode ?? 0) & 0o7777,
        };
      } catch {
        return undefined;
      }
    },
    async isExecutable(path) {
      try {
        const s = await Deno.stat(path);
        return s.isFile && ((s.mode ?? 0) & 0o111) !== 0;
      } catch {
        return false;
      }
    },
    readTextFile: (path) => Deno.readTextFile(path),
    async readDir(path) {
      const names: string[] = [];
      for await (const e of Deno.readDir(path)) names.push(e.name);
      return names;
    },
    async space(path) {
      const s = await statfs(await existingAncestor(path));
      return { available: s.bavail * s.bsize, total: s.blocks * s.bsize, type: s.type };
    },
    cgroupLayout: detectCgroupLayout,
    async capEff() {
      const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(await Deno.readTextFile("/proc/self/status"));
      return m?.[1] ? BigInt(`0x${m[1]}`) : 0n;
    },
    uid: () => Deno.uid() ?? -1,
    systemdIsInit() {
      try {
        return Deno.readTextFileSync("/proc/1/comm").trim() === "systemd";
      } catch {
        return false;
      }
    },
    async tryOverlay(dir) {
      const base = await Deno.makeTempDir({
        dir: await existingAncestor(dir),
        prefix: ".ocid-doctor-overlay-",
      });
      const mounter = defaultMounter(runner);
      try {
        for (const d of ["lower", "upper", "work", "merged"]) await Deno.mkdir(join(base, d));
        await Deno.writeTextFile(join(base, "lower", "f"), "x");
        const data = `lowerdir=${base}/lower,upperdir=${base}/upper,workdir=${base}/work`;
        await mounter.mount("overlay", join(base, "merged"), "overlay", 0, data);
        try {
          await Deno.writeTextFile(join(base, "merged", "f"), "y");
        } finally {
          await mounter.unmount(join(base, "merged"));
        }
      } finally {
        await Deno.remove(base, { recursive: true });
      }
    },
    async probeSocket(path) {
      let info: Deno.FileInfo;
      try {
        info = await Deno.lstat(path);
      } catch {
        return { kind: "absent" };
      }
      if (!info.isSocket) return { kind: "not-socket" };
      const refused = await new Promise<string | undefined>((resolve) => {
        const sock = connect(path);
        sock.once("connect", () => {
          sock.destroy();
          resolve(undefined);
        });
        sock.once("error", (err) => resolve(err.message));
      });
      if (refused !== undefined) return { kind: "stale", error: refused };
      const clients = criClients(path, {
        channelOptions: { "grpc.use_local_subchannel_pool": 1 },
      });
      try {
        const v = await call(clients.runtime, "Version", { version: "v1" }, { deadlineMs: 2000 });
        return { kind: "cri", runtimeName: v.runtime_name, runtimeVersion: v.runtime_version };
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        return { kind: "other", error: message };
      } finally {
        clients.close();
      }
    },
  };
}
