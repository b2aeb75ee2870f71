/**
 * Loads the CRI v1 definition (`proto/api.proto`) for `@grpc/grpc-js`, and offers small typed
 * client helpers (tests and the benchmark talk to ocid through them).
 *
 * Decoding follows {@linkcode PROTO_LOADER_OPTIONS}; the resulting shapes are the types in
 * `./types.ts`.
 *
 * @example Serve and call
 * ```ts
 * const { runtimeService } = loadCri();
 * server.addService(runtimeService, handlers);
 *
 * using clients = criClients("/run/ocid/ocid.sock");
 * const { runtime_name } = await call(clients.runtime, "Version", {}, { deadlineMs: 5_000 });
 * ```
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import protobuf from "protobufjs";
import { fileURLToPath } from "node:url";
import type { ImageServiceRpcs, RuntimeServiceRpcs } from "./types.ts";

/**
 * How messages are decoded (proto-loader's options; protobufjs's `toObject` options plus
 * `keepCase`), everywhere; `./types.ts` describes the output.
 */
export const PROTO_LOADER_OPTIONS: protobuf.IConversionOptions & { keepCase: boolean } = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Every RPC of both CRI services, by name (the names do not overlap). */
export type CriRpcs = RuntimeServiceRpcs & ImageServiceRpcs;

/** Name of a CRI RPC that answers with a single response. */
export type UnaryRpcName = {
  [K in keyof CriRpcs]: CriRpcs[K]["responseStream"] extends false ? K : never;
}[keyof CriRpcs];

/** Name of a CRI RPC that answers with a stream of responses. */
export type StreamRpcName = Exclude<keyof CriRpcs, UnaryRpcName>;

// Records keyed by the generated RPC maps, so a missing or extra name fails type-checking.
const runtimeRpcs: Record<keyof RuntimeServiceRpcs, true> = {
  Version: true,
  RunPodSandbox: true,
  StopPodSandbox: true,
  RemovePodSandbox: true,
  PodSandboxStatus: true,
  ListPodSandbox: true,
  StreamPodSandboxes: true,
  CreateContainer: true,
  StartContainer: true,
  StopContainer: true,
  RemoveContainer: true,
  ListContainers: true,
  StreamContainers: true,
  ContainerStatus: true,
  UpdateContainerResources: true,
  ReopenContainerLog: true,
  ExecSync: true,
  Exec: true,
  Attach: true,
  PortForward: true,
  ContainerStats: true,
  ListContainerStats: true,
  StreamContainerStats: true,
  PodSandboxStats: true,
  ListPodSandboxStats: true,
  StreamPodSandboxStats: true,
  UpdateRuntimeConfig: true,
  Status: true,
  CheckpointContainer: true,
  GetContainerEvents: true,
  ListMetricDescriptors: true,
  ListPodSandboxMetrics: true,
  StreamPodSandboxMetrics: true,
  RuntimeConfig: true,
  UpdatePodSandboxResources: true,
};
const imageRpcs: Record<keyof ImageServiceRpcs, true> = {
  ListImages: true,
  StreamImages: true,
  ImageStatus: true,
  PullImage: true,
  RemoveImage: true,
  ImageFsInfo: true,
};

/** RPC names of `runtime.v1.RuntimeService`, in proto order. */
export const RUNTIME_SERVICE_RPCS = Object.keys(
  runtimeRpcs,
) as readonly (keyof RuntimeServiceRpcs)[];

/** RPC names of `runtime.v1.ImageService`, in proto order. */
export const IMAGE_SERVICE_RPCS = Object.keys(imageRpcs) as readonly (keyof ImageServiceRpcs)[];

/** The loaded CRI definition. */
export interface CriDefinition {
  /** For `server.addService(runtimeService, handlers)`. */
  runtimeService: grpc.ServiceDefinition;
  /** For `server.addService(imageService, handlers)`. */
  imageService: grpc.ServiceDefinition;
  /**
   * By RPC name, the check of a decoded request for values no handler can take
   * ({@linkcode requestCheck}); RPCs whose requests hold no enum or string have none.
   */
  requestChecks: ReadonlyMap<string, RequestCheck>;
}

/**
 * Finds, in a decoded message, a value no reader of it can take, and says where:
 * - an enum value the definition does not name (`config.stop_signal holds 99, which
 *   runtime.v1.Signal does not name`): decoding keeps it as its number (protobuf keeps unknown
 *   enum values), where every reader expects one of the names;
 * - a NUL byte in a string (`config.working_dir holds a NUL byte`): the strings of a request end
 *   up as paths, argv, environment and file contents, where the C library ends them at a NUL;
 *   the values of `annotations` maps, which are only stored and handed on, are let through.
 *
 * Undefined when there is none.
 */
