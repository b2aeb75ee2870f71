/**
 * Watches conmon's exit dir. When a container exits conmon writes its decimal exit status to
 * `<exitDir>/<id>` (atomically: a temp file `<id>.XXXXXX` renamed over the name); the file's
 * mtime is the finish time. Watching the dir with inotify avoids polling the runtime.
 *
 * @module
 */
import { basename, join } from "node:path";
import type { Logger } from "../log.ts";
import { nullLogger } from "../log.ts";

/** How a container ended. */
export interface ExitStatus {
  /** The exit status conmon wrote (128 + signal for a signal; -1 when conmon timed it out). */
  exitCode: number;
  /** The exit file's mtime. */
  finishedAt: Date;
}

/** Options of {@linkcode ExitWatcher}. */
export interface ExitWatcherOptions {
  /** Called once per exit file. Errors it throws are logged. */
  onExit: (id: string, status: ExitStatus) => void | Promise<void>;
  logger?: Logger;
  /** Reads of an empty or partial file before giving up on it. @default 20 */
  retries?: number;
  /** Pause between those reads. @default 25 */
  retryDelayMs?: number;
}

/** Temp files of `g_file_set_contents` (`<name>.XXXXXX`). */
const TEMP_NAME = /\.[A-Za-z0-9]{6}$/;

/**
 * Reports each container exit written to an exit dir, once per file, including files that
 * were there before {@linkcode ExitWatcher.start}.
 *
 * @example
 * ```ts
 * const watcher = new ExitWatcher("/run/ocid/exits", { onExit: (id, s) => console.log(id, s) });
 * await watcher.start();
 * // ...
 * watcher.close();
 * ```
 */
export class ExitWatcher {
  #dir: string;
  #onExit: ExitWatcherOptions["onExit"];
  #logger: Logger;
  #retries: number;
  #retryDelayMs: number;
  #seen = new Set<string>();
  #pending = new Map<string, Promise<void>>();
  #watcher: Deno.FsWatcher | undefined;
  #loop: Promise<void> | undefined;
  #closed = false;

  constructor(exitDir: string, options: ExitWatcherOptions) {
    this.#dir = exitDir;
    this.#onExit = options.onExit;
    this.#logger = options.logger ?? nullLogger;
    this.#retries = options.retries ?? 20;
    this.#retryDelayMs = options.retryDelayMs ?? 25;
  }

  /**
   * Creates the dir if needed, starts watching, then reports the files already there.
   *
   * @throws {Error} When the dir cannot be created or watched.
   */
  async start(): Promise<void> {
    if (this.#watcher) return;
    await Deno.mkdir(this.#dir, { recursive: true });
    this.#watcher = Deno.watchFs(this.#dir, { recursive: false });
    this.#loop = this.#run(this.#watcher);
    for await (const entry of Deno.readDir(this.#dir)) {
      if (entry.isFile) this.#handle(entry.name);
    }
  }

  /**
   * Forgets that `id` was reported, so a new exit file for a re-created container is
   * reported again. Call it when the container is removed (and its exit file deleted).
   */
  forget(id: string): void {
    this.#seen.delete(id);
  }

  /**
   * Reads the exit file of one container directly (for recovery at start-up).
   *
   * @param id Container id.
   * @returns The status, or undefined when there is no complete exit file.
   */
  read(id: string): Promise<ExitStatus | undefined> {
    return readExitFile(join(this.#dir, id), { retries: 0, retryDelayMs: 0 });
  }

  /** Stops watching and waits for callbacks under way. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#watcher?.close();
    } catch { /* already closed */ }
    await this.#loop;
    await Promise.all(this.#pending.values());
  }

  async #run(watcher: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of watcher) {
        if (event.kind === "remove" || event.kind === "access") continue;
        for (const path of event.paths) this.#handle(basename(path));
      }
    } catch (err) {
      if (!this.#closed) this.#logger.error("Exit watcher stopped", { dir: this.#dir, err });
    }
  }

  #handle(name: string): void {
    if (this.#closed || TEMP_NAME.test(name) || this.#seen.has(name)) return;
    if (this.#pending.has(name)) return;
    const task = (async () => {
      const status = await readExitFile(join(this.#dir, name), {
        retries: this.#retries,
        retryDelayMs: this.#retryDelayMs,
      });
      if (!status || this.#seen.has(name)) return;
      this.#seen.add(name);
      try {
        await this.#onExit(name, status);
      } catch (err) {
        this.#logger.error("Exit handler failed", { id: name, err });
      }
    })().finally(() => this.#pending.delete(name));
    this.#pending.set(name, task);
  }
}

/**
 * Reads an exit file: a decimal status, its mtime the finish time.
 *
 * @param path Path of the file.
 * @param options How often to re-read an empty or partial file.
 * @returns The status, or undefined when the file is missing or never became complete.
 */
export async function readExitFile(
  path: string,
  options: { retries?: number; retryDelayMs?: number } = {},
): Promise<ExitStatus | undefined> {
  const { retries = 0, retryDelayMs = 25 } = options;
  for (let attempt = 0;; attempt++) {
    try {
      const [text, info] = await Promise.all([Deno.readTextFile(path), Deno.stat(path)]);
      const trimmed = text.trim();
      if (/^-?\d+$/.test(trimmed)) {
        return { exitCode: Number.parseInt(trimmed, 10), finishedAt: info.mtime ?? new Date() };
      }
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      if (!(err instanceof Deno.errors.PermissionDenied) && attempt >= retries) throw err;
    }
    if (attempt >= retries) return undefined;
    await new Promise((r) => setTimeout(r, retryDelayMs));
  }
}

/**
 * Tells whether conmon saw the container killed by the OOM killer (an `oom` file in its
 * persist dir).
 *
 * @param persistDir conmon's `--persist-dir`.
 * @returns True when the marker exists.
 */
export async function readOom(persistDir: string): Promise<boolean> {
  try {
    await Deno.stat(join(persistDir, "oom"));
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}
