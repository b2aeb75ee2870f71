/**
 * Makes an OCI bundle for integration tests: a rootfs with busybox-static and its applets,
 * and a config.json from `runc spec` with the process edited. Independent of `src/spec`.
 *
 * @module
 */
import { join } from "node:path";

/** Applets linked to /bin/busybox in the rootfs. */
const APPLETS = ["sh", "sleep", "echo", "cat", "yes", "true", "false", "ls", "id", "env", "head"];

/** Options of {@linkcode makeBundle}. */
export interface MakeBundleOptions {
  /** Process args. @default ["sleep", "1000"] */
  args?: string[];
  /** Extra `KEY=value` entries of the process env. */
  env?: string[];
  /** Edit the parsed config.json before it is written. */
  edit?: (spec: Record<string, unknown>) => void;
  /** Path of a static busybox. @default "/usr/bin/busybox" */
  busybox?: string;
  /** Path of runc, used for `runc spec`. @default "/usr/sbin/runc" */
  runc?: string;
}

/**
 * Creates `<parent>/<name>` with `config.json` and `rootfs/`.
 *
 * @param parent An existing dir (a test's temp dir).
 * @param name Name of the bundle dir.
 * @returns The bundle path.
 */
export async function makeBundle(
  parent: string,
  name: string,
  options: MakeBundleOptions = {},
): Promise<string> {
  const bundle = join(parent, name);
  const rootfs = join(bundle, "rootfs");
  for (const d of ["bin", "proc", "dev", "sys", "tmp", "etc"]) {
    await Deno.mkdir(join(rootfs, d), { recursive: true });
  }
  await Deno.copyFile(options.busybox ?? "/usr/bin/busybox", join(rootfs, "bin", "busybox"));
  await Deno.chmod(join(rootfs, "bin", "busybox"), 0o755);
  for (const applet of APPLETS) await Deno.symlink("busybox", join(rootfs, "bin", applet));
  await Deno.writeTextFile(join(rootfs, "etc", "passwd"), "root:x:0:0:root:/:/bin/sh\n");

  const out = await new Deno.Command(options.runc ?? "/usr/sbin/runc", {
    args: ["spec"],
    cwd: bundle,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`runc spec failed in "${bundle}": ${new TextDecoder().decode(out.stderr)}`);
  }
  const specPath = join(bundle, "config.json");
  const spec = JSON.parse(await Deno.readTextFile(specPath)) as Record<string, unknown>;
  const proc = spec.process as Record<string, unknown>;
  proc.args = options.args ?? ["sleep", "1000"];
  proc.terminal = false;
  proc.env = [...(proc.env as string[]), ...(options.env ?? [])];
  delete proc.oomScoreAdj; // below the daemon's own it fails without CAP_SYS_RESOURCE
  options.edit?.(spec);
  await Deno.writeTextFile(specPath, JSON.stringify(spec, null, 2));
  return bundle;
}
