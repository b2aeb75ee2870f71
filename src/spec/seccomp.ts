/**
 * ocid's built-in `RuntimeDefault` seccomp profile: deny by default (`EPERM`) and allow a
 * list of syscalls that ordinary programs need, comparable to the profile Docker, containerd
 * and CRI-O ship. Syscalls that reach across the container boundary (mount, namespaces,
 * modules, kexec, reboot, ptrace, BPF, perf, clock setting, keyrings, ...) are allowed only
 * when the container holds the capability that guards them. `clone` is allowed without
 * namespace flags, `clone3` answers `ENOSYS` so libc falls back to `clone`. io_uring is
 * left out (as Docker and containerd now do).
 *
 * Names unknown to the runtime's libseccomp are ignored by runc and crun, so the list can
 * name syscalls newer than the host kernel.
 *
 * @module
 */
import type { Seccomp, SeccompSyscall } from "./types.ts";

/** `SCMP_ARCH_*` names covered: x86_64 (with its i386/x32 ABIs) and aarch64 (with arm). */
export const SECCOMP_ARCHITECTURES: readonly string[] = [
  "SCMP_ARCH_X86_64",
  "SCMP_ARCH_X86",
  "SCMP_ARCH_X32",
  "SCMP_ARCH_AARCH64",
  "SCMP_ARCH_ARM",
];

const EPERM = 1;
const ENOSYS = 38;

/** Namespace flags of clone(2): NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;

/** Syscalls allowed for every container. */
// deno-fmt-ignore
const ALLOWED: readonly string[] = [
  // files and descriptors
  "access", "chdir", "chmod", "chown", "chown32", "close", "close_range", "copy_file_range",
  "creat", "dup", "dup2", "dup3", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
  "fallocate", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
  "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fremovexattr", "fsetxattr",
  "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64",
  "getcwd", "getdents", "getdents64", "getxattr", "lchown", "lchown32", "lgetxattr", "link",
  "linkat", "listxattr", "llistxattr", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64",
  "mkdir", "mkdirat", "mknod", "mknodat", "newfstatat", "_llseek", "open", "openat", "openat2",
  "pipe", "pipe2", "pread64", "preadv", "preadv2", "pwrite64", "pwritev", "pwritev2", "read",
  "readahead", "readlink", "readlinkat", "readv", "removexattr", "rename", "renameat", "renameat2",
  "rmdir", "sendfile", "sendfile64", "setxattr", "splice", "stat", "stat64", "statfs", "statfs64",
  "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "tee", "truncate",
  "truncate64", "umask", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes",
  "vmsplice", "write", "writev", "_newselect", "arm_fadvise64_64", "sync_file_range2",
  // polling and events
  "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2",
  "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "inotify_add_watch", "inotify_init",
  "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents", "io_pgetevents",
  "io_pgetevents_time64", "io_setup", "io_submit", "poll", "ppoll", "ppoll_time64", "pselect6",
  "pselect6_time64", "select", "signalfd", "signalfd4", "timerfd_create", "timerfd_gettime",
  "timerfd_gettime64", "timerfd_settime", "timerfd_settime64",
  // memory
  "brk", "madvise", "membarrier", "memfd_create", "memfd_secret", "mincore", "mlock", "mlock2",
  "mlockall", "mmap", "mmap2", "mprotect", "mremap", "msync", "munlock", "munlockall", "munmap",
  "pkey_alloc", "pkey_free", "pkey_mprotect", "remap_file_pages",
  // processes, threads, signals
  "arch_prctl", "capget", "capset", "execve", "execveat", "exit", "exit_group", "fork", "futex",
  "futex_time64", "futex_waitv", "get_robust_list", "get_thread_area", "getegid", "getegid32",
  "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer", "getpgid",
  "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresgid32",
  "getresuid", "getresuid32", "getrlimit", "get_mempolicy", "getrusage", "getsid", "gettid",
  "getuid", "getuid32", "ioprio_get", "ioprio_set", "kill", "pause", "pidfd_getfd", "pidfd_open",
  "pidfd_send_signal", "prctl", "prlimit64", "restart_syscall", "rseq", "rt_sigaction",
  "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
  "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity",
  "sched_getattr", "sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
  "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
  "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
  "set_robust_list", "set_thread_area", "set_tid_address", "setfsgid", "setfsgid32", "setfsuid",
  "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
  "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32",
  "setreuid", "setreuid32", "setrlimit", "setsid", "setuid", "setuid32", "sigaltstack", "sigreturn",
  "tgkill", "tkill", "ugetrlimit", "vfork", "wait4", "waitid", "waitpid", "landlock_add_rule",
  "landlock_create_ruleset", "landlock_restrict_self", "seccomp", "arm_sync_file_range",
  "breakpoint", "cacheflush", "set_tls",
  // time
  "alarm", "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64",
  "clock_nanosleep", "clock_nanosleep_time64", "gettimeofday", "nanosleep", "time", "timer_create",
  "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
  "timer_settime64", "times",
  // sockets and IPC
  "accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt", "listen",
  "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send", "sendmmsg", "sendmsg",
  "sendto", "setsockopt", "shutdown", "socket", "socketcall", "socketpair", "ipc", "mq_getsetattr",
  "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
  "mq_timedsend_time64", "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd", "semctl", "semget",
  "semop", "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt", "shmget",
  // system information
  "getcpu", "ioctl", "personality", "uname", "sysinfo", "olduname", "oldolduname",
  "map_shadow_stack", "cachestat", "process_mrelease",
];

