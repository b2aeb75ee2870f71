/**
 * Tells systemd how the daemon is doing, as `sd_notify(3)` does: under a `Type=notify` unit
 * systemd sets `NOTIFY_SOCKET`, and ocid sends `READY=1` once the CRI socket answers,
 * `STATUS=<text>` while it starts (recovery, sweep) and when serving, `STOPPING=1` on shutdown,
 * and `WATCHDOG=1` every half of `WATCHDOG_USEC` when the unit has `WatchdogSec=`. Without
 * `NOTIFY_SOCKET` nothing is sent and no socket is opened.
 *
 * `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` are removed from the environment once read,
 * so that runc, conmon and CNI plugins do not inherit them (runc acts on `NOTIFY_SOCKET`).
 *
 * @module
 */
import type { Logger } from "./log.ts";
import { sendDatagram } from "./sys/unix_datagram.ts";

/** Sends one datagram; tests pass a fake. */
export type SendDatagram = (address: string, message: string) => void;

/** The daemon's side of the systemd notification protocol. */
export interface SystemdNotifier {
  /** True when running under systemd's notification socket. */
  readonly enabled: boolean;
  /** `READY=1` (with a status line). */
  ready(status: string): void;
  /** `STATUS=<text>`. */
  status(text: string): void;
  /** `STOPPING=1`, and stops the watchdog. */
  stopping(): void;
  /** Stops the watchdog timer without telling systemd. Idempotent. */
  close(): void;
}

/** Options of {@linkcode createSystemdNotifier}. */
export interface SystemdNotifierOptions {
  /** Read and cleared: `NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`. @default Deno.env */
  env?: Pick<typeof Deno.env, "get" | "delete">;
  /** @default sendDatagram (FFI) */
  send?: SendDatagram;
  /** Failed sends are logged here (never thrown: systemd going away must not stop ocid). */
  log: Logger;
  /** Our pid, compared with `WATCHDOG_PID`. @default Deno.pid */
  pid?: number;
}

/**
 * The watchdog interval asked for by the environment: half of `WATCHDOG_USEC`, in ms.
 *
 * @returns undefined when unset, invalid, or meant for another pid
 */
export function watchdogIntervalMs(
  usec: string | undefined,
  watchdogPid: string | undefined,
  pid: number,
): number | undefined {
  if (!usec || !/^\d+$/.test(usec) || Number(usec) === 0) return undefined;
  if (watchdogPid !== undefined && watchdogPid !== "" && Number(watchdogPid) !== pid) {
    return undefined;
  }
  return Math.max(1, Math.floor(Number(usec) / 2000));
}

/**
 * Reads the notification environment and returns a notifier (a silent one without
 * `NOTIFY_SOCKET`). Starts the watchdog timer when `WATCHDOG_USEC` asks for it.
 */
export function createSystemdNotifier(options: SystemdNotifierOptions): SystemdNotifier {
  const env = options.env ?? Deno.env;
  const socket = env.get("NOTIFY_SOCKET");
  const interval = watchdogIntervalMs(
    env.get("WATCHDOG_USEC"),
    env.get("WATCHDOG_PID"),
    options.pid ?? Deno.pid,
  );
  for (const name of ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]) env.delete(name);
  if (!socket) {
    return {
      enabled: false,
      ready() {},
      status() {},
      stopping() {},
      close() {},
    };
  }
  const send = options.send ?? sendDatagram;
  let warned = false;
  const notify = (message: string) => {
    try {
      send(socket, message);
    } catch (err) {
      // Logged once: a vanished socket would otherwise log at every watchdog tick.
      if (!warned) options.log.warn("Cannot notify systemd", { socket, error: err as Error });
      warned = true;
    }
  };
  let timer: ReturnType<typeof setInterval> | undefined;
  if (interval !== undefined) {
    const t = setInterval(() => notify("WATCHDOG=1"), interval);
    Deno.unrefTimer(t);
    timer = t;
  }
  const close = () => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
  };
  // One line per field; a newline inside a status would start a new field.
  const oneLine = (text: string) => text.replace(/[\r\n]+/g, " ");
  return {
    enabled: true,
    ready: (status) => notify(`READY=1\nSTATUS=${oneLine(status)}`),
    status: (text) => notify(`STATUS=${oneLine(text)}`),
    stopping() {
      close();
      notify("STOPPING=1");
    },
    close,
  };
}
