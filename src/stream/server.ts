/**
 * The streaming server behind Exec, Attach and PortForward: an HTTP/1.1 server on TCP (loopback
 * unless configured otherwise). The RPCs store validated requests under single-use tokens
 * ({@linkcode StreamServer.url}); the client connects to `/<kind>/<token>`, upgrades to
 * `SPDY/3.1` with a `X-Stream-Protocol-Version` handshake, and opens its streams.
 *
 * Answers: 404 for an unknown, used or expired token; 400 without the SPDY upgrade; 403 when
 * no protocol fits (with `X-Accept-Stream-Protocol-Version`); 101 otherwise.
 *
 * The sessions themselves (SPDY, WebSocket, exec, attach, port-forward: `./session.ts`) are
 * imported on the first accepted request, before its `101`: an idle node does not load them.
 *
 * @module
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { StreamServerDeps } from "./deps.ts";
import {
  ACCEPTED_PROTOCOLS_HEADER,
  clientProtocols,
  negotiate,
  PORT_FORWARD_PROTOCOL,
  PROTOCOL_HEADER,
  REMOTE_COMMAND_PROTOCOLS,
} from "./handshake.ts";
import type { SessionHost } from "./session.ts";
import { TokenCache } from "./token_cache.ts";
import type { StreamRequest, StreamUrls } from "./types.ts";

export type { StreamContainer, StreamSandbox, StreamServerDeps } from "./deps.ts";

/** Idle time after which a session is closed, as kubelet's default `StreamIdleTimeout`. */
export const DEFAULT_IDLE_TIMEOUT_MS = 4 * 60 * 60 * 1000;

/** TCP connections the streaming server holds at once. */
export const DEFAULT_MAX_CONNECTIONS = 256;

/** Options of {@linkcode StreamServer.start}. */
export interface StreamServerOptions {
  /** IP address to listen on. @default "127.0.0.1" */
  address?: string;
  /** TCP port; 0 picks a free one. @default 0 */
  port?: number;
}

/** How long a connection refused with 503 gets to read the answer before it is dropped. */
const REFUSE_GRACE_MS = 1_000;

/** Largest request head accepted (node's default); more is answered 431. */
const MAX_HEADER_BYTES = 16 * 1024;

/** The session code, `./session.ts`. */
type Sessions = typeof import("./session.ts");

let sessions: Promise<Sessions> | undefined;

/** Imports `./session.ts` once (a failed import is tried again by the next session). */
function loadSessions(): Promise<Sessions> {
  sessions ??= import("./session.ts").catch((err) => {
    sessions = undefined;
    throw err;
  });
  return sessions;
}

const PATH = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]{1,64})\/?$/;

/** The streaming server. */
export class StreamServer implements StreamUrls {
  #deps: StreamServerDeps;
  #http: http.Server;
  #tokens: TokenCache<StreamRequest>;
  #sockets = new Set<Duplex>();
  /** Connections over the limit, being answered 503. */
  #refused = new Set<Duplex>();
  /** Open SPDY connections and WebSocket sessions' channel sets, dropped on close. */
  #connections = new Set<{ destroy(): void }>();
  #sessions = new Set<Promise<void>>();
  #base = "";
  #closing = false;

