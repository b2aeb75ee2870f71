/**
 * conmon's control fifo `<bundle>/ctl`: one line `"<type> <h> <w>\n"` per message; type 1
 * resizes the terminal, type 2 reopens the log file. The fifo is opened non-blocking, so a
 * missing reader (conmon gone) fails at once instead of hanging.
 *
 * @module
 */
import * as fs from "node:fs";
import { join } from "node:path";
import { FailedPreconditionError } from "../errors.ts";

/** Message types of the ctl fifo. */
export const CtlMessage = { resize: 1, reopenLog: 2 } as const;

/**
 * Writes one message to `<bundle>/ctl`.
 *
 * @param bundle The container's bundle dir.
 * @param message Type and, for resize, height and width.
 * @throws {FailedPreconditionError} When no conmon reads the fifo (ENXIO) or it is missing.
 */
export function writeCtl(
  bundle: string,
  message: { type: number; height?: number; width?: number },
): void {
  const path = join(bundle, "ctl");
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === "ENXIO" ? "conmon is not running" : `${code ?? err}`;
    throw new FailedPreconditionError(`Cannot write to control fifo "${path}": ${why}`, {
      cause: err,
    });
  }
  try {
    fs.writeSync(fd, `${message.type} ${message.height ?? 0} ${message.width ?? 0}\n`);
  } finally {
    fs.closeSync(fd);
  }
}
