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
 * `registry-1.docker.io`, `index.docker.io`) as one.
 *
 * A registry named in `credHelpers` (`{"credHelpers": {"<registry>": "<name>"}}`, how nodes
 * pull from ECR, GCR or ACR) gets its credentials from the program `docker-credential-<name>`
 * instead, as containers/image and Docker do: `get` with the registry on its stdin, answering
 * `{"ServerURL", "Username", "Secret"}` (a `Username` of `<token>` makes `Secret` an identity
 * token). The helper wins over `auths` for its registry. Docker's `credsStore` (a desktop
 * keychain) is not read, as containers/image does not.
 *
 * @module
 */
import { isObject, parseJsonObject } from "../json_shape.ts";
import type { RegistryAuth } from "./auth.ts";

/** A parsed credentials file. */
export interface AuthFile {
  /** The credentials of each normalized key. */
  auths: Map<string, RegistryAuth>;
  /** The credential helper's name of each normalized registry. */
  credHelpers: Map<string, string>;
}

/** What a credentials file gives a pull: credentials, or the helper that has them. */
export type FileCredentials = { auth: RegistryAuth } | { helper: string; registry: string };

/** A helper's name: `docker-credential-<name>` is run, so no path may hide in it. */
const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Parses a credentials file.
 *
 * @throws {Error} Naming the file when it is not JSON, `auths` is not an object of entries or
 *   `credHelpers` not an object of helper names.
 */
export function parseAuthFile(text: string, file: string): AuthFile {
  const bad = (why: string) => new Error(`Invalid registry credentials file "${file}": ${why}`);
  const json = parseJsonObject(text, bad);
  const auths = json["auths"] ?? {};
  if (!isObject(auths)) throw bad('"auths" must be an object');
  const helpers = json["credHelpers"] ?? {};
  if (!isObject(helpers)) throw bad('"credHelpers" must be an object');
  const credHelpers = new Map<string, string>();
  for (const [registry, name] of Object.entries(helpers)) {
    if (typeof name !== "string" || !HELPER_NAME.test(name)) {
      throw bad(`the helper of ${JSON.stringify(registry)} must be a program name suffix`);
    }
    credHelpers.set(normalizeKey(registry), name);
  }
  const out: AuthFile = { auths: new Map(), credHelpers };
  for (const [key, entry] of Object.entries(auths)) {
    if (!isObject(entry)) throw bad(`the entry of ${JSON.stringify(key)} must be an object`);
    const auth: RegistryAuth = {};
    for (const [field, name] of [["auth", "auth"], ["identitytoken", "identityToken"]] as const) {
      const v = entry[field];
      if (v === undefined || v === "") continue;
      if (typeof v !== "string") throw bad(`"${field}" of ${JSON.stringify(key)} must be a string`);
      auth[name] = v;
    }
    if (Object.keys(auth).length > 0) out.auths.set(normalizeKey(key), auth);
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
 * What `file` gives a pull of `repository` from `registry`: the registry's credential helper,
 * else the credentials of the most specific key (the repository, then each namespace above
 * it, then the registry), or undefined.
 */
export function credentialsFor(
  file: AuthFile,
  registry: string,
  repository: string,
): FileCredentials | undefined {
  const host = normalizeHost(registry);
  const helper = file.credHelpers.get(host);
  if (helper) return { helper, registry: host === "index.docker.io" ? DOCKER_HUB_URL : registry };
  let key = `${host}/${repository}`;
  for (;;) {
    const found = file.auths.get(key);
    if (found) return { auth: found };
    const slash = key.lastIndexOf("/");
    if (slash < 0) return undefined;
    key = key.slice(0, slash);
  }
}

/** What Docker hands a credential helper for Docker Hub. */
const DOCKER_HUB_URL = "https://index.docker.io/v1/";

/**
 * The credentials a helper's `get` printed, or undefined for none (it says "credentials not
 * found", the message of docker-credential-helpers).
 *
 * @throws {Error} When it failed otherwise, or printed no credentials.
 */
export function parseHelperOutput(
  helper: string,
  result: { code: number; stdout: string; stderr: string },
): RegistryAuth | undefined {
  const name = `docker-credential-${helper}`;
  if (result.code !== 0) {
    const said = (result.stdout + result.stderr).trim();
    if (/credentials not found/i.test(said)) return undefined;
    throw new Error(`${name} get failed (exit ${result.code}): ${said.slice(0, 500)}`);
  }
  const bad = (why: string) => new Error(`${name} get printed no credentials: ${why}`);
  const json = parseJsonObject(result.stdout, bad);
  const user = json["Username"];
  const secret = json["Secret"];
  if (typeof user !== "string" || typeof secret !== "string" || secret === "") {
    throw bad("expected string Username and Secret");
  }
  return user === "<token>" ? { identityToken: secret } : { username: user, password: secret };
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
