/**
 * Port-forward's dial of a pod's port: `localhost` in the pod's network namespace, IPv4 first,
 * then IPv6 (`::1`), as containerd dials (`tcp4` then `tcp6`): a server listening only on `::1`
 * (common in IPv6-only pods) can be forwarded to as well.
 *
 * @module
 */

/**
 * Connects to `port` on 127.0.0.1, else on ::1.
 *
 * @throws the IPv4 attempt's error, naming the IPv6 one's, when neither connects
 */
export async function connectLoopback(port: number): Promise<Deno.TcpConn> {
  try {
    return await Deno.connect({ hostname: "127.0.0.1", port });
  } catch (v4) {
    try {
      return await Deno.connect({ hostname: "::1", port });
    } catch (v6) {
      const message = (e: unknown) => e instanceof Error ? e.message : String(e);
      throw new Error(`127.0.0.1:${port}: ${message(v4)}; [::1]:${port}: ${message(v6)}`, {
        cause: v4,
      });
    }
  }
}
