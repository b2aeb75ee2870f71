/**
 * Signal names and numbers as the CRI, images and runtimes spell them. A stop signal arrives as
 * a CRI `Signal` name (`SIGUSR1`, `SIGRTMINPLUS3`) or an image's `StopSignal` (`SIGUSR1`,
 * `USR1`, `10`, `SIGRTMIN+3`); runc takes a standard name or a number, never a real-time name,
 * and ContainerStatus reports it back as a CRI `Signal` name.
 *
 * @module
 */
import type { Signal } from "./cri/types.ts";

/** The standard Linux signals by number (x86, arm and most others; not alpha, mips, sparc). */
export const SIGNALS: Readonly<Record<number, Deno.Signal>> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  4: "SIGILL",
  5: "SIGTRAP",
  6: "SIGABRT",
  7: "SIGBUS",
  8: "SIGFPE",
  9: "SIGKILL",
  10: "SIGUSR1",
  11: "SIGSEGV",
  12: "SIGUSR2",
  13: "SIGPIPE",
  14: "SIGALRM",
  15: "SIGTERM",
  16: "SIGSTKFLT",
  17: "SIGCHLD",
  18: "SIGCONT",
  19: "SIGSTOP",
  20: "SIGTSTP",
  21: "SIGTTIN",
  22: "SIGTTOU",
  23: "SIGURG",
  24: "SIGXCPU",
  25: "SIGXFSZ",
  26: "SIGVTALRM",
  27: "SIGPROF",
  28: "SIGWINCH",
  29: "SIGIO",
  30: "SIGPWR",
  31: "SIGSYS",
};

/** glibc's real-time range (the kernel's 32 and 33 are the C library's own). */
const RTMIN = 34;
const RTMAX = 64;

/** The other names of three standard signals. */
const ALIASES: Readonly<Record<string, number>> = { SIGIOT: 6, SIGCLD: 17, SIGPOLL: 29 };

const BY_NAME: ReadonlyMap<string, number> = new Map([
  ...Object.entries(SIGNALS).map(([n, name]): [string, number] => [name, Number(n)]),
  ...Object.entries(ALIASES),
]);

/**
 * The number of a signal given as `TERM`, `SIGTERM`, `15` (any case), or a real-time one as
 * `RTMIN`, `SIGRTMIN+3`, `RTMAX-2` or the CRI's `SIGRTMINPLUS3` / `SIGRTMAXMINUS2`; undefined
 * for anything else.
 */
export function signalNumber(signal: string): number | undefined {
  const s = signal.trim().toUpperCase();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    return n >= 1 && n <= RTMAX ? n : undefined;
  }
  const name = s.startsWith("SIG") ? s : `SIG${s}`;
  const standard = BY_NAME.get(name);
  if (standard !== undefined) return standard;
  const rt = /^SIG(RTMIN|RTMAX)(?:(\+|-|PLUS|MINUS)(\d+))?$/.exec(name);
  if (!rt) return undefined;
  const [, base, op, offset] = rt;
  const n = base === "RTMIN" ? RTMIN : RTMAX;
  if (op === undefined) return n;
  const up = op === "+" || op === "PLUS";
  if ((base === "RTMIN") !== up) return undefined; // RTMIN-1, RTMAX+1
  const at = up ? n + Number(offset) : n - Number(offset);
  return at >= RTMIN && at <= RTMAX ? at : undefined;
}

/**
 * A signal as runc takes it: a standard one by name (`SIGUSR1`), a real-time one by number;
 * the input unchanged when it is no signal {@linkcode signalNumber} knows.
 */
export function runtimeSignal(signal: string): string {
  const n = signalNumber(signal);
  if (n === undefined) return signal;
  return SIGNALS[n] ?? String(n);
}

/**
 * The CRI `Signal` name of a signal ({@linkcode signalNumber}'s forms), or `RUNTIME_DEFAULT` for
 * one it does not know.
 */
export function criSignal(signal: string): Signal {
  const n = signalNumber(signal);
  if (n === undefined) return "RUNTIME_DEFAULT";
  const standard = SIGNALS[n];
  if (standard !== undefined) return standard as Signal;
  if (n === RTMIN) return "SIGRTMIN";
  if (n === RTMAX) return "SIGRTMAX";
  return (n - RTMIN <= 15 ? `SIGRTMINPLUS${n - RTMIN}` : `SIGRTMAXMINUS${RTMAX - n}`) as Signal;
}
