/**
 * The CRI gRPC server: every RuntimeService and ImageService RPC of proto/api.proto registered,
 * each through the one instrumenting wrapper; RPCs ocid does not implement answer UNIMPLEMENTED.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { loadCri, type RequestCheck } from "../cri/proto.ts";
import { InvalidArgumentError, OcidError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { MemoryRelease } from "../memory_release.ts";
import type { MetricsRecorder } from "../metrics/recorder.ts";
import { instrument, type UnaryHandler } from "./instrument.ts";
import { instrumentServerStream, type ServerStreamHandler } from "./instrument_stream.ts";

/** Handlers by RPC name (e.g. "RunPodSandbox"). */
export type HandlerTable = Record<string, UnaryHandler>;

/** Server-streaming handlers by RPC name (e.g. "GetContainerEvents"). */
export type StreamHandlerTable = Record<string, ServerStreamHandler>;

/** Options of {@linkcode createCriServer}. */
export interface CriServerOptions {
  /** Server-streaming RPCs ocid implements; the others answer UNIMPLEMENTED. */
  streams?: StreamHandlerTable;
  /** Where each unary call is counted and timed. */
  metrics?: MetricsRecorder;
  /** Told of every answered unary call: trims the allocator once the calls pause. */
  memory?: Pick<MemoryRelease, "soon">;
}

/** RPCs the kubelet calls every few seconds: logged at debug level. */
const QUIET = new Set([
  "Version",
  "Status",
  "ListPodSandbox",
  "ListContainers",
  "PodSandboxStatus",
  "ContainerStatus",
  "ListImages",
  "ImageStatus",
  "ImageFsInfo",
  "ContainerStats",
  "ListContainerStats",
  "ListPodSandboxStats",
  "PodSandboxStats",
  "ListMetricDescriptors",
  "ListPodSandboxMetrics",
]);

/** Builds a grpc-js server serving `handlers`; call `listenUnix` to put it on a socket. */
export function createCriServer(
  handlers: HandlerTable,
  logger: Logger,
  options: CriServerOptions = {},
): grpc.Server {
  const { runtimeService, imageService, requestChecks } = loadCri();
  const server = new grpc.Server({
    "grpc.max_receive_message_length": 16 * 1024 * 1024,
    "grpc.max_send_message_length": 16 * 1024 * 1024,
    // Channelz keeps per-call and per-message counters (and Date.now() stamps) for a channelz
    // service ocid does not serve; off, grpc-js takes its plain per-stream path.
    "grpc.enable_channelz": 0,
  });
  for (const service of [runtimeService, imageService]) {
    const impl: grpc.UntypedServiceImplementation = {};
    for (const [name, method] of Object.entries(service)) {
      const streamHandler = options.streams?.[name];
      if (streamHandler && method.responseStream && !method.requestStream) {
        impl[name] = instrumentServerStream(name, streamHandler, {
          logger,
          quiet: QUIET,
          ...(options.metrics ? { metrics: options.metrics } : {}),
        });
        continue;
      }
      if (method.requestStream || method.responseStream) {
        impl[name] = (call: grpc.ServerWritableStream<unknown, unknown>) => {
          call.emit("error", {
            code: grpc.status.UNIMPLEMENTED,
            details: `${name} is not implemented by ocid`,
          });
        };
        continue;
      }
      const known = handlers[name];
      const check = requestChecks.get(name);
      const handler = !known ? unimplemented(name) : check ? checked(known, check) : known;
      impl[name] = instrument(name, handler, {
        logger,
        quiet: QUIET,
        ...(options.metrics ? { metrics: options.metrics } : {}),
        ...(options.memory ? { memory: options.memory } : {}),
      });
    }
    server.addService(service, impl);
  }
  return server;
}

/**
 * Refuses a request holding a value no handler can take (an enum value the CRI does not name, a
 * NUL byte in a string: {@linkcode RequestCheck}) with INVALID_ARGUMENT before `handler` sees it.
 * Passed on, an unknown stop signal ended as a number in config.json and a NUL in a working dir
 * or command in runc's exec, both failing as INTERNAL; a NUL in a path failed Deno's file calls.
 */
function checked(handler: UnaryHandler, check: RequestCheck): UnaryHandler {
  return (request, ctx) => {
    const found = check(request);
    if (found) return Promise.reject(new InvalidArgumentError(`Invalid request: ${found}`));
    return handler(request, ctx);
  };
}

function unimplemented(name: string): UnaryHandler {
  return () => Promise.reject(new OcidError("UNIMPLEMENTED", `${name} is not implemented by ocid`));
}
