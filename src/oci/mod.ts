/**
 * The OCI runtime layer: conmon plus runc or crun. {@linkcode createOciRuntime} drives
 * containers; {@linkcode ExitWatcher} reports their exits from conmon's exit dir;
 * `oom.ts` holds the oom_score_adj limits.
 *
 * @module
 */
export * from "./runtime.ts";
export * from "./runtime_router.ts";
export * from "./runtime_error.ts";
export * from "./exits.ts";
export * from "./oom.ts";
export * from "./conmon_args.ts";
export * from "./conmon_spawn.ts";
export * from "./capped_run.ts";
export * from "./ctl.ts";
export * from "./exec_args.ts";
export * from "./exec_kill.ts";
export * from "./exec_files.ts";
export * from "./process_templates.ts";
export * from "./sealed_binary.ts";
