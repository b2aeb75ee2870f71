/**
 * What the streaming server uses of the daemon ({@linkcode StreamServerDeps}), apart from the
 * server so that its lazily loaded sessions (`./session.ts`) can name it too.
 *
 * @module
 */
import type { AttachWarmer } from "../cgroups/attach_warm.ts";
import type { Logger } from "../log.ts";
import type { ExecFiles } from "../oci/exec_files.ts";
import type { ProcessTemplates } from "../oci/process_templates.ts";
import type { AttachTarget } from "./attach.ts";
import type { ExecTarget } from "./types.ts";
import type { PortDialer } from "./port_dialer.ts";
import type { StreamSpawner } from "./spawn.ts";
import type { TokenCacheOptions } from "./token_cache.ts";
import type { TtyExec } from "./tty_exec.ts";

/** A container as the streaming server needs it. */
export interface StreamContainer extends ExecTarget, Omit<AttachTarget, "bundle"> {
  running: boolean;
}

/** A pod as the streaming server needs it. */
export interface StreamSandbox {
  id: string;
  ready: boolean;
  /** The pod's netns mount; absent or "" with host networking. */
  netnsPath?: string;
}

/** What the streaming server uses. */
export interface StreamServerDeps {
  log: Logger;
  /** runc or crun. */
  runtimePath: string;
  /** The runtime's `--root`. */
  runtimeRoot: string;
  /**
   * Where exec sessions put their process spec and pid file: the daemon's exec files, shared
   * with ExecSync and cleared by the sweep.
   */
  execFiles: ExecFiles;
  /** The containers' processes, the templates of their execs (shared with ExecSync). */
  processes: ProcessTemplates;
  /** Warmed as an exec session begins (`../cgroups/attach_warm.ts`). @default none */
  attachWarmer?: AttachWarmer;
  /** A container by full id, or undefined when gone. */
  container(id: string): StreamContainer | undefined;
  /** A pod by full id, or undefined when gone. */
  sandbox(id: string): StreamSandbox | undefined;
  /** @default denoSpawner */
  spawner?: StreamSpawner;
  /** Runs tty execs. @default a `PtyExec` on a host pseudo-terminal */
  tty?: TtyExec;
  /** @default createNetnsDialer, or createHostDialer without a netns */
  dialer?: (sandbox: StreamSandbox) => PortDialer;
  /** Token cache settings (tests: a fake clock). */
  tokens?: TokenCacheOptions;
  /** Attach: time between looks at the log file. @default 100 */
  attachPollMs?: number;
  /**
   * Time a client gets to send its request headers before it is dropped (slowloris).
   * @default 30000
   */
  headersTimeoutMs?: number;
  /**
   * Time a finished session gets to hand its last frames to a client that stopped reading,
   * before the connection is dropped. @default 10000
   */
  closeGraceMs?: number;
  /**
   * Time an established session may go without a frame either way before its connection is
   * closed (and its process killed or its pod connections closed); kubelet's
   * `StreamIdleTimeout`. 0 never. @default `DEFAULT_IDLE_TIMEOUT_MS` of `./server.ts` (4 h)
   */
  idleTimeoutMs?: number;
  /**
   * TCP connections open at once (HTTP and upgraded); more are answered 503 and closed.
   * @default `DEFAULT_MAX_CONNECTIONS` of `./server.ts`
   */
  maxConnections?: number;
}