export type RequestCheck = (message: unknown) => string | undefined;

/**
 * The {@linkcode RequestCheck} of messages of `type`, or undefined when no field of it, at any
 * depth, is an enum or a string (nothing to walk).
 *
 * @param built The checks made so far, by type: pass one map for many types so that a type they
 *   share (PodSandboxConfig in RunPodSandbox, CreateContainer and PullImage) is built once.
 */
export function requestCheck(
  type: protobuf.Type,
  built: Map<protobuf.Type, RequestCheck | undefined> = new Map(),
): RequestCheck | undefined {
  return checkOf(type, built);
}

type FieldCheck = (v: unknown, path: string) => string | undefined;

const noNul: FieldCheck = (v, path) =>
  typeof v === "string" && v.includes("\0") ? `${path} holds a NUL byte` : undefined;

function checkOf(
  type: protobuf.Type,
  seen: Map<protobuf.Type, RequestCheck | undefined>,
): RequestCheck | undefined {
  if (seen.has(type)) return seen.get(type);
  // A type that holds itself is walked through this forwarder.
  const self: { check: RequestCheck | undefined } = { check: undefined };
  seen.set(type, (m) => self.check?.(m));
  const fields: { name: string; check: FieldCheck }[] = [];
  for (const field of type.fieldsArray) {
    const resolved = field.resolve().resolvedType;
    let check: FieldCheck | undefined;
    if (resolved instanceof protobuf.Enum) {
      const name = resolved.fullName.slice(1);
      check = (v, path) =>
        typeof v === "string"
          ? undefined
          : `${path} holds ${String(v)}, which ${name} does not name`;
    } else if (resolved instanceof protobuf.Type) {
      const inner = checkOf(resolved, seen);
      if (inner) check = (v, path) => prefixed(path, inner(v));
    } else if (field.type === "string") {
      check = field instanceof protobuf.MapField && field.name === "annotations"
        ? () => undefined
        : noNul;
    }
    if (field instanceof protobuf.MapField) {
      fields.push({ name: field.name, check: eachEntry(check) });
    } else if (check) {
      fields.push({ name: field.name, check: field.repeated ? eachItem(check) : check });
    }
  }
  self.check = fields.length === 0 ? undefined : (message) => {
    if (typeof message !== "object" || message === null) return undefined;
    for (const { name, check } of fields) {
      const value = (message as Record<string, unknown>)[name];
      if (value === undefined || value === null) continue;
      const found = check(value, name);
      if (found) return found;
    }
    return undefined;
  };
  seen.set(type, self.check);
  return self.check;
}

/** Checks every key of a map (strings: no NUL) and, with `check`, every value. */
function eachEntry(check: FieldCheck | undefined): FieldCheck {
  return (v, path) => {
    if (typeof v !== "object" || v === null) return undefined;
    for (const [key, item] of Object.entries(v)) {
      const at = `${path}[${JSON.stringify(key)}]`;
      const found = noNul(key, `${path} key ${JSON.stringify(key)}`) ?? check?.(item, at);
      if (found) return found;
    }
    return undefined;
  };
}

