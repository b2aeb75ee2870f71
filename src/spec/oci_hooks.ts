/**
 * OCI hooks from hook directories (containers-oci-hooks(5), CRI-O's `hooks_dir`): each `*.json`
 * file of a directory defines one hook (the 1.0.0 schema, or the older 0.1.0 one), the conditions under which a
 * container gets it (`when`) and the stages it runs at. A file in a later directory masks the
 * file of the same name in an earlier one; matching hooks are added in the order of their file
 * names (lower-cased), after the hooks the spec already has (CDI's).
 *
 * The directories are read again when they change: each lookup stats the directories and the
 * files read before, and reads only what changed (a node's tooling may install a hook while the
 * daemon runs; CRI-O watches the directories for the same reason). A file that does not parse is
 * left out and logged once per version of it; it never fails a container.
 *
 * @module
 */
import { join } from "node:path";
import type { Logger } from "../log.ts";
import { type Hook, HOOK_STAGES, type Hooks, type Spec } from "./types.ts";
import { isObject, isStrings } from "../json_shape.ts";

/** One stage. */
export type HookStage = typeof HOOK_STAGES[number];

/** One hook file, parsed. */
export interface OciHookDefinition {
  /** The file's name, e.g. `01-my-hook.json` (its order and its identity across dirs). */
  name: string;
  hook: Hook;
  /** `when`: all set conditions must match (any one, for a 0.1.0 file: `or`). */
  when: {
    /** Any one set condition is enough (the 0.1.0 schema's matching). */
    or?: boolean;
    always?: boolean;
    /** Key pattern to value pattern: each pair must match one of the spec's annotations. */
    annotations?: [RegExp, RegExp][];
    /** One must match `process.args[0]`. */
    commands?: RegExp[];
    hasBindMounts?: boolean;
  };
  stages: HookStage[];
}

/** What a container offers the `when` conditions. */
export interface HookTarget {
  /** The spec (its annotations and `process.args[0]` are matched). */
  spec: Spec;
  /** Whether the request asked for bind mounts of host paths (CRI `mounts`). */
  hasBindMounts: boolean;
}

/**
 * Parses one hook file of the 1.0.0 schema (or of the 0.1.0 one: {@linkcode parseOldHook}).
 *
 * @param name The file's name.
 * @param text Its content.
 * @throws {Error} Saying what is wrong: not JSON, another version, no absolute `hook.path`, no
 * condition in `when`, a pattern that does not compile, an unknown stage.
 */
export function parseHookFile(name: string, text: string): OciHookDefinition {
  const fail = (why: string): never => {
    throw new Error(`Invalid OCI hook file "${name}": ${why}`);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return fail(`not JSON (${(err as Error).message})`);
  }
  const obj = record(raw) ?? fail("not a JSON object");
  if (obj.version === undefined || obj.version === "0.1.0") return parseOldHook(name, obj, fail);
  if (obj.version !== "1.0.0") {
    fail(`version ${JSON.stringify(obj.version)}: the 1.0.0 and 0.1.0 schemas are read`);
  }
  const hookRaw = record(obj.hook) ?? fail('"hook" must be an object');
  if (typeof hookRaw.path !== "string" || !hookRaw.path.startsWith("/")) {
    fail('"hook.path" must be an absolute path');
  }
  const hook: Hook = { path: hookRaw.path as string };
  for (const key of ["args", "env"] as const) {
    if (hookRaw[key] === undefined) continue;
    if (!isStrings(hookRaw[key])) fail(`"hook.${key}" must be an array of strings`);
    hook[key] = [...(hookRaw[key] as string[])];
  }
  if (hookRaw.timeout !== undefined) {
    if (!Number.isSafeInteger(hookRaw.timeout) || (hookRaw.timeout as number) <= 0) {
      fail('"hook.timeout" must be a positive whole number of seconds');
    }
    hook.timeout = hookRaw.timeout as number;
  }

  const whenRaw = record(obj.when) ?? fail('"when" must be an object');
  const when: OciHookDefinition["when"] = {};
  const pattern = (p: unknown, where: string): RegExp => {
    if (typeof p !== "string") return fail(`${where} must hold strings`);
    try {
      return new RegExp(p);
    } catch {
      return fail(`${where}: ${JSON.stringify(p)} is not a regular expression`);
    }
  };
  if (whenRaw.always !== undefined) {
    if (typeof whenRaw.always !== "boolean") fail('"when.always" must be true or false');
    when.always = whenRaw.always as boolean;
  }
  if (whenRaw.annotations !== undefined) {
    const ann = record(whenRaw.annotations) ?? fail('"when.annotations" must be an object');
    when.annotations = Object.entries(ann).map((
      [k, v],
    ) => [pattern(k, '"when.annotations"'), pattern(v, '"when.annotations"')]);
  }
  if (whenRaw.commands !== undefined) {
    if (!Array.isArray(whenRaw.commands)) fail('"when.commands" must be an array of strings');
    when.commands = (whenRaw.commands as unknown[]).map((c) => pattern(c, '"when.commands"'));
  }
  if (whenRaw.hasBindMounts !== undefined) {
    if (typeof whenRaw.hasBindMounts !== "boolean") {
      fail('"when.hasBindMounts" must be true or false');
    }
    when.hasBindMounts = whenRaw.hasBindMounts as boolean;
  }
  if (Object.keys(when).length === 0) {
    fail('"when" must set one of always, annotations, commands, hasBindMounts');
  }

  if (!Array.isArray(obj.stages) || obj.stages.length === 0) {
    fail('"stages" must be a non-empty array');
  }
  const stages = (obj.stages as unknown[]).map((s) => {
    if (!HOOK_STAGES.includes(s as HookStage)) {
      fail(`unknown stage ${JSON.stringify(s)}: expected one of ${HOOK_STAGES.join(", ")}`);
    }
    return s as HookStage;
  });
  return { name, hook, when, stages };
}

