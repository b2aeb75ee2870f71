import assert from "node:assert/strict";
import { join } from "node:path";
import { FailedPreconditionError } from "../../../src/errors.ts";
import { createCniPlugin } from "../../../src/network/mod.ts";
import type { SetUpRequest } from "../../../src/network/types.ts";
import { bridgeResult, FakeRunner, makePluginDir, result } from "./fake_runner.ts";

const CONFLIST = {
  cniVersion: "1.0.0",
  name: "testnet",
  plugins: [
    { type: "bridge", bridge: "ocidt1", ipam: { type: "host-local" } },
    { type: "portmap", capabilities: { portMappings: true } },
  ],
};

const REQ: SetUpRequest = {
  id: "pod1",
  netnsPath: "/nonexistent/netns/pod1",
  podName: "web",
  podNamespace: "default",
  podUid: "uid-1",
  portMappings: [
    { protocol: "TCP", containerPort: 80, hostPort: 8080, hostIp: "" },
    { protocol: "UDP", containerPort: 53, hostPort: 5353, hostIp: "127.0.0.1" },
    { protocol: "TCP", containerPort: 9000, hostPort: 0, hostIp: "" },
  ],
};

const CNI_PORTS = [
  { hostPort: 8080, containerPort: 80, protocol: "tcp" },
  { hostPort: 5353, containerPort: 53, protocol: "udp", hostIP: "127.0.0.1" },
];

interface Env {
  root: string;
  confDir: string;
  pluginDir: string;
  cacheDir: string;
}

async function withEnv(
  fn: (env: Env) => Promise<void>,
  plugins = ["loopback", "bridge", "portmap"],
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "ocid-cni-plugin-" });
  const pluginDir = await makePluginDir(plugins);
  const confDir = join(root, "net.d");
  await Deno.mkdir(confDir);
  await Deno.writeTextFile(join(confDir, "10-test.conflist"), JSON.stringify(CONFLIST));
  try {
    await fn({ root, confDir, pluginDir, cacheDir: join(root, "cni-cache") });
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(pluginDir, { recursive: true });
  }
}

function plugin(env: Env, runner: FakeRunner, options: { skipIdlePortmap?: boolean } = {}) {
  return createCniPlugin({
    configDir: env.confDir,
    pluginDirs: [env.pluginDir],
    cacheDir: env.cacheDir,
    runner,
    ...options,
  });
}

const okRunner = () =>
  new FakeRunner((call) => {
    const cmd = call.options.env?.CNI_COMMAND;
    if (cmd !== "ADD") return result(0);
    if (call.name === "loopback") {
      return result(0, { cniVersion: "0.3.1", interfaces: [{ name: "lo" }], ips: [] });
    }
    if (call.name === "bridge") return result(0, bridgeResult());
    return result(0, call.stdinJson?.prevResult);
  });

Deno.test("CniNetworkPlugin.setUp() brings up lo, then adds the network with port mappings", async () => {
  await withEnv(async (env) => {
    const runner = okRunner();
    const net = await plugin(env, runner).setUp(REQ);
    assertChains(runner.cniSequence, ["loopback ADD", "bridge ADD", "portmap ADD"]);
    assert.deepEqual(net.ips, [
      { address: "10.234.1.5", family: 4, gateway: "10.234.1.1", interface: "eth0" },
    ]);
    assert.deepEqual(net.result, bridgeResult());
    // loopback runs alongside the chain: which of it and bridge is called first varies.
    const named = (name: string) => runner.calls.find((c) => c.name === name);
    const [lo, bridge, portmap] = [named("loopback"), named("bridge"), named("portmap")];
    assert.equal(lo!.options.env?.CNI_IFNAME, "lo");
    assert.equal(lo!.stdinJson?.name, "cni-loopback");
    assert.equal(bridge!.options.env?.CNI_IFNAME, "eth0");
    assert.equal(bridge!.options.env?.CNI_NETNS, REQ.netnsPath);
    assert.match(bridge!.options.env?.CNI_ARGS ?? "", /K8S_POD_NAME=web;/);
    assert.equal(bridge!.stdinJson?.runtimeConfig, undefined);
    assert.deepEqual(portmap!.stdinJson?.runtimeConfig, { portMappings: CNI_PORTS });
    const cached = JSON.parse(await Deno.readTextFile(join(env.cacheDir, "pod1.json")));
    assert.deepEqual(cached.attachments.map((a: { network: string }) => a.network), [
      "cni-loopback",
      "testnet",
    ]);
    assert.deepEqual(cached.attachments[1].config, CONFLIST);
    assert.deepEqual(cached.attachments[1].result, bridgeResult());
  });
});

