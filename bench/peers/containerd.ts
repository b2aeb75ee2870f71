/**
 * The containerd peer: Debian's containerd 1.6 with its built-in CRI plugin on its own
 * socket, root and state dirs, fully offline (images from the bench registry on 127.0.0.1),
 * the same CNI plugins and conflist shape and the same runc as ocid.
 *
 * Two facts of our machines are baked in: without CAP_SYS_RESOURCE every sandbox fails
 * unless `restrict_oom_score_adj = true`; and containerd 1.6 rejects a registry
 * `hosts.toml` without a `[host."http://127.0.0.1:PORT"]` table and then goes upstream.
 *
 * Usable as a CLI too: `deno run -A bench/peers/containerd.ts up|down` (see
 * scripts/containerd/up.sh).
 *
 * @module
 */
import { join } from "node:path";
import { type BenchNetwork, writeConflist } from "../_cni.ts";
import {
  type Daemon,
  deleteLink,
  findMonitors,
  killPids,
  removeTree,
  startDaemon,
  tail,
  waitFor,
} from "../_proc.ts";

/** Options of {@linkcode startContainerd}. */
export interface ContainerdOptions {
  /** `127.0.0.1:PORT` of the bench registry. */
  registryHost: string;
  /** Full reference of the pause image in that registry. */
  sandboxImage: string;
  /** @default {bridge: "ocidbc0", subnet: "10.234.8.0/24"} */
  bridge?: string;
  subnet?: string;
  /** @default "/usr/bin/containerd" */
  binary?: string;
  /** @default "/usr/sbin/runc" */
  runc?: string;
}

/** A running containerd. */
export interface ContainerdPeer extends AsyncDisposable {
  /** `unix:///.../containerd.sock` */
  readonly endpoint: string;
  readonly dir: string;
  readonly daemon: Daemon;
  /** Pids of this instance's containerd-shim-runc-v2 processes. */
  monitors(): number[];
  close(): Promise<void>;
}

/** Renders config.toml (version 2) for a containerd rooted at `dir`. */
export function containerdConfig(
  dir: string,
  options: { registryHost: string; sandboxImage: string; runc: string; cniConfDir: string },
): string {
  const cri = `plugins."io.containerd.grpc.v1.cri"`;
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"
oom_score = 0
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.native",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "${dir}/containerd.sock"

[ttrpc]
  address = "${dir}/containerd.sock.ttrpc"

[debug]
  address = ""
  level = "warn"

[metrics]
  address = ""

[${cri}]
  sandbox_image = "${options.sandboxImage}"
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_cdi = false

[${cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[${cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  BinaryName = "${options.runc}"

[${cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "${options.cniConfDir}"
  max_conf_num = 1

[${cri}.registry]
  config_path = "${dir}/certs.d"

[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
`;
}

/** Renders `certs.d/<host>/hosts.toml` sending pulls for `host` to plain HTTP on loopback. */
export function hostsToml(host: string): string {
  return `server = "http://${host}"

[host."http://${host}"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
`;
}

/**
 * Starts containerd in a new temp dir and waits for its CRI socket.
 *
 * @param options registry and sandbox image; network and binaries have defaults
 * @returns the peer; `close()` stops it, kills its shims, unmounts, removes the dir and bridge
 * @throws Error with containerd's log when it does not come up
 */
export async function startContainerd(options: ContainerdOptions): Promise<ContainerdPeer> {
  const dir = await Deno.makeTempDir({ prefix: "ocid-bench-containerd-" });
  const net: BenchNetwork = {
    name: "ocid-bench-containerd",
    bridge: options.bridge ?? "ocidbc0",
    subnet: options.subnet ?? "10.234.8.0/24",
    ipamDataDir: join(dir, "cni-ipam"),
  };
  const cniConfDir = join(dir, "net.d");
  await writeConflist(cniConfDir, net);
  const hostsDir = join(dir, "certs.d", options.registryHost);
  await Deno.mkdir(hostsDir, { recursive: true });
  await Deno.writeTextFile(join(hostsDir, "hosts.toml"), hostsToml(options.registryHost));
  const configPath = join(dir, "config.toml");
  await Deno.writeTextFile(
    configPath,
    containerdConfig(dir, {
      registryHost: options.registryHost,
      sandboxImage: options.sandboxImage,
      runc: options.runc ?? "/usr/sbin/runc",
      cniConfDir,
    }),
  );
  const socket = join(dir, "containerd.sock");
  const daemon = startDaemon(options.binary ?? "/usr/bin/containerd", ["--config", configPath], {
    logPath: join(dir, "containerd.log"),
  });
  const monitors = () => findMonitors(["containerd-shim", "containerd-shim-runc-v2"], socket);
  const close = async () => {
    await daemon.stop(10_000);
    killPids(monitors());
    await removeTree(dir);
    await deleteLink(net.bridge);
  };
  try {
    await waitFor(`containerd's socket ${socket}`, async () => {
      try {
        await Deno.stat(socket);
        return true;
      } catch {
        if (await Promise.race([daemon.exited.then(() => true), Promise.resolve(false)])) {
          throw new Error("containerd exited");
        }
        return false;
      }
    }, { timeoutMs: 30_000 });
  } catch (err) {
    const log = tail(daemon.logPath, 30);
    await close();
    throw new Error(`Cannot start containerd: ${(err as Error).message}\n${log}`, { cause: err });
  }
  return {
    endpoint: `unix://${socket}`,
    dir,
    daemon,
    monitors,
    close,
    [Symbol.asyncDispose]: close,
  };
}

if (import.meta.main) {
  // `up`: registry + containerd in the foreground until SIGINT/SIGTERM, then torn down.
  const { startRegistry } = await import("../_registry.ts");
  const registry = await startRegistry(await Deno.makeTempDir({ prefix: "ocid-bench-registry-" }));
  let peer: ContainerdPeer;
  try {
    peer = await startContainerd({
      registryHost: registry.host,
      sandboxImage: registry.images.pause,
    });
  } catch (err) {
    await registry.close();
    throw err;
  }
  console.log(`CONTAINERD_ENDPOINT=${peer.endpoint}`);
  console.log(`CONTAINERD_DIR=${peer.dir}`);
  console.log(`BENCH_REGISTRY=${registry.host}`);
  for (const [k, v] of Object.entries(registry.images)) {
    console.log(`IMAGE_${k.toUpperCase()}=${v}`);
  }
  console.log("Press Ctrl-C to tear down.");
  await new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGINT", resolve);
    Deno.addSignalListener("SIGTERM", resolve);
  });
  await peer.close();
  await registry.close();
  Deno.exit(0);
}
