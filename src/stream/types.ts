/**
 * The streaming requests the CRI RPCs hand to the streaming server, already validated, and
 * the seam through which the RPC handlers reach it.
 *
 * @module
 */

/** An Exec the client will connect to. */
export interface ExecStreamRequest {
  kind: "exec";
  /** Full container id. */
  containerId: string;
  cmd: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** The API server's audit ID of the request (`audit_request_id`), logged with the session. */
  auditRequestId?: string;
}

/** An Attach the client will connect to. */
export interface AttachStreamRequest {
  kind: "attach";
  /** Full container id. */
  containerId: string;
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** The API server's audit ID of the request (`audit_request_id`), logged with the session. */
  auditRequestId?: string;
}

/** A PortForward the client will connect to. */
export interface PortForwardStreamRequest {
  kind: "portforward";
  /** Full sandbox id. */
  sandboxId: string;
  /** Ports the request named; informational (each stream names its port). */
  ports: number[];
}

/** Any streaming request. */
export type StreamRequest = ExecStreamRequest | AttachStreamRequest | PortForwardStreamRequest;

/** What the RPC handlers use: a single-use URL for a validated request. */
export interface StreamUrls {
  /**
   * Stores the request under a new token.
   *
   * @returns `http://<address>:<port>/<kind>/<token>`
   * @throws {OcidError} RESOURCE_EXHAUSTED when too many requests wait.
   */
  url(request: StreamRequest): string;
}

/** The runtime of a container's RuntimeClass handler, as an exec session runs it. */
export interface ExecRuntime {
  /** The runtime's file, e.g. `/usr/sbin/runc`. */
  path: string;
  /** The runtime's `--root`. */
  root: string;
  /**
   * The path to run it by: the daemon's sealed copy of runc (`../oci/sealed_binary.ts`, as the
   * runtime's own create and ExecSync run it), else the file. Never throws. @default `path`
   */
  launchPath?: () => Promise<string>;
}

/** The container to exec in. */
export interface ExecTarget {
  id: string;
  bundle: string;
  /** The runtime of the container's RuntimeClass handler; absent: the server's default. */
  runtime?: ExecRuntime;
}
