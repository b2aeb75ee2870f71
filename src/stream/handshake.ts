/**
 * The stream protocol handshake of Kubernetes (`X-Stream-Protocol-Version`): the client lists
 * the protocols it speaks, the server answers with the first of its own it shares.
 *
 * @module
 */

/** The request header naming the client's protocols (repeatable, or comma-separated). */
export const PROTOCOL_HEADER = "x-stream-protocol-version";
/** The response header listing the server's protocols when none fits. */
export const ACCEPTED_PROTOCOLS_HEADER = "x-accept-stream-protocol-version";

/** remotecommand protocols, newest first. v1 (`channel.k8s.io`) is not supported. */
export const REMOTE_COMMAND_PROTOCOLS = [
  "v4.channel.k8s.io",
  "v3.channel.k8s.io",
  "v2.channel.k8s.io",
] as const;
/** The port-forward protocol. */
export const PORT_FORWARD_PROTOCOL = "portforward.k8s.io";

/**
 * Splits the values of a protocol header (`X-Stream-Protocol-Version`, or a WebSocket's
 * `Sec-WebSocket-Protocol`), in the client's order; node:http joins repeated headers with ", ".
 *
 * @param value The header as node:http gives it.
 */
export function clientProtocols(value: string | string[] | undefined): string[] {
  const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  return values.flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "");
}

/**
 * Picks the protocol: the server's most preferred one that the client offered.
 *
 * @returns The protocol, or undefined when they share none.
 */
export function negotiate(client: string[], server: readonly string[]): string | undefined {
  return server.find((p) => client.includes(p));
}

/** The remotecommand version number of a negotiated protocol (4 for v4.channel.k8s.io). */
export function remoteCommandVersion(protocol: string): number {
  const m = /^v(\d+)\.channel\.k8s\.io$/.exec(protocol);
  return m ? Number(m[1]) : 1;
}
