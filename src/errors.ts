/**
 * Domain errors. Handlers and modules throw these; the server maps them to gRPC status codes
 * in one place (`src/server/instrument.ts`). Anything else becomes INTERNAL.
 *
 * Messages are in sentence case, no final period, values quoted: `Cannot find pod "abc"`.
 *
 * @module
 */

/** Base class of every error that maps to a specific gRPC status. */
export class OcidError extends Error {
  /** The gRPC status name this error maps to. */
  readonly code: GrpcCodeName;
  constructor(code: GrpcCodeName, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = "OcidError";
  }
}

/** gRPC status names that domain errors may carry. */
export type GrpcCodeName =
  | "INVALID_ARGUMENT"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "FAILED_PRECONDITION"
  | "UNAVAILABLE"
  | "DEADLINE_EXCEEDED"
  | "UNAUTHENTICATED"
  | "PERMISSION_DENIED"
  | "RESOURCE_EXHAUSTED"
  | "UNIMPLEMENTED"
  | "INTERNAL"
  | "CANCELLED"
  | "UNKNOWN";

/** A request names something that does not exist. */
export class NotFoundError extends OcidError {
  constructor(message: string, options?: ErrorOptions) {
    super("NOT_FOUND", message, options);
    this.name = "NotFoundError";
  }
}

/** A request would create something that already exists (a reserved name, a duplicate ID). */
export class AlreadyExistsError extends OcidError {
  constructor(message: string, options?: ErrorOptions) {
    super("ALREADY_EXISTS", message, options);
    this.name = "AlreadyExistsError";
  }
}

/** A request is malformed or asks for something that can never be valid. */
export class InvalidArgumentError extends OcidError {
  constructor(message: string, options?: ErrorOptions) {
    super("INVALID_ARGUMENT", message, options);
    this.name = "InvalidArgumentError";
  }
}

/** A request is valid but the object is not in a state that allows it. */
export class FailedPreconditionError extends OcidError {
  constructor(message: string, options?: ErrorOptions) {
    super("FAILED_PRECONDITION", message, options);
    this.name = "FailedPreconditionError";
  }
}

/**
 * A registry that cannot be reached, answers 5xx or stops sending: the kubelet's
 * `RegistryUnavailable` (k8s.io/cri-api `pkg/errors`). The kubelet knows that reason only from
 * the start of the message of an UNKNOWN status (the one code whose name it strips), and shows
 * it as the container's waiting reason instead of the generic `ErrImagePull`, as under CRI-O.
 */
export class RegistryUnavailableError extends OcidError {
  constructor(message: string, options?: ErrorOptions) {
    super("UNKNOWN", `RegistryUnavailable: ${message}`, options);
    this.name = "RegistryUnavailableError";
  }
}

/**
 * An image the node's signature policy does not accept: the kubelet's
 * `SignatureValidationFailed`, carried as {@linkcode RegistryUnavailableError} carries its reason.
 */
export class SignatureValidationError extends OcidError {
  constructor(message: string, options?: ErrorOptions) {
    super("UNKNOWN", `SignatureValidationFailed: ${message}`, options);
    this.name = "SignatureValidationError";
  }
}

/** An external program (runc, conmon, a CNI plugin) failed; carries its stderr in the message. */
export class CommandError extends Error {
  readonly exitCode: number;
  readonly stderr: string;
  constructor(command: string, exitCode: number, stderr: string, options?: ErrorOptions) {
    super(`Command "${command}" failed with exit code ${exitCode}: ${stderr.trim()}`, options);
    this.name = "CommandError";
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/**
 * For `.catch()` of a removal: a missing file or dir is what the removal wanted; any other
 * error is thrown on.
 */
export function ignoreNotFound(err: unknown): void {
  if (!(err instanceof Deno.errors.NotFound)) throw err;
}
