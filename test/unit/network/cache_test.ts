import assert from "node:assert/strict";
import { join } from "node:path";
import { type CacheEntry, createFileResultCache } from "../../../src/network/cache.ts";

const ENTRY: CacheEntry = {
  id: "pod1",
  netns: "/run/ocid/netns/pod1",
  attachments: [{
    network: "testnet",
    ifName: "eth0",
    config: { cniVersion: "1.0.0", name: "testnet", plugins: [{ type: "bridge" }] },
    configPath: "/etc/cni/net.d/10-test.conflist",
    result: { ips: [] },
    capabilityArgs: { portMappings: [{ hostPort: 1, containerPort: 2, protocol: "tcp" }] },
  }],
};

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ocid-cni-cache-" });
  try {
    await fn(join(dir, "cni-cache"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("ResultCache round-trips an entry through <dir>/<id>.json", async () => {
  await withDir(async (dir) => {
    const cache = createFileResultCache(dir);
    assert.equal(await cache.get("pod1"), undefined);
    await cache.put(ENTRY);
    assert.deepEqual(await cache.get("pod1"), ENTRY);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(names, ["pod1.json"], "no temp file left behind");
    await cache.remove("pod1");
    await cache.remove("pod1");
    assert.equal(await cache.get("pod1"), undefined);
  });
});

Deno.test("ResultCache treats a torn file as missing", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(dir);
    await Deno.writeTextFile(join(dir, "pod1.json"), '{"format":"ocid-cni-ca');
    assert.equal(await createFileResultCache(dir).get("pod1"), undefined);
  });
});

Deno.test("ResultCache rejects IDs that are not file names", async () => {
  await withDir(async (dir) => {
    await assert.rejects(createFileResultCache(dir).put({ ...ENTRY, id: "../x" }), /Invalid pod/);
  });
});
