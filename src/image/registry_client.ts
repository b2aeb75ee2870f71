/**
 * A client of the OCI distribution API for one registry endpoint: manifests and blobs,
 * with token (Bearer) and Basic auth and a no-progress timeout on every request.
 *
 * @module
 */
import { NotFoundError, OcidError, RegistryUnavailableError } from "../errors.ts";
import { basicCredentials, basicHeader, parseChallenge, type RegistryAuth } from "./auth.ts";
import { MANIFEST_ACCEPT } from "./manifest.ts";
import { type FetchFn, fetchWithProgressTimeout } from "./progress.ts";

/** Options of {@linkcode RegistryClient}. */
export interface RegistryClientOptions {
  /** Plain HTTP instead of HTTPS. */
  insecure: boolean;
  auth?: RegistryAuth | undefined;
  /** Milliseconds without progress before a request fails. */
  progressTimeoutMs: number;
  signal?: AbortSignal | undefined;
  fetch?: FetchFn;
}

/** A manifest as fetched. */
export interface FetchedManifest {
  bytes: Uint8Array;
  contentType: string | undefined;
}

/** The API host of a registry name (docker.io is served by registry-1.docker.io). */
export function apiHost(registry: string): string {
  return registry === "docker.io" ? "registry-1.docker.io" : registry;
}

/** Talks to one registry host. */
export class RegistryClient {
  #registry: string;
  #options: RegistryClientOptions;
  #authorization: string | undefined;

  /**
   * @param registry Host with optional port, as in references (`docker.io`, `127.0.0.1:5000`).
   * @param options Scheme, credentials, timeout.
   */
  constructor(registry: string, options: RegistryClientOptions) {
    this.#registry = registry;
    this.#options = options;
    if (options.auth?.registryToken) this.#authorization = `Bearer ${options.auth.registryToken}`;
  }

  /** Base URL, e.g. `https://registry-1.docker.io`. */
  get baseUrl(): string {
    return `${this.#options.insecure ? "http" : "https"}://${apiHost(this.#registry)}`;
  }

