/**
 * Reading pod IPs out of a CNI result, whatever its version: 0.3.0 and later list `ips`
 * (with `interface` as an index into `interfaces`; 0.3.x adds `version` "4"/"6"), 0.1/0.2
 * results have `ip4` and `ip6` objects.
 *
 * @module
 */
import { isObject } from "../json_shape.ts";
import type { PodIp } from "./types.ts";

/**
 * Extracts the IPs from a CNI result.
 *
 * @param result A CNI ADD result (parsed JSON).
 * @returns The IPs without prefix length, in result order; [] when the result has none.
 */
export function podIpsFromResult(result: unknown): PodIp[] {
  if (!isObject(result)) return [];
  const ips: PodIp[] = [];
  if (Array.isArray(result.ips)) {
    const interfaces = Array.isArray(result.interfaces) ? result.interfaces : [];
    for (const entry of result.ips) {
      if (!isObject(entry) || typeof entry.address !== "string") continue;
      const address = stripPrefix(entry.address);
      const ip: PodIp = { address, family: familyOf(address, entry.version) };
      if (typeof entry.gateway === "string" && entry.gateway !== "") ip.gateway = entry.gateway;
      if (typeof entry.interface === "number") {
        const iface: unknown = interfaces[entry.interface];
        if (isObject(iface) && typeof iface.name === "string") ip.interface = iface.name;
      }
      ips.push(ip);
    }
    return ips;
  }
  for (const key of ["ip4", "ip6"] as const) {
    const entry = result[key];
    if (!isObject(entry) || typeof entry.ip !== "string") continue;
    const ip: PodIp = { address: stripPrefix(entry.ip), family: key === "ip4" ? 4 : 6 };
    if (typeof entry.gateway === "string" && entry.gateway !== "") ip.gateway = entry.gateway;
    ips.push(ip);
  }
  return ips;
}

function stripPrefix(cidr: string): string {
  const slash = cidr.indexOf("/");
  return slash === -1 ? cidr : cidr.slice(0, slash);
}

function familyOf(address: string, version: unknown): 4 | 6 {
  if (version === "4") return 4;
  if (version === "6") return 6;
  return address.includes(":") ? 6 : 4;
}
