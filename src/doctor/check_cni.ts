/**
 * Checks of the pod network configuration: the CNI config dir holds a valid list (the one ocid
 * would use, chosen as src/network/config.ts does), each of its plugins exists in a plugin dir,
 * and each supports the list's `cniVersion` (asked with `CNI_COMMAND=VERSION`).
 *
 * @module
 */
import { join } from "node:path";
import type { Config } from "../config/types.ts";
import { type NetworkConfigList, parseNetworkConfig } from "../network/config.ts";
import { text } from "../process.ts";
import { type Finding, finding } from "./finding.ts";
import type { DoctorHost } from "./host.ts";

const EXTENSIONS = [".conflist", ".conf", ".json"];

/** The first valid config list of the dir, and the invalid files before it. */
async function loadList(
  host: DoctorHost,
  dir: string,
): Promise<{ list?: NetworkConfigList; bad: string[]; missingDir: boolean }> {
  let names: string[];
  try {
    names = await host.readDir(dir);
  } catch {
    return { bad: [], missingDir: true };
  }
  const bad: string[] = [];
  for (const name of names.filter((n) => EXTENSIONS.some((e) => n.endsWith(e))).sort()) {
    const path = join(dir, name);
    try {
      const bytes = new TextEncoder().encode(await host.readTextFile(path));
      return { list: parseNetworkConfig(path, bytes), bad, missingDir: false };
    } catch (err) {
      bad.push(`${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { bad, missingDir: false };
}

/** The versions a plugin supports, from its VERSION answer. */
async function supportedVersions(
  host: DoctorHost,
  path: string,
  cniVersion: string,
): Promise<string[]> {
  const res = await host.runner.run(path, [], {
    env: { CNI_COMMAND: "VERSION", PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
    stdin: JSON.stringify({ cniVersion }),
    timeoutMs: 10_000,
  });
  const answer = JSON.parse(text(res.stdout)) as { supportedVersions?: unknown };
  return Array.isArray(answer.supportedVersions) ? answer.supportedVersions.map(String) : [];
}

async function findPlugin(host: DoctorHost, dirs: string[], type: string) {
  for (const dir of dirs) {
    const path = join(dir, type);
    if (await host.isExecutable(path)) return path;
  }
  return undefined;
}

/** The CNI configuration and its plugins. */
export async function checkCni(config: Config, host: DoctorHost): Promise<Finding[]> {
  const { configDir, pluginDirs } = config.cni;
  const { list, bad, missingDir } = await loadList(host, configDir);
  const found = bad.map((b) =>
    finding("warn", "cni", `Invalid network config skipped: ${b}`, "fix or remove the file")
  );
  if (!list) {
    found.push(finding(
      "warn",
      "cni",
      missingDir
        ? `${configDir} does not exist: pods cannot get a network (NetworkReady=false)`
        : `No valid network config in ${configDir}: NetworkReady=false until one appears`,
      "install the cluster's CNI (it writes the config), or copy " +
        "scripts/cni/10-ocid-bridge.conflist there",
    ));
    return found;
  }
  const problems: string[] = [];
  const plugins: string[] = [];
  for (const plugin of list.plugins) {
    const path = await findPlugin(host, pluginDirs, plugin.type);
    if (!path) {
      problems.push(`plugin "${plugin.type}" is in none of ${pluginDirs.join(", ")}`);
      continue;
    }
    try {
      const versions = await supportedVersions(host, path, list.cniVersion);
      if (!versions.includes(list.cniVersion)) {
        problems.push(
          `plugin "${plugin.type}" does not support cniVersion ${list.cniVersion} ` +
            `(it supports ${versions.join(", ") || "none"})`,
        );
        continue;
      }
    } catch (err) {
      problems.push(`plugin "${plugin.type}" (${path}) failed VERSION: ${(err as Error).message}`);
      continue;
    }
    plugins.push(plugin.type);
  }
  if (problems.length > 0) {
    found.push(finding(
      "fail",
      "cni",
      `Network "${list.name}" (${list.path}): ${problems.join("; ")}`,
      "apt-get install containernetworking-plugins, or set [cni] plugin_dirs",
    ));
  } else {
    found.push(finding(
      "ok",
      "cni",
      `Network "${list.name}" (${list.path}), cniVersion ${list.cniVersion}: ${plugins.join(", ")}`,
    ));
  }
  return found;
}
