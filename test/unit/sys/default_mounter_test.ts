import assert from "node:assert/strict";
import { chooseMounterKind, defaultMounter } from "../../../src/sys/default_mounter.ts";
import type { Runner } from "../../../src/process.ts";

const noRunner: Runner = {
  run: () => Promise.reject(new Error("no program may run")),
};

Deno.test("defaultMounter() uses the libc mounter on Linux when FFI is available", () => {
  assert.equal(Deno.build.os, "linux", "this test describes Linux");
  assert.equal(
    Deno.env.get("OCID_MOUNTER"),
    undefined,
    "OCID_MOUNTER is set in this environment: unset it to test the default",
  );
  const mounter = defaultMounter(noRunner);
  assert.equal(mounter.kind, "libc");
  assert.equal(defaultMounter(noRunner), mounter, "the choice is made once and reused");
});

Deno.test("chooseMounterKind() prefers libc, honours OCID_MOUNTER and falls back to exec", () => {
  assert.equal(chooseMounterKind({ os: "linux", setting: undefined, ffi: true }), "libc");
  assert.equal(chooseMounterKind({ os: "linux", setting: "", ffi: true }), "libc");
  assert.equal(chooseMounterKind({ os: "linux", setting: "libc", ffi: true }), "libc");
  assert.equal(chooseMounterKind({ os: "linux", setting: "exec", ffi: true }), "exec");
  assert.equal(chooseMounterKind({ os: "linux", setting: undefined, ffi: false }), "exec");
  assert.equal(chooseMounterKind({ os: "darwin", setting: undefined, ffi: true }), "exec");
});

Deno.test("chooseMounterKind() refuses a bad OCID_MOUNTER and libc without FFI", () => {
  assert.throws(
    () => chooseMounterKind({ os: "linux", setting: "syscall", ffi: true }),
    /Invalid OCID_MOUNTER "syscall": use "exec" or "libc"/,
  );
  assert.throws(
    () => chooseMounterKind({ os: "linux", setting: "libc", ffi: false }),
    /OCID_MOUNTER is "libc" but .*--allow-ffi/,
  );
});

/** The kind `defaultMounter()` picks in a fresh `deno run` with `flags` and `env`. */
async function kindInChild(flags: string[], env: Record<string, string>): Promise<string> {
  const url = new URL("../../../src/sys/default_mounter.ts", import.meta.url).href;
  const dir = await Deno.makeTempDir({ prefix: "ocid-mounter-choice-" });
  try {
    const script = `${dir}/choose.ts`;
    await Deno.writeTextFile(
      script,
      `import { defaultMounter } from "${url}";
      const runner = { run: () => Promise.reject(new Error("unused")) };
      console.log(defaultMounter(runner).kind);`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-lock", ...flags, script],
      env,
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `the child failed: ${stderr}`);
    return new TextDecoder().decode(out.stdout).trim();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("defaultMounter() falls back to exec without --allow-ffi or with OCID_MOUNTER=exec", async () => {
  assert.equal(await kindInChild(["--allow-read", "--allow-env"], {}), "exec");
  assert.equal(await kindInChild(["-A"], { OCID_MOUNTER: "exec" }), "exec");
  assert.equal(await kindInChild(["-A"], {}), "libc");
});
