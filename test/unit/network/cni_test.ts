import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CniPluginError,
  CniPluginNotFoundError,
  createCniExecutor,
  kubernetesCniArgs,
  pluginStdinConfig,
  type RuntimeConf,
} from "../../../src/network/cni.ts";
import { parseNetworkConfig } from "../../../src/network/config.ts";
import { bridgeResult, FakeRunner, makePluginDir, result } from "./fake_runner.ts";

const LIST = parseNetworkConfig(
  "/etc/cni/net.d/10-test.conflist",
  new TextEncoder().encode(JSON.stringify({
    cniVersion: "1.0.0",
    name: "testnet",
    plugins: [
      { type: "bridge", bridge: "ocidt1", ipam: { type: "host-local" } },
      { type: "portmap", capabilities: { portMappings: true } },
      { type: "tuning", capabilities: { bandwidth: false } },
    ],
  })),
);

const RT: RuntimeConf = {
  containerId: "abc123",
  netns: "/run/ocid/netns/abc123",
  ifName: "eth0",
  args: kubernetesCniArgs({ namespace: "default", name: "web", sandboxId: "abc123", uid: "u-1" }),
  capabilityArgs: {
    portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
    bandwidth: { ingressRate: 1 },
  },
};

async function withPlugins(
  plugins: string[],
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await makePluginDir(plugins);
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("CniExecutor.add() runs the chain in order passing prevResult", async () => {
  await withPlugins(["bridge", "portmap", "tuning"], async (dir) => {
    const runner = new FakeRunner((call) => {
      const prev = call.stdinJson?.prevResult as Record<string, unknown> | undefined;
      if (call.name === "bridge") return result(0, bridgeResult());
      return result(0, { ...prev, by: call.name });
    });
    const exec = createCniExecutor({ runner, pluginDirs: ["/nonexistent", dir], path: "/bin" });
    const out = await exec.add(LIST, RT) as Record<string, unknown>;
    assert.deepEqual(runner.cniSequence, ["bridge ADD", "portmap ADD", "tuning ADD"]);
    assert.equal(out.by, "tuning");
    const [bridge, portmap, tuning] = runner.calls;
    assert.equal(bridge!.cmd, join(dir, "bridge"));
    assert.deepEqual(bridge!.options.env, {
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: "abc123",
      CNI_NETNS: "/run/ocid/netns/abc123",
      CNI_IFNAME: "eth0",
      CNI_PATH: `/nonexistent:${dir}`,
      CNI_ARGS:
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=abc123;K8S_POD_UID=u-1",
      PATH: "/bin",
    });
    assert.deepEqual(bridge!.stdinJson, {
      type: "bridge",
      bridge: "ocidt1",
      ipam: { type: "host-local" },
      name: "testnet",
      cniVersion: "1.0.0",
    });
    assert.deepEqual(portmap!.stdinJson?.prevResult, bridgeResult());
    assert.deepEqual(portmap!.stdinJson?.runtimeConfig, {
      portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
    });
    assert.equal(tuning!.stdinJson?.runtimeConfig, undefined, "capability false: not injected");
    assert.deepEqual(tuning!.stdinJson?.prevResult, { ...bridgeResult(), by: "portmap" });
    assert.equal(typeof bridge!.options.timeoutMs, "number");
    assert.equal(bridge!.options.check, false);
  });
});

Deno.test("CniExecutor.del() runs in reverse with the cached result as prevResult", async () => {
  await withPlugins(["bridge", "portmap", "tuning"], async (dir) => {
    const runner = new FakeRunner(() => result(0));
    const exec = createCniExecutor({ runner, pluginDirs: [dir] });
    await exec.del(LIST, RT, bridgeResult());
    assert.deepEqual(runner.cniSequence, ["tuning DEL", "portmap DEL", "bridge DEL"]);
    for (const call of runner.calls) {
      assert.deepEqual(call.stdinJson?.prevResult, bridgeResult());
      assert.equal(call.options.env?.CNI_COMMAND, "DEL");
    }
    assert.ok(runner.calls[1]!.stdinJson?.runtimeConfig, "portmap gets its port mappings on DEL");
  });
});

Deno.test("CniExecutor.del() omits prevResult when none is cached or cniVersion < 0.4.0", async () => {
  await withPlugins(["bridge", "portmap", "tuning"], async (dir) => {
    const runner = new FakeRunner(() => result(0));
    const exec = createCniExecutor({ runner, pluginDirs: [dir] });
    await exec.del(LIST, RT);
    const old = { ...LIST, cniVersion: "0.3.1" };
    await exec.del(old, RT, bridgeResult());
    for (const call of runner.calls) assert.equal("prevResult" in call.stdinJson!, false);
  });
});

Deno.test("CniExecutor.check() runs in order with prevResult", async () => {
  await withPlugins(["bridge", "portmap", "tuning"], async (dir) => {
    const runner = new FakeRunner(() => result(0));
    const exec = createCniExecutor({ runner, pluginDirs: [dir] });
    await exec.check(LIST, RT, bridgeResult());
    assert.deepEqual(runner.cniSequence, ["bridge CHECK", "portmap CHECK", "tuning CHECK"]);
    assert.deepEqual(runner.calls[0]!.stdinJson?.prevResult, bridgeResult());
  });
});

Deno.test("CniExecutor.version() sends cniVersion and returns the answer", async () => {
  await withPlugins(["bridge"], async (dir) => {
    const answer = { cniVersion: "1.0.0", supportedVersions: ["0.4.0", "1.0.0"] };
    const runner = new FakeRunner(() => result(0, answer));
    const exec = createCniExecutor({ runner, pluginDirs: [dir] });
    assert.deepEqual(await exec.version("bridge"), answer);
    assert.equal(runner.calls[0]!.options.env?.CNI_COMMAND, "VERSION");
    assert.deepEqual(runner.calls[0]!.stdinJson, { cniVersion: "1.0.0" });
  });
});

Deno.test("CniExecutor.add() maps a CNI error to an error naming plugin and command", async () => {
  await withPlugins(["bridge", "portmap", "tuning"], async (dir) => {
    const runner = new FakeRunner((call) =>
      call.name === "portmap"
        ? result(1, { cniVersion: "1.0.0", code: 7, msg: "bad config", details: "no ports" })
        : result(0, bridgeResult())
    );
    const exec = createCniExecutor({ runner, pluginDirs: [dir] });
    await assert.rejects(exec.add(LIST, RT), (e: unknown) => {
      assert.ok(e instanceof CniPluginError);
      assert.equal(e.plugin, "portmap");
      assert.equal(e.command, "ADD");
      assert.equal(e.cniCode, 7);
      assert.equal(e.details, "no ports");
      assert.equal(
        e.message,
        'CNI plugin "portmap" failed on ADD (network "testnet"): bad config: no ports (code 7)',
      );
      return true;
    });
    assert.deepEqual(runner.cniSequence, ["bridge ADD", "portmap ADD"], "the chain stops");
  });
});

Deno.test("CniExecutor.add() reports stderr when the plugin prints no CNI error", async () => {
  await withPlugins(["bridge"], async (dir) => {
    const runner = new FakeRunner(() => result(2, "", "panic: boom\n"));
    const exec = createCniExecutor({ runner, pluginDirs: [dir] });
    const list = { ...LIST, plugins: [{ type: "bridge" }] };
    await assert.rejects(exec.add(list, RT), /"bridge" failed on ADD.*exit code 2: panic: boom/);
  });
});

Deno.test("CniExecutor.add() rejects a result that is not JSON", async () => {
  await withPlugins(["bridge"], async (dir) => {
    const runner = new FakeRunner(() => result(0, "hello"));
    const exec = createCniExecutor({ runner, pluginDirs: [dir] });
    const list = { ...LIST, plugins: [{ type: "bridge" }] };
    await assert.rejects(exec.add(list, RT), /not JSON/);
  });
});

Deno.test("CniExecutor.add() fails clearly when a plugin binary is missing", async () => {
  await withPlugins(["bridge"], async (dir) => {
    const runner = new FakeRunner(() => result(0, bridgeResult()));
    const exec = createCniExecutor({ runner, pluginDirs: [dir] });
    await assert.rejects(exec.add(LIST, RT), (e: unknown) => {
      assert.ok(e instanceof CniPluginNotFoundError);
      assert.match(e.message, new RegExp(`Cannot find CNI plugin "portmap" in "${dir}"`));
      return true;
    });
    assert.deepEqual(runner.cniSequence, [], "nothing runs, so nothing needs a rollback");
  });
});

Deno.test("CniExecutor.del() runs every plugin even when one fails or is missing", async () => {
  await withPlugins(["bridge", "tuning"], async (dir) => {
    const runner = new FakeRunner((call) =>
      call.name === "tuning" ? result(1, { code: 11, msg: "busy" }) : result(0)
    );
    const exec = createCniExecutor({ runner, pluginDirs: [dir] });
    await assert.rejects(exec.del(LIST, RT, bridgeResult()), (e: unknown) => {
      assert.ok(e instanceof AggregateError);
      assert.equal(e.errors.length, 2);
      assert.match(e.message, /"tuning" failed on DEL.*busy.*Cannot find CNI plugin "portmap"/);
      return true;
    });
    assert.deepEqual(runner.cniSequence, ["tuning DEL", "bridge DEL"]);
  });
});

Deno.test("CniExecutor passes its timeout to the runner and reports a timed-out call", async () => {
  await withPlugins(["bridge"], async (dir) => {
    const runner = new FakeRunner(async (call) => {
      // Behave like Deno.Command after its abort signal fired.
      await new Promise((r) => setTimeout(r, (call.options.timeoutMs ?? 0) + 5));
      return result(143);
    });
    const exec = createCniExecutor({ runner, pluginDirs: [dir], timeoutMs: 20 });
    const list = { ...LIST, plugins: [{ type: "bridge" }] };
    await assert.rejects(exec.add(list, RT), /"bridge" failed on ADD.*timed out after 20 ms/);
    assert.equal(runner.calls[0]!.options.timeoutMs, 20);
  });
});

Deno.test("pluginStdinConfig() injects only capabilities the plugin declares", () => {
  const conf = pluginStdinConfig(LIST, { type: "x", capabilities: { portMappings: true } }, {
    capabilityArgs: { portMappings: [], bandwidth: { rate: 1 } },
  });
  assert.equal(conf.runtimeConfig, undefined, "empty port mappings are not injected");
  const conf2 = pluginStdinConfig(LIST, { type: "x", capabilities: { bandwidth: true } }, {
    capabilityArgs: { portMappings: [{ hostPort: 1 }], bandwidth: { rate: 1 } },
  });
  assert.deepEqual(conf2.runtimeConfig, { bandwidth: { rate: 1 } });
});

/** bridge then portmap, as the test daemons and the bench configure a network. */
const BRIDGE_PORTMAP = { ...LIST, plugins: LIST.plugins.slice(0, 2) };

/** The runtime config of a pod without host ports, with the skip allowed. */
const IDLE_RT: RuntimeConf = {
  containerId: RT.containerId,
  netns: RT.netns,
  ifName: RT.ifName,
  skipIdlePortmap: true,
};

/** A runner whose bridge prints {@linkcode bridgeResult} and other plugins pass it through. */
const chainRunner = () =>
  new FakeRunner((call) => {
    if (call.options.env?.CNI_COMMAND !== "ADD") return result(0);
    if (call.name === "bridge") return result(0, bridgeResult());
    const prev = call.stdinJson?.prevResult;
    return prev
      ? result(0, prev)
      : result(1, { code: 999, msg: "must be called as chained plugin" });
  });

Deno.test("CniExecutor leaves out a portmap given no port mappings on ADD, CHECK and DEL", async (t) => {
  await withPlugins(["bridge", "portmap", "tuning"], async (dir) => {
    const runner = chainRunner();
    const exec = createCniExecutor({ runner, pluginDirs: [dir] });
    await t.step(
      "ADD: the chain's result is bridge's, as portmap would pass it through",
      async () => {
        assert.deepEqual(await exec.add(BRIDGE_PORTMAP, IDLE_RT), bridgeResult());
        assert.deepEqual(runner.cniSequence, ["bridge ADD"]);
      },
    );
    await t.step("ADD: the plugin after it gets bridge's result", async () => {
      runner.calls.length = 0;
      await exec.add(LIST, IDLE_RT);
      assert.deepEqual(runner.cniSequence, ["bridge ADD", "tuning ADD"]);
      assert.deepEqual(runner.calls[1]!.stdinJson?.prevResult, bridgeResult());
    });
    await t.step("CHECK and DEL", async () => {
      runner.calls.length = 0;
      await exec.check(LIST, IDLE_RT, bridgeResult());
      await exec.del(LIST, IDLE_RT, bridgeResult());
      await exec.del(LIST, IDLE_RT);
      assert.deepEqual(runner.cniSequence, [
        "bridge CHECK",
        "tuning CHECK",
        "tuning DEL",
        "bridge DEL",
        "tuning DEL",
        "bridge DEL",
      ]);
    });
  });
});

Deno.test("CniExecutor runs portmap when it has port mappings or the skip is not allowed", async () => {
  await withPlugins(["bridge", "portmap"], async (dir) => {
    const rts: [string, RuntimeConf][] = [
      ["port mappings", { ...RT, skipIdlePortmap: true }],
      ["skipIdlePortmap unset", { ...IDLE_RT, skipIdlePortmap: false }],
    ];
    for (const [what, rt] of rts) {
      const runner = chainRunner();
      const exec = createCniExecutor({ runner, pluginDirs: [dir] });
      assert.deepEqual(await exec.add(BRIDGE_PORTMAP, rt), bridgeResult());
      await exec.check(BRIDGE_PORTMAP, rt, bridgeResult());
      await exec.del(BRIDGE_PORTMAP, rt, bridgeResult());
      assert.deepEqual(runner.cniSequence, [
        "bridge ADD",
        "portmap ADD",
        "bridge CHECK",
        "portmap CHECK",
        "portmap DEL",
        "bridge DEL",
      ], what);
    }
  });
});

Deno.test("CniExecutor runs portmap where it would not just pass through", async () => {
  await withPlugins(["bridge", "portmap"], async (dir) => {
    const runner = chainRunner();
    const exec = createCniExecutor({ runner, pluginDirs: [dir] });
    // Mappings written into the conflist itself reach portmap without a capability arg.
    const fixed = {
      ...BRIDGE_PORTMAP,
      plugins: [
        BRIDGE_PORTMAP.plugins[0]!,
        {
          type: "portmap",
          runtimeConfig: { portMappings: [{ hostPort: 1, containerPort: 1, protocol: "tcp" }] },
        },
      ],
    };
    await exec.add(fixed, IDLE_RT);
    await exec.del(fixed, IDLE_RT, bridgeResult());
    assert.deepEqual(runner.cniSequence, [
      "bridge ADD",
      "portmap ADD",
      "portmap DEL",
      "bridge DEL",
    ]);
    // First in the list portmap has no prevResult: ADD and CHECK fail in portmap, as they should.
    runner.calls.length = 0;
    const alone = { ...LIST, plugins: [{ type: "portmap" }] };
    await assert.rejects(exec.add(alone, IDLE_RT), /must be called as chained plugin/);
    await exec.check(alone, IDLE_RT, undefined);
    assert.deepEqual(runner.cniSequence, ["portmap ADD", "portmap CHECK"]);
  });
});
