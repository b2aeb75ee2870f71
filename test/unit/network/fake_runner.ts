/**
 * Test doubles for the network module: a Runner that records calls and answers from a
 * handler, and a temp plugin dir holding (empty) executable plugin files.
 *
 * @module
 */
import { basename, join } from "node:path";
import type { Runner, RunOptions, RunResult } from "../../../src/process.ts";

/** One recorded program run. */
export interface RunCall {
  cmd: string;
  args: string[];
  options: RunOptions;
  /** `basename(cmd)`, i.e. the plugin type for CNI plugins. */
  name: string;
  /** The parsed stdin when it was JSON. */
  stdinJson: Record<string, unknown> | undefined;
}

/** Builds a run result. */
export function result(code: number, stdout: unknown = "", stderr = ""): RunResult {
  const enc = new TextEncoder();
  const out = typeof stdout === "string" ? stdout : JSON.stringify(stdout);
  return { code, stdout: enc.encode(out), stderr: enc.encode(stderr) };
}

/** A Runner that records every call and answers with `handler`. */
export class FakeRunner implements Runner {
  readonly calls: RunCall[] = [];
  #handler: (call: RunCall) => RunResult | Promise<RunResult>;

  constructor(handler: (call: RunCall) => RunResult | Promise<RunResult> = () => result(0)) {
    this.#handler = handler;
  }

  async run(cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
    let stdinJson: Record<string, unknown> | undefined;
    if (typeof options.stdin === "string") {
      try {
        stdinJson = JSON.parse(options.stdin);
      } catch {
        stdinJson = undefined;
      }
    }
    const call = { cmd, args, options, name: basename(cmd), stdinJson };
    this.calls.push(call);
    const res = await this.#handler(call);
    if ((options.check ?? true) && res.code !== 0) {
      throw new Error(`fake: ${cmd} ${args.join(" ")} failed with ${res.code}`);
    }
    return res;
  }

  /** `"<plugin> <CNI_COMMAND>"` of every call, in order. */
  get cniSequence(): string[] {
    return this.calls.map((c) => `${c.name} ${c.options.env?.CNI_COMMAND}`);
  }
}

/** Creates a temp dir holding empty executable files named after `plugins`. */
export async function makePluginDir(plugins: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ocid-cni-plugins-" });
  for (const p of plugins) {
    await Deno.writeTextFile(join(dir, p), "#!/bin/sh\nexit 1\n", { mode: 0o755 });
  }
  return dir;
}

/** A CNI 1.0.0 result as bridge + host-local would print it. */
export function bridgeResult(address = "10.234.1.5/24"): Record<string, unknown> {
  return {
    cniVersion: "1.0.0",
    interfaces: [
      { name: "ocidt1", mac: "aa:bb:cc:dd:ee:01" },
      { name: "veth1234", mac: "aa:bb:cc:dd:ee:02" },
      { name: "eth0", mac: "aa:bb:cc:dd:ee:03", sandbox: "/run/netns/x" },
    ],
    ips: [{ interface: 2, address, gateway: "10.234.1.1" }],
    routes: [{ dst: "0.0.0.0/0" }],
    dns: {},
  };
}
