/**
 * The node's image signature policy: a containers-policy.json(5) file, the one CRI-O, podman and
 * skopeo read (`[image] signature_policy`; per pod namespace, `signature_policy_dir`), checked on
 * every pull once the registry has named the manifest's digest and before any layer comes.
 *
 * What it reads of the file:
 * - `default` and the `docker` transport's scopes, most specific first: the image with its tag or
 *   digest (`registry/repo:tag`), its repository, each parent namespace, the registry host,
 *   `*.`-wildcarded domains of the host, then `""`, then `default`. Other transports are not
 *   pulls of a CRI runtime and are left alone.
 * - Requirements, all of which must hold: `insecureAcceptAnything`, `reject`, and
 *   `sigstoreSigned` with public keys (`keyPath`, `keyPaths`, `keyData`, `keyDatas`; ECDSA,
 *   Ed25519 or RSA) and `signedIdentity` (`matchRepoDigestOrExact`, the default,
 *   `matchRepository`, `matchExact`, `exactReference`, `exactRepository`).
 * - What it cannot check (`signedBy` GPG signatures, Fulcio or PKI certificates, Rekor,
 *   `remapIdentity`, a field it does not know in a requirement) is kept as a requirement that
 *   refuses the pull and says why: an image is never let in because ocid did not understand a
 *   rule. A file that is not a policy at all does not load.
 *
 * Sigstore signatures are read as cosign stores them (`src/image/sigstore.ts`).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createPublicKey, type KeyObject } from "node:crypto";
import { InvalidArgumentError } from "../errors.ts";
import { isObject, isStrings, parseJsonObject } from "../json_shape.ts";
import { formatReference, type ImageReference, parseReference, repoName } from "./reference.ts";

/** Which signed identities a `sigstoreSigned` requirement accepts (`signedIdentity`). */
export type SignedIdentity =
  | { type: "matchExact" }
  | { type: "matchRepoDigestOrExact" }
  | { type: "matchRepository" }
  | { type: "exactReference"; dockerReference: string }
  | { type: "exactRepository"; dockerRepository: string };

/** One requirement of a scope. */
export type Requirement =
  | { type: "insecureAcceptAnything" }
  | { type: "reject" }
  | { type: "sigstoreSigned"; keys: KeyObject[]; signedIdentity: SignedIdentity }
  /** A rule ocid cannot check: it refuses every image it applies to. */
  | { type: "unsupported"; why: string };

/** A loaded policy file. */
export interface SignaturePolicy {
  /** Where it was read, for messages. */
  file: string;
  default: Requirement[];
  /** The `docker` transport's scopes. */
  docker: Map<string, Requirement[]>;
}

/** The requirements that apply to one image, and the scope they come from. */
export interface PolicyMatch {
  /** The scope's name: `default`, `docker` (the transport's `""`) or the scope itself. */
  scope: string;
  requirements: Requirement[];
}

/** Reads a key file named by a policy; tests and `ocid doctor` pass their own. */
export type KeyFileReader = (path: string) => Promise<string>;

/**
 * Parses a containers-policy.json(5) file.
 *
 * @param text The file's contents.
 * @param file Its path, for messages.
 * @param readKey Reads the key files it names. @default Deno.readTextFile
 * @throws {Error} Naming the file and what is wrong: not JSON, no `default`, an empty list, a
 *   requirement without a known `type`, a key that cannot be read or parsed.
 */
export async function parseSignaturePolicy(
  text: string,
  file: string,
  readKey: KeyFileReader = Deno.readTextFile,
): Promise<SignaturePolicy> {
  const bad = (why: string) => new Error(`Invalid signature policy "${file}": ${why}`);
  const json = parseJsonObject(text, bad);
  const list = async (value: unknown, where: string): Promise<Requirement[]> => {
    if (!Array.isArray(value) || value.length === 0) {
      throw bad(`${where} must be a non-empty array of requirements`);
    }
    const out: Requirement[] = [];
    for (const [i, r] of value.entries()) {
      try {
        out.push(await requirement(r, readKey));
      } catch (err) {
        throw bad(`${where}[${i}]: ${(err as Error).message}`);
      }
    }
    return out;
  };
  const policy: SignaturePolicy = {
    file,
    default: await list(json["default"], "default"),
    docker: new Map(),
  };
  const transports = json["transports"] ?? {};
  if (!isObject(transports)) throw bad("transports must be an object");
  for (const [name, scopes] of Object.entries(transports)) {
    if (!isObject(scopes)) throw bad(`transports.${name} must be an object of scopes`);
    if (name !== "docker") continue;
    for (const [scope, reqs] of Object.entries(scopes)) {
      policy.docker.set(scope, await list(reqs, `transports.docker[${JSON.stringify(scope)}]`));
    }
  }
  return policy;
}