/**
 * Asserts that `actual` holds the calls of `expected`, with the pod network's plugins
 * (everything but loopback) in the expected order; loopback runs alongside them.
 */
function assertChains(actual: string[], expected: string[]): void {
  assert.deepEqual([...actual].sort(), [...expected].sort());
  const chain = (seq: string[]) => seq.filter((s) => !s.startsWith("loopback"));
  assert.deepEqual(chain(actual), chain(expected));
  const lo = (seq: string[]) => seq.filter((s) => s.startsWith("loopback"));
  assert.deepEqual(lo(actual), lo(expected));
}

Deno.test("CniNetworkPlugin.setUp() rolls back with DEL when a plugin fails", async () => {
  await withEnv(async (env) => {
    const runner = new FakeRunner((call) => {
      const cmd = call.options.env?.CNI_COMMAND;
      if (cmd === "ADD" && call.name === "portmap") {
        return result(1, { code: 999, msg: "iptables failed" });
      }
      if (cmd === "ADD" && call.name === "bridge") return result(0, bridgeResult());
      return result(0, cmd === "ADD" ? { cniVersion: "0.3.1" } : "");
    });
    await assert.rejects(plugin(env, runner).setUp(REQ), (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.match(
        e.message,
        /Cannot set up network "testnet" for pod "default\/web" \(sandbox "pod1"\): CNI plugin "portmap" failed on ADD .*iptables failed/,
      );
      return true;
    });
    // lo and the pod network are independent and run at once; each chain keeps its order.
    assertChains(runner.cniSequence, [
      "loopback ADD",
      "bridge ADD",
      "portmap ADD",
      "portmap DEL",
      "bridge DEL",
      "loopback DEL",
    ]);
    const portmapDel = runner.calls.find((c) =>
      c.name === "portmap" && c.options.env?.CNI_COMMAND === "DEL"
    )!;
    assert.deepEqual(portmapDel.stdinJson?.runtimeConfig, { portMappings: CNI_PORTS });
    assert.equal(portmapDel.stdinJson?.prevResult, undefined, "no result of the failed chain");
    await assert.rejects(Deno.stat(join(env.cacheDir, "pod1.json")), Deno.errors.NotFound);
  });
});

Deno.test("CniNetworkPlugin.setUp() keeps what its rollback could not DEL in the cache, for tearDown or the sweep to finish", async () => {
  await withEnv(async (env) => {
    let failDel = true;
    const runner = new FakeRunner((call) => {
      const cmd = call.options.env?.CNI_COMMAND;
      if (cmd === "ADD" && call.name === "portmap") {
        return result(1, { code: 999, msg: "iptables failed" });
      }
      if (cmd === "DEL" && call.name === "bridge" && failDel) {
        return result(1, { code: 11, msg: "try again later" });
      }
      if (cmd === "ADD" && call.name === "bridge") return result(0, bridgeResult());
      return result(0, cmd === "ADD" ? { cniVersion: "0.3.1" } : "");
    });
    const net = plugin(env, runner);
    await assert.rejects(net.setUp(REQ), /iptables failed/);
    // The pod network's DEL failed (its IP may still be held): kept; lo's went through.
    const cached = JSON.parse(await Deno.readTextFile(join(env.cacheDir, "pod1.json")));
    assert.deepEqual(cached.attachments.map((a: { ifName: string }) => a.ifName), ["eth0"]);
    assert.equal(cached.attachments[0].config.name, "testnet");
    failDel = false;
    runner.calls.length = 0;
    await net.tearDown(REQ);
    assert.ok(
      runner.calls.some((c) => c.name === "bridge" && c.options.env?.CNI_COMMAND === "DEL"),
    );
    await assert.rejects(Deno.stat(join(env.cacheDir, "pod1.json")), Deno.errors.NotFound);
  });
});

