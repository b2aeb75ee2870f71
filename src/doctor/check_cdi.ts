/**
 * Checks of the node's CDI spec files (`cdi_spec_dirs`), read as CreateContainer reads them
 * (`src/cdi/registry.ts`): files left out as invalid, devices defined twice in one dir, and
 * device nodes a spec names that the host lacks. Each of those would fail the create of a
 * container that asks for the device, long after the spec was written.
 *
 * @module
 */
import { join } from "node:path";
import type { CdiFs } from "../cdi/registry.ts";
import { loadCdiRegistry } from "../cdi/registry.ts";
import type { Config } from "../config/types.ts";
import { type Finding, finding } from "./finding.ts";
import type { DoctorHost } from "./host.ts";

/** The host's files as the CDI reader wants them (a name `stat` cannot tell is a file). */
function cdiFs(host: DoctorHost): CdiFs {
  return {
    async readDir(dir) {
      return await Promise.all((await host.readDir(dir)).map(async (name) => {
        const info = await host.stat(join(dir, name));
        const isDirectory = info?.isDirectory ?? false;
        return { name, isDirectory, isFile: !isDirectory, isSymlink: false };
      }));
    },
    readTextFile: (path) => host.readTextFile(path),
  };
}

/** Checks the CDI spec files; see the module doc. */
export async function checkCdi(config: Config, host: DoctorHost): Promise<Finding[]> {
  if (!config.enableCdi) {
    return [finding("ok", "cdi", "CDI is off (enable_cdi = false): CDI devices are refused")];
  }
  const registry = await loadCdiRegistry(config.cdiSpecDirs, cdiFs(host));
  const findings: Finding[] = [];
  for (const e of registry.errors) {
    findings.push(finding(
      "warn",
      "cdi",
      `CDI spec file ${e.path} is left out: ${e.message}`,
      "Correct or remove it: containers asking for its devices are refused",
    ));
  }
  for (const [name, [a, b]] of registry.conflicts) {
    findings.push(finding(
      "warn",
      "cdi",
      `CDI device ${name} is defined in both ${a} and ${b}`,
      "Keep one of them: a device defined twice in one dir is refused",
    ));
  }
  const missing = new Map<string, string[]>();
  for (const [name, { spec, index }] of registry.devices) {
    const nodes = [
      ...(spec.containerEdits?.deviceNodes ?? []),
      ...(spec.devices[index]!.containerEdits?.deviceNodes ?? []),
    ];
    for (const node of nodes) {
      const hostPath = node.hostPath ?? node.path;
      if (!missing.has(hostPath) && await host.stat(hostPath) !== undefined) continue;
      missing.set(hostPath, [...(missing.get(hostPath) ?? []), name]);
    }
  }
  for (const [hostPath, names] of missing) {
    findings.push(finding(
      "warn",
      "cdi",
      `Device node ${hostPath} of CDI devices ${
        [...new Set(names)].join(", ")
      } is not on this host`,
      "Install the device's driver, or regenerate the vendor's CDI spec",
    ));
  }
  if (findings.length === 0) {
    findings.push(finding(
      "ok",
      "cdi",
      `${registry.devices.size} CDI devices in ${config.cdiSpecDirs.join(", ")}`,
    ));
  }
  return findings;
}
