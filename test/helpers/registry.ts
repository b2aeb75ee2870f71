/**
 * Registries for tests, on 127.0.0.1 only: the real Debian `docker-registry` (optionally
 * with htpasswd basic auth) and a tiny fake one on `Deno.serve` that can corrupt blobs,
 * stall, or demand a bearer token from its own token endpoint.
 *
 * @module
 */
import { freePort } from "./free_port.ts";
import type { Blob } from "./images.ts";

/** A running docker-registry; stop it with `await using` or `stop()`. */
export interface TestRegistry extends AsyncDisposable {
  /** `127.0.0.1:<port>`. */
  host: string;
  /** `user:password` when started with auth. */
  creds?: string;
  stop(): Promise<void>;
}

/**
 * Starts `/usr/bin/docker-registry serve` on a free loopback port with temp storage.
 *
 * @param options `auth: true` adds htpasswd basic auth for user `tester` (needs `htpasswd`
 *   from apache2-utils).
 * @throws {Error} When the binary is missing or the registry does not come up.
 */
export async function startRegistry(options: { auth?: boolean } = {}): Promise<TestRegistry> {
  const dir = await Deno.makeTempDir({ prefix: "ocid-registry-" });
  let child: Deno.ChildProcess | undefined;
  const cleanup = async () => {
    if (child) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
      child = undefined;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    const port = freePort();
    let creds: string | undefined;
    let auth = "";
    if (options.auth) {
      creds = "tester:s3cret-pass";
      const out = await new Deno.Command("htpasswd", {
        args: ["-Bbn", "tester", "s3cret-pass"],
        stdout: "piped",
        stderr: "piped",
      }).output().catch((err) => {
        throw new Error(`Cannot run htpasswd (install apache2-utils): ${err}`);
      });
      if (!out.success) throw new Error(`htpasswd failed: ${new TextDecoder().decode(out.stderr)}`);
      await Deno.writeFile(`${dir}/htpasswd`, out.stdout);
      auth = `auth:\n  htpasswd:\n    realm: basic-realm\n    path: ${dir}/htpasswd\n`;
    }
    await Deno.writeTextFile(
      `${dir}/config.yml`,
      `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`,
    );
    child = new Deno.Command("/usr/bin/docker-registry", {
      args: ["serve", `${dir}/config.yml`],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = child.stderr.pipeThrough(new TextDecoderStream());
    let errText = "";
    const drain = (async () => {
      for await (const t of stderr) errText = (errText + t).slice(-4000);
    })();
    let up = false;
    for (let i = 0; i < 200 && !up; i++) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/v2/`);
        await res.body?.cancel();
        up = res.status === 200 || res.status === 401;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    if (!up) throw new Error(`docker-registry did not come up on port ${port}: ${errText}`);
    const stop = async () => {
      await cleanup();
      await drain.catch(() => {});
    };
    return {
      host: `127.0.0.1:${port}`,
      ...(creds ? { creds } : {}),
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Options of {@linkcode startFakeRegistry}. */
export interface FakeRegistryOptions {
  /** Manifests by `repo:tag` or `repo@digest`, with their media type. */
  manifests: Record<string, Blob>;
  /** Blobs by digest. */
  blobs: Blob[];
  /** Serve these digests with one byte flipped. */
  corrupt?: string[];
  /** Send the first bytes of these blobs, then nothing. */
  stall?: string[];
  /**
   * Demand `Bearer <token>` obtained from `/token` with these basic credentials (GET), or, with
   * `refreshToken`, by the OAuth2 refresh-token POST the distribution token spec describes.
   */
  bearer?: { user: string; password: string; refreshToken?: string };
  /** Answer every request for these repositories 503 Service Unavailable. */
  unavailable?: string[];
}

/** A running fake registry. */
export interface FakeRegistry extends AsyncDisposable {
  host: string;
  /** Blob GETs served, by digest. */
  blobRequests: Map<string, number>;
  stop(): Promise<void>;
}

/**
 * Starts a minimal distribution API server on 127.0.0.1 (random port).
 */
export function startFakeRegistry(options: FakeRegistryOptions): FakeRegistry {
  const blobs = new Map(options.blobs.map((b) => [b.digest, b]));
  const blobRequests = new Map<string, number>();
  const token = crypto.randomUUID();
  const stalled: ReadableStreamDefaultController<Uint8Array>[] = [];
  let host = "";
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/token") {
      const b = options.bearer!;
      if (req.method === "POST") {
        const form = new URLSearchParams(await req.text());
        const ok = b.refreshToken !== undefined && form.get("grant_type") === "refresh_token" &&
          form.get("refresh_token") === b.refreshToken && form.get("service") === "fake" &&
          form.get("scope") === "repository:x:pull" && form.get("client_id") !== null;
        return ok
          ? Response.json({ access_token: token })
          : new Response("bad refresh token", { status: 401 });
      }
      if (req.headers.get("authorization") !== `Basic ${btoa(`${b.user}:${b.password}`)}`) {
        return new Response("bad credentials", { status: 401 });
      }
      return Response.json({ token });
    }
    if (options.bearer && req.headers.get("authorization") !== `Bearer ${token}`) {
      return new Response("{}", {
        status: 401,
        headers: {
          "www-authenticate":
            `Bearer realm="http://${host}/token",service="fake",scope="repository:x:pull"`,
        },
      });
    }
    if (url.pathname === "/v2/") return new Response("{}");
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!m) return new Response("not found", { status: 404 });
    const [, repo, kind, ref] = m as unknown as [string, string, string, string];
    if (options.unavailable?.includes(repo)) {
      return new Response("down for maintenance", { status: 503 });
    }
    if (kind === "manifests") {
      const b = options.manifests[`${repo}:${ref}`] ?? options.manifests[`${repo}@${ref}`];
      if (!b) return Response.json({ errors: [{ code: "MANIFEST_UNKNOWN" }] }, { status: 404 });
      return new Response(b.bytes as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": b.mediaType },
      });
    }
    blobRequests.set(ref, (blobRequests.get(ref) ?? 0) + 1);
    const b = blobs.get(ref);
    if (!b) return Response.json({ errors: [{ code: "BLOB_UNKNOWN" }] }, { status: 404 });
    if (options.stall?.includes(ref)) {
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(b.bytes.slice(0, 10));
          stalled.push(c);
        },
      });
      return new Response(body);
    }
    let bytes = b.bytes;
    if (options.corrupt?.includes(ref)) {
      bytes = bytes.slice();
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    }
    return new Response(bytes as Uint8Array<ArrayBuffer>);
  });
  host = `127.0.0.1:${server.addr.port}`;
  const stop = async () => {
    for (const c of stalled) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await server.shutdown();
  };
  return { host, blobRequests, stop, [Symbol.asyncDispose]: stop };
}
