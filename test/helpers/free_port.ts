/**
 * A free TCP port on the loopback address, for servers a test starts.
 *
 * @module
 */

/** A TCP port free on 127.0.0.1 right now (bound to port 0, then released). */
export function freePort(): number {
  using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return (l.addr as Deno.NetAddr).port;
}
