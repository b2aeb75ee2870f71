import assert from "node:assert/strict";
import { OcidError, RegistryUnavailableError } from "../../../src/errors.ts";
import { type FetchFn, fetchWithProgressTimeout } from "../../../src/image/progress.ts";

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

Deno.test("fetchWithProgressTimeout() fails on time even when the fetch ignores its abort signal", async () => {
  // Deno's fetch does not always end a pending body read when its signal aborts: a fetch that
  // ignores the signal altogether must still give up at the timeout, headers or body.
  const within = <T>(p: Promise<T>) =>
    Promise.race([
      p,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("still waiting after 3 s")), 3000)
      ),
    ]);
  const neverHeaders: FetchFn = () => new Promise<Response>(() => {});
  await assert.rejects(
    within(fetchWithProgressTimeout("http://x/h", {}, { timeoutMs: 100, fetch: neverHeaders })),
    RegistryUnavailableError,
  );
  const stalledBody: FetchFn = () =>
    Promise.resolve(
      new Response(new ReadableStream({ start: (c) => c.enqueue(new Uint8Array([1, 2, 3])) })),
    );
  const res = await fetchWithProgressTimeout("http://x/b", {}, {
    timeoutMs: 100,
    fetch: stalledBody,
  });
  await assert.rejects(within(res.arrayBuffer()), RegistryUnavailableError);
});
