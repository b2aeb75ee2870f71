import assert from "node:assert/strict";
import { join } from "node:path";
import {
  applyOciHooks,
  hookMatches,
  OciHookDirs,
  parseHookFile,
} from "../../../src/spec/oci_hooks.ts";
import type { Spec } from "../../../src/spec/types.ts";

const hookFile = (when: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    version: "1.0.0",
    hook: { path: "/usr/libexec/hook", args: ["hook", "prestart"], timeout: 5 },
    when,
    stages: ["prestart"],
    ...extra,
  });

const spec = (args: string[], annotations: Record<string, string> = {}): Spec => ({
  ociVersion: "1.2.0",
  process: { args, cwd: "/", user: { uid: 0, gid: 0 } },
  root: { path: "rootfs" },
  annotations,
});

Deno.test("parseHookFile() reads the 1.0.0 schema and says what is wrong with a bad file", () => {
  const def = parseHookFile("10-a.json", hookFile({ commands: [".*/init$"] }));
  assert.deepEqual(def.hook, { path: "/usr/libexec/hook", args: ["hook", "prestart"], timeout: 5 });
  assert.deepEqual(def.stages, ["prestart"]);
  const bad: [string, RegExp][] = [
    ["{", /not JSON/],
    [JSON.stringify({ version: "2.0.0" }), /the 1.0.0 and 0.1.0 schemas are read/],
    [JSON.stringify({ hook: "x", stages: ["prestart"] }), /"hook" must be an absolute path/],
    [JSON.stringify({ hook: "/x", stage: ["prestart"], stages: [] }), /both "stages" and "stage"/],
    [JSON.stringify({ hook: "/x" }), /"stages" is missing/],
    [JSON.stringify({ hook: "/x", stage: ["prestop"] }), /unknown stage "prestop"/],
    [JSON.stringify({ hook: "/x", stage: ["prestart"], cmd: ["("] }), /not a regular expression/],
    [hookFile({ always: true }, { hook: { path: "relative" } }), /hook.path/],
    [hookFile({}), /"when" must set one of/],
    [hookFile({ commands: ["("] }), /is not a regular expression/],
    [hookFile({ always: true }, { stages: ["prestop"] }), /unknown stage "prestop"/],
    [hookFile({ always: true }, { stages: [] }), /"stages" must be a non-empty array/],
    [hookFile({ always: true }, { hook: { path: "/x", timeout: 0 } }), /hook.timeout/],
  ];
  for (const [text, why] of bad) {
    assert.throws(() => parseHookFile("x.json", text), (e: Error) => {
      assert.match(e.message, /^Invalid OCI hook file "x.json": /);
      assert.match(e.message, why);
      return true;
    });
  }
});

Deno.test("hookMatches(): every condition set must match", () => {
  const target = (s: Spec, hasBindMounts = false) => ({ spec: s, hasBindMounts });
  const m = (when: Record<string, unknown>, s: Spec, bind = false) =>
    hookMatches(parseHookFile("x.json", hookFile(when)), target(s, bind));
  assert.equal(m({ always: true }, spec(["/bin/sh"])), true);
  assert.equal(m({ always: false }, spec(["/bin/sh"])), false);
  assert.equal(m({ commands: [".*/init$", "systemd$"] }, spec(["/sbin/init"])), true);
  assert.equal(m({ commands: [".*/init$"] }, spec(["/bin/sh", "/sbin/init"])), false);
  const gpu = spec(["/app"], { "com.example.gpu": "yes-please", other: "x" });
  assert.equal(m({ annotations: { "^com\\.example\\.gpu$": "^yes" } }, gpu), true);
  assert.equal(m({ annotations: { "^com\\.example\\.gpu$": "^no" } }, gpu), false);
  // All pairs must match (each against some annotation).
  assert.equal(m({ annotations: { "gpu": "yes", "^other$": "x" } }, gpu), true);
  assert.equal(m({ annotations: { "gpu": "yes", "^missing$": ".*" } }, gpu), false);
  assert.equal(m({ hasBindMounts: true }, spec(["/app"]), true), true);
  assert.equal(m({ hasBindMounts: true }, spec(["/app"]), false), false);
  // always and commands both set: both must match.
  assert.equal(m({ always: true, commands: ["^/app$"] }, spec(["/other"])), false);
});

