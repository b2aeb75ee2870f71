import assert from "node:assert/strict";
import { join } from "node:path";
import { nullLogger } from "../../../src/log.ts";
import { ExecFiles } from "../../../src/oci/exec_files.ts";
import { ProcessTemplates } from "../../../src/oci/process_templates.ts";
import { execProcessSpec } from "../../../src/stream/exec.ts";
import { PtyExec, SizeFollower } from "../../../src/stream/pty_exec.ts";
import type { RemoteCommandStreams } from "../../../src/stream/remote_command.ts";
import { denoSpawner } from "../../../src/stream/spawn.ts";
import type { SpdyStream } from "../../../src/stream/spdy_connection.ts";
import type { ExecStreamRequest, ExecTarget } from "../../../src/stream/types.ts";
import { FakeOut } from "./_fake_out.ts";

const enc = new TextEncoder();
/**
 * A stand-in for runc: writes its pid to --pid-file, then runs the scenario named by the last
 * argument (the container id), on the terminal it was given.
 */
const FAKE_RUNTIME = `#!/bin/sh
while [ $# -gt 1 ]; do
  case "$1" in
    --process) process="$2" ;;
    --pid-file) echo $$ > "$2" ;;
  esac
  shift
done
case "$1" in
  where) echo "$process"; cat "$process"; echo ;;
  tty) test -t 0 && test -t 1 && echo is-a-tty; stty size; exit 5 ;;
  echo) head -c 6; exit 0 ;;
  eot) od -An -c -N 3 ;;
  winch) trap 'stty size; exit 0' WINCH; echo ready; while :; do sleep 0.05; done ;;
  sleep) echo started $$; exec sleep 4249 ;;
esac
`;

/** A client stream fed by the test. */
class FakeIn {
  #queue: Uint8Array[] = [];
  #ended = false;
  #wake: (() => void) | undefined;

  push(text: string): void {
    this.#queue.push(enc.encode(text));
    this.#wake?.();
  }

  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      const next = this.#queue.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((r) => this.#wake = r);
    }
  }
}

function asStream(s: unknown): SpdyStream {
  return s as SpdyStream;
}

interface FakeRuntime {
  exec: PtyExec;
  bundle: string;
  /** The deps `exec` was made with, for variants. */
  deps: ConstructorParameters<typeof PtyExec>[0];
  execFiles: ExecFiles;
}