/** Checks every item of a repeated field. */
function eachItem(check: FieldCheck): FieldCheck {
  return (v, path) => {
    if (!Array.isArray(v)) return check(v, path);
    for (const [i, item] of v.entries()) {
      const found = check(item, `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  };
}

function prefixed(path: string, found: string | undefined): string | undefined {
  return found === undefined ? undefined : `${path}.${found}`;
}

/**
 * The file system path of `proto/api.proto`, found relative to this module so that it also
 * resolves inside a `deno compile --include proto` binary.
 *
 * @returns An absolute path.
 */
export function criProtoPath(): string {
  return fileURLToPath(new URL("../../proto/api.proto", import.meta.url));
}

let loaded: CriDefinition | undefined;

/**
 * Loads `proto/api.proto` and builds the grpc-js service definitions, decoding with
 * {@linkcode PROTO_LOADER_OPTIONS}. The result is cached: later calls return the same objects.
 *
 * The definitions are what `@grpc/proto-loader` would make (the same protobufjs `fromObject`,
 * `encode`, `decode` and `toObject` calls) without its reflection data: proto-loader also
 * serializes a descriptor of the whole file for every type, which only the type generator reads
 * (`./proto_descriptors.ts`). Measured: 7 MiB less RSS in a process that loads grpc-js and the
 * definition; 3 to 4 MiB less for an idle daemon, about 1 MiB after a pod lifecycle.
 *
 * @returns The service definitions of both CRI services.
 * @throws {Error} When the proto file cannot be read or parsed.
 */
export function loadCri(): CriDefinition {
  if (loaded) return loaded;
  const path = criProtoPath();
  const root = new protobuf.Root();
  try {
    root.loadSync(path, { keepCase: PROTO_LOADER_OPTIONS.keepCase });
    root.resolveAll();
  } catch (cause) {
    throw new Error(`Cannot load the CRI definition "${path}": ${String(cause)}`, { cause });
  }
  const services = [
    root.lookupService("runtime.v1.RuntimeService"),
    root.lookupService("runtime.v1.ImageService"),
  ] as const;
  const requestChecks = new Map<string, RequestCheck>();
  const built = new Map<protobuf.Type, RequestCheck | undefined>();
  for (const method of services.flatMap((s) => s.methodsArray)) {
    const check = requestCheck(method.resolvedRequestType!, built);
    if (check) requestChecks.set(method.name, check);
  }
  loaded = {
    runtimeService: serviceDefinition(services[0]),
    imageService: serviceDefinition(services[1]),
    requestChecks,
  };
  return loaded;
}

/** A grpc-js service definition of a protobufjs service, as proto-loader builds it. */
function serviceDefinition(service: protobuf.Service): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methodsArray) {
    const request = method.resolvedRequestType!;
    const response = method.resolvedResponseType!;
    definition[method.name] = {
      path: `/${service.fullName.slice(1)}/${method.name}`,
      requestStream: method.requestStream === true,
      responseStream: method.responseStream === true,
      requestSerialize: serializer(request),
      requestDeserialize: deserializer(request),
      responseSerialize: serializer(response),
      responseDeserialize: deserializer(response),
      originalName: method.name[0]!.toLowerCase() + method.name.slice(1),
    };
  }
  return definition;
}

function serializer(type: protobuf.Type): (value: unknown) => Buffer {
  const list = listField(type);
  return (value) => {
    if (Array.isArray(value)) {
      throw new TypeError(`Cannot encode an array as message "${type.fullName.slice(1)}"`);
    }
    const object = value as Record<string, unknown>;
    if (list) {
      const bytes = encodeList(list, object[list.name]);
      if (bytes) return bytes;
    }
    return type.encode(type.fromObject(object)).finish() as Buffer;
  };
}

/**
 * The encodings of frozen List entries, by entry. A List handler answers the same frozen entry
 * for a record until the record changes (records are replaced, never changed in place), so a
 * kubelet's relist (ListContainers and ListPodSandbox every second) encodes only what changed:
 * here 200 containers took about 1 ms of the JS thread per ListContainers, most of it
 * `fromObject` and `encode` of the entries.
 */
const entryEncodings = new WeakMap<object, Uint8Array>();

/** The kept encoding of a frozen List entry, if it was encoded (for tests). */
export function encodedEntry(entry: object): Uint8Array | undefined {
  return entryEncodings.get(entry);
}

/** The field of a message whose only field is a repeated message field (a List response). */
function listField(type: protobuf.Type): protobuf.Field | undefined {
  const fields = type.fieldsArray;
  if (fields.length !== 1) return undefined;
  const field = fields[0]!;
  if (!field.repeated || field.map || !(field.resolvedType instanceof protobuf.Type)) {
    return undefined;
  }
  return field;
}

/**
 * A List response's bytes: for each entry the field's key and the entry's length-delimited
 * encoding (what protobufjs writes for the whole message), a frozen entry's encoding kept.
 *
 * @returns The bytes, or undefined for anything but an array of objects (then the whole
 * message goes through protobufjs, which answers for it: an empty message or its TypeError).
 */
function encodeList(field: protobuf.Field, items: unknown): Buffer | undefined {
  if (!Array.isArray(items) || items.length === 0) return undefined;
  if (!items.every((item) => typeof item === "object" && item !== null)) return undefined;
  const type = field.resolvedType as protobuf.Type;
  const writer = protobuf.Writer.create();
  const key = (field.id << 3) | 2;
  for (const item of items as object[]) {
    let bytes = entryEncodings.get(item);
    if (!bytes) {
      bytes = type.encode(type.fromObject(item as Record<string, unknown>)).finish();
      if (Object.isFrozen(item)) entryEncodings.set(item, bytes);
    }
    writer.uint32(key).bytes(bytes);
  }
  return writer.finish() as Buffer;
}

function deserializer(type: protobuf.Type): (bytes: Buffer) => unknown {
  return (bytes) => type.toObject(type.decode(bytes), PROTO_LOADER_OPTIONS);
}

/** Method definition of a CRI RPC (path and (de)serializers), from either service. */
export function criMethod(name: keyof CriRpcs): grpc.MethodDefinition<unknown, unknown> {
  const { runtimeService, imageService } = loadCri();
  const method = runtimeService[name] ?? imageService[name];
  if (!method) throw new TypeError(`Cannot find CRI method "${name}"`);
  return method;
}

/** grpc-js clients of both CRI services over one unix socket. */
export interface CriClients extends Disposable {
  runtime: grpc.Client;
  image: grpc.Client;
  /** Closes both clients. */
  close(): void;
}

/** Options of {@linkcode criClients}. */
export interface CriClientsOptions {
  /** Extra grpc-js channel options (e.g. `grpc.max_receive_message_length`). */
  channelOptions?: grpc.ChannelOptions;
}

/**
 * Connects grpc-js clients of RuntimeService and ImageService to a unix socket. The channel
 * connects lazily, on the first call.
 *
 * @param socketPath Absolute path of the socket, e.g. `/run/ocid/ocid.sock`.
 * @param options Channel options.
 * @returns Both clients; dispose (or `close()`) them when done.
 */
export function criClients(socketPath: string, options: CriClientsOptions = {}): CriClients {
  const { runtimeService, imageService } = loadCri();
  const target = `unix://${socketPath}`;
  const credentials = grpc.credentials.createInsecure();
  const channelOptions = { "grpc.max_receive_message_length": 64 << 20, ...options.channelOptions };
  const Runtime = grpc.makeGenericClientConstructor(runtimeService, "RuntimeService");
  const Image = grpc.makeGenericClientConstructor(imageService, "ImageService");
  const runtime = new Runtime(target, credentials, channelOptions);
  const image = new Image(target, credentials, channelOptions);
  const close = () => {
    runtime.close();
    image.close();
  };
  return { runtime, image, close, [Symbol.dispose]: close };
}

/** Options of {@linkcode call} and {@linkcode stream}. */
export interface CallOptions {
  /** Fail with DEADLINE_EXCEEDED after this many milliseconds. @default no deadline */
  deadlineMs?: number;
  /** Request metadata. */
  metadata?: grpc.Metadata;
}

function callOptions(options: CallOptions): grpc.CallOptions {
  return options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
}

/**
 * Makes a unary CRI call.
 *
 * @param client A client from {@linkcode criClients} of the service that owns `method`.
 * @param method RPC name, e.g. `"RunPodSandbox"`.
 * @param request The request (any subset of fields).
 * @param options Deadline and metadata.
 * @returns The decoded response.
 * @throws {grpc.ServiceError} When the call fails; `code` is the gRPC status.
 */
export function call<M extends UnaryRpcName>(
  client: grpc.Client,
  method: M,
  request: CriRpcs[M]["requestInit"],
  options: CallOptions = {},
): Promise<CriRpcs[M]["response"]> {
  const def = criMethod(method);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      request,
      options.metadata ?? new grpc.Metadata(),
      callOptions(options),
      (error, response) => {
        if (error) reject(error);
        else resolve(response as CriRpcs[M]["response"]);
      },
    );
  });
}

