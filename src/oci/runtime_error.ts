/**
 * The error thrown when the OCI runtime (or conmon on its behalf) fails.
 *
 * @module
 */

/** Fields of {@linkcode OciRuntimeError}. */
export interface OciRuntimeErrorInit {
  /** Runtime name, e.g. `runc`. */
  runtime: string;
  /** The verb that failed: `create`, `start`, `kill`, `exec`, ... */
  verb: string;
  /** Container id; empty for verbs about no container (`list`). */
  id: string;
  /** What the runtime printed on stderr (or conmon reported). */
  stderr: string;
}

/**
 * A runtime verb failed. The message names the runtime, the verb, the container and the
 * runtime's own words: `runc start "abc" failed: container not created`.
 */
export class OciRuntimeError extends Error {
  readonly runtime: string;
  readonly verb: string;
  readonly id: string;
  readonly stderr: string;
  constructor(init: OciRuntimeErrorInit, options?: ErrorOptions) {
    const what = init.id
      ? `${init.runtime} ${init.verb} "${init.id}"`
      : `${init.runtime} ${init.verb}`;
    super(`${what} failed: ${cleanStderr(init.stderr) || "no error output"}`, options);
    this.name = "OciRuntimeError";
    this.runtime = init.runtime;
    this.verb = init.verb;
    this.id = init.id;
    this.stderr = init.stderr;
  }
}

/**
 * Shortens runc's logrus lines (`time="..." level=error msg="x"`) to their `msg` parts.
 *
 * @param stderr Raw stderr of the runtime.
 * @returns The messages joined by `; `, or the trimmed input when it has no logrus lines.
 */
export function cleanStderr(stderr: string): string {
  const msgs: string[] = [];
  for (const line of stderr.split("\n")) {
    const m = /\blevel=(?:error|fatal|warning)\s+msg="((?:[^"\\]|\\.)*)"/.exec(line);
    if (m?.[1] !== undefined) msgs.push(m[1].replace(/\\(.)/g, "$1"));
  }
  return msgs.length > 0 ? msgs.join("; ") : stderr.trim();
}

/** True when the runtime's stderr says the container does not exist. */
export function isNotExist(stderr: string): boolean {
  // runc: "container does not exist"; crun: "error opening file `<root>/<id>/status`: No such
  // file or directory".
  return /does not exist|\/status`?: no such file or directory/i.test(stderr);
}
