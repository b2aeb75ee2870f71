/**
 * The sessions of the streaming server once a request has been accepted: SPDY/3.1 and WebSocket
 * connections, exec (with or without a terminal), attach and port-forward.
 *
 * `StreamServer` (`./server.ts`) imports this module on the first session, not at start: an idle
 * node does not hold the SPDY, WebSocket (`ws`), zlib, pseudo-terminal and worker-thread code.
 * Measured here: about 1 MiB less RSS for an idle daemon (median of 7 starts); the first session
 * waits 10 to 15 ms for the import, once.
 *
 * @module
 */
import type { Duplex } from "node:stream";
import { runAttach } from "./attach.ts";
import { CtlMessage, writeCtl } from "../oci/ctl.ts";
import { runExec } from "./exec.ts";
import { remoteCommandVersion } from "./handshake.ts";
import type { StreamSandbox, StreamServerDeps } from "./deps.ts";
import { createHostDialer, createNetnsDialer, type PortDialer } from "./port_dialer.ts";
import { PortForwardSession } from "./port_forward.ts";
import { PtyExec } from "./pty_exec.ts";
import {
  type CommandOutcome,
  finishSession,
  type RemoteCommandStreams,
  STREAM_CREATION_TIMEOUT_MS,
  StreamCollector,
} from "./remote_command.ts";
import { denoSpawner } from "./spawn.ts";
import { SpdyConnection } from "./spdy_connection.ts";
import type { TokenCache } from "./token_cache.ts";
import type {
  AttachStreamRequest,
  ExecStreamRequest,
  PortForwardStreamRequest,
  StreamRequest,
} from "./types.ts";
import { serveWebSocket, type WsUpgrade } from "./ws_session.ts";

/** What a session uses of the streaming server. */
export interface SessionHost {
  deps: StreamServerDeps;
  tokens: TokenCache<StreamRequest>;
  /** Open connections (SPDY) and channel sets (WebSocket), so that closing the server drops them. */
  connections: Set<{ destroy(): void }>;
  /** Time an established session may go without a frame; 0 never. */
  idleTimeoutMs: number;
  /** Time a finished session gets to hand its last frames to a client that stopped reading. */
  closeGraceMs: number;
}

/** The I/O of an upgraded SPDY connection. */
export interface SpdyUpgrade {
  socket: Duplex;
  /** Bytes read after the request head. */
  head: Uint8Array;
  /** The negotiated `X-Stream-Protocol-Version`. */
  protocol: string;
}

/**
 * Serves a SPDY/3.1 session whose `101 Switching Protocols` has been written: collects the
 * client's streams and runs the exec, attach or port-forward on them.
 *
 * @param host The server's state.
 * @param request The request its token stood for.
 * @param io The upgraded socket.
 * @returns When the session ends.
 */
export async function serveSpdy(
  host: SessionHost,
  request: StreamRequest,
  io: SpdyUpgrade,
): Promise<void> {
  const log = host.deps.log;
  if (request.kind === "portforward") {
    await servePortForward(host, request, io);
    return;
  }
  const version = remoteCommandVersion(io.protocol);
  const collector = new StreamCollector({ ...request, version });
  const conn = track(
    host,
    new SpdyConnection(io.socket, {
      onStream: (s) => collector.accept(s),
      head: io.head,
      logger: log,
      idleTimeoutMs: host.idleTimeoutMs,
    }),
  );
  const timer = setTimeout(
    () =>
      collector.fail(
        new Error(
          `Timed out waiting for the client's streams: ${collector.missing().join(", ")}`,
        ),
      ),
    STREAM_CREATION_TIMEOUT_MS,
  );
  void conn.closed.then(() => collector.fail(new Error("The client went away")));
  let streams;
  try {
    streams = await collector.ready;
  } catch (err) {
    log.info("Stream session not started", { kind: request.kind, reason: err as Error });
    conn.destroy();
    return;
  } finally {
    clearTimeout(timer);
  }
  const outcome = await runCommand(host, request, { streams, gone: conn.closed });
  if (conn.isClosed) return;
  // A client that stopped reading would hold the session forever on its last frames.
  const drop = setTimeout(() => {
    log.info("Stream client is not reading; dropping the connection", {
      kind: request.kind,
      id: request.containerId,
    });
    conn.destroy();
  }, host.closeGraceMs);
  try {
    await finishSession(streams, { outcome, version });
    await conn.close();
  } finally {
    clearTimeout(drop);
  }
}

