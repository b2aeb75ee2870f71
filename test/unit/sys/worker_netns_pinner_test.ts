import assert from "node:assert/strict";
import type { PinResult } from "../../../src/sys/netns_pin.ts";
import { NetnsPinError, type NetnsPinner } from "../../../src/sys/netns_pinner.ts";
import type { PinRequest, WorkerMessage } from "../../../src/sys/netns_worker.ts";
import { type NetnsWorkerPort, WorkerNetnsPinner } from "../../../src/sys/worker_netns_pinner.ts";

/** A worker double: answers each request with `answer` (or not at all for `undefined`). */
class FakePort implements NetnsWorkerPort {
  readonly requests: PinRequest[] = [];
  refs = 0;
  terminated = false;
  #onMessage: (m: WorkerMessage) => void = () => {};
  #onExit: (reason: string) => void = () => {};
  #answer: (req: PinRequest) => PinResult | "exit" | undefined;

  constructor(answer: (req: PinRequest) => PinResult | "exit" | undefined, start = "ready") {
    this.#answer = answer;
    queueMicrotask(() =>
      this.#onMessage(
        start === "ready"
          ? { type: "ready", thread: "1/task/2" }
          : { type: "unavailable", detail: start },
      )
    );
  }
  postMessage(req: PinRequest): void {
    this.requests.push(req);
    const a = this.#answer(req);
    if (a === "exit") queueMicrotask(() => this.#onExit("the worker exited with code 1"));
    else if (a) queueMicrotask(() => this.#onMessage({ type: "result", id: req.id, result: a }));
  }
  onMessage(fn: (m: WorkerMessage) => void): void {
    this.#onMessage = fn;
  }
  onExit(fn: (reason: string) => void): void {
    this.#onExit = fn;
  }
  ref(): void {
    this.refs = 1;
  }
  unref(): void {
    this.refs = 0;
  }
  terminate(): Promise<void> {
    this.terminated = true;
    return Promise.resolve();
  }
}

const OK: PinResult = { ok: true, inode: 5 };

function spawner(make: () => FakePort) {
  const ports: FakePort[] = [];
  return {
    ports,
    spawn: () => {
      const p = make();
      ports.push(p);
      return p;
    },
  };
}

Deno.test("WorkerNetnsPinner.pin() sends requests to one worker, held only while busy", async () => {
  const { ports, spawn } = spawner(() => new FakePort(() => OK));
  const pinner = new WorkerNetnsPinner({ spawn });
  await Promise.all([pinner.pin("/n/a"), pinner.pin("/n/b")]);
  await pinner.pin("/n/c");
  assert.equal(ports.length, 1);
  assert.deepEqual(ports[0]!.requests.map((r) => r.target), ["/n/a", "/n/b", "/n/c"]);
  assert.equal(ports[0]!.refs, 0, "idle: the worker does not hold the process");
});

Deno.test("WorkerNetnsPinner.pin() maps a failed step to NetnsPinError", async () => {
  const fail: PinResult = {
    ok: false,
    step: "mount",
    errno: 2,
    detail: "No such file",
    fatal: false,
  };
  const { ports, spawn } = spawner(() => new FakePort(() => fail));
  const pinner = new WorkerNetnsPinner({ spawn });
  const e = await pinner.pin("/n/a").catch((e) => e);
  assert.ok(e instanceof NetnsPinError);
  assert.equal(e.step, "mount");
  assert.equal(e.errno, "ENOENT");
  assert.equal(
    e.message,
    'Cannot pin a new network namespace on "/n/a" (bind mount): ENOENT: No such file',
  );
  assert.equal(ports[0]!.terminated, false, "a non-fatal failure keeps the worker");
});

Deno.test("WorkerNetnsPinner retires a stranded worker and starts a new one", async () => {
  let n = 0;
  const { ports, spawn } = spawner(() =>
    new FakePort(() =>
      n++ === 0 ? { ok: false, step: "setns", errno: 22, detail: "Invalid", fatal: true } : OK
    )
  );
  const pinner = new WorkerNetnsPinner({ spawn });
  await assert.rejects(pinner.pin("/n/a"), /setns back to the original netns\): EINVAL/);
  assert.equal(ports[0]!.terminated, true);
  await pinner.pin("/n/b");
  assert.equal(ports.length, 2);
  assert.deepEqual(ports[1]!.requests.map((r) => r.target), ["/n/b"]);
});

Deno.test("WorkerNetnsPinner fails the requests of a worker that dies and replaces it", async () => {
  let n = 0;
  const { ports, spawn } = spawner(() => new FakePort(() => (n++ === 0 ? "exit" : OK)));
  const pinner = new WorkerNetnsPinner({ spawn });
  const e = await pinner.pin("/n/a").catch((e) => e);
  assert.ok(e instanceof NetnsPinError);
  assert.equal(e.step, "worker");
  assert.match(e.message, /exited with code 1/);
  await pinner.pin("/n/b");
  assert.equal(ports.length, 2);
});

Deno.test("WorkerNetnsPinner terminates a worker that does not answer", async () => {
  const { ports, spawn } = spawner(() => new FakePort(() => undefined));
  const pinner = new WorkerNetnsPinner({ spawn, timeoutMs: 1 });
  await assert.rejects(pinner.pin("/n/a"), /no answer for "\/n\/a" in 1 ms/);
  assert.equal(ports[0]!.terminated, true);
});

Deno.test("WorkerNetnsPinner uses the fallback when no worker can start", async () => {
  const fallbackCalls: string[] = [];
  const fallback: NetnsPinner = {
    kind: "exec",
    pin: (t) => {
      fallbackCalls.push(t);
      return Promise.resolve();
    },
  };
  const { ports, spawn } = spawner(() => new FakePort(() => OK, "dlopen failed"));
  const pinner = new WorkerNetnsPinner({ spawn, fallback });
  await pinner.pin("/n/a");
  await pinner.pin("/n/b");
  assert.deepEqual(fallbackCalls, ["/n/a", "/n/b"]);
  assert.equal(ports.length, 1, "no second start");
  assert.equal(pinner.fallingBack, true);

  const alone = new WorkerNetnsPinner({ spawn });
  await assert.rejects(alone.pin("/n/c"), /netns worker cannot start: dlopen failed/);
});

Deno.test("WorkerNetnsPinner stops an idle worker and starts a new one on demand", async () => {
  const { ports, spawn } = spawner(() => new FakePort(() => OK));
  const pinner = new WorkerNetnsPinner({ spawn, idleMs: 0 });
  await pinner.pin("/n/a");
  // The idle timer is unref'd: keep the loop alive until it has fired.
  while (!ports[0]!.terminated) await new Promise((r) => setTimeout(r, 1));
  await pinner.pin("/n/b");
  assert.equal(ports.length, 2);
  assert.deepEqual(ports[1]!.requests.map((r) => r.target), ["/n/b"]);
});
