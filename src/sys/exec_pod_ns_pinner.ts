/**
 * {@linkcode PodNsPinner} that runs one process: `unshare --ipc=<file> --uts=<file>
 * [nsenter --net=<netns>] sh -c <script>`, where the script, already inside the new
 * namespaces (and the pod's netns when it has `net` sysctls), writes the hostname to
 * `/proc/sys/kernel/hostname` and each sysctl to `/proc/sys/<path>`. Each name and value is
 * its own argument. The fallback where FFI is not permitted, and `OCID_NETNS=exec`.
 *
 * @module
 */
import { CommandError } from "../errors.ts";
import type { Runner } from "../process.ts";
import { type PodNsSpec, podNsSpecProblem } from "./pod_ns_pin.ts";
import { PodNsPinError, type PodNsPinner } from "./pod_ns_pinner.ts";

/** Sets the hostname (`$1`, when not empty), then each sysctl (`$2 $3`, `$4 $5`, ...). */
const SCRIPT = `h=$1; shift
if [ -n "$h" ]; then printf '%s' "$h" > /proc/sys/kernel/hostname || exit 1; fi
while [ $# -ge 2 ]; do printf '%s' "$2" > "/proc/sys/$1" || exit 1; shift 2; done`;

/** Options of {@linkcode ExecPodNsPinner}. */
export interface ExecPodNsPinnerOptions {
  /** @default "unshare" */
  unshare?: string;
  /** @default "nsenter" */
  nsenter?: string;
}

/** Pins pods' namespaces by running `unshare` through a {@linkcode Runner}. */
export class ExecPodNsPinner implements PodNsPinner {
  readonly kind = "exec" as const;
  #runner: Runner;
  #unshare: string;
  #nsenter: string;

  /**
   * @param runner Runs the programs.
   * @param options The programs.
   */
  constructor(runner: Runner, options: ExecPodNsPinnerOptions = {}) {
    this.#runner = runner;
    this.#unshare = options.unshare ?? "unshare";
    this.#nsenter = options.nsenter ?? "nsenter";
  }

  async pin(spec: PodNsSpec): Promise<void> {
    const problem = podNsSpecProblem(spec);
    if (problem) throw new PodNsPinError({ step: "verify", errno: 0, detail: problem });
    if (spec.ipc === undefined && spec.uts === undefined) return;
    try {
      await this.#runner.run(this.#unshare, this.args(spec), { timeoutMs: 30_000 });
    } catch (e) {
      const detail = e instanceof CommandError
        ? (e.stderr || e.message)
        : (e instanceof Error ? e.message : String(e));
      throw new PodNsPinError({ step: "exec", errno: 0, detail, cause: e });
    }
  }

  /** The `unshare` arguments for `spec`. */
  args(spec: PodNsSpec): string[] {
    const needsNet = spec.sysctls.some((s) => s.ns === "net");
    return [
      ...(spec.ipc !== undefined ? [`--ipc=${spec.ipc}`] : []),
      ...(spec.uts !== undefined ? [`--uts=${spec.uts}`] : []),
      ...(needsNet ? [this.#nsenter, `--net=${spec.netns}`] : []),
      "sh",
      "-c",
      SCRIPT,
      "ocid-pin",
      spec.uts !== undefined ? spec.hostname : "",
      ...spec.sysctls.flatMap((s) => [s.path, s.value]),
    ];
  }
}
