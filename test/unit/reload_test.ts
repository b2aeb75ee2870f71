import assert from "node:assert/strict";
import { defaultConfig } from "../../src/config/mod.ts";
import type { Config } from "../../src/config/types.ts";
import { configChanges, reloadConfig } from "../../src/reload.ts";

const host = { systemdIsInit: () => false, hasCapSysResource: () => true };

function configs(change: (c: Config) => void): { live: Config; next: Config } {
  const live = defaultConfig({ host });
  const next = structuredClone(live);
  change(next);
  return { live, next };
}

Deno.test("configChanges() splits the changed keys into reloadable and restart-only", () => {
  const { live, next } = configs((c) => {
    c.defaultEnv = ["A=1"];
    c.image.registriesConf = "/etc/other.conf";
    c.root = "/srv/ocid";
    c.runtimes = { kata: { runtimePath: "/usr/bin/kata" } } as unknown as Config["runtimes"];
  });
  const { reload, restart } = configChanges(live, next);
  assert.deepEqual(reload.map((f) => f.key), ["default_env", "image.registries_conf"]);
  assert.deepEqual(restart, ["root", "runtimes"]);
  assert.deepEqual(configChanges(live, structuredClone(live)), { reload: [], restart: [] });
});

Deno.test("reloadConfig() applies reloadable keys in place, after prepare, and none if it throws", async () => {
  const { live, next } = configs((c) => {
    c.defaultUlimits = ["nofile=10"];
    c.logLevel = "debug";
    c.listen = "/run/other.sock";
  });
  const seen: string[] = [];
  const result = await reloadConfig(live, next, {
    prepare: (_n, changed) => {
      seen.push(`prepare ${[...changed].sort().join(",")}`);
      return Promise.resolve();
    },
    commit: (_n, changed) => void seen.push(`commit ${[...changed].sort().join(",")}`),
  });
  assert.deepEqual(result, {
    applied: ["log_level", "default_ulimits"],
    needRestart: ["listen"],
  });
  assert.deepEqual(seen, ["prepare default_ulimits,log_level", "commit default_ulimits,log_level"]);
  assert.deepEqual(live.defaultUlimits, ["nofile=10"]);
  assert.equal(live.logLevel, "debug");
  assert.equal(live.listen, defaultConfig({ host }).listen, "a restart-only key stays");

  const again = configs((c) => c.defaultEnv = ["B=2"]);
  await assert.rejects(
    reloadConfig(again.live, again.next, {
      prepare: () => Promise.reject(new Error("bad seccomp profile")),
      commit: () => assert.fail("no commit after a failed prepare"),
    }),
    /bad seccomp profile/,
  );
  assert.deepEqual(again.live.defaultEnv, [], "nothing changed");
});
