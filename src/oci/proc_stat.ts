/**
 * The fields of `/proc/<pid>/stat` that ocid reads to tell a process it knows (conmon, runc's
 * init, an exec's group) from one that reused its pid, or from one that has ended.
 *
 * @module
 */

/** What ocid reads of `/proc/<pid>/stat`. */
export interface ProcStat {
  /** The command name (field 2, without its parentheses; it may hold spaces and parentheses). */
  comm: string;
  /** The state letter (field 3): `R`, `S`, `D`, `Z`, `X`, ... */
  state: string;
  /** The process group (field 5). */
  pgrp: number;
  /** Start time after boot, in clock ticks (field 22), as written. */
  startTime: string;
}

/** Parses the text of `/proc/<pid>/stat`. */
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(")");
  const comm = text.slice(text.indexOf("(") + 1, close);
  // After the command name: field 3 (state) onwards.
  const fields = text.slice(close + 2).split(" ");
  return {
    comm,
    state: fields[0] ?? "",
    pgrp: Number(fields[2]),
    startTime: fields[19] ?? "",
  };
}

/** `/proc/<pid>/stat` of `pid`, or undefined when there is no such process. */
export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  if (!(pid > 0)) return undefined;
  try {
    return parseProcStat(await Deno.readTextFile(`/proc/${pid}/stat`));
  } catch {
    return undefined;
  }
}

/** {@linkcode readProcStat}, synchronously. */
export function readProcStatSync(pid: number): ProcStat | undefined {
  if (!(pid > 0)) return undefined;
  try {
    return parseProcStat(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return undefined;
  }
}

/** Whether the process has ended: a zombie (`Z`) or dead (`X`). */
export function hasEnded(stat: ProcStat): boolean {
  return stat.state === "Z" || stat.state === "X";
}
