/**
 * What one check of `ocid doctor` found, and how the report prints it.
 *
 * @module
 */

/** How bad a finding is. `fail` makes `ocid doctor` exit non-zero. */
export type Severity = "ok" | "warn" | "fail";

/** One line of the report. */
export interface Finding {
  severity: Severity;
  /** The area checked: `runtime`, `cni`, `cgroups`, ... */
  check: string;
  /** What was found, with the values that matter. */
  message: string;
  /** What to do about it (warn and fail only). */
  fix?: string;
}

/** A finding, omitting an absent fix. */
export function finding(severity: Severity, check: string, message: string, fix?: string): Finding {
  return fix === undefined ? { severity, check, message } : { severity, check, message, fix };
}

/**
 * Prints findings as aligned lines: `ok    runtime    runc 1.1.5 at /usr/sbin/runc`, a
 * `fix:` line under each warn and fail, and a summary.
 *
 * @returns the report text, ending in a newline
 */
export function formatReport(findings: readonly Finding[]): string {
  const width = Math.max(8, ...findings.map((f) => f.check.length)) + 2;
  const lines: string[] = [];
  for (const f of findings) {
    lines.push(`${f.severity.padEnd(6)}${f.check.padEnd(width)}${f.message}`);
    if (f.fix && f.severity !== "ok") lines.push(`${"".padEnd(6 + width)}fix: ${f.fix}`);
  }
  const count = (s: Severity) => findings.filter((f) => f.severity === s).length;
  lines.push("");
  lines.push(`${count("ok")} ok, ${count("warn")} warn, ${count("fail")} fail`);
  return lines.join("\n") + "\n";
}

/** True when any finding failed. */
export function anyFailed(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === "fail");
}