/**
 * A hook file of the 0.1.0 schema (no `version`, or "0.1.0"), which CRI-O and podman still
 * read: `hook` (the path), `arguments`, `stage` or `stages`, `cmd` or `cmds` (patterns of
 * `process.args[0]`), `annotation` or `annotations` (patterns of any annotation's value) and
 * `hasbindmounts`; unlike 1.0.0, any one condition that matches is enough. Read as
 * containers/common turns it into a 1.0.0 hook.
 */
function parseOldHook(
  name: string,
  obj: Record<string, unknown>,
  fail: (why: string) => never,
): OciHookDefinition {
  if (typeof obj.hook !== "string" || !obj.hook.startsWith("/")) {
    fail('"hook" must be an absolute path (0.1.0 schema)');
  }
  const path = obj.hook as string;
  const either = (a: string, b: string): unknown => {
    if (obj[a] !== undefined && obj[b] !== undefined) fail(`cannot set both "${a}" and "${b}"`);
    return obj[a] ?? obj[b];
  };
  const strings = (v: unknown, what: string): string[] | undefined => {
    if (v === undefined) return undefined;
    if (!isStrings(v)) return fail(`"${what}" must be an array of strings`);
    return v;
  };
  const compile = (p: string, what: string): RegExp => {
    try {
      return new RegExp(p);
    } catch {
      return fail(`"${what}": ${JSON.stringify(p)} is not a regular expression`);
    }
  };
  const args = strings(obj.arguments, "arguments");
  const stages = strings(either("stages", "stage"), "stages") ?? fail('"stages" is missing');
  for (const s of stages) {
    if (!HOOK_STAGES.includes(s as HookStage)) {
      fail(`unknown stage ${JSON.stringify(s)}: expected one of ${HOOK_STAGES.join(", ")}`);
    }
  }
  const when: OciHookDefinition["when"] = { or: true };
  const cmds = strings(either("cmds", "cmd"), "cmds");
  if (cmds !== undefined) when.commands = cmds.map((c) => compile(c, "cmds"));
  const annotations = strings(either("annotations", "annotation"), "annotations");
  if (annotations !== undefined) {
    when.annotations = [[/.*/, compile(annotations.join("|"), "annotations")]];
  }
  if (obj.hasbindmounts !== undefined) {
    if (typeof obj.hasbindmounts !== "boolean") fail('"hasbindmounts" must be true or false');
    when.hasBindMounts = obj.hasbindmounts as boolean;
  }
  return {
    name,
    hook: { path, ...(args ? { args: [path, ...args] } : {}) },
    when,
    stages: stages as HookStage[],
  };
}

/** Whether the conditions `when` sets match the container: all of them, or any one (`or`). */
export function hookMatches(def: OciHookDefinition, target: HookTarget): boolean {
  if (def.when.or) return anyConditionMatches(def.when, target);
  const { when } = def;
  if (when.always !== undefined && !when.always) return false;
  if (when.annotations && !when.annotations.every((p) => annotationMatches(p, target))) {
    return false;
  }
  if (when.commands) {
    const command = target.spec.process?.args?.[0] ?? "";
    if (!when.commands.some((c) => c.test(command))) return false;
  }
  if (when.hasBindMounts !== undefined && when.hasBindMounts !== target.hasBindMounts) {
    return false;
  }
  return true;
}

/** The 0.1.0 matching: one condition that holds is enough; `hasbindmounts: false` is none. */
function anyConditionMatches(when: OciHookDefinition["when"], target: HookTarget): boolean {
  if (when.hasBindMounts === true && target.hasBindMounts) return true;
  if (when.annotations?.some((p) => annotationMatches(p, target))) return true;
  const command = target.spec.process?.args?.[0] ?? "";
  return when.commands?.some((c) => c.test(command)) ?? false;
}

