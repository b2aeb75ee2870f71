/**
 * Checks of the files ocid reads besides its own configuration: registries.conf parses, and so
 * do the node's RuntimeDefault seccomp profile (`seccomp_profile`) and image signature policy
 * (`signature_policy`, with the keys it names, and each namespace's under `signature_policy_dir`)
 * when they are set, the node's registry credentials (`global_auth_file`), and every OCI hook
 * file of `hooks_dir`.
 *
 * @module
 */
import type { Config } from "../config/types.ts";
import { parseRegistriesConf } from "../image/registries_conf.ts";
import { parseSeccompProfile } from "../spec/seccomp_profile.ts";
import { parseHookFile } from "../spec/oci_hooks.ts";
import { parseSignaturePolicy } from "../image/signature_policy.ts";
import { parseAuthFile } from "../image/auth_file.ts";
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

/**
 * `signature_policy`, when set, reads and parses with the keys it names (the daemon refuses to
 * start otherwise); each `<namespace>.json` of `signature_policy_dir` too (one that does not
 * fails the pulls of its namespace: a warning).
 */
export async function checkSignaturePolicy(config: Config, host: DoctorHost): Promise<Finding[]> {
  const read = (path: string) => host.readTextFile(path);
  const findings: Finding[] = [];
  const path = config.image.signaturePolicy;
  if (path === "") {
    findings.push(finding("ok", "signatures", "No signature policy: every image is accepted"));
  } else {
    try {
      const policy = await parseSignaturePolicy(await read(path), path, read);
      findings.push(
        finding("ok", "signatures", `${path}: ${policy.docker.size} docker scopes and a default`),
      );
    } catch (err) {
      findings.push(finding(
        "fail",
        "signatures",
        `signature_policy: ${(err as Error).message}`,
        `fix ${path} (containers-policy.json(5)), or set signature_policy = ""`,
      ));
    }
  }
  const dir = config.image.signaturePolicyDir;
  if (dir === "") return findings;
  let names: string[];
  try {
    names = (await host.readDir(dir)).filter((n) => n.endsWith(".json")).sort();
  } catch {
    names = []; // no namespace has its own policy
  }
  for (const name of names) {
    const file = `${dir}/${name}`;
    try {
      await parseSignaturePolicy(await read(file), file, read);
    } catch (err) {
      findings.push(finding(
        "warn",
        "signatures",
        (err as Error).message,
        `fix ${file}: pulls for namespace "${name.slice(0, -5)}" fail until then`,
      ));
    }
  }
  findings.push(finding("ok", "signatures", `${names.length} namespace policies in ${dir}`));
  return findings;
}

/** `global_auth_file`, when set and present, parses: pulls fail otherwise. */
export async function checkAuthFile(config: Config, host: DoctorHost): Promise<Finding[]> {
  const path = config.image.globalAuthFile;
  if (path === "") {
    return [finding("ok", "auth", "No global_auth_file: pulls use their own credentials")];
  }
  let text: string;
  try {
    text = await host.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      return [finding("ok", "auth", `${path} is absent: no node credentials`)];
    }
    return [
      finding(
        "fail",
        "auth",
        `Cannot read ${path}: ${(err as Error).message}`,
        `fix the permissions of ${path}`,
      ),
    ];
  }
  try {
    const file = parseAuthFile(text, path);
    return [
      finding(
        "ok",
        "auth",
        `${path}: credentials for ${file.auths.size} registries or repositories` +
          (file.credHelpers.size > 0
            ? `, credential helpers for ${[...file.credHelpers.keys()].join(", ")}`
            : ""),
      ),
    ];
  } catch (err) {
    return [
      finding("fail", "auth", (err as Error).message, `fix ${path} (containers-auth.json(5))`),
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
