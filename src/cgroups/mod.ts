/**
 * Cgroup statistics read from files: where the hierarchies are mounted
 * ({@linkcode detectCgroupLayout}), where a container's cgroup is ({@linkcode cgroupDir}),
 * its CPU, memory and process counters ({@linkcode readCgroupStats}), and CPU rates from
 * successive samples ({@linkcode CpuRate}), and what the machine's cgroups can enforce
 * ({@linkcode probeCgroupSupport}); and the warming of the lock runc's cgroup moves take
 * ({@linkcode createAttachWarmer}). Supports cgroup v1, v2 and hybrid machines.
 *
 * @module
 */
export {
  type CgroupLayout,
  controllerDir,
  controllerVersion,
  detectCgroupLayout,
  isUnifiedLine,
  parseCgroupMounts,
  parseProcCgroup,
  type ProcCgroupLine,
} from "./layout.ts";
export { cgroupDir, expandSlice, parentDir } from "./path.ts";
export {
  type CgroupFs,
  type CgroupStats,
  denoCgroupFs,
  type MemoryStats,
  parseFlatKeyed,
  readCgroupStats,
  type ReadCgroupStatsOptions,
  sumCgroupStats,
} from "./stats.ts";
export { CpuRate, type CpuRateOptions } from "./cpu_rate.ts";
export {
  type AttachWarmer,
  type AttachWarmerFs,
  type AttachWarmerOptions,
  createAttachWarmer,
  denoAttachWarmerFs,
  noAttachWarmer,
  ownProcsFile,
} from "./attach_warm.ts";
export {
  type CgroupSupport,
  type CgroupSupportFs,
  denoCgroupSupportFs,
  HUGEPAGES_DIR,
  pageSizeName,
  probeCgroupSupport,
} from "./support.ts";
