/**
 * Port-forward over a stream session (`portforward.k8s.io`): for each forwarded connection
 * the client opens an `error` and a `data` stream with the same `port` and `requestID`
 * headers; the server connects to `localhost:<port>` in the pod (127.0.0.1, then ::1) and relays
 * bytes both ways.
 * A failure is written as text on the error stream.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { ChannelStream } from "./channel_stream.ts";
import type { SpdyStream } from "./spdy_connection.ts";
import { RstStatus } from "./spdy_frame.ts";
import type { PortConnection, PortDialer } from "./port_dialer.ts";
import { isPort } from "../port.ts";

/** One forwarded connection's pair of streams. */
interface Pair {
  port: number;
  error?: SpdyStream;
  data?: SpdyStream;
}

/** Options of {@linkcode PortForwardSession}. */
export interface PortForwardSessionOptions {
  /** The pod, for messages. */
  sandboxId: string;
  dialer: PortDialer;
  log: Logger;
}

/**
 * Pairs the streams the client opens and relays each pair. Feed it every stream of the
 * connection with {@linkcode accept}; {@linkcode close} ends every relay.
 */
export class PortForwardSession {
  #pairs = new Map<string, Pair>();
  #opts: PortForwardSessionOptions;
  #relays = new Set<Promise<void>>();
  /** Pod connections being relayed. */
  #conns = new Set<PortConnection>();
  #closed = false;

  constructor(options: PortForwardSessionOptions) {
    this.#opts = options;
  }

  /** Handles a stream the client opened. */
  accept(stream: SpdyStream): void {
    const type = stream.header("streamtype");
    const portText = stream.header("port") ?? "";
    const port = Number(portText);
    if (
      this.#closed || (type !== "error" && type !== "data") || !/^\d+$/.test(portText) ||
      !isPort(port)
    ) {
      this.#opts.log.debug("Refusing port-forward stream", { type, port: portText });
      void stream.reset(RstStatus.refusedStream);
      return;
    }
    const requestId = stream.header("requestid") || fallbackRequestId(type, stream.id);
    const pair = this.#pairs.get(requestId) ?? { port };
    if (pair[type] || pair.port !== port) {
      this.#opts.log.debug("Refusing port-forward stream", { type, port, requestId });
      void stream.reset(RstStatus.refusedStream);
      return;
    }
    pair[type] = stream;
    this.#pairs.set(requestId, pair);
    // A half pair whose stream the client resets would otherwise wait here forever.
    void stream.remoteEnded.then(() => {
      if (stream.isReset && this.#pairs.get(requestId) === pair) this.#pairs.delete(requestId);
    });
    void stream.reply().catch(() => {});
    if (pair.error && pair.data) {
      this.#pairs.delete(requestId);
      const relay = this.#relay(pair.port, pair.error, pair.data);
      this.#relays.add(relay);
      void relay.finally(() => this.#relays.delete(relay));
    }
  }

  /**
   * Relays one forwarded connection: dials the pod's port and copies both ways until both
   * directions end; a failed dial is written as text on `error`.
   */
  relay(port: number, error: ChannelStream, data: ChannelStream): Promise<void> {
    const relay = this.#relay(port, error, data);
    this.#relays.add(relay);
    void relay.finally(() => this.#relays.delete(relay));
    return relay;
  }

  async #relay(port: number, error: ChannelStream, data: ChannelStream): Promise<void> {
    const { dialer, sandboxId, log } = this.#opts;
    let conn;
    try {
      conn = await dialer.connect(port);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      log.info("Port-forward connect failed", { sandboxId, port, reason });
      await error.write(
        `error forwarding port ${port} to pod ${sandboxId}: cannot connect to localhost:${port}: ${reason}`,
      ).catch(() => {});
      await Promise.all([error.end(), data.end()]);
      return;
    }
    if (this.#closed) {
      conn.close();
      return;
    }
    this.#conns.add(conn);
    log.debug("Port-forward connected", { sandboxId, port });
    const toPod = (async () => {
      // Awaited: while the pod reads slowly, the stream's bytes stay unread, and past the
      // connection's bound the client's socket stops being read.
      for await (const chunk of data) await conn.write(chunk);
      conn.closeWrite();
    })();
    // Each write waits for the client's socket to drain, so the pod is read no faster.
    const fromPod = (async () => {
      for await (const chunk of conn) {
        try {
          await data.write(chunk);
        } catch {
          break;
        }
      }
      await data.end();
    })();
    await Promise.all([toPod, fromPod]);
    this.#conns.delete(conn);
    conn.close();
    await error.end();
  }

  /** Forwarded connections waiting for their second stream. */
  get pendingPairs(): number {
    return this.#pairs.size;
  }

  /**
   * Stops accepting streams, closes the pod connections (a write waiting on a pod that does
   * not read ends with them) and waits for the relays (their streams end with the socket).
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const conn of this.#conns) conn.close();
    this.#conns.clear();
    await this.#opts.dialer.close();
    await Promise.allSettled([...this.#relays]);
  }
}

/**
 * The request id of a stream from a client too old to send `requestID`, as kubelet derives
 * it: such a client opens each pair as consecutive odd streams, error first then data.
 */
function fallbackRequestId(type: "error" | "data", streamId: number): string {
  return `stream-${type === "error" ? streamId : streamId - 2}`;
}
