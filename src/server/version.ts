/**
 * Version: the runtime's name and version, and the CRI API version it speaks.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import { VERSION } from "../version.ts";

/** Answers Version. */
export function version(
  _deps: unknown,
  _req: cri.VersionRequest,
): Promise<cri.VersionResponseInit> {
  return Promise.resolve({
    version: "0.1.0", // the CRI Version API version
    runtime_name: "ocid",
    runtime_version: VERSION,
    runtime_api_version: "v1",
  });
}
