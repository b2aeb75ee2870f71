/**
 * Picks the mounter once per process, at the first {@linkcode defaultMounter} call (daemon
 * start-up: the netns and rootfs managers ask when they are built): libc on Linux when FFI
 * is permitted, the `mount`/`umount` programs otherwise, or as `OCID_MOUNTER=exec|libc` says.
 *
 * @module
 */
import type { Runner } from "../process.ts";
import { ExecMounter } from "./exec_mounter.ts";
import { type Libc, openLibc } from "./libc.ts";
import { LibcMounter } from "./libc_mounter.ts";
import type { Mounter } from "./mounter.ts";

/** Which mounter to use; an OCID_MOUNTER value. */
export type MounterKind = Mounter["kind"];

/** Inputs of {@linkcode chooseMounterKind}. */
export interface MounterChoice {
  /** `Deno.build.os`. */
  os: string;
  /** The OCID_MOUNTER setting, if any. */
  setting: string | undefined;
  /** Whether libc could be opened through FFI. */
  ffi: boolean;
}

/**
 * Decides the mounter: `libc` on Linux when FFI works, unless OCID_MOUNTER says `exec`.
 *
 * @throws {TypeError} When OCID_MOUNTER is not `exec`, `libc` or empty, or says `libc`
 *   where FFI does not work.
 */
export function chooseMounterKind(choice: MounterChoice): MounterKind {
  const setting = choice.setting ?? "";
  if (setting !== "" && setting !== "exec" && setting !== "libc") {
    throw new TypeError(`Invalid OCID_MOUNTER "${setting}": use "exec" or "libc"`);
  }
  if (setting === "exec") return "exec";
  const libcWorks = choice.os === "linux" && choice.ffi;
  if (setting === "libc" && !libcWorks) {
    throw new TypeError(
      `OCID_MOUNTER is "libc" but libc mount calls are unavailable here (os "${choice.os}", ffi ${choice.ffi}): run with --allow-ffi or set OCID_MOUNTER=exec`,
    );
  }
  return libcWorks ? "libc" : "exec";
}

/** The process-wide choice, made once. */
let chosen: { kind: MounterKind; libc?: LibcMounter } | undefined;

function readSetting(): string | undefined {
  try {
    return Deno.env.get("OCID_MOUNTER");
  } catch {
    return undefined; // No --allow-env: the default.
  }
}

function tryOpenLibc(): Libc | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    return openLibc();
  } catch {
    return undefined; // No --allow-ffi or no glibc: fall back to the programs.
  }
}

/**
 * The mounter this process uses: chosen once (OCID_MOUNTER, then whether FFI works) and
 * reused; the `exec` mounter runs its programs through `runner`.
 *
 * @param runner Runs `mount`/`umount` when the programs are used.
 * @throws {TypeError} When OCID_MOUNTER is invalid (see {@linkcode chooseMounterKind}).
 */
export function defaultMounter(runner: Runner): Mounter {
  if (!chosen) {
    const setting = readSetting();
    const libc = setting === "exec" ? undefined : tryOpenLibc();
    const kind = chooseMounterKind({ os: Deno.build.os, setting, ffi: libc !== undefined });
    chosen = kind === "libc" && libc ? { kind, libc: new LibcMounter(libc) } : { kind: "exec" };
  }
  return chosen.libc ?? new ExecMounter(runner);
}
