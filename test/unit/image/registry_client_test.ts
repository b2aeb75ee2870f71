import assert from "node:assert/strict";
import { OcidError } from "../../../src/errors.ts";
import type { FetchFn } from "../../../src/image/progress.ts";
import { RegistryClient } from "../../../src/image/registry_client.ts";

/** The code and message a manifest GET through `fetch` fails with. */
async function failure(fetch: FetchFn): Promise<[string, string]> {
  const client = new RegistryClient("reg.test", {
    insecure: false,
    progressTimeoutMs: 5000,
    fetch,
  });
  try {
    await client.getManifest("a/b", "1");
  } catch (err) {
    assert.ok(err instanceof OcidError, String(err));
    return [err.code, err.message];
  }
  throw new Error("the GET succeeded");
}

const failing = (cause: string): FetchFn => () =>
  Promise.reject(new TypeError("fetch failed", { cause: new Error(cause) }));
const answering = (status: number): FetchFn => () =>
  Promise.resolve(new Response("busy", { status }));

Deno.test("RegistryClient: a registry that is down is the kubelet's RegistryUnavailable", async () => {
  // The kubelet reads the reason from the start of an UNKNOWN status's message.
  for (
    const fetch of [
      failing("client error (Connect): tcp connect error: Connection refused (os error 111)"),
      failing("client error (Connect): dns error: failed to lookup address information"),
      answering(500),
      answering(503),
    ]
  ) {
    const [code, message] = await failure(fetch);
    assert.equal(code, "UNKNOWN", message);
    assert.match(message, /^RegistryUnavailable: /);
  }
  const [, refused] = await failure(failing("tcp connect error: Connection refused"));
  assert.match(
    refused,
    /fetch failed: tcp connect error: Connection refused$/,
    "the cause is told",
  );
});

Deno.test("RegistryClient: TLS failures and other answers keep their own codes", async () => {
  for (
    const [fetch, code] of [
      [
        failing("client error (Connect): received corrupt message of type InvalidContentType"),
        "UNAVAILABLE",
      ],
      [failing("invalid peer certificate: UnknownIssuer"), "UNAVAILABLE"],
      [answering(429), "UNAVAILABLE"],
      [answering(403), "PERMISSION_DENIED"],
      [answering(404), "NOT_FOUND"],
    ] as const
  ) {
    const [got, message] = await failure(fetch);
    assert.equal(got, code, message);
    assert.doesNotMatch(message, /^RegistryUnavailable/);
  }
});

Deno.test("RegistryClient: a token server that answers 5xx is RegistryUnavailable; 401 is not", async () => {
  const challenge = 'Bearer realm="https://auth.test/token",service="reg.test"';
  const fetching = (tokenStatus: number): FetchFn => (input) =>
    Promise.resolve(
      String(input).startsWith("https://auth.test/")
        ? new Response("", { status: tokenStatus })
        : new Response("", { status: 401, headers: { "www-authenticate": challenge } }),
    );
  const [code, message] = await failure(fetching(503));
  assert.equal(code, "UNKNOWN", message);
  assert.match(message, /^RegistryUnavailable: Token server "https:\/\/auth.test" answered 503/);
  assert.equal((await failure(fetching(401)))[0], "UNAUTHENTICATED");
});