/** Syscalls allowed only when the container holds the named capability. */
// deno-fmt-ignore
const BY_CAPABILITY: Readonly<Record<string, readonly string[]>> = {
  CAP_SYS_ADMIN: [
    "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
    "lookup_dcookie", "mount", "mount_setattr", "move_mount", "name_to_handle_at", "open_tree",
    "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog",
    "umount", "umount2", "unshare",
  ],
  CAP_SYS_BOOT: ["reboot"],
  CAP_SYS_CHROOT: ["chroot"],
  CAP_SYS_MODULE: ["delete_module", "init_module", "finit_module"],
  CAP_SYS_PACCT: ["acct"],
  CAP_SYS_PTRACE: ["kcmp", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"],
  CAP_SYS_RAWIO: ["iopl", "ioperm"],
  CAP_SYS_TIME: ["settimeofday", "stime", "clock_settime", "clock_settime64", "adjtimex"],
  CAP_SYS_TTY_CONFIG: ["vhangup"],
  CAP_SYS_NICE: ["mbind", "set_mempolicy", "set_mempolicy_home_node", "move_pages"],
  CAP_SYSLOG: ["syslog"],
  CAP_BPF: ["bpf"],
  CAP_PERFMON: ["perf_event_open"],
};

/** Options of {@linkcode runtimeDefaultSeccomp}. */
export interface RuntimeDefaultOptions {
  /** Capabilities (with `CAP_`) the container's process holds; they unlock guarded syscalls. */
  capabilities?: readonly string[];
}

/**
 * Builds the `RuntimeDefault` profile for a container holding `capabilities`.
 *
 * @param options The container's capabilities.
 * @returns A new `linux.seccomp` object.
 * @example
 * ```ts
 * spec.linux!.seccomp = runtimeDefaultSeccomp({ capabilities: caps });
 * ```
 */
export function runtimeDefaultSeccomp(options: RuntimeDefaultOptions = {}): Seccomp {
  const caps = new Set(options.capabilities ?? []);
  const syscalls: SeccompSyscall[] = [{ names: [...ALLOWED], action: "SCMP_ACT_ALLOW" }];
  const extra = new Set<string>();
  for (const [cap, names] of Object.entries(BY_CAPABILITY)) {
    if (caps.has(cap)) { for (const name of names) extra.add(name); }
  }
  if (extra.size > 0) syscalls.push({ names: [...extra].sort(), action: "SCMP_ACT_ALLOW" });
  if (!caps.has("CAP_SYS_ADMIN")) {
    // clone only without namespace flags: (flags & CLONE_NAMESPACE_FLAGS) == 0. clone3
    // passes its flags in memory that seccomp cannot read, so it answers ENOSYS and libc
    // falls back to clone.
    syscalls.push({
      names: ["clone"],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
    });
    syscalls.push({ names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS });
  }
  return {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: EPERM,
    architectures: [...SECCOMP_ARCHITECTURES],
    syscalls,
  };
}
