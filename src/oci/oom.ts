/**
 * oom_score_adj limits. Without CAP_SYS_RESOURCE a process may not lower a child's
 * `oom_score_adj` below its own; runc then fails with "can't get final child's PID from
 * pipe: EOF". ocid clamps the requested value instead.
 *
 * @module
 */

/** Bit of CAP_SYS_RESOURCE in the capability sets of /proc/<pid>/status. */
export const CAP_SYS_RESOURCE = 24;

/**
 * Reads this process's `oom_score_adj`.
 *
 * @returns A value in [-1000, 1000]; 0 when the file cannot be read.
 */
export function ownOomScoreAdj(): number {
  try {
    const n = Number.parseInt(Deno.readTextFileSync("/proc/self/oom_score_adj").trim(), 10);
    return Number.isFinite(n) ? n : 0;
  } catch {
    return 0;
  }
}

/**
 * Tells whether this process has CAP_SYS_RESOURCE in its effective set.
 *
 * @returns The bit of `CapEff` in /proc/self/status; false when it cannot be read.
 */
export function hasCapSysResource(): boolean {
  try {
    return capEffHas(Deno.readTextFileSync("/proc/self/status"), CAP_SYS_RESOURCE);
  } catch {
    return false;
  }
}

/**
 * Tells whether a /proc/<pid>/status text has capability `bit` in `CapEff`. Pure.
 *
 * @param status Text of /proc/<pid>/status.
 * @param bit Capability number.
 * @returns True when the bit is set.
 */
export function capEffHas(status: string, bit: number): boolean {
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  if (!m?.[1]) return false;
  return ((BigInt(`0x${m[1]}`) >> BigInt(bit)) & 1n) === 1n;
}

/**
 * Clamps a requested oom_score_adj. Pure.
 *
 * @param requested What the container asks for (clamped into [-1000, 1000] first).
 * @param own The daemon's own oom_score_adj.
 * @param restrict Whether to keep the value at or above `own` (no CAP_SYS_RESOURCE).
 * @returns The value to put into the spec.
 */
export function clampOomScoreAdj(requested: number, own: number, restrict: boolean): number {
  const inRange = Math.min(1000, Math.max(-1000, Math.trunc(requested)));
  return restrict && inRange < own ? own : inRange;
}