/** Options of {@linkcode stream}. */
export interface StreamOptions extends CallOptions {
  /** Cancels the call (the iterator then ends with a CANCELLED error). */
  signal?: AbortSignal;
}

/**
 * Makes a server-streaming CRI call (e.g. `GetContainerEvents`, `StreamContainers`).
 *
 * @param client A client from {@linkcode criClients} of the service that owns `method`.
 * @param method RPC name.
 * @param request The request.
 * @param options Deadline, metadata and an abort signal.
 * @returns The decoded responses, in order; ends when the server closes the stream.
 * @throws {grpc.ServiceError} From the iterator when the call fails.
 */
export async function* stream<M extends StreamRpcName>(
  client: grpc.Client,
  method: M,
  request: CriRpcs[M]["requestInit"],
  options: StreamOptions = {},
): AsyncGenerator<CriRpcs[M]["response"], void, undefined> {
  const def = criMethod(method);
  const call = client.makeServerStreamRequest(
    def.path,
    def.requestSerialize,
    def.responseDeserialize,
    request,
    options.metadata ?? new grpc.Metadata(),
    callOptions(options),
  );
  const cancel = () => call.cancel();
  options.signal?.addEventListener("abort", cancel, { once: true });
  try {
    for await (const response of call) yield response as CriRpcs[M]["response"];
  } finally {
    options.signal?.removeEventListener("abort", cancel);
    call.cancel();
  }
}
