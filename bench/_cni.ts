/**
 * The one CNI network shape every benchmark target uses: a bridge with host-local IPAM
 * plus portmap, differing only in bridge name, subnet and IPAM data dir.
 *
 * @module
 */

/** Where a target's pods live on the network. */
export interface BenchNetwork {
  /** The network name in the conflist. */
  name: string;
  /** Bridge device, e.g. `ocidbc0`. */
  bridge: string;
  /** e.g. `10.234.8.0/24`. */
  subnet: string;
  /** host-local's `dataDir`, inside the target's temp dir. */
  ipamDataDir: string;
}

/** The conflist object (cniVersion 1.0.0: bridge + host-local, then portmap). */
export function benchConflist(net: BenchNetwork): Record<string, unknown> {
  return {
    cniVersion: "1.0.0",
    name: net.name,
    plugins: [
      {
        type: "bridge",
        bridge: net.bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: net.subnet }]],
          dataDir: net.ipamDataDir,
        },
      },
      { type: "portmap", capabilities: { portMappings: true } },
    ],
  };
}

/** Writes the conflist as `<dir>/10-<name>.conflist` and returns its path. */
export async function writeConflist(dir: string, net: BenchNetwork): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/10-${net.name}.conflist`;
  await Deno.writeTextFile(path, JSON.stringify(benchConflist(net), null, 2) + "\n");
  return path;
}
