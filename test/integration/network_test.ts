/**
 * Pod networking against the real CNI plugins (/usr/lib/cni), util-linux and iproute2, as
 * root. Uses only 10.234.1.0/24 (bridge ocidt1) and 10.234.11.0/24 (bridge ocidt11), a
 * host-local dataDir and netns dir in a temp dir, and port mappings on 127.0.0.1 only.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createCniPlugin, createNetnsManager } from "../../src/network/mod.ts";
import type { SetUpRequest } from "../../src/network/mod.ts";
import { denoRunner, text } from "../../src/process.ts";
import { allocatedIps, sh } from "../helpers/checks.ts";

const PLUGIN_DIR = "/usr/lib/cni";
const BRIDGE = "ocidt1";
const FAIL_BRIDGE = "ocidt11";

/** Fails (never skips) with the reason when the machine cannot run these tests. */
async function requireEnvironment(): Promise<void> {
  if (Deno.uid() !== 0) throw new Error("network integration tests need root");
  for (const bin of ["bridge", "host-local", "loopback", "portmap"]) {
    await Deno.stat(join(PLUGIN_DIR, bin)).catch(() => {
      throw new Error(`CNI plugin "${bin}" is missing in "${PLUGIN_DIR}"`);
    });
  }
  for (const bin of ["unshare", "nsenter", "ip", "iptables-save"]) {
    const r = await denoRunner.run("sh", ["-c", `command -v ${bin}`], { check: false });
    if (r.code !== 0) throw new Error(`"${bin}" is not installed`);
  }
}

