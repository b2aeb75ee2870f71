/**
 * Checks of the privileges ocid holds: root, and each capability it uses, with what a missing
 * one costs.
 *
 * @module
 */
import type { Config } from "../config/types.ts";
import { type Finding, finding } from "./finding.ts";
import type { DoctorHost } from "./host.ts";

/** A capability ocid uses: its number, name, whether it is required, and what lacking it costs. */
interface CapUse {
  bit: number;
  name: string;
  required: boolean;
  cost: string;
}

/** The capabilities ocid and the runtime use. */
export const CAPABILITIES: readonly CapUse[] = [
  { bit: 21, name: "CAP_SYS_ADMIN", required: true, cost: "no mounts or namespaces: no pod runs" },
  { bit: 12, name: "CAP_NET_ADMIN", required: true, cost: "CNI cannot set up pod networks" },
  { bit: 5, name: "CAP_KILL", required: true, cost: "containers of other users cannot be stopped" },
  {
    bit: 0,
    name: "CAP_CHOWN",
    required: true,
    cost: "container files cannot be given their owners",
  },
  {
    bit: 1,
    name: "CAP_DAC_OVERRIDE",
    required: true,
    cost: "container state of other users is unreadable",
  },
  { bit: 6, name: "CAP_SETGID", required: true, cost: "containers cannot run as their group" },
  { bit: 7, name: "CAP_SETUID", required: true, cost: "containers cannot run as their user" },
  {
    bit: 19,
    name: "CAP_SYS_PTRACE",
    required: false,
    cost: "namespaces of running containers cannot be entered for exec and port-forward",
  },
  { bit: 27, name: "CAP_MKNOD", required: false, cost: "containers cannot get device nodes" },
  {
    bit: 24,
    name: "CAP_SYS_RESOURCE",
    required: false,
    cost: "an oom_score_adj below the daemon's own cannot be set; ocid raises such requests " +
      "(restrict_oom_score_adj) and the kubelet's Guaranteed pods get the daemon's value",
  },
];

/** Root and the capabilities ocid uses. */
export async function checkCapabilities(config: Config, host: DoctorHost): Promise<Finding[]> {
  const found: Finding[] = [];
  if (host.uid() !== 0) {
    found.push(
      finding("fail", "privileges", `Running as uid ${host.uid()}, not root`, "run ocid as root"),
    );
  }
  const eff = await host.capEff();
  const missing = CAPABILITIES.filter((c) => ((eff >> BigInt(c.bit)) & 1n) === 0n);
  for (const c of missing) {
    // Without restrict_oom_score_adj, a low oom_score_adj fails the container instead.
    const oomFails = c.name === "CAP_SYS_RESOURCE" && !config.restrictOomScoreAdj;
    const cost = oomFails
      ? "an oom_score_adj below the daemon's own cannot be set, and " +
        "restrict_oom_score_adj = false: such containers fail to start"
      : c.cost;
    found.push(finding(
      c.required ? "fail" : "warn",
      "privileges",
      `${c.name} is missing: ${cost}`,
      oomFails
        ? "set restrict_oom_score_adj = true, or run ocid with CAP_SYS_RESOURCE"
        : `run ocid with ${c.name} (outside a restricted container)`,
    ));
  }
  if (missing.length === 0) {
    found.push(
      finding("ok", "privileges", `Every capability ocid uses (CapEff ${eff.toString(16)})`),
    );
  }
  return found;
}
