/**
 * `fetch` with a no-progress timeout: the request fails when the server sends nothing for
 * `timeoutMs`, whether it stalls before the headers or in the middle of the body. The timer
 * is reset on every chunk, so a slow but steady download never times out.
 *
 * @module
 */
import { RegistryUnavailableError } from "../errors.ts";

/** The `fetch` function; tests may pass their own. */
export type FetchFn = (input: string | URL, init?: RequestInit) => Promise<Response>;

/** Options of {@linkcode fetchWithProgressTimeout}. */
export interface ProgressFetchOptions {
  /** Milliseconds without a byte before the request is aborted. */
  timeoutMs: number;
  /** The caller's cancellation. */
  signal?: AbortSignal | undefined;
  fetch?: FetchFn;
}

/**
 * Fetches `url`, aborting when no progress is made for `options.timeoutMs`. The returned
 * response's body must be consumed or cancelled (that stops the timer).
 *
 * @param url The URL.
 * @param init Request options (its `signal` is replaced).
 * @param options Timeout, caller signal and fetch implementation.
 * @returns A response whose body stream carries the same timeout.
 * @throws {RegistryUnavailableError} when the timeout fires; the caller's abort reason
 *   when it aborts.
 */
export async function fetchWithProgressTimeout(
  url: string,
  init: RequestInit,
  options: ProgressFetchOptions,
): Promise<Response> {
  const { timeoutMs, signal } = options;
  const doFetch = options.fetch ?? fetch;
  const ac = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      ac.abort(
        new RegistryUnavailableError(
          `No progress from "${url}" for ${timeoutMs / 1000} s; giving up (pull_progress_timeout)`,
        ),
      );
    }, timeoutMs);
  };
  const onAbort = () => ac.abort(signal?.reason);
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  };
  if (signal?.aborted) throw signal.reason;
  signal?.addEventListener("abort", onAbort, { once: true });
  // Deno's fetch does not always end a body read that is pending when its signal aborts (seen
  // here: a stalled download's read stayed pending, and with it the pull, for ever). So each wait
  // below is rejected by the abort itself. Not with Promise.race against one long-lived promise:
  // that keeps a reaction, and with it every chunk read, until the download ends.
  let rejectWait: ((reason: unknown) => void) | undefined;
  ac.signal.addEventListener("abort", () => rejectWait?.(ac.signal.reason), { once: true });
  const orAbort = <T>(p: Promise<T>): Promise<T> => {
    if (ac.signal.aborted) return Promise.reject(ac.signal.reason);
    return new Promise<T>((resolve, reject) => {
      rejectWait = reject;
      p.then(resolve, reject).finally(() => {
        if (rejectWait === reject) rejectWait = undefined;
      });
    });
  };
  arm();
  let res: Response;
  try {
    const fetched = doFetch(url, { ...init, signal: ac.signal });
    // A response that comes after all is not read: let its connection go.
    fetched.then((r) => {
      if (ac.signal.aborted) r.body?.cancel().catch(() => {});
    }, () => {});
    res = await orAbort(fetched);
  } catch (err) {
    finish();
    if (ac.signal.aborted) throw ac.signal.reason;
    throw err;
  }
  if (res.body === null) {
    finish();
    return res;
  }
  arm();
  const reader = res.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await orAbort(reader.read());
        if (done) {
          finish();
          controller.close();
          return;
        }
        arm();
        controller.enqueue(value);
      } catch (err) {
        finish();
        if (ac.signal.aborted) reader.cancel(ac.signal.reason).catch(() => {});
        controller.error(ac.signal.aborted ? ac.signal.reason : err);
      }
    },
    async cancel(reason) {
      finish();
      await reader.cancel(reason).catch(() => {});
    },
  });
  return new Response(body, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}