  /**
   * GETs a manifest or index by tag or digest.
   *
   * @throws {NotFoundError} When the registry does not have it.
   */
  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    const what = `${this.#registry}/${repository}:${reference}`;
    const res = await this.#get(`/v2/${repository}/manifests/${reference}`, {
      accept: MANIFEST_ACCEPT,
      what: `manifest "${what}"`,
    });
    const bytes = new Uint8Array(await res.arrayBuffer());
    return { bytes, contentType: res.headers.get("content-type") ?? undefined };
  }

  /**
   * GETs a blob; the caller must consume or cancel the body.
   *
   * @throws {NotFoundError} When the registry does not have it.
   */
  async getBlob(repository: string, digest: string): Promise<ReadableStream<Uint8Array>> {
    const res = await this.#get(`/v2/${repository}/blobs/${digest}`, {
      what: `blob "${digest}" of "${this.#registry}/${repository}"`,
    });
    if (!res.body) {
      throw new OcidError(
        "UNAVAILABLE",
        `Registry "${this.#registry}" sent no body for blob "${digest}"`,
      );
    }
    return res.body;
  }

  async #get(path: string, opts: { accept?: string; what: string }): Promise<Response> {
    let res = await this.#fetch(path, opts);
    if (res.status === 401) {
      const challenge = parseChallenge(res.headers.get("www-authenticate"));
      await res.body?.cancel();
      await this.#authenticate(challenge, opts.what);
      res = await this.#fetch(path, opts);
      if (res.status === 401) {
        await res.body?.cancel();
        throw new OcidError(
          "UNAUTHENTICATED",
          `Registry "${this.#registry}" refused the credentials for ${opts.what} (401 Unauthorized)`,
        );
      }
    }
    if (res.ok) return res;
    const body = (await res.text().catch(() => "")).slice(0, 300).trim();
    if (res.status === 404) {
      throw new NotFoundError(
        `Cannot find ${opts.what} in registry "${this.#registry}": ${body || "404"}`,
      );
    }
    if (res.status === 403) {
      throw new OcidError(
        "PERMISSION_DENIED",
        `Registry "${this.#registry}" denied ${opts.what}: ${body}`,
      );
    }
    const message =
      `Registry "${this.#registry}" answered ${res.status} ${res.statusText} for ${opts.what}: ${body}`;
    throw res.status >= 500
      ? new RegistryUnavailableError(message)
      : new OcidError("UNAVAILABLE", message);
  }

  async #fetch(path: string, opts: { accept?: string; what: string }): Promise<Response> {
    const headers: Record<string, string> = {};
    if (opts.accept) headers["accept"] = opts.accept;
    if (this.#authorization) headers["authorization"] = this.#authorization;
    const url = this.baseUrl + path;
    try {
      return await fetchWithProgressTimeout(url, { headers }, {
        timeoutMs: this.#options.progressTimeoutMs,
        signal: this.#options.signal,
        ...(this.#options.fetch ? { fetch: this.#options.fetch } : {}),
      });
    } catch (err) {
      if (err instanceof OcidError || this.#options.signal?.aborted) throw err;
      throw unreachable(
        `Cannot reach registry "${this.#registry}" at "${url}" for ${opts.what}: ${describe(err)}`,
        err,
      );
    }
  }

  async #authenticate(challenge: ReturnType<typeof parseChallenge>, what: string): Promise<void> {
    const creds = basicCredentials(this.#options.auth);
    if (challenge?.scheme === "basic") {
      if (!creds) {
        throw new OcidError(
          "UNAUTHENTICATED",
          `Registry "${this.#registry}" needs credentials for ${what}`,
        );
      }
      this.#authorization = basicHeader(creds);
      return;
    }
    if (challenge?.scheme !== "bearer" || !challenge.params["realm"]) {
      throw new OcidError(
        "UNAUTHENTICATED",
        `Registry "${this.#registry}" answered 401 for ${what} without a usable challenge`,
      );
    }
    const url = new URL(challenge.params["realm"]);
    const identityToken = this.#options.auth?.identityToken;
    let init: RequestInit;
    if (identityToken) {
      // An OAuth2 refresh token (CRI `identity_token`, `identitytoken` of an auth file): the
      // distribution token spec's POST, as containerd and containers/image send it.
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: identityToken,
        client_id: "ocid",
      });
      if (challenge.params["service"]) form.set("service", challenge.params["service"]);
      if (challenge.params["scope"]) form.set("scope", challenge.params["scope"]);
      init = {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: form.toString(),
      };
    } else {
      if (challenge.params["service"]) url.searchParams.set("service", challenge.params["service"]);
      if (challenge.params["scope"]) url.searchParams.set("scope", challenge.params["scope"]);
      init = { headers: creds ? { authorization: basicHeader(creds) } : {} };
    }
    let res: Response;
    try {
      res = await fetchWithProgressTimeout(url.href, init, {
        timeoutMs: this.#options.progressTimeoutMs,
        signal: this.#options.signal,
        ...(this.#options.fetch ? { fetch: this.#options.fetch } : {}),
      });
    } catch (err) {
      if (err instanceof OcidError) throw err;
      throw unreachable(`Cannot reach token server "${url.origin}": ${describe(err)}`, err);
    }
    if (res.status >= 500) {
      await res.body?.cancel();
      throw new RegistryUnavailableError(
        `Token server "${url.origin}" answered ${res.status} ${res.statusText} for ${what}`,
      );
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new OcidError(
        "UNAUTHENTICATED",
        `Token server "${url.origin}" refused a token for ${what} (${res.status}${
          identityToken
            ? ", check the identity token"
            : creds
            ? ", check the credentials"
            : ", no credentials given"
        })`,
      );
    }
    const body = await res.json().catch(() => ({})) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) {
      throw new OcidError(
        "UNAUTHENTICATED",
        `Token server "${url.origin}" sent no token for ${what}`,
      );
    }
    this.#authorization = `Bearer ${token}`;
  }
}

/**
 * The error of a request that got no answer: the registry is unavailable (refused, reset,
 * unreachable, a name that does not resolve), unless TLS failed, which is the node's to mend
 * (a certificate it does not trust, a plain-HTTP registry not listed as insecure).
 */
function unreachable(message: string, cause: unknown): OcidError {
  return /certificate|tls|ssl|handshake|corrupt message/i.test(describe(cause))
    ? new OcidError("UNAVAILABLE", message, { cause })
    : new RegistryUnavailableError(message, { cause });
}

/** A fetch failure with its cause ("fetch failed" alone says nothing of refused or DNS). */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
}
