import assert from "node:assert/strict";
import { join } from "node:path";
import { nullLogger } from "../../../src/log.ts";
import { ExecFiles } from "../../../src/oci/exec_files.ts";
import { ProcessTemplates } from "../../../src/oci/process_templates.ts";
import { runExec } from "../../../src/stream/exec.ts";
import type { RemoteCommandStreams } from "../../../src/stream/remote_command.ts";
import { denoSpawner, type StreamSpawner } from "../../../src/stream/spawn.ts";
import type { SpdyStream } from "../../../src/stream/spdy_connection.ts";
import type { ExecStreamRequest } from "../../../src/stream/types.ts";
import { FakeOut as SessionOut } from "./_fake_out.ts";

/**
 * A stand-in for runc: writes its pid to --pid-file, prints the path of its --process file and
 * that file's content, then runs the scenario named by the last argument (the container id).
 */
const FAKE_RUNTIME = `#!/bin/sh
while [ $# -gt 1 ]; do
  case "$1" in
    --process) process="$2" ;;
    --pid-file) echo $$ > "$2" ;;
  esac
  shift
done
echo "$process"
cat "$process"
echo
case "$1" in
  ok) exit 0 ;;
  fail) exit 3 ;;
  sleep) exec sleep 4252 ;;
esac
`;

/** The client's stdout, which also reads back what the fake runtime printed. */
class FakeOut extends SessionOut {
  /** The runtime's first line (its --process path) and the spec it read. */
  get printed(): { processFile: string; spec: Record<string, unknown> } {
    const [processFile = "", spec = "{}"] = this.text.split("\n");
    return { processFile, spec: JSON.parse(spec) };
  }
}

interface Env {
  dir: string;
  bundle: string;
  runtime: string;
  execFiles: ExecFiles;
  /** The exec dir's entries once the removals started so far are done. */
  left(): Promise<string[]>;
}

