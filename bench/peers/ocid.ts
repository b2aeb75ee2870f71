/**
 * ocid as a benchmark target: started by the harness from this work tree with its own
 * root, runroot, socket and CNI config dir (bridge `ocidbo0`, 10.234.9.0/24), the pause
 * binary and image from its default config, and the real Deno binary (not the npm wrapper).
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BenchNetwork, writeConflist } from "../_cni.ts";
import { denoRunner, text } from "../../src/process.ts";
import { DENO_FLAGS } from "../../src/v8_flags.ts";
import {
  type Daemon,
  deleteLink,
  findMonitors,
  killPids,
  removeTree,
  startDaemon,
  tail,
} from "../_proc.ts";
import { type CriTarget, criTarget, type CriTargetOptions } from "../cri_target.ts";

/** Options of {@linkcode startOcid}. */
export interface OcidOptions {
  /** @default "ocidbo0" */
  bridge?: string;
  /** @default "10.234.9.0/24" */
  subnet?: string;
  /** @default Deno.execPath() */
  deno?: string;
  /** @default "/usr/sbin/runc" (used only to clean up leftovers) */
  runc?: string;
  /** Flags for `deno run` before the script, e.g. `--inspect=127.0.0.1:9230`. @default [] */
  denoFlags?: string[];
  /** More ocid flags, e.g. `["--log-level", "debug"]`. @default [] */
  args?: string[];
}

/** A running ocid. */
export interface OcidPeer extends AsyncDisposable {
  /** `unix:///.../ocid.sock` */
  readonly endpoint: string;
  readonly dir: string;
  readonly daemon: Daemon;
  /** Pids of this instance's conmon processes. */
  monitors(): number[];
  close(): Promise<void>;
}

const REPO = fileURLToPath(new URL("../../", import.meta.url));

/** Where one ocid instance keeps its state and finds its CNI config. */
export interface OcidDirs {
  root: string;
  runroot: string;
  socket: string;
  cniDir: string;
}

/** The `deno` arguments that run ocid from the repository on `dirs`. */
export function ocidArgs(
  dirs: OcidDirs,
  options: { denoFlags?: string[]; args?: string[] } = {},
): string[] {
  return [
    "run",
    "-A",
    ...DENO_FLAGS,
    ...(options.denoFlags ?? []),
    "src/main.ts",
    "--root",
    dirs.root,
    "--runroot",
    dirs.runroot,
    "--listen",
    dirs.socket,
    "--cni-config-dir",
    dirs.cniDir,
    "--cni-plugin-dir",
    "/usr/lib/cni",
    ...(options.args ?? []),
  ];
}

/**
 * Starts ocid in a new temp dir. Does not wait for it: a CRI target waits for Version.
 *
 * @returns the peer; `close()` stops ocid, kills its conmons, deletes leftover runc
 *   containers under its runroot, unmounts, removes the dir and the bridge
 */
export async function startOcid(options: OcidOptions = {}): Promise<OcidPeer> {
  const dir = await Deno.makeTempDir({ prefix: "ocid-bench-ocid-" });
  const net: BenchNetwork = {
    name: "ocid-bench-ocid",
    bridge: options.bridge ?? "ocidbo0",
    subnet: options.subnet ?? "10.234.9.0/24",
    ipamDataDir: join(dir, "cni-ipam"),
  };
  const cniDir = join(dir, "net.d");
  await writeConflist(cniDir, net);
  const root = join(dir, "root");
  const runroot = join(dir, "run");
  const socket = join(dir, "ocid.sock");
  const daemon = startDaemon(
    options.deno ?? Deno.execPath(),
    ocidArgs({ root, runroot, socket, cniDir }, options),
    { logPath: join(dir, "ocid.log"), cwd: REPO },
  );
  const monitors = () => findMonitors(["conmon"], dir);
  const close = async () => {
    await daemon.stop(15_000);
    killPids(monitors());
    const runc = options.runc ?? "/usr/sbin/runc";
    for (const name of ["runc", "crun"]) {
      const rroot = join(runroot, name);
      const list = await denoRunner.run(runc, ["--root", rroot, "list", "-q"], { check: false });
      for (const id of text(list.stdout).split("\n")) {
        if (id) {
          await denoRunner.run(runc, ["--root", rroot, "delete", "--force", id], { check: false });
        }
      }
    }
    await removeTree(dir);
    await deleteLink(net.bridge);
  };
  return {
    endpoint: `unix://${socket}`,
    dir,
    daemon,
    monitors,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * The CRI target of a started ocid: waits up to 90 s for it to answer (a first start compiles
 * the code) and, when it does not, fails with the tail of its log.
 *
 * @param peer The ocid from {@linkcode startOcid}.
 * @param options The image and log dir of the scenario.
 * @returns The target, with the daemon's pid, monitors and exit.
 */
export async function ocidTarget(
  peer: OcidPeer,
  options: Pick<CriTargetOptions, "busybox" | "logDir">,
): Promise<CriTarget> {
  return await criTarget("ocid", peer.endpoint, {
    ...options,
    daemonPid: peer.daemon.pid,
    monitors: peer.monitors,
    exited: peer.daemon.exited,
    readyTimeoutMs: 90_000,
  }).catch((err) => {
    throw new Error(`${err.message}\nocid log:\n${tail(peer.daemon.logPath, 30)}`);
  });
}
