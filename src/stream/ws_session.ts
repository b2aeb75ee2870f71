/**
 * Exec, attach and port-forward over WebSocket, as Kubernetes' streaming library serves them
 * (kubelet `cri/streaming/{remotecommand,portforward}/websocket.go`), beside the SPDY upgrade.
 *
 * Exec and attach: subprotocols `v5.channel.k8s.io` (with the close signal: the client ends
 * stdin), `v4.channel.k8s.io`, `v4.base64.channel.k8s.io`, and the unversioned `channel.k8s.io`,
 * `base64.channel.k8s.io` or none. Channels: 0 stdin, 1 stdout, 2 stderr, 3 error (the outcome:
 * a `metav1.Status` from v4 on, plain text before), 4 resize. An empty message on the lowest
 * channel ocid writes tells the client the session is open. The socket closes (1000) after the
 * outcome.
 *
 * Port-forward: subprotocols `v4.channel.k8s.io`, `v4.base64.channel.k8s.io`, the unversioned
 * ones or none; the ports come from the URL's `port` parameters (else the PortForward request's).
 * Port i has data channel 2i and error channel 2i+1; each starts with the port as two
 * little-endian bytes. One connection to each port, closed with the socket.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type http from "node:http";
import type { Duplex } from "node:stream";
// @ts-types="@types/ws"
import { type WebSocket, WebSocketServer } from "ws";
import type { Logger } from "../log.ts";
import type { PortDialer } from "./port_dialer.ts";
import { PortForwardSession } from "./port_forward.ts";
import { type CommandOutcome, finishSession, type RemoteCommandStreams } from "./remote_command.ts";
import type { TokenCache } from "./token_cache.ts";
import type {
  AttachStreamRequest,
  ExecStreamRequest,
  PortForwardStreamRequest,
  StreamRequest,
} from "./types.ts";
import { framingOf, WsChannels } from "./ws_channels.ts";
import { isPort } from "../port.ts";
import { clientProtocols } from "./handshake.ts";

/** Exec and attach subprotocols; the client's order decides, as wsstream's handshake does. */
export const WS_REMOTE_COMMAND_PROTOCOLS = [
  "v5.channel.k8s.io",
  "v4.channel.k8s.io",
  "v4.base64.channel.k8s.io",
  "channel.k8s.io",
  "base64.channel.k8s.io",
] as const;

/** Port-forward subprotocols. */
export const WS_PORT_FORWARD_PROTOCOLS = [
  "v4.channel.k8s.io",
  "v4.base64.channel.k8s.io",
  "channel.k8s.io",
  "base64.channel.k8s.io",
] as const;

/** The largest message accepted (as SPDY frames); more closes the socket with 1009. */
export const WS_MAX_MESSAGE = 1024 * 1024;

/** The most ports one port-forward socket carries (two channels each, below channel 255). */
export const WS_MAX_PORTS = 64;

/** A pod as port-forward needs it. */
interface PortForwardSandbox {
  id: string;
  ready: boolean;
  netnsPath?: string;
}

/** What a WebSocket session uses of the streaming server. */
export interface WsSessionDeps {
  log: Logger;
  tokens: TokenCache<StreamRequest>;
  /** Sessions' channel sets, so that closing the server drops them. */
  sockets: Set<{ destroy(): void }>;
  idleTimeoutMs: number;
  closeGraceMs: number;
  /** Runs an exec or attach on the streams. */
  command(
    request: ExecStreamRequest | AttachStreamRequest,
    session: { streams: RemoteCommandStreams; gone: Promise<void> },
  ): Promise<CommandOutcome>;
  sandbox(id: string): PortForwardSandbox | undefined;
  dialer(sandbox: PortForwardSandbox): PortDialer;
}

/** The upgrade request and how to refuse it. */
export interface WsUpgrade {
  req: http.IncomingMessage;
  socket: Duplex;
  head: Uint8Array;
  kind: StreamRequest["kind"];
  token: string;
  fail(status: number, text: string, extra?: Record<string, string>): void;
}

/** The subprotocol chosen for each request, read back by the server's handleProtocols. */
const chosen = new WeakMap<http.IncomingMessage, string>();

let server: WebSocketServer | undefined;

function wsServer(): WebSocketServer {
  server ??= new WebSocketServer({
    noServer: true,
    maxPayload: WS_MAX_MESSAGE,
    perMessageDeflate: false,
    handleProtocols: (_offered, req) => chosen.get(req) ?? false,
  });
  return server;
}

/** The ports of a port-forward URL (`?port=80&port=8080`), or undefined when it names none. */
export function queryPorts(url: string | undefined): number[] | undefined | "invalid" {
  const query = (url ?? "").split("?")[1];
  if (query === undefined) return undefined;
  const values = new URLSearchParams(query).getAll("port");
  if (values.length === 0) return undefined;
  const ports = values.flatMap((v) => v.split(","));
  if (!ports.every((p) => /^\d{1,5}$/.test(p) && isPort(Number(p)))) {
    return "invalid";
  }
  return ports.map(Number);
}

/**
 * Checks a WebSocket upgrade, consumes its token and serves the session.
 *
 * @returns the session, or undefined when the request was refused (answered already)
 */
