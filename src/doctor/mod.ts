/**
 * `ocid doctor`: checks the node the way an operator would before pointing a kubelet at it.
 * Each check reads the machine through a {@linkcode DoctorHost} and returns findings (ok, warn,
 * fail, with the fix); {@linkcode runDoctor} runs them all, and a check that throws becomes a
 * failing finding of its own, so the report is always complete.
 *
 * @module
 */
import type { Config } from "../config/types.ts";
import { checkBinaries } from "./check_binaries.ts";
import { checkCapabilities } from "./check_capabilities.ts";
import { checkCdi } from "./check_cdi.ts";
import { checkCgroups } from "./check_cgroups.ts";
import { checkCni } from "./check_cni.ts";
import {
  checkAuthFile,
  checkOciHooks,
  checkRegistriesConf,
  checkSeccompProfile,
  checkSignaturePolicy,
} from "./check_config_files.ts";
import { checkSocket } from "./check_socket.ts";
import { checkStorage } from "./check_storage.ts";
import { type Finding, finding } from "./finding.ts";
import type { DoctorHost } from "./host.ts";

export { anyFailed, type Finding, formatReport, type Severity } from "./finding.ts";
export { type DoctorHost, realDoctorHost } from "./host.ts";

/** One check: an area's name and the function that checks it. */
type Check = readonly [string, (config: Config, host: DoctorHost) => Promise<Finding[]>];

/** Every check, in report order. */
export const CHECKS: readonly Check[] = [
  ["binaries", checkBinaries],
  ["cni", checkCni],
  ["cdi", checkCdi],
  ["cgroups", checkCgroups],
  ["privileges", checkCapabilities],
  ["storage", checkStorage],
  ["registries", checkRegistriesConf],
  ["seccomp", checkSeccompProfile],
  ["signatures", checkSignaturePolicy],
  ["auth", checkAuthFile],
  ["hooks", checkOciHooks],
  ["socket", checkSocket],
];

/**
 * Runs every check.
 *
 * @param config the configuration to check the node against
 * @param host the machine (or a fake)
 * @returns the findings, in check order
 */
export async function runDoctor(config: Config, host: DoctorHost): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const [name, check] of CHECKS) {
    try {
      findings.push(...await check(config, host));
    } catch (err) {
      findings.push(finding("fail", name, `The check failed: ${(err as Error).message}`));
    }
  }
  return findings;
}
