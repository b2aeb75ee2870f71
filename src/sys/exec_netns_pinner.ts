/**
 * {@linkcode NetnsPinner} that runs util-linux `unshare --net=<file> true`: the fallback where
 * FFI is not permitted, and `OCID_NETNS=exec`. It cannot bring `lo` up (`loopback` false): with
 * it the loopback CNI plugin does.
 *
 * @module
 */
import { CommandError } from "../errors.ts";
import type { Runner } from "../process.ts";
import { NetnsPinError, type NetnsPinner, type NetnsPinOptions } from "./netns_pinner.ts";

/** Pins namespaces by running `unshare` through a {@linkcode Runner}. */
export class ExecNetnsPinner implements NetnsPinner {
  readonly kind = "exec" as const;
  readonly loopback = false;
  #runner: Runner;
  #unshare: string;

  /**
   * @param runner Runs the program.
   * @param options The program. @default {unshare: "unshare"}
   */
  constructor(runner: Runner, options: { unshare?: string } = {}) {
    this.#runner = runner;
    this.#unshare = options.unshare ?? "unshare";
  }

  async pin(target: string, options: NetnsPinOptions = {}): Promise<void> {
    if (options.loopback) {
      throw new TypeError("The unshare program cannot bring lo up: use the loopback plugin");
    }
    try {
      await this.#runner.run(this.#unshare, [`--net=${target}`, "true"], { timeoutMs: 30_000 });
    } catch (e) {
      const detail = e instanceof CommandError
        ? (e.stderr || e.message)
        : (e instanceof Error ? e.message : String(e));
      throw new NetnsPinError({ path: target, step: "exec", errno: "", detail, cause: e });
    }
  }
}