export function serveWebSocket(deps: WsSessionDeps, up: WsUpgrade): Promise<void> | undefined {
  const { req, kind, fail } = up;
  const key = req.headers["sec-websocket-key"];
  if (req.headers["sec-websocket-version"] !== "13" || typeof key !== "string" || key === "") {
    fail(400, "Bad WebSocket handshake: expected Sec-WebSocket-Version 13 and a key", {
      "Sec-WebSocket-Version": "13",
    });
    return undefined;
  }
  const supported: readonly string[] = kind === "portforward"
    ? WS_PORT_FORWARD_PROTOCOLS
    : WS_REMOTE_COMMAND_PROTOCOLS;
  const offered = clientProtocols(req.headers["sec-websocket-protocol"]);
  const protocol = offered.length === 0 ? "" : offered.find((p) => supported.includes(p));
  if (protocol === undefined) {
    fail(
      403,
      `No common WebSocket subprotocol: client offers [${offered.join(", ")}], ocid speaks [${
        supported.join(", ")
      }]`,
    );
    return undefined;
  }
  let ports: number[] | undefined;
  if (kind === "portforward") {
    const fromQuery = queryPorts(req.url);
    if (fromQuery === "invalid") {
      fail(400, "Invalid port in the URL: expected port=<1-65535>");
      return undefined;
    }
    ports = fromQuery;
  }
  const request = deps.tokens.consume(up.token);
  if (!request || request.kind !== kind) {
    fail(404, `Unknown, used or expired ${kind} token`);
    return undefined;
  }
  if (request.kind === "portforward") {
    ports ??= request.ports;
    if (ports.length === 0 || ports.length > WS_MAX_PORTS) {
      fail(400, `A port-forward WebSocket carries 1 to ${WS_MAX_PORTS} ports`);
      return undefined;
    }
  }
  chosen.set(req, protocol);
  // Channels are attached in the upgrade's callback itself: a client may send its first
  // messages right behind the handshake, and ws emits them as soon as it reads them.
  const readable = request.kind === "portforward"
    ? ports!.map((_, i) => 2 * i)
    : request.stdin
    ? [0, 4]
    : [4];
  return new Promise<WsChannels>((resolve) => {
    wsServer().handleUpgrade(req, up.socket, Buffer.from(up.head), (ws: WebSocket) => {
      const channels = new WsChannels(ws, framingOf(protocol), readable, {
        idleTimeoutMs: deps.idleTimeoutMs,
      });
      deps.sockets.add(channels);
      void channels.closed.then(() => deps.sockets.delete(channels));
      resolve(channels);
    });
  }).then((channels) =>
    request.kind === "portforward"
      ? portForward(deps, channels, request, ports!)
      : remoteCommand(deps, channels, protocol, request)
  );
}

async function remoteCommand(
  deps: WsSessionDeps,
  channels: WsChannels,
  protocol: string,
  request: ExecStreamRequest | AttachStreamRequest,
): Promise<void> {
  const version = /^v[45]\./.test(protocol) ? 4 : 1;
  deps.log.info("WebSocket stream session started", {
    kind: request.kind,
    id: request.containerId,
    protocol: protocol || "(none)",
  });
  const streams: RemoteCommandStreams = {
    error: channels.channel(3),
    ...(request.stdin ? { stdin: channels.channel(0) } : {}),
    ...(request.stdout ? { stdout: channels.channel(1) } : {}),
    ...(request.stderr && !request.tty ? { stderr: channels.channel(2) } : {}),
    ...(request.tty ? { resize: channels.channel(4) } : {}),
  };
  await (streams.stdout ?? streams.stderr ?? streams.error).write(new Uint8Array()).catch(
    () => {},
  );
  const outcome = await deps.command(request, { streams, gone: channels.closed });
  if (channels.isClosed) return;
  // A client that stopped reading would hold the session on its last messages.
  const drop = setTimeout(() => channels.destroy(), deps.closeGraceMs);
  try {
    await finishSession(streams, { outcome, version });
    await channels.close(1000, "", deps.closeGraceMs);
  } finally {
    clearTimeout(drop);
  }
}

async function portForward(
  deps: WsSessionDeps,
  channels: WsChannels,
  request: PortForwardStreamRequest,
  ports: number[],
): Promise<void> {
  const { log } = deps;
  const sandbox = deps.sandbox(request.sandboxId);
  const pf = new PortForwardSession({
    sandboxId: request.sandboxId,
    dialer: sandbox ? deps.dialer(sandbox) : {
      connect: () =>
        Promise.reject(new Error(`pod sandbox "${request.sandboxId}" no longer exists`)),
      close: () => Promise.resolve(),
    },
    log,
  });
  log.info("WebSocket port-forward session started", { sandboxId: request.sandboxId, ports });
  const relays = ports.map(async (port, i) => {
    const data = channels.channel(2 * i);
    const error = channels.channel(2 * i + 1);
    const prefix = new Uint8Array([port & 0xff, port >> 8]);
    await Promise.all([data.write(prefix), error.write(prefix)]);
    await pf.relay(port, error, data);
  });
  await Promise.race([Promise.allSettled(relays), channels.closed]);
  await pf.close();
  await channels.close(1000, "", deps.closeGraceMs);
  log.info("WebSocket port-forward session ended", { sandboxId: request.sandboxId });
}
