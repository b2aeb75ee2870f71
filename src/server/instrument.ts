/**
 * The one wrapper around every RPC: logs entry and exit, measures latency, and maps errors to
 * gRPC status codes in one place. Handlers throw domain errors (src/errors.ts); anything else
 * becomes INTERNAL with its message, never a crash.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { OcidError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { MetricsRecorder } from "../metrics/recorder.ts";
import type { MemoryRelease } from "../memory_release.ts";

/** What a handler learns about its call besides the request. */
export interface CallContext {
  /** Aborted when the client cancels or the deadline passes. */
  signal: AbortSignal;
  /** The RPC's name, e.g. "RunPodSandbox". */
  method: string;
}

/** A unary RPC handler. */
export type UnaryHandler<Req = unknown, Res = unknown> = (
  request: Req,
  ctx: CallContext,
) => Promise<Res>;

/** A gRPC error as grpc-js expects it in a callback. */
export interface StatusError {
  code: grpc.status;
  details: string;
  metadata?: grpc.Metadata;
}

/**
 * The longest status message sent. It travels in an HTTP/2 header: a message echoing a huge
 * request value would exceed the client's header limit and turn the answer into CANCELLED.
 */
const MAX_DETAILS = 4096;

function details(message: string): string {
  return message.length <= MAX_DETAILS
    ? message
    : `${message.slice(0, MAX_DETAILS)}\u2026 (${message.length - MAX_DETAILS} more characters)`;
}

/** Maps any thrown value to a gRPC status. */
export function toStatusError(err: unknown): StatusError {
  if (err instanceof OcidError) {
    return { code: grpc.status[err.code], details: details(err.message) };
  }
  if (err instanceof Error) {
    return { code: grpc.status.INTERNAL, details: details(err.message) };
  }
  return { code: grpc.status.INTERNAL, details: details(String(err)) };
}

/** Options of {@linkcode instrument}. */
export interface InstrumentOptions {
  logger: Logger;
  /** RPCs logged at debug level only (frequent polls such as ListContainers). */
  quiet?: ReadonlySet<string>;
  /** Counts each answered call by code and observes its latency. */
  metrics?: MetricsRecorder;
  /** Asked after every answered call (it trims the allocator once the calls pause). */
  memory?: Pick<MemoryRelease, "soon">;
}

/** Wraps a handler into a grpc-js unary call handler. */
export function instrument(
  method: string,
  handler: UnaryHandler,
  options: InstrumentOptions,
): grpc.handleUnaryCall<unknown, unknown> {
  const { logger, quiet, metrics, memory } = options;
  const log = quiet?.has(method) ? logger.debug : logger.info;
  return (call, callback) => {
    const controller = new AbortController();
    call.on(
      "cancelled",
      () => controller.abort(new Error(`${method} was cancelled by the client`)),
    );
    const started = performance.now();
    log(`${method} request`);
    let result: Promise<unknown>;
    try {
      result = handler(call.request, { signal: controller.signal, method });
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (response) => {
        const ms = performance.now() - started;
        log(`${method} done`, { ms: ms.toFixed(1) });
        metrics?.rpc(method, "OK", ms / 1000);
        callback(null, response);
        memory?.soon();
      },
      (err: unknown) => {
        const status = toStatusError(err);
        const level = status.code === grpc.status.INTERNAL ? logger.error : logger.info;
        const ms = performance.now() - started;
        level(`${method} failed`, {
          code: grpc.status[status.code],
          error: status.details,
          ms: ms.toFixed(1),
        });
        metrics?.rpc(method, grpc.status[status.code], ms / 1000);
        callback(status as grpc.ServiceError, null);
        memory?.soon();
      },
    );
  };
}
