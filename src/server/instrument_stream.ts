/**
 * The wrapper around every server-streaming RPC, the streaming twin of
 * {@linkcode instrument}: logs the stream's opening and end, maps a handler's error to a gRPC
 * status in the same one place ({@linkcode toStatusError}), and gives the handler a
 * flow-controlled {@linkcode StreamSink} so a slow client holds back the handler instead of
 * filling the daemon's memory.
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";
import { status as grpcStatus } from "@grpc/grpc-js";
import { type CallContext, type InstrumentOptions, toStatusError } from "./instrument.ts";

/** Where a streaming handler sends its messages. */
export interface StreamSink<Res = unknown> {
  /**
   * Sends one message.
   *
   * @returns A promise that resolves once the transport can take the next message.
   * @throws When the call is cancelled, or `options.signal` aborts, while waiting (the
   * signal's reason).
   */
  write(message: Res, options?: { signal?: AbortSignal }): Promise<void>;
}

/** A server-streaming RPC handler: resolves to end the stream with OK, rejects to fail it. */
export type ServerStreamHandler<Req = unknown, Res = unknown> = (
  request: Req,
  sink: StreamSink<Res>,
  ctx: CallContext,
) => Promise<void>;

/** Wraps a handler into a grpc-js server-streaming call handler. */
export function instrumentServerStream(
  method: string,
  handler: ServerStreamHandler,
  options: InstrumentOptions,
): grpc.handleServerStreamingCall<unknown, unknown> {
  const { logger, quiet, metrics } = options;
  const log = quiet?.has(method) ? logger.debug : logger.info;
  return (call) => {
    const controller = new AbortController();
    const signal = controller.signal;
    call.on(
      "cancelled",
      () => controller.abort(new Error(`${method} was cancelled by the client`)),
    );
    const started = performance.now();
    const ms = () => (performance.now() - started).toFixed(1);
    let sent = 0;
    const sink: StreamSink = {
      write(message, writeOptions = {}) {
        const extra = writeOptions.signal;
        return new Promise<void>((resolve, reject) => {
          const aborted = signal.aborted ? signal : extra?.aborted ? extra : undefined;
          if (aborted) return reject(aborted.reason);
          sent++;
          if (call.write(message)) return resolve();
          const done = (err?: unknown) => {
            call.off("drain", onDrain);
            signal.removeEventListener("abort", onAbort);
            extra?.removeEventListener("abort", onExtraAbort);
            if (err === undefined) resolve();
            else reject(err);
          };
          const onDrain = () => done();
          const onAbort = () => done(signal.reason);
          const onExtraAbort = () => done(extra!.reason);
          call.on("drain", onDrain);
          signal.addEventListener("abort", onAbort, { once: true });
          extra?.addEventListener("abort", onExtraAbort, { once: true });
        });
      },
    };
    log(`${method} stream opened`);
    let result: Promise<void>;
    try {
      result = handler(call.request, sink, { signal, method });
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      () => {
        log(`${method} stream ended`, { messages: sent, ms: ms() });
        metrics?.stream(method, signal.aborted ? "CANCELLED" : "OK");
        if (!signal.aborted) call.end();
      },
      (err: unknown) => {
        if (signal.aborted) {
          log(`${method} stream cancelled by the client`, { messages: sent, ms: ms() });
          metrics?.stream(method, "CANCELLED");
          return;
        }
        const status = toStatusError(err);
        metrics?.stream(method, grpcStatus[status.code]);
        const level = status.code === grpcStatus.INTERNAL ? logger.error : logger.info;
        level(`${method} stream failed`, {
          code: grpcStatus[status.code],
          error: status.details,
          messages: sent,
          ms: ms(),
        });
        call.emit("error", status);
      },
    );
  };
}
