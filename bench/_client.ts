/**
 * A private CRI v1 client for the benchmark: loads `proto/api.proto` with
 * `@grpc/proto-loader` and promisifies the unary calls. Kept private so the harness does
 * not depend on ocid's own modules (it must be able to measure any CRI endpoint).
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";

const PROTO = fileURLToPath(new URL("../proto/api.proto", import.meta.url));

// deno-lint-ignore no-explicit-any
type Msg = Record<string, any>;

/** A promisified unary CRI call. */
export type Call = (request: Msg, options?: { timeoutMs?: number }) => Promise<Msg>;

/** The two CRI services on one connection, each method a promise-returning function. */
export interface CriClient {
  runtime: Record<string, Call>;
  image: Record<string, Call>;
  close(): void;
}

let cached: grpc.GrpcObject | undefined;

function load(): grpc.GrpcObject {
  if (!cached) {
    const def = protoLoader.loadSync(PROTO, {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    cached = grpc.loadPackageDefinition(def);
  }
  return cached;
}

function promisify(client: grpc.Client, timeoutMs: number): Record<string, Call> {
  return new Proxy({}, {
    get(_t, method: string): Call {
      // deno-lint-ignore no-explicit-any
      const fn = (client as any)[method];
      if (typeof fn !== "function") throw new TypeError(`Cannot find CRI method "${method}"`);
      return (request, options = {}) =>
        new Promise((resolve, reject) => {
          const deadline = new Date(Date.now() + (options.timeoutMs ?? timeoutMs));
          fn.call(client, request, { deadline }, (err: grpc.ServiceError | null, res: Msg) => {
            if (err) reject(new Error(`CRI ${method} failed: ${err.message}`, { cause: err }));
            else resolve(res);
          });
        });
    },
  });
}

/**
 * Connects to a CRI endpoint.
 *
 * @param endpoint `unix:///path/to.sock` or a bare socket path
 * @param options.timeoutMs default deadline of each call
 * @returns the runtime and image services
 */
export function connectCri(endpoint: string, options: { timeoutMs?: number } = {}): CriClient {
  const path = endpoint.replace(/^unix:\/\//, "");
  const target = `unix://${path}`;
  const pkg = load();
  // deno-lint-ignore no-explicit-any
  const v1 = (pkg.runtime as any).v1;
  const opts = { "grpc.max_receive_message_length": 64 << 20 };
  const rt = new v1.RuntimeService(target, grpc.credentials.createInsecure(), opts);
  const im = new v1.ImageService(target, grpc.credentials.createInsecure(), opts);
  const timeoutMs = options.timeoutMs ?? 120_000;
  return {
    runtime: promisify(rt, timeoutMs),
    image: promisify(im, timeoutMs),
    close() {
      rt.close();
      im.close();
    },
  };
}
