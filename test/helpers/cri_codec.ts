/**
 * Encodes CRI requests and decodes CRI responses as raw protobuf bytes, for clients that are
 * not grpc-js (the Go client of `go_client.ts`). It reuses the serializers of the grpc-js
 * service definitions that `loadCri()` builds, so the bytes and the decoded shapes are exactly
 * what ocid's own server and clients use (`src/cri/types.ts`).
 *
 * @example Call RunPodSandbox through the Go client
 * ```ts
 * const out = await goInvoke(bin, socket, criPath("Version"), encodeRequest("Version", {}));
 * const { runtime_name } = decodeResponse("Version", out.response);
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { criMethod, type CriRpcs, type UnaryRpcName } from "../../src/cri/proto.ts";

/**
 * The full gRPC method path of a CRI RPC.
 *
 * @param method RPC name, e.g. `"RunPodSandbox"`.
 * @returns The path, e.g. `/runtime.v1.RuntimeService/RunPodSandbox`.
 * @throws {TypeError} When neither CRI service has the RPC.
 */
export function criPath(method: keyof CriRpcs): string {
  return criMethod(method).path;
}

/**
 * Serializes a CRI request message.
 *
 * @param method RPC name whose request type to use.
 * @param request The request (any subset of fields; the rest take proto3 defaults).
 * @returns The protobuf bytes.
 * @throws {TypeError} When the RPC is unknown.
 * @throws {Error} When a field does not fit its type (protobufjs' message).
 */
export function encodeRequest<M extends UnaryRpcName>(
  method: M,
  request: CriRpcs[M]["requestInit"],
): Uint8Array {
  return new Uint8Array(criMethod(method).requestSerialize(request));
}

/**
 * Deserializes a CRI response message (an empty buffer is a message with default values).
 *
 * @param method RPC name whose response type to use.
 * @param bytes The protobuf bytes.
 * @returns The decoded response, shaped like grpc-js clients of ocid see it.
 * @throws {TypeError} When the RPC is unknown.
 * @throws {Error} When the bytes are not a valid message of that type.
 */
export function decodeResponse<M extends UnaryRpcName>(
  method: M,
  bytes: Uint8Array,
): CriRpcs[M]["response"] {
  return criMethod(method).responseDeserialize(Buffer.from(bytes)) as CriRpcs[M]["response"];
}

/**
 * Deserializes a CRI request message (the reverse of {@linkcode encodeRequest}).
 *
 * @param method RPC name whose request type to use.
 * @param bytes The protobuf bytes.
 * @returns The decoded request.
 */
export function decodeRequest<M extends UnaryRpcName>(
  method: M,
  bytes: Uint8Array,
): CriRpcs[M]["request"] {
  return criMethod(method).requestDeserialize(Buffer.from(bytes)) as CriRpcs[M]["request"];
}
