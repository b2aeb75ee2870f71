/**
 * One channel of a streaming session as exec, attach and port-forward use it: bytes from the
 * client by async iteration, bytes to it by `write`, and `end` for our direction. A SPDY stream
 * (spdy_connection.ts) is one; so is a WebSocket channel (ws_channels.ts).
 *
 * @module
 */

/** A channel of a streaming session. */
export interface ChannelStream {
  /** Sends bytes to the client; waits while the connection is backed up. */
  write(data: Uint8Array | string): Promise<void>;
  /** Ends our direction (a no-op where the protocol has no per-channel end). */
  end(): Promise<void>;
  /** The client's bytes, until it ends the channel or the connection. */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array>;
}