/** Runs `fn` with a PtyExec on the fake runtime; then no exec file may be left. */
async function withFakeRuntime(fn: (ctx: FakeRuntime) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ocid-pty-exec-test-" });
  try {
    const runtime = join(dir, "runtime");
    await Deno.writeTextFile(runtime, FAKE_RUNTIME, { mode: 0o755 });
    await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify({ process: { cwd: "/" } }));
    const execFiles = new ExecFiles(join(dir, "exec"));
    const deps = {
      runtimePath: runtime,
      runtimeRoot: join(dir, "root"),
      spawner: denoSpawner,
      log: nullLogger,
      firstSizeWaitMs: 10_000,
      execFiles,
      processes: new ProcessTemplates(),
    };
    await fn({ exec: new PtyExec(deps), bundle: dir, deps, execFiles });
    await execFiles.settled();
    const left = await Array.fromAsync(Deno.readDir(execFiles.dir)).catch((err) => {
      if (err instanceof Deno.errors.NotFound) return [];
      throw err;
    });
    assert.deepEqual(left.map((e) => e.name), [], "no exec file is left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function request(id: string, stdin: boolean): ExecStreamRequest {
  return {
    kind: "exec",
    containerId: id,
    cmd: [id],
    tty: true,
    stdin,
    stdout: true,
    stderr: false,
  };
}

function fdCount(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

Deno.test("PtyExec runs the runtime on a terminal sized by the first resize message", async () => {
  await withFakeRuntime(async ({ exec, bundle }) => {
    const before = fdCount();
    const stdout = new FakeOut();
    const resize = new FakeIn();
    resize.push('{"Width":90,');
    resize.push('"Height":30}');
    const streams = {
      error: asStream(new FakeOut()),
      stdout: asStream(stdout),
      resize: asStream(resize),
    };
    const outcome = await exec.run({ id: "tty", bundle }, {
      request: request("tty", false),
      streams: streams as RemoteCommandStreams,
      gone: new Promise(() => {}),
    });
    assert.deepEqual(outcome, { kind: "exit", code: 5, cmd: ["tty"] });
    assert.equal(stdout.text, "is-a-tty\n30 90\n", "raw: no \\r added");
    resize.end();
    assert.equal(fdCount(), before, "no fd left open");
  });
});

Deno.test("PtyExec passes stdin raw and ends it with ^D", async () => {
  await withFakeRuntime(async ({ exec, bundle }) => {
    const stdout = new FakeOut();
    const stdin = new FakeIn();
    stdin.push("hello\n");
    const streams = {
      error: asStream(new FakeOut()),
      stdout: asStream(stdout),
      stdin: asStream(stdin),
    };
    const outcome = await exec.run({ id: "echo", bundle }, {
      request: request("echo", true),
      streams: streams as RemoteCommandStreams,
      gone: new Promise(() => {}),
    });
    assert.deepEqual(outcome, { kind: "success" });
    assert.equal(stdout.text, "hello\n", "the host terminal is raw: no echo, no \\r");
  });
});

Deno.test("PtyExec turns the end of stdin into one ^D byte", async () => {
  await withFakeRuntime(async ({ exec, bundle }) => {
    const stdout = new FakeOut();
    const stdin = new FakeIn();
    stdin.push("ab");
    stdin.end();
    const streams = {
      error: asStream(new FakeOut()),
      stdout: asStream(stdout),
      stdin: asStream(stdin),
    };
    const outcome = await exec.run({ id: "eot", bundle }, {
      request: request("eot", true),
      streams: streams as RemoteCommandStreams,
      gone: new Promise(() => {}),
    });
    assert.deepEqual(outcome, { kind: "success" });
    // Raw: the fake sees a, b and the ^D byte (octal 004).
    assert.match(stdout.text, /^\s*a\s+b\s+004\s*$/);
  });
});

Deno.test("PtyExec forwards later resize messages as SIGWINCH", async () => {
  await withFakeRuntime(async ({ exec, bundle }) => {
    const stdout = new FakeOut();
    const resize = new FakeIn();
    resize.push('{"Width":80,"Height":24}');
    const streams = {
      error: asStream(new FakeOut()),
      stdout: asStream(stdout),
      resize: asStream(resize),
    };
    const running = exec.run({ id: "winch", bundle }, {
      request: request("winch", false),
      streams: streams as RemoteCommandStreams,
      gone: new Promise(() => {}),
    });
    await stdout.seen("ready");
    resize.push('{"Width":132,"Height":50}');
    assert.deepEqual(await running, { kind: "success" });
    assert.match(stdout.text, /50 132/);
    resize.end();
  });
});

Deno.test("PtyExec kills the process when the client goes away", async () => {
  await withFakeRuntime(async ({ exec, bundle }) => {
    const before = fdCount();
    const stdout = new FakeOut();
    let leave!: () => void;
    const gone = new Promise<void>((r) => leave = r);
    const streams = { error: asStream(new FakeOut()), stdout: asStream(stdout) };
    const running = exec.run({ id: "sleep", bundle }, {
      request: request("sleep", false),
      streams: streams as RemoteCommandStreams,
      gone,
    });
    await stdout.seen("\n");
    const pid = Number(/started (\d+)/.exec(stdout.text)?.[1]);
    assert.ok(pid > 0, stdout.text);
    leave();
    assert.deepEqual(await running, { kind: "error", message: "client went away" });
    assert.throws(() => Deno.statSync(`/proc/${pid}`), "the process is gone");
    assert.equal(fdCount(), before, "no fd left open");
  });
});

Deno.test("SizeFollower hands the latest size to a listener set later", async () => {
  const resize = new FakeIn();
  const follower = new SizeFollower(asStream(resize));
  resize.push('{"Width":1,"Height":2}{"Width":3,');
  resize.push('"Height":4}');
  await follower.first(new Promise(() => {}), 10_000);
  const seen: unknown[] = [];
  follower.follow((s) => seen.push(s));
  resize.push('{"Width":5,"Height":6}');
  resize.end();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(seen, [{ width: 3, height: 4 }, { width: 5, height: 6 }]);
});

Deno.test("execProcessSpec() sets consoleSize only for a terminal with a known size", () => {
  const config = { cwd: "/", consoleSize: { height: 1, width: 1 }, env: ["A=1"] };
  const size = { width: 100, height: 40 };
  assert.deepEqual(execProcessSpec(config, ["sh"], { terminal: true, consoleSize: size }), {
    cwd: "/",
    env: ["A=1"],
    terminal: true,
    args: ["sh"],
    consoleSize: { height: 40, width: 100 },
  });
  assert.equal(execProcessSpec(config, ["sh"], { terminal: true }).consoleSize, undefined);
  assert.equal(
    execProcessSpec(config, ["sh"], { terminal: false, consoleSize: size }).consoleSize,
    undefined,
  );
});

Deno.test("PtyExec starts nothing when the client leaves while it waits for a size", async () => {
  await withFakeRuntime(async ({ deps, bundle }) => {
    const calls: string[][] = [];
    const exec = new PtyExec({
      ...deps,
      runtimePath: "/nonexistent/runtime",
      runtimeRoot: "/nonexistent/root",
      spawner: {
        spawn(_cmd, args) {
          calls.push(args);
          throw new Error("must not spawn");
        },
      },
      log: nullLogger,
      firstSizeWaitMs: 60_000,
    });
    const resize = new FakeIn();
    const streams = { error: asStream(new FakeOut()), resize: asStream(resize) };
    const outcome = await exec.run({ id: "x", bundle }, {
      request: request("x", false),
      streams: streams as RemoteCommandStreams,
      gone: Promise.resolve(),
    });
    assert.deepEqual(outcome, { kind: "error", message: "client went away" });
    assert.deepEqual(calls, []);
    resize.end();
  });
});

/** Runs the fake runtime's `where` scenario in `target` on a 90x30 terminal. */
async function runWhere(exec: PtyExec, target: ExecTarget) {
  const stdout = new FakeOut();
  const resize = new FakeIn();
  resize.push('{"Width":90,"Height":30}');
  const outcome = await exec.run(target, {
    request: request("where", false),
    streams: { error: asStream(new FakeOut()), stdout: asStream(stdout), resize: asStream(resize) },
    gone: new Promise(() => {}),
  });
  resize.end();
  return { outcome, stdout: stdout.text };
}

Deno.test("PtyExec writes the process spec in the exec dir", async () => {
  await withFakeRuntime(async ({ exec, bundle, execFiles }) => {
    const { outcome, stdout } = await runWhere(exec, { id: "where", bundle });
    assert.deepEqual(outcome, { kind: "success" });
    const [processFile = "", spec = ""] = stdout.split("\n");
    assert.ok(processFile.startsWith(execFiles.dir + "/"), `in the exec dir, not ${processFile}`);
    assert.deepEqual(JSON.parse(spec), {
      cwd: "/",
      terminal: true,
      args: ["where"],
      consoleSize: { height: 30, width: 90 },
    });
  });
});

Deno.test("PtyExec removes its files when the terminal cannot be opened", async () => {
  await withFakeRuntime(async ({ deps, bundle, execFiles }) => {
    let written: string[] = [];
    const exec = new PtyExec({
      ...deps,
      firstSizeWaitMs: 0,
      openPty: () => {
        written = [...Deno.readDirSync(execFiles.dir)].map((e) => e.name);
        throw new Error("no terminal");
      },
    });
    await assert.rejects(
      exec.run({ id: "x", bundle }, {
        request: request("x", false),
        streams: { error: asStream(new FakeOut()) } as RemoteCommandStreams,
        gone: new Promise(() => {}),
      }),
      /no terminal/,
    );
    assert.equal(written.length, 1, "the spec was written in the exec dir");
  });
});

Deno.test("PtyExec removes its files when the runtime cannot be started", async () => {
  await withFakeRuntime(async ({ deps, bundle, execFiles }) => {
    const seen: string[] = [];
    const exec = new PtyExec({
      ...deps,
      firstSizeWaitMs: 0,
      spawner: {
        spawn(_cmd, args) {
          seen.push(args[args.indexOf("--process") + 1]!);
          throw new Deno.errors.NotFound("no setsid");
        },
      },
    });
    await assert.rejects(
      exec.run({ id: "x", bundle }, {
        request: request("x", false),
        streams: { error: asStream(new FakeOut()) } as RemoteCommandStreams,
        gone: new Promise(() => {}),
      }),
      Deno.errors.NotFound,
    );
    assert.equal(seen.length, 1);
    assert.ok(seen[0]!.startsWith(execFiles.dir + "/"), seen[0]!);
  });
});

Deno.test("PtyExec runs the target's runtime by its launch path, with the runtime's root", async () => {
  await withFakeRuntime(async ({ exec, bundle, deps }) => {
    // The sealed copy stands in as a script that says so, then runs the fake runtime.
    const sealed = join(bundle, "sealed-runtime");
    await Deno.writeTextFile(
      sealed,
      `#!/bin/sh\necho "sealed $1 $2"\nexec "${deps.runtimePath}" "$@"\n`,
      { mode: 0o755 },
    );
    const runtime = {
      path: deps.runtimePath,
      root: "/handler-root",
      launchPath: () => Promise.resolve(sealed),
    };
    const { outcome, stdout } = await runWhere(exec, { id: "where", bundle, runtime });
    assert.deepEqual(outcome, { kind: "success" });
    assert.equal(stdout.split("\n")[0]!.trimEnd(), "sealed --root /handler-root");
  });
});
