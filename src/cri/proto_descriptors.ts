/**
 * The CRI definition with its reflection data (descriptors of every message, enum and service),
 * loaded by `@grpc/proto-loader`. Only the type generator (`./gen_types.ts`) and the tests that
 * pin the proto read it; the daemon serves from `./proto.ts`'s lighter definitions.
 *
 * @module
 */
import * as protoLoader from "@grpc/proto-loader";
import { criProtoPath, PROTO_LOADER_OPTIONS } from "./proto.ts";

let loaded: protoLoader.PackageDefinition | undefined;

/**
 * Loads `proto/api.proto` with proto-loader and {@linkcode PROTO_LOADER_OPTIONS}; cached.
 *
 * @returns Everything proto-loader produces, keyed by full name (`runtime.v1.PodSandboxConfig`).
 * @throws {Error} When the proto file cannot be read or parsed.
 */
export function loadCriDescriptors(): protoLoader.PackageDefinition {
  if (loaded) return loaded;
  const path = criProtoPath();
  try {
    loaded = protoLoader.loadSync(path, PROTO_LOADER_OPTIONS);
  } catch (cause) {
    throw new Error(`Cannot load the CRI definition "${path}": ${String(cause)}`, { cause });
  }
  return loaded;
}
