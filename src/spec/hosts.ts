/**
 * The pod's `/etc/hosts`. A kubelet usually mounts its own hosts file into the containers;
 * this one serves the sandbox and containers of pods that get none.
 *
 * @module
 */
import { isIP } from "node:net";
import { InvalidArgumentError } from "../errors.ts";

/** Options of {@linkcode hostsFile}. */
export interface HostsOptions {
  /** The pod's IP addresses; each gets a line naming the hostname. */
  ips?: readonly string[];
}

/** A hostname (RFC 1123): dot-separated labels of letters, digits and `-`. */
const HOSTNAME =
  /^[A-Za-z0-9](?:[-A-Za-z0-9]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[-A-Za-z0-9]*[A-Za-z0-9])?)*$/;

/** Whether `name` is a valid RFC 1123 hostname of at most 253 characters. */
export function isValidHostname(name: string): boolean {
  return name.length <= 253 && HOSTNAME.test(name);
}

/** The localhost lines every hosts file starts with. */
export const LOCALHOST_LINES: readonly string[] = [
  "127.0.0.1\tlocalhost",
  "::1\tlocalhost ip6-localhost ip6-loopback",
  "fe00::0\tip6-localnet",
  "fe00::0\tip6-mcastprefix",
  "fe00::1\tip6-allnodes",
  "fe00::2\tip6-allrouters",
];

/**
 * Renders a hosts file: the localhost lines, then `<ip>\t<hostname>` per known pod IP.
 *
 * @param hostname The pod's hostname; "" adds no pod line.
 * @param options The pod's IPs.
 * @returns The file content, ending in a newline.
 * @throws {InvalidArgumentError} For an invalid hostname or IP address.
 * @example
 * ```ts
 * hostsFile("web-0", { ips: ["10.234.7.5"] }); // "...\n10.234.7.5\tweb-0\n"
 * ```
 */
export function hostsFile(hostname: string, options: HostsOptions = {}): string {
  if (hostname !== "" && !isValidHostname(hostname)) {
    throw new InvalidArgumentError(`Invalid hostname ${JSON.stringify(hostname)}`);
  }
  const lines = [...LOCALHOST_LINES];
  for (const ip of options.ips ?? []) {
    if (isIP(ip) === 0) {
      throw new InvalidArgumentError(`Invalid pod IP ${JSON.stringify(ip)} for /etc/hosts`);
    }
    if (hostname !== "") lines.push(`${ip}\t${hostname}`);
  }
  return lines.join("\n") + "\n";
}
