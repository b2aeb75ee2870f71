import assert from "node:assert/strict";
import { defaultConfig } from "../../../src/config/defaults.ts";
import type { Config } from "../../../src/config/types.ts";
import {
  handlerFeatures,
  kernelHasMountSetattr,
  NO_RUNTIME_FEATURES,
  parseRuntimeFeatures,
  probeHandlerFeatures,
  probeRuntimeFeatures,
} from "../../../src/oci/runtime_features.ts";
import type { Runner, RunResult } from "../../../src/process.ts";
import { status } from "../../../src/server/status.ts";

const enc = (s: string) => new TextEncoder().encode(s);
/** A features document as runc 1.1 prints it, cut down. */
/** As runc 1.1.5 prints it, in part. */
const RUNC = JSON.stringify({
  ociVersionMax: "1.0.2-dev",
  mountOptions: ["ro", "rro", "rbind"],
  annotations: { "org.opencontainers.runc.version": "1.1.5+ds1" },
});
/** As runc, and a runtime that is not runc (crun 1.9's annotations name crun). */
const RUNC_FEATURES = { recursiveReadOnlyMounts: true, runcInternals: true };

/** A runner that answers `<path> features` from a table and records each run. */
function featuresRunner(answers: Record<string, RunResult | Error>): Runner & { runs: string[] } {
  const runs: string[] = [];
  return {
    runs,
    run(cmd, args) {
      runs.push([cmd, ...args].join(" "));
      const a = answers[cmd] ?? new Error(`spawn ${cmd} ENOENT`);
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
    },
  };
}

/** The default handler (runc) plus `runc-b` (the same binary) and `crun`. */
function configWithHandlers(): Config {
  const config = defaultConfig({
    host: { systemdIsInit: () => false, hasCapSysResource: () => false },
  });
  const handler = (runtimePath: string) => ({
    runtimePath,
    runtimeRoot: `/run/x/${runtimePath.split("/").pop()}`,
    runtimeType: "oci" as const,
    monitorPath: config.conmon.path,
    allowedAnnotations: [],
    privilegedWithoutHostDevices: false,
  });
  config.runtimes = { "runc-b": handler(config.runtime.path), crun: handler("/usr/bin/crun") };
  return config;
}

Deno.test("kernelHasMountSetattr: Linux 5.12 and later", () => {
  for (const r of ["5.12.0", "5.15.0-91-generic", "6.1.0-18-amd64", "6.18.3", "10.0"]) {
    assert.equal(kernelHasMountSetattr(r), true, r);
  }
  for (const r of ["5.11.22", "4.19.0-26-amd64", "3.10.0", "", "linux"]) {
    assert.equal(kernelHasMountSetattr(r), false, r);
  }
});

Deno.test("parseRuntimeFeatures: rro needs the runtime's option and the kernel's call", () => {
  assert.deepEqual(parseRuntimeFeatures(RUNC, "6.18.0"), RUNC_FEATURES);
  assert.deepEqual(parseRuntimeFeatures(RUNC, "5.10.0"), {
    recursiveReadOnlyMounts: false,
    runcInternals: true,
  });
  const noRro = JSON.stringify({ mountOptions: ["ro", "rbind"] });
  assert.deepEqual(parseRuntimeFeatures(noRro, "6.18.0"), NO_RUNTIME_FEATURES);
  for (const bad of ["", "not json", "null", "[]", '{"mountOptions":"rro"}']) {
    assert.deepEqual(parseRuntimeFeatures(bad, "6.18.0"), NO_RUNTIME_FEATURES, bad);
  }
});

Deno.test("parseRuntimeFeatures: only runc, by its annotations, starts through the exec FIFO", () => {
  const crun = JSON.stringify({
    mountOptions: ["rro"],
    annotations: { "run.oci.crun.version": "1.9" },
  });
  assert.deepEqual(parseRuntimeFeatures(crun, "6.18.0"), {
    recursiveReadOnlyMounts: true,
    runcInternals: false,
  });
  const noVersion = JSON.stringify({ annotations: { "org.opencontainers.runc.version": 1 } });
  assert.equal(parseRuntimeFeatures(noVersion, "6.18.0").runcInternals, false);
});

Deno.test("probeRuntimeFeatures: a runtime without the command or that cannot run has none, and says why", async () => {
  const runner = featuresRunner({
    "/usr/sbin/runc": { code: 0, stdout: enc(RUNC), stderr: enc("") },
    "/usr/bin/crun": { code: 1, stdout: enc(""), stderr: enc("unknown command features\n") },
  });
  assert.deepEqual(await probeRuntimeFeatures(runner, "/usr/sbin/runc", "6.18.0"), {
    features: RUNC_FEATURES,
  });
  assert.deepEqual(await probeRuntimeFeatures(runner, "/usr/bin/crun", "6.18.0"), {
    features: NO_RUNTIME_FEATURES,
    problem: '"/usr/bin/crun features": unknown command features',
  });
  const gone = await probeRuntimeFeatures(runner, "/nope", "6.18.0");
  assert.deepEqual(gone.features, NO_RUNTIME_FEATURES);
  assert.match(gone.problem!, /\/nope features.*ENOENT/);
  assert.deepEqual(runner.runs, [
    "/usr/sbin/runc features",
    "/usr/bin/crun features",
    "/nope features",
  ]);
});

Deno.test("probeHandlerFeatures: each runtime binary asked once; Status reports them per handler", async () => {
  const config = configWithHandlers();
  const runner = featuresRunner({
    [config.runtime.path]: { code: 0, stdout: enc(RUNC), stderr: enc("") },
    "/usr/bin/crun": { code: 1, stdout: enc(""), stderr: enc("unknown command features") },
  });
  const { features, problems } = await probeHandlerFeatures(config, runner, "6.18.0");
  assert.deepEqual(runner.runs.sort(), [
    "/usr/bin/crun features",
    `${config.runtime.path} features`,
  ]);
  assert.deepEqual(Object.fromEntries(features), {
    crun: NO_RUNTIME_FEATURES,
    runc: RUNC_FEATURES,
    "runc-b": RUNC_FEATURES,
  });
  assert.deepEqual([...problems.keys()], ["crun"]);
  const deps = { config, runtimeFeatures: features };
  assert.equal(handlerFeatures(deps, "").recursiveReadOnlyMounts, true, "the default, runc");
  assert.equal(handlerFeatures(deps, "crun").recursiveReadOnlyMounts, false);
  assert.equal(handlerFeatures(deps, "unknown").recursiveReadOnlyMounts, false);

  const network = { status: () => Promise.resolve({ ready: true }) };
  const res = await status(
    { ...deps, network: network as never },
    { verbose: false },
  );
  assert.deepEqual(
    res.runtime_handlers!.map((h) => [h.name, h.features!.recursive_read_only_mounts]),
    [["", true], ["crun", false], ["runc", true], ["runc-b", true]],
  );
  assert.ok(res.runtime_handlers!.every((h) => h.features!.user_namespaces === false));
  // The kubelet (1.33 and later) refuses pods asking for Strict unless the runtime says this.
  assert.equal(res.features?.supplemental_groups_policy, true);
});
