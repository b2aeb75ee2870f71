/**
 * Every way of starting the daemon passes the Deno and V8 flags of src/v8_flags.ts: the compiled
 * binary, scripts/run.sh, the installed launcher, `deno task start`, the benchmark and the tests.
 */
import assert from "node:assert/strict";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { compileArgs } from "../../../scripts/compile.ts";
import { ocidArgs } from "../../../bench/peers/ocid.ts";
import { DENO_FLAGS, NO_CODE_CACHE, V8_FLAGS, V8_FLAGS_ARG } from "../../../src/v8_flags.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

Deno.test("DENO_FLAGS turn the code cache off and cap the young generation", () => {
  assert.match(V8_FLAGS, /--max-semi-space-size=1\b/);
  assert.equal(V8_FLAGS_ARG, `--v8-flags=${V8_FLAGS}`);
  assert.deepEqual(DENO_FLAGS, [NO_CODE_CACHE, V8_FLAGS_ARG]);
  assert.equal(NO_CODE_CACHE, "--no-code-cache");
});

/** Whether `args` holds every flag of {@linkcode DENO_FLAGS} before `script`. */
function flagsBefore(args: readonly string[], script: string): boolean {
  const at = args.indexOf(script);
  return at > 0 && DENO_FLAGS.every((f) => args.indexOf(f) > 0 && args.indexOf(f) < at);
}

Deno.test("compileArgs() and the benchmark's ocidArgs() pass the flags before the script", () => {
  const compile = compileArgs({ output: "/tmp/x" });
  assert.ok(flagsBefore(compile, join(ROOT, "src", "main.ts")), compile.join(" "));
  const bench = ocidArgs({ root: "/r", runroot: "/rr", socket: "/s", cniDir: "/c" });
  assert.ok(flagsBefore(bench, "src/main.ts"), bench.join(" "));
});

Deno.test("run.sh, the installed launcher, deno task start and the test daemon pass them", async () => {
  const inline = DENO_FLAGS.join(" ");
  for (const file of ["scripts/run.sh", "scripts/install.sh"]) {
    const text = await Deno.readTextFile(join(ROOT, file));
    assert.ok(text.includes(inline), `${file} does not pass ${inline}`);
  }
  const helper = await Deno.readTextFile(join(ROOT, "test/helpers/daemon.ts"));
  assert.ok(helper.includes("...DENO_FLAGS,"), "test/helpers/daemon.ts does not pass DENO_FLAGS");
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  assert.ok(String(config.tasks.start).includes(`${inline} src/main.ts`));
});