/** Reads and parses the policy file at `path`. @throws {Error} As {@linkcode parseSignaturePolicy}, or when it cannot be read. */
export async function loadSignaturePolicy(path: string): Promise<SignaturePolicy> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new Error(`Cannot read the signature policy "${path}": ${(err as Error).message}`);
  }
  return await parseSignaturePolicy(text, path);
}

const KNOWN_SIGSTORE_FIELDS = new Set([
  "type",
  "keyPath",
  "keyPaths",
  "keyData",
  "keyDatas",
  "fulcio",
  "pki",
  "rekorPublicKeyPath",
  "rekorPublicKeyPaths",
  "rekorPublicKeyData",
  "rekorPublicKeyDatas",
  "signedIdentity",
]);

async function requirement(r: unknown, readKey: KeyFileReader): Promise<Requirement> {
  if (!isObject(r) || typeof r["type"] !== "string") throw new Error('expected {"type": ...}');
  const type = r["type"];
  const extra = (known: Set<string>) => Object.keys(r).filter((k) => !known.has(k));
  switch (type) {
    case "insecureAcceptAnything":
    case "reject": {
      const unknown = extra(new Set(["type"]));
      return unknown.length === 0
        ? { type }
        : { type: "unsupported", why: `${type} with fields ocid does not know (${unknown})` };
    }
    case "signedBy":
      return {
        type: "unsupported",
        why: "signedBy (GPG simple signing) requirements are not supported by ocid",
      };
    case "sigstoreSigned":
      return await sigstoreRequirement(r, readKey);
    default:
      throw new Error(`unknown requirement type ${JSON.stringify(type)}`);
  }
}

async function sigstoreRequirement(
  r: Record<string, unknown>,
  readKey: KeyFileReader,
): Promise<Requirement> {
  const unknown = Object.keys(r).filter((k) => !KNOWN_SIGSTORE_FIELDS.has(k));
  if (unknown.length > 0) {
    return {
      type: "unsupported",
      why: `sigstoreSigned with fields ocid does not know (${unknown})`,
    };
  }
  const sources = ["keyPath", "keyPaths", "keyData", "keyDatas", "fulcio", "pki"]
    .filter((k) => r[k] !== undefined);
  if (sources.length !== 1) {
    throw new Error(
      `sigstoreSigned needs exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, pki ` +
        `(it has ${sources.length === 0 ? "none" : sources.join(", ")})`,
    );
  }
  const identity = signedIdentity(r["signedIdentity"]);
  const source = sources[0]!;
  if (source === "fulcio" || source === "pki") {
    return {
      type: "unsupported",
      why: `sigstoreSigned with ${source} certificates is not supported by ocid`,
    };
  }
  if (Object.keys(r).some((k) => k.startsWith("rekorPublicKey"))) {
    return { type: "unsupported", why: "sigstoreSigned with Rekor is not supported by ocid" };
  }
  if (identity === "remapIdentity") {
    return { type: "unsupported", why: "signedIdentity remapIdentity is not supported by ocid" };
  }
  const value = r[source];
  const pems: string[] = [];
  if (source === "keyPath" || source === "keyData") {
    if (typeof value !== "string" || value === "") throw new Error(`${source} must be a string`);
    pems.push(source === "keyPath" ? await readKey(value) : decodeKeyData(value));
  } else {
    if (!isStrings(value) || value.length === 0) {
      throw new Error(`${source} must be a non-empty array of strings`);
    }
    for (const v of value) pems.push(source === "keyPaths" ? await readKey(v) : decodeKeyData(v));
  }
  const keys = pems.map((pem, i) => {
    try {
      return createPublicKey(pem);
    } catch (err) {
      throw new Error(
        `key ${i + 1} of ${source} is not a PEM public key (${(err as Error).message})`,
      );
    }
  });
  return { type: "sigstoreSigned", keys, signedIdentity: identity };
}

