import assert from "node:assert/strict";
import { join } from "node:path";
import {
  loadNetworkConfig,
  NetworkConfigLoader,
  parseNetworkConfig,
} from "../../../src/network/config.ts";

const enc = new TextEncoder();

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ocid-cni-conf-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const LIST = {
  cniVersion: "1.0.0",
  name: "net-a",
  plugins: [{ type: "bridge" }, { type: "portmap", capabilities: { portMappings: true } }],
};

Deno.test("loadNetworkConfig() picks the first valid file by name", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "20-b.conflist"), JSON.stringify({ ...LIST, name: "b" }));
    await Deno.writeTextFile(join(dir, "10-a.conflist"), JSON.stringify(LIST));
    await Deno.writeTextFile(join(dir, "05-ignored.txt"), "not a config");
    const { config, skipped } = await loadNetworkConfig(dir);
    assert.equal(config?.name, "net-a");
    assert.equal(config?.cniVersion, "1.0.0");
    assert.deepEqual(config?.plugins.map((p) => p.type), ["bridge", "portmap"]);
    assert.equal(config?.path, join(dir, "10-a.conflist"));
    assert.deepEqual(skipped, []);
  });
});

Deno.test("loadNetworkConfig() skips invalid files with a reason", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "01-broken.conflist"), "{ not json");
    await Deno.writeTextFile(
      join(dir, "02-noname.conflist"),
      JSON.stringify({ ...LIST, name: undefined }),
    );
    await Deno.writeTextFile(
      join(dir, "03-empty.conflist"),
      JSON.stringify({ ...LIST, plugins: [] }),
    );
    await Deno.writeTextFile(
      join(dir, "04-notype.conflist"),
      JSON.stringify({ ...LIST, plugins: [{ bridge: "x" }] }),
    );
    await Deno.writeTextFile(
      join(dir, "05-nover.conflist"),
      JSON.stringify({ ...LIST, cniVersion: undefined }),
    );
    await Deno.writeTextFile(join(dir, "06-good.conflist"), JSON.stringify(LIST));
    const { config, skipped } = await loadNetworkConfig(dir);
    assert.equal(config?.path, join(dir, "06-good.conflist"));
    assert.deepEqual(skipped.map((s) => s.path.slice(dir.length + 1)), [
      "01-broken.conflist",
      "02-noname.conflist",
      "03-empty.conflist",
      "04-notype.conflist",
      "05-nover.conflist",
    ]);
    assert.match(skipped[0]!.reason, /Invalid JSON/);
    assert.match(skipped[1]!.reason, /"name"/);
    assert.match(skipped[2]!.reason, /"plugins"/);
    assert.match(skipped[3]!.reason, /Plugin 0 has no "type"/);
    assert.match(skipped[4]!.reason, /"cniVersion"/);
  });
});

Deno.test("loadNetworkConfig() wraps a single-plugin .conf into a list", async () => {
  await withDir(async (dir) => {
    const conf = { cniVersion: "0.4.0", name: "single", type: "bridge", bridge: "br9" };
    await Deno.writeTextFile(join(dir, "10-single.conf"), JSON.stringify(conf));
    const { config } = await loadNetworkConfig(dir);
    assert.ok(config);
    assert.equal(config.name, "single");
    assert.deepEqual(config.plugins, [{ type: "bridge", bridge: "br9" }]);
    const bytes = JSON.parse(new TextDecoder().decode(config.bytes));
    assert.deepEqual(bytes, {
      name: "single",
      cniVersion: "0.4.0",
      plugins: [{ type: "bridge", bridge: "br9" }],
    });
  });
});

Deno.test("loadNetworkConfig() returns no config for an empty or missing dir", async () => {
  await withDir(async (dir) => {
    assert.deepEqual(await loadNetworkConfig(dir), { config: undefined, skipped: [] });
    assert.deepEqual(await loadNetworkConfig(join(dir, "missing")), {
      config: undefined,
      skipped: [],
    });
  });
});

Deno.test("parseNetworkConfig() keeps a .conflist's bytes as they are", () => {
  const bytes = enc.encode(JSON.stringify(LIST, null, 2));
  assert.equal(parseNetworkConfig("/x/a.conflist", bytes).bytes, bytes);
});

Deno.test("NetworkConfigLoader.load() re-reads only when a file changed", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "10-a.conflist");
    await Deno.writeTextFile(path, JSON.stringify(LIST));
    const loader = new NetworkConfigLoader(dir);
    const first = await loader.load();
    assert.equal(first.config?.name, "net-a");
    assert.equal(await loader.load(), first, "unchanged dir returns the cached result");
    await Deno.writeTextFile(path, JSON.stringify({ ...LIST, name: "net-changed-longer" }));
    const second = await loader.load();
    assert.equal(second.config?.name, "net-changed-longer");
    await Deno.remove(path);
    assert.equal((await loader.load()).config, undefined);
  });
});

Deno.test("scripts/cni/10-ocid-bridge.conflist is a valid bridge + portmap list", async () => {
  const path = new URL("../../../scripts/cni/10-ocid-bridge.conflist", import.meta.url).pathname;
  const config = parseNetworkConfig(path, await Deno.readFile(path));
  assert.equal(config.name, "ocid");
  assert.deepEqual(config.plugins.map((p) => p.type), ["bridge", "portmap"]);
  assert.equal(config.plugins[0]?.bridge, "ocid0");
  assert.deepEqual(config.plugins[1]?.capabilities, { portMappings: true });
});
