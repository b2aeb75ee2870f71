/**
 * A throwaway image registry for the benchmark: `docker-registry serve` on 127.0.0.1 with
 * a temp storage dir, holding three tiny images built offline with umoci from this
 * machine's static binaries and pushed with skopeo:
 *
 * - `ocid-bench/pause`: catatonit as `/pause`, entrypoint `/pause -P`
 * - `ocid-bench/busybox`: busybox-static with its applet links in `/bin`
 * - `ocid-bench/pullme`: busybox plus a random file, so its layer is shared with nothing
 *   and an "uncached" pull really transfers it
 *
 * @module
 */
import { join } from "node:path";
import { denoRunner, text } from "../src/process.ts";
import { type Daemon, freePort, removeTree, startDaemon, tail, waitFor } from "./_proc.ts";

/** A running registry and the references of its images. */
export interface BenchRegistry extends AsyncDisposable {
  /** `127.0.0.1:PORT` */
  readonly host: string;
  readonly port: number;
  readonly images: { pause: string; busybox: string; pullme: string };
  readonly daemon: Daemon;
  close(): Promise<void>;
}

const run = (cmd: string, args: string[]) => denoRunner.run(cmd, args, { timeoutMs: 120_000 });

async function buildImage(
  layout: string,
  tag: string,
  options: { files: (rootfs: string) => Promise<void>; entrypoint?: string[]; cmd?: string[] },
): Promise<void> {
  const image = `${layout}:${tag}`;
  const bundle = `${layout}-bundle-${tag}`;
  await run("umoci", ["new", "--image", image]);
  await run("umoci", ["unpack", "--image", image, bundle]);
  await options.files(join(bundle, "rootfs"));
  await run("umoci", ["repack", "--no-history", "--image", image, bundle]);
  const cfg = ["config", "--no-history", "--image", image];
  for (const e of options.entrypoint ?? []) cfg.push("--config.entrypoint", e);
  for (const c of options.cmd ?? []) cfg.push("--config.cmd", c);
  cfg.push("--config.env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  await run("umoci", cfg);
  await Deno.remove(bundle, { recursive: true });
}

async function installBusybox(rootfs: string): Promise<void> {
  await Deno.mkdir(join(rootfs, "bin"), { recursive: true });
  await Deno.mkdir(join(rootfs, "tmp"), { recursive: true });
  await Deno.copyFile("/usr/bin/busybox", join(rootfs, "bin/busybox"));
  await Deno.chmod(join(rootfs, "bin/busybox"), 0o755);
  const list = text((await run("/usr/bin/busybox", ["--list"])).stdout).split("\n");
  for (const applet of list) {
    if (applet && applet !== "busybox") {
      await Deno.symlink("busybox", join(rootfs, "bin", applet)).catch(() => {});
    }
  }
}

/**
 * Builds the images into an OCI layout under `dir`, starts the registry and pushes them.
 *
 * @param dir a fresh temp dir owned by the registry (removed by `close()`)
 * @returns the running registry; `close()` stops it and removes `dir`
 * @throws Error with the registry log when it does not come up
 */
export async function startRegistry(dir: string): Promise<BenchRegistry> {
  const layout = join(dir, "oci");
  await run("umoci", ["init", "--layout", layout]);
  await buildImage(layout, "pause", {
    files: async (rootfs) => {
      await Deno.copyFile("/usr/bin/catatonit", join(rootfs, "pause"));
      await Deno.chmod(join(rootfs, "pause"), 0o755);
    },
    entrypoint: ["/pause", "-P"],
  });
  await buildImage(layout, "busybox", { files: installBusybox, cmd: ["sh"] });
  await buildImage(layout, "pullme", {
    files: async (rootfs) => {
      await installBusybox(rootfs);
      await Deno.writeFile(join(rootfs, "random"), crypto.getRandomValues(new Uint8Array(65536)));
    },
    cmd: ["sh"],
  });

  const port = freePort();
  const host = `127.0.0.1:${port}`;
  const config = join(dir, "config.yml");
  await Deno.writeTextFile(
    config,
    [
      "version: 0.1",
      "log:",
      "  level: warn",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${join(dir, "storage")}`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: ${host}`,
      "",
    ].join("\n"),
  );
  const daemon = startDaemon("/usr/bin/docker-registry", ["serve", config], {
    logPath: join(dir, "registry.log"),
  });
  const close = async () => {
    await daemon.stop(5_000);
    await removeTree(dir);
  };
  try {
    await waitFor(`the registry on ${host}`, async () => {
      try {
        const res = await fetch(`http://${host}/v2/`);
        await res.body?.cancel();
        return res.ok;
      } catch {
        return false;
      }
    }, { timeoutMs: 15_000 });
    for (const tag of ["pause", "busybox", "pullme"]) {
      await run("skopeo", [
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        `oci:${layout}:${tag}`,
        `docker://${host}/ocid-bench/${tag}:latest`,
      ]);
    }
  } catch (err) {
    const log = tail(daemon.logPath);
    await close();
    throw new Error(`Cannot start the bench registry: ${(err as Error).message}\n${log}`, {
      cause: err,
    });
  }
  return {
    host,
    port,
    images: {
      pause: `${host}/ocid-bench/pause:latest`,
      busybox: `${host}/ocid-bench/busybox:latest`,
      pullme: `${host}/ocid-bench/pullme:latest`,
    },
    daemon,
    close,
    [Symbol.asyncDispose]: close,
  };
}