/** Whether some annotation of the container matches the key and value patterns. */
function annotationMatches([key, value]: [RegExp, RegExp], target: HookTarget): boolean {
  return Object.entries(target.spec.annotations ?? {}).some(([k, v]) =>
    key.test(k) && value.test(v)
  );
}

/**
 * Adds the hooks that match the container to its spec, after the hooks it has, in the order of
 * `defs` (sorted by file name).
 *
 * @returns The names of the files whose hook was added.
 */
export function applyOciHooks(
  target: HookTarget,
  defs: readonly OciHookDefinition[],
): string[] {
  const applied: string[] = [];
  for (const def of defs) {
    if (!hookMatches(def, target)) continue;
    const hooks: Hooks = target.spec.hooks ??= {};
    for (const stage of def.stages) (hooks[stage] ??= []).push(structuredClone(def.hook));
    applied.push(def.name);
  }
  return applied;
}

/** A file as last read: its mtime and what it held (undefined when it did not parse). */
interface ReadFile {
  mtimeMs: number;
  def: OciHookDefinition | undefined;
}

/** The hook files of the directories, read again when they change; see the module doc. */
export class OciHookDirs {
  readonly #dirs: readonly string[];
  readonly #log: Logger | undefined;
  /** Per directory: its mtime when listed (-1: absent) and its `.json` files. */
  #seen = new Map<string, { mtimeMs: number; files: Map<string, ReadFile> }>();
  #defs: OciHookDefinition[] = [];

  /**
   * @param dirs The directories, lowest priority first (a later one masks an earlier one's
   * file of the same name).
   */
  constructor(dirs: readonly string[], logger?: Logger) {
    this.#dirs = [...dirs];
    this.#log = logger;
  }

  /** The hook definitions as the directories hold them now, sorted by file name. */
  async current(): Promise<readonly OciHookDefinition[]> {
    if (this.#dirs.length === 0) return this.#defs;
    const changed = await Promise.all(this.#dirs.map((dir) => this.#refresh(dir)));
    if (changed.some(Boolean)) this.#defs = this.#merge();
    return this.#defs;
  }

  /** Brings one directory's files up to date; true when anything changed. */
  async #refresh(dir: string): Promise<boolean> {
    const mtimeMs = (await statOrUndefined(dir))?.mtime?.getTime() ?? -1;
    let seen = this.#seen.get(dir);
    let changed = false;
    if (!seen || seen.mtimeMs !== mtimeMs) {
      // Files came or went: list again, keeping what was read of those still there.
      const names = mtimeMs < 0 ? [] : await jsonFiles(dir);
      const files = new Map<string, ReadFile>();
      for (const name of names) {
        const old = seen?.files.get(name);
        if (old) files.set(name, old);
      }
      seen = { mtimeMs, files };
      this.#seen.set(dir, seen);
      for (const name of names) {
        if (!files.has(name)) files.set(name, { mtimeMs: -1, def: undefined });
      }
      changed = true;
    }
    const files = seen.files;
    await Promise.all([...files].map(async ([name, old]) => {
      const path = join(dir, name);
      const st = await statOrUndefined(path);
      const mtime = st?.mtime?.getTime() ?? -1;
      if (mtime === old.mtimeMs) return;
      changed = true;
      files.set(name, { mtimeMs: mtime, def: await this.#read(path, name) });
    }));
    return changed;
  }

  async #read(path: string, name: string): Promise<OciHookDefinition | undefined> {
    try {
      return parseHookFile(name, await Deno.readTextFile(path));
    } catch (err) {
      this.#log?.warn("Leaving out an OCI hook file", { path, error: (err as Error).message });
      return undefined;
    }
  }

  /** One definition per file name, the latest directory's, sorted by lower-cased name. */
  #merge(): OciHookDefinition[] {
    const byName = new Map<string, OciHookDefinition | undefined>();
    for (const dir of this.#dirs) {
      for (const [name, file] of this.#seen.get(dir)?.files ?? []) byName.set(name, file.def);
    }
    return [...byName.values()]
      .filter((d): d is OciHookDefinition => d !== undefined)
      .sort((a, b) => compare(a.name.toLowerCase(), b.name.toLowerCase()));
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch {
    return undefined;
  }
}

async function jsonFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.name.endsWith(".json") && !e.isDirectory) names.push(e.name);
    }
  } catch {
    // Gone since the stat: none.
  }
  return names;
}

function record(v: unknown): Record<string, unknown> | undefined {
  return isObject(v) ? v : undefined;
}