Deno.test("CniNetworkPlugin.tearDown() uses the cached config and result after the config changed", async () => {
  await withEnv(async (env) => {
    const runner = okRunner();
    const net = plugin(env, runner);
    await net.setUp(REQ);
    // The admin replaces the config; DEL must still run the plugins ADD ran.
    await Deno.remove(join(env.confDir, "10-test.conflist"));
    await Deno.writeTextFile(
      join(env.confDir, "05-other.conflist"),
      JSON.stringify({ cniVersion: "1.0.0", name: "other", plugins: [{ type: "loopback" }] }),
    );
    runner.calls.length = 0;
    await net.tearDown({ ...REQ, portMappings: [] });
    assertChains(runner.cniSequence, ["portmap DEL", "bridge DEL", "loopback DEL"]);
    const chain = runner.calls.filter((c) => c.stdinJson?.name !== "cni-loopback");
    assert.equal(chain.length, 2);
    for (const call of chain) {
      assert.equal(call.stdinJson?.name, "testnet");
      assert.deepEqual(call.stdinJson?.prevResult, bridgeResult());
      assert.equal(call.options.env?.CNI_NETNS, "", "a netns that is gone is passed as empty");
    }
    assert.deepEqual(
      runner.calls.find((c) => c.name === "portmap")!.stdinJson?.runtimeConfig,
      { portMappings: CNI_PORTS },
    );
    await assert.rejects(Deno.stat(join(env.cacheDir, "pod1.json")), Deno.errors.NotFound);
  });
});

Deno.test("CniNetworkPlugin.tearDown() without a cache runs DEL with the current config", async () => {
  await withEnv(async (env) => {
    const runner = okRunner();
    // A mounted namespace (the runner is a fake: nothing enters it).
    const netnsFile = "/proc/self/ns/net";
    await plugin(env, runner).tearDown({ ...REQ, netnsPath: netnsFile });
    assertChains(runner.cniSequence, ["portmap DEL", "bridge DEL", "loopback DEL"]);
    for (const call of runner.calls) {
      assert.equal(call.stdinJson?.prevResult, undefined);
      assert.equal(call.options.env?.CNI_NETNS, netnsFile);
    }
    assert.deepEqual(
      runner.calls.find((c) => c.name === "portmap")!.stdinJson?.runtimeConfig,
      { portMappings: CNI_PORTS },
    );
  });
});

Deno.test("CniNetworkPlugin.tearDown() keeps the cache when DEL fails so a retry can finish", async () => {
  await withEnv(async (env) => {
    let failDel = true;
    const inner = okRunner();
    const runner = new FakeRunner((call) => {
      if (failDel && call.name === "bridge" && call.options.env?.CNI_COMMAND === "DEL") {
        return result(1, { code: 11, msg: "try again later" });
      }
      return inner.run(call.cmd, call.args, call.options);
    });
    const net = plugin(env, runner);
    await net.setUp(REQ);
    await assert.rejects(
      net.tearDown(REQ),
      /Cannot tear down network of pod "default\/web" \(sandbox "pod1"\): CNI plugin "bridge" failed on DEL.*try again later/,
    );
    assert.ok(await Deno.stat(join(env.cacheDir, "pod1.json")));
    failDel = false;
    await net.tearDown(REQ);
    await assert.rejects(Deno.stat(join(env.cacheDir, "pod1.json")), Deno.errors.NotFound);
  });
});

Deno.test("CniNetworkPlugin.status() is ready with a valid config and all plugins", async () => {
  await withEnv(async (env) => {
    assert.deepEqual(await plugin(env, new FakeRunner()).status(), { ready: true });
  });
});

