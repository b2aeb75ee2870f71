/**
 * The node's registry credentials file (`[image] global_auth_file`, CRI-O's key): a
 * containers-auth.json(5) / Docker `config.json` file, `{"auths": {"<key>": {"auth":
 * "<base64 of user:password>"}}}`, used for the pulls whose request carries no credentials (the
 * pause image, `crictl pull`, a pod without an image pull secret).
 *
 * A key names a registry (`quay.io`, `localhost:5000`), or a repository or namespace in it
 * (`quay.io/team/app`, `quay.io/team`); a pull uses the most specific key that contains its
 * repository, as containers/image does. Keys written as URLs (`https://quay.io/v1/`, Docker's
 * `https://index.docker.io/v1/`) count as their host, and Docker Hub's names (`docker.io`,
 * `registry-1.docker.io`, `index.docker.io`) as one. Credential helpers (`credHelpers`,
 * `credsStore`) are not run.
 *
 * @module
 */
import { isObject, parseJsonObject } from "../json_shape.ts";
import type { RegistryAuth } from "./auth.ts";

/** A parsed credentials file: the credentials of each normalized key. */
export type AuthFile = Map<string, RegistryAuth>;

/**
 * Parses a credentials file.
 *
 * @throws {Error} Naming the file when it is not JSON or `auths` is not an object of entries.
 */
export function parseAuthFile(text: string, file: string): AuthFile {
  const bad = (why: string) => new Error(`Invalid registry credentials file "${file}": ${why}`);
  const json = parseJsonObject(text, bad);
  const auths = json["auths"] ?? {};
  if (!isObject(auths)) throw bad('"auths" must be an object');
  const out: AuthFile = new Map();
  for (const [key, entry] of Object.entries(auths)) {
    if (!isObject(entry)) throw bad(`the entry of ${JSON.stringify(key)} must be an object`);
    const auth: RegistryAuth = {};
    for (const [field, name] of [["auth", "auth"], ["identitytoken", "identityToken"]] as const) {
      const v = entry[field];
      if (v === undefined || v === "") continue;
      if (typeof v !== "string") throw bad(`"${field}" of ${JSON.stringify(key)} must be a string`);
      auth[name] = v;
    }
    if (Object.keys(auth).length > 0) out.set(normalizeKey(key), auth);
  }
  return out;
}

/** Docker Hub's names, as keys of a credentials file. */
function normalizeHost(host: string): string {
  return host === "docker.io" || host === "registry-1.docker.io" ? "index.docker.io" : host;
}

/** A key as containers/image normalizes it: a URL counts as its host. */
function normalizeKey(key: string): string {
  const stripped = key.replace(/^https?:\/\//, "");
  const name = stripped === key ? stripped : stripped.split("/")[0]!;
  const slash = name.indexOf("/");
  return slash < 0
    ? normalizeHost(name)
    : `${normalizeHost(name.slice(0, slash))}${name.slice(slash)}`;
}

/**
 * The credentials of `file` for `repository` on `registry`: those of the most specific key
 * (the repository, then each namespace above it, then the registry), or undefined.
 */
export function credentialsFor(
  file: AuthFile,
  registry: string,
  repository: string,
): RegistryAuth | undefined {
  let key = `${normalizeHost(registry)}/${repository}`;
  for (;;) {
    const found = file.get(key);
    if (found) return found;
    const slash = key.lastIndexOf("/");
    if (slash < 0) return undefined;
    key = key.slice(0, slash);
  }
}

/**
 * Reads and parses the credentials file at `path`; none when `path` is "" or the file does
 * not exist.
 *
 * @throws {Error} When it cannot be read or does not parse.
 */
export async function loadAuthFile(path: string): Promise<AuthFile | undefined> {
  if (path === "") return undefined;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw new Error(
      `Cannot read the registry credentials file "${path}": ${(err as Error).message}`,
    );
  }
  return parseAuthFile(text, path);
}
