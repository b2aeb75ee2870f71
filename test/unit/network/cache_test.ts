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

Deno.test("ResultCache answers a written entry from memory, and a new cache from the file", async () => {
  await withDir(async (dir) => {
    const cache = createFileResultCache(dir);
    await cache.put(ENTRY);
    // What this cache wrote is what it answers (StopPodSandbox's DEL reads no file)...
    await Deno.writeTextFile(join(dir, "pod1.json"), "torn");
    assert.deepEqual(await cache.get("pod1"), ENTRY);
    // ...while a restarted daemon reads the file.
    assert.equal(await createFileResultCache(dir).get("pod1"), undefined);
    await cache.put({ ...ENTRY, netns: "/run/ocid/netns/other" });
    assert.equal((await createFileResultCache(dir).get("pod1"))?.netns, "/run/ocid/netns/other");
  });
});

Deno.test("ResultCache forgets a removed entry, and keeps one whose file could not be removed", async () => {
  await withDir(async (dir) => {
    const cache = createFileResultCache(dir);
    await cache.put(ENTRY);
    await cache.remove("pod1");
    assert.equal(await cache.get("pod1"), undefined);
    await cache.put(ENTRY);
    // A file that cannot be removed (here: a non-empty dir in its place) keeps the entry.
    await Deno.remove(join(dir, "pod1.json"));
    await Deno.mkdir(join(dir, "pod1.json", "x"), { recursive: true });
    await assert.rejects(cache.remove("pod1"));
    assert.deepEqual(await cache.get("pod1"), ENTRY);
  });
});

Deno.test("ResultCache makes its dir again when it went away after the first write", async () => {
  await withDir(async (dir) => {
    const cache = createFileResultCache(dir);
    await cache.put(ENTRY);
    await Deno.remove(dir, { recursive: true });
    await cache.put({ ...ENTRY, id: "pod2" });
    assert.equal((await createFileResultCache(dir).get("pod2"))?.id, "pod2");
  });
});
