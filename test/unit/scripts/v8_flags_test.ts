/**
 * Every way of starting the daemon passes the V8 flags of src/v8_flags.ts: the compiled binary,
 * scripts/run.sh, the installed launcher, `deno task start`, the benchmark and the tests.
 */
import assert from "node:assert/strict";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { compileArgs } from "../../../scripts/compile.ts";
import { ocidArgs } from "../../../bench/peers/ocid.ts";
import { V8_FLAGS, V8_FLAGS_ARG } from "../../../src/v8_flags.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

Deno.test("V8_FLAGS caps the young generation", () => {
  assert.match(V8_FLAGS, /--max-semi-space-size=1\b/);
  assert.equal(V8_FLAGS_ARG, `--v8-flags=${V8_FLAGS}`);
});

Deno.test("compileArgs() and the benchmark's ocidArgs() pass the V8 flags before the script", () => {
  const compile = compileArgs({ output: "/tmp/x" });
  assert.ok(compile.indexOf(V8_FLAGS_ARG) > 0);
  assert.ok(compile.indexOf(V8_FLAGS_ARG) < compile.indexOf(join(ROOT, "src", "main.ts")));
  const bench = ocidArgs({ root: "/r", runroot: "/rr", socket: "/s", cniDir: "/c" });
  assert.ok(bench.indexOf(V8_FLAGS_ARG) > 0);
  assert.ok(bench.indexOf(V8_FLAGS_ARG) < bench.indexOf("src/main.ts"));
});

Deno.test("run.sh, the installed launcher, deno task start and the test daemon pass them", async () => {
  for (const file of ["scripts/run.sh", "scripts/install.sh", "test/helpers/daemon.ts"]) {
    const text = await Deno.readTextFile(join(ROOT, file));
    assert.ok(
      text.includes(V8_FLAGS_ARG) || text.includes("V8_FLAGS_ARG"),
      `${file} does not pass ${V8_FLAGS_ARG}`,
    );
  }
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  assert.ok(String(config.tasks.start).includes(`${V8_FLAGS_ARG} src/main.ts`));
});
