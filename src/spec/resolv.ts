/**
 * The pod's `/etc/resolv.conf`, from `PodSandboxConfig.dns_config` or the host's file.
 *
 * @module
 */
import { isIP } from "node:net";
import { InvalidArgumentError } from "../errors.ts";

/** The fields of the CRI `DNSConfig` message that this module reads. */
export interface DnsInput {
  servers: readonly string[];
  searches: readonly string[];
  options: readonly string[];
}

/** A search domain: labels of letters, digits, `-`, `_`, dot-separated, optional final dot. */
const DOMAIN =
  /^[A-Za-z0-9_](?:[-A-Za-z0-9_]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[-A-Za-z0-9_]*[A-Za-z0-9_])?)*\.?$/;
/** A resolver option: `ndots:5`, `edns0`, `timeout:2`, `use-vc`. */
const OPTION = /^[A-Za-z0-9][-A-Za-z0-9_.]*(?::[A-Za-z0-9_.-]+)?$/;

/**
 * Renders resolv.conf for a pod.
 *
 * @param dns The request's `dns_config`; null or all-empty means "use the host's file".
 * @param hostResolv Content of the host's resolv.conf, copied when `dns` sets nothing.
 * @returns The file content, ending in a newline when built from `dns`.
 * @throws {InvalidArgumentError} For a server that is not an IP address, or a search domain
 * or option that is empty or holds whitespace, `#`, `;` or control characters.
 * @example
 * ```ts
 * resolvConf({ servers: ["10.96.0.10"], searches: ["svc.cluster.local"], options: ["ndots:5"] }, "");
 * // "search svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
 * ```
 */
export function resolvConf(dns: DnsInput | null | undefined, hostResolv: string): string {
  if (!dns || (dns.servers.length + dns.searches.length + dns.options.length === 0)) {
    return hostResolv;
  }
  for (const server of dns.servers) {
    if (isIP(server) === 0) {
      throw new InvalidArgumentError(
        `Invalid DNS server ${
          JSON.stringify(server)
        } in dns_config.servers: expected an IP address`,
      );
    }
  }
  for (const search of dns.searches) {
    if (!DOMAIN.test(search) || search.length > 253) {
      throw new InvalidArgumentError(
        `Invalid search domain ${JSON.stringify(search)} in dns_config.searches`,
      );
    }
  }
  for (const option of dns.options) {
    if (!OPTION.test(option)) {
      throw new InvalidArgumentError(
        `Invalid resolver option ${JSON.stringify(option)} in dns_config.options`,
      );
    }
  }
  const lines: string[] = [];
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(" ")}`);
  for (const server of dns.servers) lines.push(`nameserver ${server}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(" ")}`);
  return lines.join("\n") + "\n";
}
