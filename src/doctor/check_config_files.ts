/**
 * Checks of the files ocid reads besides its own configuration: registries.conf parses, and so
 * does the node's RuntimeDefault seccomp profile (`seccomp_profile`) when one is set, and every
 * OCI hook file of `hooks_dir`.
 *
 * @module
 */
import type { Config } from "../config/types.ts";
import { parseRegistriesConf } from "../image/registries_conf.ts";
import { parseSeccompProfile } from "../spec/seccomp_profile.ts";
import { parseHookFile } from "../spec/oci_hooks.ts";
import { type Finding, finding } from "./finding.ts";
import type { DoctorHost } from "./host.ts";

/** registries.conf parses (a missing file is fine: no mirrors, no rewrites). */
export async function checkRegistriesConf(config: Config, host: DoctorHost): Promise<Finding[]> {
  const path = config.image.registriesConf;
  let text: string;
  try {
    text = await host.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      return [
        finding("ok", "registries", `${path} is absent: no mirrors, no rewrites`),
      ];
    }
    return [
      finding(
        "fail",
        "registries",
        `Cannot read ${path}: ${(err as Error).message}`,
        `fix the permissions of ${path}`,
      ),
    ];
  }
  try {
    const conf = parseRegistriesConf(text, path);
    return [finding("ok", "registries", `${path}: ${conf.registries.length} [[registry]] entries`)];
  } catch (err) {
    return [
      finding(
        "fail",
        "registries",
        (err as Error).message,
        `fix ${path} (containers-registries.conf(5))`,
      ),
    ];
  }
}

/** `seccomp_profile`, when set, reads and parses: the daemon refuses to start otherwise. */
export async function checkSeccompProfile(config: Config, host: DoctorHost): Promise<Finding[]> {
  const path = config.seccompProfile;
  if (path === "") return [finding("ok", "seccomp", "RuntimeDefault is the built-in profile")];
  try {
    parseSeccompProfile(await host.readTextFile(path), { path, capabilities: [] });
    return [finding("ok", "seccomp", `RuntimeDefault is ${path}`)];
  } catch (err) {
    return [
      finding(
        "fail",
        "seccomp",
        `seccomp_profile: ${(err as Error).message}`,
        `fix ${path} (an OCI linux.seccomp object or Docker's profile form), or set seccomp_profile = ""`,
      ),
    ];
  }
}

/** Every `.json` file of `hooks_dir` parses (the daemon leaves out one that does not). */
export async function checkOciHooks(config: Config, host: DoctorHost): Promise<Finding[]> {
  const findings: Finding[] = [];
  let count = 0;
  for (const dir of config.hooksDir) {
    let names: string[];
    try {
      names = (await host.readDir(dir)).filter((n) => n.endsWith(".json"));
    } catch {
      continue; // a missing dir holds no hooks
    }
    for (const name of names.sort()) {
      const path = `${dir}/${name}`;
      try {
        parseHookFile(name, await host.readTextFile(path));
        count++;
      } catch (err) {
        findings.push(
          finding(
            "warn",
            "hooks",
            `${path}: ${(err as Error).message}; containers do not get it`,
            `fix ${path} (containers-oci-hooks(5), version 1.0.0) or remove it`,
          ),
        );
      }
    }
  }
  if (findings.length === 0) {
    findings.push(
      finding("ok", "hooks", `${count} OCI hook files in ${config.hooksDir.join(", ")}`),
    );
  }
  return findings;
}