Deno.test("parseHookFile() reads the 0.1.0 schema; any one of its conditions is enough", () => {
  const old = (fields: Record<string, unknown>) =>
    parseHookFile("old.json", JSON.stringify({ hook: "/usr/libexec/old", ...fields }));
  const def = old({ arguments: ["--x"], stage: ["prestart", "poststop"], cmds: ["init$"] });
  assert.deepEqual(def.hook, { path: "/usr/libexec/old", args: ["/usr/libexec/old", "--x"] });
  assert.deepEqual(def.stages, ["prestart", "poststop"]);
  assert.deepEqual(old({ version: "0.1.0", stages: ["prestart"] }).stages, ["prestart"]);
  const m = (fields: Record<string, unknown>, s: Spec, bind = false) =>
    hookMatches(old({ stage: ["prestart"], ...fields }), { spec: s, hasBindMounts: bind });
  const both = { cmd: ["^/sbin/init$"], annotation: ["^gpu$", "^fpga$"] };
  assert.equal(m(both, spec(["/sbin/init"])), true, "the command alone");
  assert.equal(m(both, spec(["/app"], { "any.key": "fpga" })), true, "an annotation alone");
  assert.equal(m(both, spec(["/app"], { "any.key": "tpu" })), false);
  assert.equal(m({ hasbindmounts: true }, spec(["/app"]), true), true);
  assert.equal(m({ hasbindmounts: true }, spec(["/app"]), false), false);
  assert.equal(m({ hasbindmounts: false }, spec(["/app"]), false), false, "false is no condition");
  assert.equal(m({}, spec(["/app"])), false, "no condition: never");
});

Deno.test("applyOciHooks() adds matching hooks after the spec's own, for each stage", () => {
  const defs = [
    parseHookFile("01-a.json", hookFile({ always: true }, { stages: ["prestart", "poststop"] })),
    parseHookFile("02-b.json", hookFile({ commands: ["^/nothing$"] })),
  ];
  const s = spec(["/app"]);
  s.hooks = { prestart: [{ path: "/cdi-hook" }] };
  assert.deepEqual(applyOciHooks({ spec: s, hasBindMounts: false }, defs), ["01-a.json"]);
  assert.deepEqual(s.hooks.prestart?.map((h) => h.path), ["/cdi-hook", "/usr/libexec/hook"]);
  assert.deepEqual(s.hooks.poststop?.map((h) => h.path), ["/usr/libexec/hook"]);
  // Each spec gets its own copy.
  assert.notEqual(s.hooks.prestart?.[1], defs[0]!.hook);
});

Deno.test("OciHookDirs: later dirs mask a name, order by name, changes are read again", async () => {
  const base = await Deno.makeTempDir({ prefix: "ocid-hooks-test-" });
  try {
    const low = join(base, "low");
    const high = join(base, "high");
    await Deno.mkdir(low);
    const dirs = new OciHookDirs([low, high, join(base, "missing")]);
    assert.deepEqual(await dirs.current(), []);

    await Deno.writeTextFile(join(low, "20-b.json"), hookFile({ always: true }));
    await Deno.writeTextFile(join(low, "10-A.json"), hookFile({ always: true }));
    await Deno.writeTextFile(join(low, "30-broken.json"), "{");
    await Deno.writeTextFile(join(low, "notes.txt"), "not a hook");
    assert.deepEqual((await dirs.current()).map((d) => d.name), ["10-A.json", "20-b.json"]);

    // A later dir's file of the same name masks the earlier one's.
    await Deno.mkdir(high);
    await Deno.writeTextFile(
      join(high, "20-b.json"),
      hookFile({ always: true }, { hook: { path: "/high" } }),
    );
    const masked = await dirs.current();
    assert.deepEqual(masked.map((d) => [d.name, d.hook.path]), [
      ["10-A.json", "/usr/libexec/hook"],
      ["20-b.json", "/high"],
    ]);

    // A file changed in place (the dir's mtime may not change) is read again; a fixed one too.
    await new Promise((r) => setTimeout(r, 20));
    await Deno.writeTextFile(
      join(high, "20-b.json"),
      hookFile({ always: true }, { hook: { path: "/high2" } }),
    );
    await Deno.writeTextFile(join(low, "30-broken.json"), hookFile({ always: true }));
    assert.deepEqual((await dirs.current()).map((d) => d.hook.path), [
      "/usr/libexec/hook",
      "/high2",
      "/usr/libexec/hook",
    ]);

    // Removed: gone, and the masked file shows again.
    await Deno.remove(join(high, "20-b.json"));
    assert.deepEqual((await dirs.current()).map((d) => [d.name, d.hook.path]), [
      ["10-A.json", "/usr/libexec/hook"],
      ["20-b.json", "/usr/libexec/hook"],
      ["30-broken.json", "/usr/libexec/hook"],
    ]);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