async function withEnv(fn: (env: Env) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ocid-exec-session-test-" });
  try {
    const runtime = join(dir, "runtime");
    await Deno.writeTextFile(runtime, FAKE_RUNTIME, { mode: 0o755 });
    const bundle = join(dir, "bundle");
    await Deno.mkdir(bundle);
    await Deno.writeTextFile(
      join(bundle, "config.json"),
      JSON.stringify({ process: { cwd: "/", env: ["A=1"], terminal: true, args: ["init"] } }),
    );
    const execFiles = new ExecFiles(join(dir, "run", "exec"));
    await fn({
      dir,
      bundle,
      runtime,
      execFiles,
      async left() {
        await execFiles.settled();
        try {
          return (await Array.fromAsync(Deno.readDir(execFiles.dir))).map((e) => e.name);
        } catch (err) {
          if (err instanceof Deno.errors.NotFound) return [];
          throw err;
        }
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The deps of {@linkcode runExec}, built apart from the call. */
function depsOf(env: Env, spawner: StreamSpawner = denoSpawner) {
  return {
    runtimePath: env.runtime,
    runtimeRoot: join(env.dir, "root"),
    spawner,
    log: nullLogger,
    execFiles: env.execFiles,
    processes: new ProcessTemplates(),
  };
}

function request(cmd: string[]): ExecStreamRequest {
  return {
    kind: "exec",
    containerId: "c",
    cmd,
    tty: false,
    stdin: false,
    stdout: true,
    stderr: false,
  };
}

function streamsOf(stdout: FakeOut): RemoteCommandStreams {
  return {
    error: new FakeOut() as unknown as SpdyStream,
    stdout: stdout as unknown as SpdyStream,
  } as RemoteCommandStreams;
}

Deno.test("runExec() puts the process spec in the exec dir and removes it after the exit", async () => {
  await withEnv(async (env) => {
    const cases = [
      { id: "ok", outcome: { kind: "success" } },
      { id: "fail", outcome: { kind: "exit", code: 3, cmd: ["fail", "arg"] } },
    ];
    for (const { id, outcome } of cases) {
      const stdout = new FakeOut();
      const got = await runExec(depsOf(env), { id, bundle: env.bundle }, {
        request: request([id, "arg"]),
        streams: streamsOf(stdout),
        gone: new Promise(() => {}),
      });
      assert.deepEqual(got, outcome);
      const { processFile, spec } = stdout.printed;
      assert.ok(
        processFile.startsWith(env.execFiles.dir + "/"),
        `the spec is in the exec dir, not ${processFile}`,
      );
      assert.doesNotMatch(processFile, /ocid-stream-exec-/);
      assert.deepEqual(spec, { cwd: "/", env: ["A=1"], terminal: false, args: [id, "arg"] });
      assert.deepEqual(await env.left(), [], "the files are gone");
    }
  });
});

Deno.test("runExec() removes the files when the client goes away", async () => {
  await withEnv(async (env) => {
    const stdout = new FakeOut();
    let leave!: () => void;
    const running = runExec(depsOf(env), { id: "sleep", bundle: env.bundle }, {
      request: request(["sleep"]),
      streams: streamsOf(stdout),
      gone: new Promise((r) => leave = r),
    });
    await stdout.seen("}\n");
    const { processFile } = stdout.printed;
    assert.ok(processFile.startsWith(env.execFiles.dir + "/"), processFile);
    assert.ok(env.execFiles.inUse(processFile.slice(env.execFiles.dir.length + 1)));
    leave();
    assert.deepEqual(await running, { kind: "error", message: "client went away" });
    assert.deepEqual(await env.left(), []);
  });
});

Deno.test("runExec() removes the files when the runtime cannot be started", async () => {
  await withEnv(async (env) => {
    const seen: string[] = [];
    const spawner: StreamSpawner = {
      spawn(cmd, args, options) {
        seen.push(args[args.indexOf("--process") + 1]!);
        return denoSpawner.spawn(cmd, args, options);
      },
    };
    const deps = { ...depsOf(env, spawner), runtimePath: join(env.dir, "missing-runtime") };
    await assert.rejects(
      runExec(deps, { id: "ok", bundle: env.bundle }, {
        request: request(["ok"]),
        streams: streamsOf(new FakeOut()),
        gone: new Promise(() => {}),
      }),
      Deno.errors.NotFound,
    );
    assert.equal(seen.length, 1);
    assert.ok(seen[0]!.startsWith(env.execFiles.dir + "/"), seen[0]!);
    assert.deepEqual(await env.left(), []);
  });
});

Deno.test("runExec() removes the files when the runtime process fails", async () => {
  await withEnv(async (env) => {
    const seen: string[] = [];
    const spawner: StreamSpawner = {
      spawn(_cmd, args) {
        seen.push(args[args.indexOf("--process") + 1]!);
        return {
          pid: 0,
          stdin: null,
          stdout: null,
          stderr: null,
          status: Promise.reject(new Error("lost the runtime")),
          kill() {},
        };
      },
    };
    await assert.rejects(
      runExec(depsOf(env, spawner), { id: "ok", bundle: env.bundle }, {
        request: request(["ok"]),
        streams: streamsOf(new FakeOut()),
        gone: new Promise(() => {}),
      }),
      /lost the runtime/,
    );
    assert.equal(seen.length, 1);
    assert.ok(seen[0]!.startsWith(env.execFiles.dir + "/"), seen[0]!);
    assert.deepEqual(await env.left(), []);
  });
});

Deno.test("runExec() without a config.json starts nothing and leaves no file", async () => {
  await withEnv(async (env) => {
    await Deno.remove(join(env.bundle, "config.json"));
    const calls: string[][] = [];
    const spawner: StreamSpawner = {
      spawn(_cmd, args) {
        calls.push(args);
        throw new Error("must not spawn");
      },
    };
    await assert.rejects(
      runExec(depsOf(env, spawner), { id: "ok", bundle: env.bundle }, {
        request: request(["ok"]),
        streams: streamsOf(new FakeOut()),
        gone: new Promise(() => {}),
      }),
      Deno.errors.NotFound,
    );
    assert.deepEqual(calls, []);
    assert.deepEqual(await env.left(), []);
  });
});

Deno.test("runExec() warms the cgroup attach lock before the runtime is spawned, tty or not", async () => {
  await withEnv(async (env) => {
    const events: string[] = [];
    const spawner: StreamSpawner = {
      spawn(cmd, args, options) {
        events.push("spawn");
        return denoSpawner.spawn(cmd, args, options);
      },
    };
    const tty = {
      run: () => {
        events.push("tty");
        return Promise.resolve({ kind: "success" } as const);
      },
    };
    const deps = {
      ...depsOf(env, spawner),
      tty,
      attachWarmer: { warm: () => events.push("warm") },
    };
    const session = (tty: boolean) => ({
      request: { ...request(["ok"]), tty },
      streams: streamsOf(new FakeOut()),
      gone: new Promise<void>(() => {}),
    });
    await runExec(deps, { id: "ok", bundle: env.bundle }, session(false));
    await runExec(deps, { id: "ok", bundle: env.bundle }, session(true));
    assert.deepEqual(events, ["warm", "spawn", "warm", "tty"]);
    assert.deepEqual(await env.left(), []);
  });
});

Deno.test("runExec() runs the target's runtime by its launch path, with the runtime's root", async () => {
  await withEnv(async (env) => {
    // The sealed copy stands in as a link to the fake runtime.
    const sealed = join(env.dir, "sealed-runtime");
    await Deno.symlink(env.runtime, sealed);
    const ran: { cmd: string; root: string }[] = [];
    const spawner: StreamSpawner = {
      spawn(cmd, args, options) {
        ran.push({ cmd, root: args[args.indexOf("--root") + 1]! });
        return denoSpawner.spawn(cmd, args, options);
      },
    };
    const targets = [
      {
        runtime: {
          path: env.runtime,
          root: "/handler-root",
          launchPath: () => Promise.resolve(sealed),
        },
      },
      { runtime: { path: env.runtime, root: "/handler-root" } },
      {},
    ];
    for (const target of targets) {
      const outcome = await runExec(depsOf(env, spawner), {
        id: "ok",
        bundle: env.bundle,
        ...target,
      }, {
        request: request(["ok"]),
        streams: streamsOf(new FakeOut()),
        gone: new Promise(() => {}),
      });
      assert.deepEqual(outcome, { kind: "success" });
    }
    assert.deepEqual(ran, [
      { cmd: sealed, root: "/handler-root" },
      { cmd: env.runtime, root: "/handler-root" },
      { cmd: env.runtime, root: join(env.dir, "root") },
    ]);
  });
});