async function mountInfo(): Promise<string> {
  return await Deno.readTextFile("/proc/self/mountinfo");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function deleteLink(name: string): Promise<void> {
  await denoRunner.run("ip", ["link", "del", name], { check: false });
}

async function chainExists(chain: string): Promise<boolean> {
  const r = await denoRunner.run("iptables", ["-t", "nat", "-S", chain], { check: false });
  return r.code === 0;
}

/**
 * Removes the shared chains portmap creates (and the jumps to them) when this test created
 * them and no other pod uses them now; otherwise leaves them alone.
 */
async function removePortmapChainsIfUnused(): Promise<void> {
  const r = await denoRunner.run("iptables", ["-t", "nat", "-S", "CNI-HOSTPORT-DNAT"], {
    check: false,
  });
  if (r.code !== 0) return;
  const rules = text(r.stdout).trim().split("\n").filter((l) => l.startsWith("-A"));
  if (rules.length > 0) return; // In use by another pod.
  const ipt = (...args: string[]) =>
    denoRunner.run("iptables", ["-t", "nat", ...args], { check: false });
  await ipt("-D", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT");
  await ipt("-D", "OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT");
  await ipt(
    "-D",
    "POSTROUTING",
    "-m",
    "comment",
    "--comment",
    "CNI portfwd requiring masquerade",
    "-j",
    "CNI-HOSTPORT-MASQ",
  );
  for (const chain of ["CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK"]) {
    await ipt("-F", chain);
    await ipt("-X", chain);
  }
}

function request(id: string, netnsPath: string): SetUpRequest {
  return {
    id,
    netnsPath,
    podName: "net-it",
    podNamespace: "ocid-test",
    podUid: `uid-${id}`,
    portMappings: [{ protocol: "TCP", containerPort: 80, hostPort: 18081, hostIp: "127.0.0.1" }],
  };
}

Deno.test("CNI plugin and netns manager set up and tear down a real pod network", async (t) => {
  await requireEnvironment();
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "ocid-net-it-" }));
  const confDir = join(base, "net.d");
  const ipamDir = join(base, "ipam");
  const netName = "ocid-it-net";
  await Deno.mkdir(confDir);
  await Deno.writeTextFile(
    join(confDir, "10-it.conflist"),
    JSON.stringify({
      cniVersion: "1.0.0",
      name: netName,
      plugins: [
        {
          type: "bridge",
          bridge: BRIDGE,
          isGateway: true,
          ipMasq: false,
          ipam: {
            type: "host-local",
            dataDir: ipamDir,
            ranges: [[{ subnet: "10.234.1.0/24", gateway: "10.234.1.1" }]],
            routes: [{ dst: "10.234.1.0/24" }],
          },
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    }),
  );
  const netns = createNetnsManager({ dir: join(base, "netns") });
  const network = createCniPlugin({
    configDir: confDir,
    pluginDirs: [PLUGIN_DIR],
    cacheDir: join(base, "cni-cache"),
  });
  const id = `ocidit${crypto.randomUUID().slice(0, 8)}`;
  const portmapChainsBefore = await chainExists("CNI-HOSTPORT-DNAT");
  let nsPath: string | undefined;
  try {
    await t.step("status() is ready", async () => {
      assert.deepEqual(await network.status(), { ready: true });
    });

    await t.step("create() pins a netns on a file in a private bind-mounted dir", async () => {
      nsPath = await netns.create(id);
      assert.equal(nsPath, join(base, "netns", id));
      const info = await mountInfo();
      assert.ok(info.includes(` ${join(base, "netns")} `), "netns dir is a mount point");
      assert.ok(info.includes(` ${nsPath} `), "netns file is a mount point");
      assert.deepEqual(await netns.list(), [nsPath]);
    });

    let address = "";
    await t.step("setUp() gives eth0 an IP in 10.234.1.0/24 and brings lo up", async () => {
      const net = await network.setUp(request(id, nsPath!));
      assert.equal(net.ips.length, 1);
      const ip = net.ips[0]!;
      address = ip.address;
      assert.match(address, /^10\.234\.1\.\d+$/);
      assert.equal(ip.family, 4);
      assert.equal(ip.gateway, "10.234.1.1");
      assert.equal(ip.interface, "eth0");
      const addrs = await sh("nsenter", `--net=${nsPath}`, "ip", "-o", "addr");
      assert.match(addrs, new RegExp(`\\beth0\\s+inet ${address.replaceAll(".", "\\.")}/24`));
      assert.match(addrs, /\blo\s+inet 127\.0\.0\.1\/8/, "loopback plugin brought lo up");
      assert.deepEqual(await allocatedIps(ipamDir), [address]);
      assert.ok(await exists(join(base, "cni-cache", `${id}.json`)), "ADD result cached");
      const rules = await sh("iptables-save", "-t", "nat");
      assert.ok(rules.includes(id), "portmap installed rules for the pod");
    });

    await t.step("tearDown() releases the IP and the port mappings", async () => {
      await network.tearDown(request(id, nsPath!));
      assert.deepEqual(await allocatedIps(ipamDir), []);
      const links = await sh("nsenter", `--net=${nsPath}`, "ip", "-o", "link");
      assert.ok(!links.includes("eth0"), `eth0 is gone: ${links}`);
      assert.ok(!(await exists(join(base, "cni-cache", `${id}.json`))), "cache removed");
      const rules = await sh("iptables-save", "-t", "nat");
      assert.ok(!rules.includes(id), "portmap rules removed");
    });

    await t.step("tearDown() again succeeds when everything is already gone", async () => {
      await network.tearDown(request(id, nsPath!));
    });

    await t.step("remove() leaves no mount and no file, and is idempotent", async () => {
      await netns.remove(nsPath!);
      assert.ok(!(await mountInfo()).includes(` ${nsPath} `), "no mount left");
      assert.ok(!(await exists(nsPath!)), "no file left");
      await netns.remove(nsPath!);
      assert.deepEqual(await netns.list(), []);
    });

    await t.step("tearDown() succeeds after the netns is gone", async () => {
      await network.tearDown(request(id, nsPath!));
    });
  } finally {
    if (nsPath) {
      await network.tearDown(request(id, nsPath)).catch(() => {});
      await netns.remove(nsPath).catch(() => {});
    }
    await deleteLink(BRIDGE);
    if (!portmapChainsBefore) await removePortmapChainsIfUnused();
    await denoRunner.run("umount", [join(base, "netns")], { check: false });
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("CNI plugin rolls back when a plugin of the chain fails", async (t) => {
  await requireEnvironment();
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "ocid-net-it-fail-" }));
  const confDir = join(base, "net.d");
  const pluginDir = join(base, "plugins");
  const ipamDir = join(base, "ipam");
  const netName = "ocid-it-fail";
  await Deno.mkdir(confDir);
  await Deno.mkdir(pluginDir);
  // A plugin that fails ADD with a CNI error while the file fail-add exists, and otherwise
  // succeeds (with a result without IPs).
  const failMarker = join(pluginDir, "fail-add");
  const failScript = `#!/bin/sh
cat >/dev/null
if [ "$CNI_COMMAND" = ADD ]; then
  if [ -e ${failMarker} ]; then
    echo '{"cniVersion":"1.0.0","code":999,"msg":"injected failure","details":"by the test"}'
    exit 1
  fi
  echo '{"cniVersion":"1.0.0"}'
fi
exit 0
`;
  await Deno.writeTextFile(join(pluginDir, "ocid-fail"), failScript, { mode: 0o755 });
  await Deno.writeTextFile(failMarker, "");
  const writeConf = (lastPlugin: string) =>
    Deno.writeTextFile(
      join(confDir, "10-fail.conflist"),
      JSON.stringify({
        cniVersion: "1.0.0",
        name: netName,
        plugins: [
          {
            type: "bridge",
            bridge: FAIL_BRIDGE,
            isGateway: true,
            ipam: {
              type: "host-local",
              dataDir: ipamDir,
              ranges: [[{ subnet: "10.234.11.0/24" }]],
            },
          },
          { type: lastPlugin },
        ],
      }),
    );
  const netns = createNetnsManager({ dir: join(base, "netns") });
  const network = createCniPlugin({
    configDir: confDir,
    pluginDirs: [pluginDir, PLUGIN_DIR],
    cacheDir: join(base, "cni-cache"),
  });
  const id = `ocidfail${crypto.randomUUID().slice(0, 8)}`;
  let nsPath: string | undefined;
  try {
    nsPath = await netns.create(id);

    await t.step("a plugin error fails setUp() and leaves no IP and no interface", async () => {
      await writeConf("ocid-fail");
      assert.deepEqual(await network.status(), { ready: true });
      await assert.rejects(
        network.setUp({ ...request(id, nsPath!), portMappings: [] }),
        /CNI plugin "ocid-fail" failed on ADD \(network "ocid-it-fail"\): injected failure: by the test \(code 999\)/,
      );
      assert.deepEqual(await allocatedIps(ipamDir), [], "IP released");
      const links = await sh("nsenter", `--net=${nsPath}`, "ip", "-o", "link");
      assert.ok(!links.includes("eth0"), `no eth0 left: ${links}`);
      assert.ok(!(await exists(join(base, "cni-cache", `${id}.json`))), "nothing cached");
    });

    await t.step("a missing plugin makes status() not ready and setUp() fail", async () => {
      await writeConf("ocid-no-such-plugin");
      const status = await network.status();
      assert.equal(status.ready, false);
      assert.equal(status.reason, "NetworkPluginNotReady");
      assert.match(status.message ?? "", /Cannot find CNI plugin "ocid-no-such-plugin"/);
      await assert.rejects(
        network.setUp({ ...request(id, nsPath!), portMappings: [] }),
        /Cannot find CNI plugin "ocid-no-such-plugin"/,
      );
      assert.deepEqual(await allocatedIps(ipamDir), [], "nothing allocated");
      const links = await sh("nsenter", `--net=${nsPath}`, "ip", "-o", "link");
      assert.ok(!links.includes("eth0"), `no eth0 left: ${links}`);
    });

    await t.step("tearDown() still releases the IP when a plugin vanished after ADD", async () => {
      await writeConf("ocid-fail");
      await Deno.remove(failMarker);
      await network.setUp({ ...request(id, nsPath!), portMappings: [] });
      assert.equal((await allocatedIps(ipamDir)).length, 1, "IP reserved");
      await Deno.remove(join(pluginDir, "ocid-fail"));
      await assert.rejects(
        network.tearDown(request(id, nsPath!)),
        /Cannot tear down network of pod .*Cannot find CNI plugin "ocid-fail"/,
      );
      assert.deepEqual(await allocatedIps(ipamDir), [], "bridge DEL still ran");
      const links = await sh("nsenter", `--net=${nsPath}`, "ip", "-o", "link");
      assert.ok(!links.includes("eth0"), `no eth0 left: ${links}`);
      assert.ok(await exists(join(base, "cni-cache", `${id}.json`)), "cache kept for a retry");
      await Deno.writeTextFile(join(pluginDir, "ocid-fail"), failScript, { mode: 0o755 });
      await network.tearDown(request(id, nsPath!));
      assert.ok(!(await exists(join(base, "cni-cache", `${id}.json`))), "cache removed");
    });
  } finally {
    if (nsPath) {
      await Deno.writeTextFile(join(pluginDir, "ocid-fail"), failScript, { mode: 0o755 });
      await network.tearDown(request(id, nsPath)).catch(() => {});
    }
    if (nsPath) await netns.remove(nsPath).catch(() => {});
    await deleteLink(FAIL_BRIDGE);
    await denoRunner.run("umount", [join(base, "netns")], { check: false });
    await Deno.remove(base, { recursive: true });
  }
});