/**
 * Checks a WebSocket upgrade, consumes its token and serves the session (see `./ws_session.ts`).
 *
 * @param host The server's state.
 * @param up The upgrade request and how to refuse it.
 * @returns The session, or undefined when the request was refused (answered already).
 */
export function serveWs(host: SessionHost, up: WsUpgrade): Promise<void> | undefined {
  return serveWebSocket({
    log: host.deps.log,
    tokens: host.tokens,
    sockets: host.connections,
    idleTimeoutMs: host.idleTimeoutMs,
    closeGraceMs: host.closeGraceMs,
    command: (request, session) => runCommand(host, request, session),
    sandbox: (id) => host.deps.sandbox(id),
    dialer: (sandbox) => dialerFor(host, sandbox),
  }, up);
}

async function servePortForward(
  host: SessionHost,
  request: PortForwardStreamRequest,
  io: SpdyUpgrade,
): Promise<void> {
  const log = host.deps.log;
  const sandbox = host.deps.sandbox(request.sandboxId);
  const pf = new PortForwardSession({
    sandboxId: request.sandboxId,
    dialer: sandbox ? dialerFor(host, sandbox) : {
      connect: () =>
        Promise.reject(new Error(`pod sandbox "${request.sandboxId}" no longer exists`)),
      close: () => Promise.resolve(),
    },
    log,
  });
  const conn = track(
    host,
    new SpdyConnection(io.socket, {
      onStream: (s) => pf.accept(s),
      head: io.head,
      logger: log,
      idleTimeoutMs: host.idleTimeoutMs,
    }),
  );
  log.info("Port-forward session started", { sandboxId: request.sandboxId });
  await conn.closed;
  await pf.close();
  log.info("Port-forward session ended", { sandboxId: request.sandboxId });
}

function dialerFor(host: SessionHost, sandbox: StreamSandbox): PortDialer {
  return host.deps.dialer?.(sandbox) ??
    (sandbox.netnsPath ? createNetnsDialer(sandbox.netnsPath) : createHostDialer());
}

/** Runs an exec or attach on a session's streams; never throws. */
async function runCommand(
  host: SessionHost,
  request: ExecStreamRequest | AttachStreamRequest,
  session: { streams: RemoteCommandStreams; gone: Promise<void> },
): Promise<CommandOutcome> {
  const { deps } = host;
  const log = deps.log;
  let outcome: CommandOutcome;
  const container = deps.container(request.containerId);
  if (!container) {
    outcome = { kind: "error", message: `Cannot find container "${request.containerId}"` };
  } else if (!container.running) {
    outcome = {
      kind: "error",
      message: `Container "${request.containerId}" is not running`,
    };
  } else if (request.kind === "exec") {
    log.info("Exec session started", {
      id: container.id,
      cmd: request.cmd,
      tty: request.tty,
      ...(request.auditRequestId ? { auditRequestId: request.auditRequestId } : {}),
    });
    const runtime = {
      runtimePath: deps.runtimePath,
      runtimeRoot: deps.runtimeRoot,
      spawner: deps.spawner ?? denoSpawner,
      log,
      execFiles: deps.execFiles,
      processes: deps.processes,
      ...(deps.attachWarmer ? { attachWarmer: deps.attachWarmer } : {}),
    };
    outcome = await runExec(
      { ...runtime, tty: deps.tty ?? new PtyExec(runtime) },
      container,
      { ...session, request },
    ).catch((err): CommandOutcome => ({
      kind: "error",
      message: `Cannot exec in container "${container.id}": ${(err as Error).message}`,
    }));
  } else {
    outcome = await runAttach(
      {
        log,
        isRunning: (id) => deps.container(id)?.running ?? false,
        resize: (bundle, size) => writeCtl(bundle, { type: CtlMessage.resize, ...size }),
        ...(deps.attachPollMs ? { pollMs: deps.attachPollMs } : {}),
      },
      container,
      { ...session, request },
    );
  }
  log.info("Stream session ended", {
    kind: request.kind,
    id: request.containerId,
    outcome: outcome.kind === "exit" ? `exit ${outcome.code}` : outcome.kind,
  });
  return outcome;
}

function track(host: SessionHost, conn: SpdyConnection): SpdyConnection {
  host.connections.add(conn);
  void conn.closed.then(() => host.connections.delete(conn));
  return conn;
}