  private constructor(deps: StreamServerDeps) {
    this.#deps = deps;
    this.#tokens = new TokenCache(deps.tokens);
    const headersTimeout = deps.headersTimeoutMs ?? 30_000;
    this.#http = http.createServer({
      headersTimeout,
      // Node requires requestTimeout >= headersTimeout; it does not apply once upgraded.
      requestTimeout: Math.max(headersTimeout, 60_000),
      connectionsCheckingInterval: Math.min(1_000, Math.max(10, headersTimeout / 4)),
      maxHeaderSize: MAX_HEADER_BYTES,
    }, (req, res) => this.#plain(req, res));
    this.#http.on("upgrade", (req, socket, head) => this.#upgrade(req, socket, head));
    const maxConnections = deps.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.#http.on("connection", (socket: Duplex) => {
      if (this.#sockets.size >= maxConnections) {
        this.#refuse(socket, maxConnections);
        return;
      }
      this.#sockets.add(socket);
      socket.on("close", () => this.#sockets.delete(socket));
    });
    this.#http.on("clientError", (err: Error & { code?: string }, socket: Duplex) => {
      deps.log.debug("Bad streaming request", { code: err.code, error: err });
      const status = err.code === "HPE_HEADER_OVERFLOW"
        ? 431
        : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? 408
        : 400;
      if (socket.writable && !socket.destroyed) {
        socket.end(
          `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`,
          () => socket.destroy(),
        );
      } else {
        socket.destroy();
      }
    });
  }

  /**
   * Starts listening.
   *
   * @throws {Error} When the address cannot be bound.
   */
  static async start(
    deps: StreamServerDeps,
    options: StreamServerOptions = {},
  ): Promise<StreamServer> {
    const server = new StreamServer(deps);
    const address = options.address ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      server.#http.once("error", reject);
      server.#http.listen(options.port ?? 0, address, () => {
        server.#http.off("error", reject);
        resolve();
      });
    }).catch((err) => {
      throw new Error(
        `Cannot listen for streaming on ${address}:${options.port ?? 0}: ${
          err instanceof Error ? err.message : err
        }`,
        { cause: err },
      );
    });
    const bound = server.#http.address() as AddressInfo;
    const host = bound.family === "IPv6" || bound.address.includes(":")
      ? `[${bound.address}]`
      : bound.address;
    server.#base = `http://${host}:${bound.port}`;
    deps.log.info("Streaming server listening", { url: server.#base });
    return server;
  }

  /** `http://<address>:<port>`. */
  get baseUrl(): string {
    return this.#base;
  }

  /** The bound port. */
  get port(): number {
    return (this.#http.address() as AddressInfo).port;
  }

  /** Sessions being served now. */
  get activeSessions(): number {
    return this.#sessions.size;
  }

  /** TCP connections open now (HTTP and upgraded). */
  get activeConnections(): number {
    return this.#sockets.size;
  }

  url(request: StreamRequest): string {
    return `${this.#base}/${request.kind}/${this.#tokens.insert(request)}`;
  }

  /** Stops listening, drops every session (their processes are killed), and waits. */
  async close(): Promise<void> {
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.#http.close(() => resolve()));
    for (const c of this.#connections) c.destroy();
    for (const s of this.#sockets) s.destroy();
    for (const s of this.#refused) s.destroy();
    await Promise.allSettled([...this.#sessions]);
    await closed;
  }

  /**
   * Answers a connection over the limit with 503 at once, without waiting for its request,
   * and drops it after {@linkcode REFUSE_GRACE_MS}: the request it sends meanwhile is read
   * (and ignored) so that closing does not reset the connection before the client reads the
   * answer.
   */
  #refuse(socket: Duplex, limit: number): void {
    this.#deps.log.info("Refusing a streaming connection: too many are open", { limit });
    this.#refused.add(socket);
    const timer = setTimeout(() => socket.destroy(), REFUSE_GRACE_MS);
    socket.on("close", () => {
      clearTimeout(timer);
      this.#refused.delete(socket);
    });
    socket.on("error", () => {});
    const body = `ocid holds ${limit} streaming connections already; try again later\n`;
    socket.end(
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
        `Content-Length: ${new TextEncoder().encode(body).length}\r\nConnection: close\r\n\r\n` +
        body,
    );
  }

  #plain(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.#refused.has(req.socket)) return; // answered 503 already
    const m = PATH.exec(pathOf(req.url));
    if (!m) {
      reply(res, 404, "Not found");
      return;
    }
    reply(res, 400, `Streaming requests need "Upgrade: SPDY/3.1"`);
  }

  #upgrade(req: http.IncomingMessage, socket: Duplex, head: Uint8Array): void {
    if (this.#refused.has(socket)) return; // answered 503 already
    socket.on("error", (err) => this.#deps.log.debug("Stream socket error", { error: err }));
    const fail = (status: number, text: string, extra: Record<string, string> = {}) => {
      const body = text + "\n";
      const headers = Object.entries({
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Length": String(new TextEncoder().encode(body).length),
        "Connection": "close",
        ...extra,
      }).map(([k, v]) => `${k}: ${v}\r\n`).join("");
      this.#deps.log.debug("Refused a streaming request", { status, reason: text });
      // Destroyed once written: a client that keeps its side open must not hold the socket.
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ""}\r\n${headers}\r\n${body}`,
        () => socket.destroy(),
      );
    };
    if (this.#closing) return fail(503, "ocid is shutting down");
    const m = PATH.exec(pathOf(req.url));
    if (!m) return fail(404, "Not found");
    const kind = m[1] as StreamRequest["kind"];
    const token = m[2]!;
    if ((req.headers.upgrade ?? "").toLowerCase() === "websocket") {
      this.#begin(
        kind,
        socket,
        (s) => s.serveWs(this.#host, { req, socket, head, kind, token, fail }),
      );
      return;
    }
    if ((req.headers.upgrade ?? "").toLowerCase() !== "spdy/3.1") {
      return fail(
        400,
        `Unsupported upgrade "${req.headers.upgrade ?? ""}"; expected SPDY/3.1 or websocket`,
      );
    }
    const offered = clientProtocols(req.headers[PROTOCOL_HEADER]);
    const supported = kind === "portforward" ? [PORT_FORWARD_PROTOCOL] : REMOTE_COMMAND_PROTOCOLS;
    const protocol = negotiate(offered, supported);
    if (!protocol) {
      return fail(
        403,
        `No common stream protocol: client offers [${offered.join(", ")}], ocid speaks [${
          supported.join(", ")
        }]`,
        { [ACCEPTED_PROTOCOLS_HEADER]: supported.join(", ") },
      );
    }
    const request = this.#tokens.consume(token);
    if (!request || request.kind !== kind) {
      return fail(404, `Unknown, used or expired ${kind} token`);
    }
    this.#begin(kind, socket, (s) => {
      socket.write(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n" +
          `X-Stream-Protocol-Version: ${protocol}\r\n\r\n`,
      );
      return s.serveSpdy(this.#host, request, { socket, head, protocol });
    });
  }

  /**
   * Loads the session code (the first time), then runs `serve` on the upgraded socket; `close()`
   * waits for it. Until `serve` reads the socket, what the client sends stays in its buffer.
   */
  #begin(
    kind: StreamRequest["kind"],
    socket: Duplex,
    serve: (sessions: Sessions) => Promise<void> | undefined,
  ): void {
    const session = loadSessions().then((code) => {
      if (this.#closing) {
        socket.destroy();
        return;
      }
      return serve(code);
    }).catch((err) => {
      this.#deps.log.warn("Stream session failed", { kind, error: err as Error });
      socket.destroy();
    });
    this.#sessions.add(session);
    void session.finally(() => this.#sessions.delete(session));
  }

  /** What the sessions use of the server. */
  get #host(): SessionHost {
    return {
      deps: this.#deps,
      tokens: this.#tokens,
      connections: this.#connections,
      idleTimeoutMs: this.#deps.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      closeGraceMs: this.#deps.closeGraceMs ?? 10_000,
    };
  }
}

/**
 * The path of a request target, without its query. Not parsed as a URL: targets such as `//`
 * or `http://` are not valid URLs, and `new URL()` would throw in the request handler.
 */
function pathOf(target: string | undefined): string {
  const path = (target ?? "/").split("?", 1)[0];
  return path === undefined || path === "" ? "/" : path;
}

function reply(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", "Connection": "close" });
  res.end(text + "\n");
}
