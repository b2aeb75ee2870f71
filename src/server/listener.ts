/**
 * Serves a grpc-js server on a unix socket that ocid accepts itself, so that each connection's
 * client->server bytes go through the {@linkcode AuthorityRewriter} before HTTP/2 parses them.
 * Without this, Go clients that send the socket path as `:authority` (kubelet, crictl and
 * critest before 1.31) fail every RPC with PROTOCOL_ERROR.
 *
 * @module
 */
import { chmod, lstat, mkdir, unlink } from "node:fs/promises";
import net from "node:net";
import { dirname } from "node:path";
import { Duplex } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { type Logger, nullLogger } from "../log.ts";
import { AuthorityRewriter } from "./authority.ts";

/** Options of {@linkcode listenUnix}. */
export interface ListenUnixOptions {
  /** Mode of the socket file. @default {0o660} */
  mode?: number;
  /** Mode of the parent directory when it has to be created. @default {0o750} */
  dirMode?: number;
  /** Where connection errors and rewriter failures are logged. @default {nullLogger} */
  logger?: Logger;
}

/** A running unix-socket listener. */
export interface UnixListener {
  /** The socket path. */
  readonly path: string;
  /** Stops listening, destroys open connections and removes the socket file. */
  close(): Promise<void>;
}

/**
 * Listens on a unix socket and hands every connection to `server`, with the `:authority` of
 * each request rewritten to `localhost`. Services must be added to `server` already or later;
 * `server.bindAsync` is not needed for this socket.
 *
 * @param server The grpc-js server.
 * @param path The socket path; a stale socket file there is removed.
 * @returns The listener; call `close()` to stop it.
 * @throws {Error} When something other than a socket is at `path`, when another process
 * serves the socket, or when the directory or socket cannot be created.
 * @example
 * ```ts
 * const listener = await listenUnix(server, "/run/ocid/ocid.sock", { logger });
 * // ...
 * await listener.close();
 * ```
 */
export async function listenUnix(
  server: grpc.Server,
  path: string,
  options: ListenUnixOptions = {},
): Promise<UnixListener> {
  const { mode = 0o660, dirMode = 0o750, logger = nullLogger } = options;
  await ensureDir(dirname(path), dirMode);
  await removeStaleSocket(path);

  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const sockets = new Set<net.Socket>();
  const listener = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    const connection = new RewritingConnection(socket, logger);
    connection.on("error", (error: Error) => {
      logger.debug("Connection failed", { path, error });
    });
    try {
      injector.injectConnection(connection);
    } catch (error) {
      logger.warn("Cannot hand a connection to the gRPC server", { path, error });
      connection.destroy();
    }
  });
  listener.on("error", (error: Error) => logger.error("Unix listener failed", { path, error }));

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => {
      injector.destroy();
      reject(new Error(`Cannot listen on "${path}": ${error.message}`, { cause: error }));
    };
    listener.once("error", onError);
    listener.listen(path, () => {
      listener.off("error", onError);
      resolve();
    });
  });
  try {
    await chmod(path, mode);
  } catch (error) {
    listener.close();
    injector.destroy();
    throw new Error(`Cannot set the mode of socket "${path}"`, { cause: error });
  }
  logger.info("Listening", { path });

  let closing: Promise<void> | undefined;
  return {
    path,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        injector.destroy();
        await closed;
        await unlink(path).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== "ENOENT") throw error;
        });
      })();
      return closing;
    },
  };
}

/** Creates `dir` (and its parents) with `mode` when it does not exist. */
async function ensureDir(dir: string, mode: number): Promise<void> {
  try {
    await lstat(dir);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(dir, { recursive: true, mode });
  await chmod(dir, mode); // the umask may have narrowed it
}

/**
 * Removes a socket file nobody serves. Refuses to remove anything else, or a socket that
 * accepts connections (another ocid is running).
 */
async function removeStaleSocket(path: string): Promise<void> {
  let stat;
  try {
    stat = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  if (!stat.isSocket()) {
    throw new Error(`Cannot listen on "${path}": it exists and is not a socket; remove it`);
  }
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
  if (alive) {
    throw new Error(`Cannot listen on "${path}": another process is serving it; stop it first`);
  }
  await unlink(path);
}

/**
 * One accepted connection as grpc-js sees it: server->client bytes go to the socket as they
 * are (the rewriter is shown them, to match PINGs and acknowledgements), client->server bytes
 * pass through an {@linkcode AuthorityRewriter}. A connection the rewriter refuses is closed.
 */
class RewritingConnection extends Duplex {
  readonly #socket: net.Socket;
  readonly #rewriter = new AuthorityRewriter();
  readonly #logger: Logger;
  #reported = false;

  constructor(socket: net.Socket, logger: Logger) {
    super({ allowHalfOpen: false });
    this.#socket = socket;
    this.#logger = logger;
    socket.on("data", (chunk: Uint8Array) => this.#onData(chunk));
    socket.on("end", () => this.push(null));
    socket.on("error", (error: Error) => this.destroy(error));
    socket.on("close", () => this.destroy());
  }

  #onData(chunk: Uint8Array) {
    // Once the HTTP/2 session is gone, its parser must not see another byte.
    if (this.destroyed) return;
    let more = true;
    for (const part of this.#rewriter.push(chunk)) more = this.push(part) && more;
    const refused = this.#rewriter.refused;
    if (refused !== undefined) {
      this.#logger.warn("Closing a connection that broke an HTTP/2 limit", { reason: refused });
      this.destroy();
      return;
    }
    if (!more) this.#socket.pause();
    const failure = this.#rewriter.failure;
    if (failure !== undefined && !this.#reported) {
      this.#reported = true;
      this.#logger.warn("Passing a connection through without rewriting :authority", {
        reason: failure,
      });
    }
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(
    chunk: Uint8Array,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    this.#rewriter.observeServer(chunk);
    this.#socket.write(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#socket.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#socket.destroy();
    callback(error);
  }

  // What HTTP/2 servers may ask of a net.Socket.
  get remoteAddress(): string | undefined {
    return this.#socket.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.#socket.remotePort;
  }
  get localAddress(): string | undefined {
    return this.#socket.localAddress;
  }
  setTimeout(ms: number, callback?: () => void): this {
    this.#socket.setTimeout(ms, callback);
    return this;
  }
  setNoDelay(noDelay?: boolean): this {
    this.#socket.setNoDelay(noDelay);
    return this;
  }
  setKeepAlive(enable?: boolean, delay?: number): this {
    this.#socket.setKeepAlive(enable, delay);
    return this;
  }
}
