/**
 * A small leveled logger writing one line per record to stderr:
 * `2026-11-27T03:00:00.000Z info RunPodSandbox done id=abc ms=41`.
 *
 * @module
 */

/** Log levels, least to most severe. */
export type LogLevel = "debug" | "info" | "warn" | "error";
const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** A logger; `fields` are appended as `key=value`. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

function format(v: unknown): string {
  if (typeof v === "string") return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(v.message);
  return JSON.stringify(v);
}

/** A logger whose level can change (a configuration reload). */
export interface LeveledLogger extends Logger {
  setLevel(level: LogLevel): void;
}

/** Creates a logger printing records at `level` and above to stderr. */
export function createLogger(level: LogLevel = "info"): LeveledLogger {
  let min = ORDER[level];
  const encoder = new TextEncoder();
  const write = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < min) return;
    let line = `${new Date().toISOString()} ${lvl} ${msg}`;
    if (fields) {
      for (const [k, v] of Object.entries(fields)) {
        if (v !== undefined) line += ` ${k}=${format(v)}`;
      }
    }
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    setLevel(next) {
      min = ORDER[next];
    },
  };
}

/** A logger that drops everything; for tests. */
export const nullLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