function decodeKeyData(data: string): string {
  return Buffer.from(data, "base64").toString("utf8");
}

function signedIdentity(value: unknown): SignedIdentity | "remapIdentity" {
  if (value === undefined) return { type: "matchRepoDigestOrExact" };
  if (!isObject(value) || typeof value["type"] !== "string") {
    throw new Error('signedIdentity must be {"type": ...}');
  }
  const type = value["type"];
  switch (type) {
    case "matchExact":
    case "matchRepoDigestOrExact":
    case "matchRepository":
      return { type };
    case "exactReference": {
      const ref = value["dockerReference"];
      if (typeof ref !== "string" || parseIdentity(ref)?.nameOnly !== false) {
        throw new Error("exactReference needs dockerReference with a tag or digest");
      }
      return { type, dockerReference: ref };
    }
    case "exactRepository": {
      const repo = value["dockerRepository"];
      if (typeof repo !== "string" || parseIdentity(repo)?.nameOnly !== true) {
        throw new Error("exactRepository needs dockerRepository, a repository without tag");
      }
      return { type, dockerRepository: repo };
    }
    case "remapIdentity":
      return "remapIdentity";
    default:
      throw new Error(`unknown signedIdentity type ${JSON.stringify(type)}`);
  }
}

/**
 * The requirements of `policy` for pulling `ref`: those of its most specific `docker` scope,
 * else the transport's `""`, else `default`.
 */
export function policyFor(policy: SignaturePolicy, ref: ImageReference): PolicyMatch {
  for (const scope of dockerScopes(ref)) {
    const requirements = policy.docker.get(scope);
    if (requirements) return { scope, requirements };
  }
  const all = policy.docker.get("");
  return all
    ? { scope: "docker", requirements: all }
    : { scope: "default", requirements: policy.default };
}

/**
 * The `docker` transport's scopes of `ref`, most specific first, as containers/image names
 * them: the image, its repository and each parent namespace down to the host (with its port),
 * then the host's wildcarded domains (`*.example.com`, `*.com`).
 */
export function dockerScopes(ref: ImageReference): string[] {
  const out = [formatReference(ref)];
  for (let name = repoName(ref);; name = name.slice(0, name.lastIndexOf("/"))) {
    out.push(name);
    if (!name.includes("/")) break;
  }
  let host = ref.registry.replace(/:\d+$/, "");
  for (let dot = host.indexOf("."); dot >= 0; dot = host.indexOf(".")) {
    host = host.slice(dot + 1);
    out.push(`*.${host}`);
  }
  return out;
}

/** A signature's claimed identity, parsed; undefined when it is not an image reference. */
function parseIdentity(s: string): { ref: ImageReference; nameOnly: boolean } | undefined {
  let ref: ImageReference;
  try {
    ref = parseReference(s);
  } catch (err) {
    if (err instanceof InvalidArgumentError) return undefined;
    throw err;
  }
  const last = s.slice(s.lastIndexOf("/") + 1);
  return { ref, nameOnly: !last.includes(":") && !last.includes("@") };
}

/**
 * Whether a signature claiming `claimed` (its `docker-reference`) may stand for pulling
 * `pulled`, under `identity` (containers-policy.json(5) `signedIdentity`).
 */
export function identityMatches(
  identity: SignedIdentity,
  pulled: ImageReference,
  claimed: string,
): boolean {
  const sig = parseIdentity(claimed);
  if (!sig) return false;
  const sigString = sig.nameOnly ? repoName(sig.ref) : formatReference(sig.ref);
  switch (identity.type) {
    case "matchExact":
      return !sig.nameOnly && sigString === formatReference(pulled);
    case "matchRepoDigestOrExact":
      // As containers/image: a signature naming only a repository never matches here (cosign
      // signs names without tags: use matchRepository for those), a pull by tag needs that
      // tag, a pull by digest alone the repository.
      if (sig.nameOnly) return false;
      return pulled.tag !== undefined
        ? sigString === formatReference(pulled)
        : repoName(sig.ref) === repoName(pulled);
    case "matchRepository":
      return repoName(sig.ref) === repoName(pulled);
    case "exactReference":
      return !sig.nameOnly &&
        sigString === formatReference(parseReference(identity.dockerReference));
    case "exactRepository":
      return repoName(sig.ref) === repoName(parseReference(identity.dockerRepository));
  }
}
