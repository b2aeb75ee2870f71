/** Fakes shared by the config tests. */
import type { ConfigFs, HostProbe } from "../../../src/config/mod.ts";

/** A host without systemd and without CAP_SYS_RESOURCE (like the CI machine). */
export const plainHost: HostProbe = {
  systemdIsInit: () => false,
  hasCapSysResource: () => false,
};

/** A systemd host with every capability. */
export const systemdHost: HostProbe = {
  systemdIsInit: () => true,
  hasCapSysResource: () => true,
};

/** An in-memory file system: path → content. Directories are implied by file paths. */
export function fakeFs(files: Record<string, string>): ConfigFs & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    readTextFile(path) {
      reads.push(path);
      const text = files[path];
      if (text === undefined) return Promise.reject(new Deno.errors.NotFound(path));
      return Promise.resolve(text);
    },
    readFileNames(dir) {
      const prefix = dir.endsWith("/") ? dir : dir + "/";
      const names = Object.keys(files)
        .filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes("/"))
        .map((p) => p.slice(prefix.length));
      if (names.length === 0) return Promise.reject(new Deno.errors.NotFound(dir));
      // Unsorted on purpose: loadConfig must sort.
      return Promise.resolve(names.reverse());
    },
  };
}