Deno.test("CniNetworkPlugin.status() is not ready without a valid config", async () => {
  await withEnv(async (env) => {
    await Deno.remove(join(env.confDir, "10-test.conflist"));
    await Deno.writeTextFile(join(env.confDir, "01-bad.conf"), "{}");
    const status = await plugin(env, new FakeRunner()).status();
    assert.equal(status.ready, false);
    assert.equal(status.reason, "NetworkPluginNotReady");
    assert.match(status.message ?? "", /No valid CNI network config in ".*net\.d"/);
    assert.match(status.message ?? "", /01-bad\.conf": Missing "name"/);
    await assert.rejects(plugin(env, new FakeRunner()).setUp(REQ), FailedPreconditionError);
  });
});

Deno.test("CniNetworkPlugin.status() is not ready when a plugin binary is missing", async () => {
  await withEnv(async (env) => {
    const status = await plugin(env, new FakeRunner()).status();
    assert.equal(status.ready, false);
    assert.equal(status.reason, "NetworkPluginNotReady");
    assert.match(status.message ?? "", /Cannot find CNI plugin "portmap"/);
  }, ["loopback", "bridge"]);
});

Deno.test("CniNetworkPlugin.setUp() rejects an ID that would break CNI_ARGS or the cache path", async () => {
  await withEnv(async (env) => {
    const runner = okRunner();
    await assert.rejects(
      plugin(env, runner).setUp({ ...REQ, id: "../x" }),
      /Invalid pod sandbox ID/,
    );
    await assert.rejects(plugin(env, runner).setUp({ ...REQ, podName: "a;b" }), /Invalid pod name/);
    assert.equal(runner.calls.length, 0);
  });
});

Deno.test("CniNetworkPlugin.tearDown() passes an empty netns for a netns file no namespace is mounted on", async () => {
  await withEnv(async (env) => {
    const runner = okRunner();
    const net = plugin(env, runner);
    await net.setUp(REQ);
    runner.calls.length = 0;
    // What a crash between making the file and pinning the namespace leaves.
    const netnsFile = join(env.root, "ns");
    await Deno.writeTextFile(netnsFile, "");
    await net.tearDown({ ...REQ, netnsPath: netnsFile });
    assertChains(runner.cniSequence, ["portmap DEL", "bridge DEL", "loopback DEL"]);
    for (const call of runner.calls) assert.equal(call.options.env?.CNI_NETNS, "");
  });
});

/** A pod without host ports (a mapping without a host port is not forwarded). */
const IDLE_REQ: SetUpRequest = { ...REQ, portMappings: [REQ.portMappings[2]!] };

/** The calls of the pod network's chain (loopback left out). */
const chainOf = (runner: FakeRunner) => runner.cniSequence.filter((s) => !s.startsWith("loopback"));

Deno.test("CniNetworkPlugin leaves out portmap for a pod without host ports", async () => {
  await withEnv(async (env) => {
    const runner = okRunner();
    const net = plugin(env, runner);
    const up = await net.setUp(IDLE_REQ);
    assert.deepEqual(chainOf(runner), ["bridge ADD"]);
    assert.deepEqual(up.result, bridgeResult(), "the result portmap would have passed through");
    const cached = JSON.parse(await Deno.readTextFile(join(env.cacheDir, "pod1.json")));
    assert.deepEqual(cached.attachments[1].config, CONFLIST, "the whole list, for DEL to decide");
    assert.deepEqual(cached.attachments[1].result, bridgeResult());
    runner.calls.length = 0;
    await net.tearDown(IDLE_REQ);
    assert.deepEqual(chainOf(runner), ["bridge DEL"]);
  });
});

Deno.test("CniNetworkPlugin runs portmap for every pod with skipIdlePortmap false", async () => {
  await withEnv(async (env) => {
    const runner = okRunner();
    const net = plugin(env, runner, { skipIdlePortmap: false });
    assert.deepEqual((await net.setUp(IDLE_REQ)).result, bridgeResult());
    await net.tearDown(IDLE_REQ);
    assert.deepEqual(chainOf(runner), ["bridge ADD", "portmap ADD", "portmap DEL", "bridge DEL"]);
  });
});

Deno.test("CniNetworkPlugin decides DEL after a restart from the port mappings ADD had", async (t) => {
  await withEnv(async (env) => {
    await t.step("ADD with host ports: DEL runs portmap with them", async () => {
      await plugin(env, okRunner()).setUp(REQ);
      const runner = okRunner();
      // A new daemon; the request knows no mappings, the cache does.
      await plugin(env, runner).tearDown({ ...REQ, portMappings: [] });
      assert.deepEqual(chainOf(runner), ["portmap DEL", "bridge DEL"]);
      assert.deepEqual(
        runner.calls.find((c) => c.name === "portmap")!.stdinJson?.runtimeConfig,
        { portMappings: CNI_PORTS },
      );
    });
    await t.step("ADD without host ports: DEL leaves portmap out", async () => {
      await plugin(env, okRunner()).setUp(IDLE_REQ);
      const runner = okRunner();
      await plugin(env, runner).tearDown(REQ);
      assert.deepEqual(chainOf(runner), ["bridge DEL"]);
    });
  });
});

Deno.test("CniNetworkPlugin.tearDown() without a cache leaves portmap out only for known mappings", async () => {
  await withEnv(async (env) => {
    const runner = okRunner();
    const net = plugin(env, runner);
    await net.tearDown(IDLE_REQ);
    assert.deepEqual(chainOf(runner), ["bridge DEL"], "the pod's stored config has no host ports");
    runner.calls.length = 0;
    // A sweep of traces of a pod nobody knows: ADD may have had mappings.
    const { portMappings: _, ...unknown } = IDLE_REQ;
    await net.tearDown(unknown);
    assert.deepEqual(chainOf(runner), ["portmap DEL", "bridge DEL"]);
  });
});
