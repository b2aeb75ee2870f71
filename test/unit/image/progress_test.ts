import assert from "node:assert/strict";
import { OcidError } from "../../../src/errors.ts";
import { fetchWithProgressTimeout } from "../../../src/image/progress.ts";

Deno.test("fetchWithProgressTimeout() fails a request whose headers never come", async () => {
  const fakeFetch = (_: string | URL, init?: RequestInit) =>
    new Promise<Response>((_resolve, reject) => {
      init?.signal?.addEventListener("abort", () => reject(init.signal!.reason));
    });
  await assert.rejects(
    fetchWithProgressTimeout("http://x/", {}, { timeoutMs: 20, fetch: fakeFetch }),
    (e: unknown) =>
      e instanceof OcidError && e.code === "UNKNOWN" &&
      e.message.startsWith("RegistryUnavailable: No progress"),
  );
});

Deno.test("fetchWithProgressTimeout() fails a body that stops, and passes a complete one", async () => {
  let stalled: ReadableStreamDefaultController<Uint8Array> | undefined;
  const fakeFetch = (_: string | URL, init?: RequestInit) => {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array([1]));
        stalled = c;
        init?.signal?.addEventListener("abort", () => c.error(init.signal!.reason));
      },
    });
    return Promise.resolve(new Response(body));
  };
  const res = await fetchWithProgressTimeout("http://x/", {}, { timeoutMs: 20, fetch: fakeFetch });
  await assert.rejects(res.arrayBuffer(), /RegistryUnavailable: No progress/);
  assert.ok(stalled);

  const ok = await fetchWithProgressTimeout("http://x/", {}, {
    timeoutMs: 1000,
    fetch: () => Promise.resolve(new Response("done")),
  });
  assert.equal(await ok.text(), "done");
});

Deno.test("fetchWithProgressTimeout() passes the caller's abort reason", async () => {
  const ac = new AbortController();
  const fakeFetch = (_: string | URL, init?: RequestInit) =>
    new Promise<Response>((_resolve, reject) => {
      init?.signal?.addEventListener("abort", () => reject(init.signal!.reason));
    });
  const p = fetchWithProgressTimeout("http://x/", {}, {
    timeoutMs: 10_000,
    signal: ac.signal,
    fetch: fakeFetch,
  });
  ac.abort(new Error("cancelled by kubelet"));
  await assert.rejects(p, /cancelled by kubelet/);
});
