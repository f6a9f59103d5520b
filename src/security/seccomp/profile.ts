// Seccomp profiles in the docker/OCI JSON format, and bunker's default: an
// allow-list by name with EPERM for the rest, close in effect to the moby
// default (namespace-creating clone flags, mount, keyctl, bpf, ptrace and the
// like refused unless the container holds the capability that guards them).

import { FileError, readRegularFile } from "../../sys/fs";
import { BunkerError } from "../../errors";
import { AF_VSOCK, CLONE, S, TIOCLINUX, TIOCSTI } from "../../sys/constants";
import { Errno } from "../../sys/errno";

/** docker's own default profile is well under 100 KiB: a profile ten times that is a mistake, not a policy. */
const PROFILE_MAX = 1 << 20;

export type Action =
  | "SCMP_ACT_ALLOW"
  | "SCMP_ACT_ERRNO"
  | "SCMP_ACT_KILL"
  | "SCMP_ACT_KILL_THREAD"
  | "SCMP_ACT_KILL_PROCESS"
  | "SCMP_ACT_TRAP"
  | "SCMP_ACT_LOG";

export type Op = "SCMP_CMP_EQ" | "SCMP_CMP_NE" | "SCMP_CMP_LT" | "SCMP_CMP_LE" | "SCMP_CMP_GT" | "SCMP_CMP_GE" | "SCMP_CMP_MASKED_EQ";

export interface ArgRule {
  index: number;
  value: number | bigint;
  valueTwo?: number | bigint;
  op: Op;
}

export interface SyscallRule {
  names: string[];
  action: Action;
  errnoRet?: number;
  args?: ArgRule[];
  /** docker's conditions: the rule applies only with these capabilities or on these architectures. */
  includes?: { caps?: string[]; arches?: string[] };
  excludes?: { caps?: string[]; arches?: string[] };
}

export interface Profile {
  defaultAction: Action;
  defaultErrnoRet?: number;
  syscalls: SyscallRule[];
}

export class ProfileError extends BunkerError {
  override name = "ProfileError";
}

const ACTIONS: Action[] = ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_LOG"];
const OPS: Op[] = ["SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_GT", "SCMP_CMP_GE", "SCMP_CMP_MASKED_EQ"];

/** Reads a profile file and checks it; `where` names it in errors. */
export function loadProfile(path: string, where: string): Profile {
  let text: string;
  try {
    text = readRegularFile(path, PROFILE_MAX);
  } catch (e) {
    if (e instanceof FileError) throw new ProfileError(`${where}: ${e.reason}`);
    throw e;
  }
  return parseProfile(text, where);
}

/**
 * JSON text with seccomp argument values quoted: they are 64-bit, and
 * literals beyond 2^53 would lose precision as JSON numbers
 * (18446744073709551615 would become 0), so they are read as text.
 */
export function quoteArgValues(text: string): string {
  return text.replace(/("value(?:Two)?"\s*:\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"');
}

/** Checks the text of a docker/OCI seccomp profile; `where` names it in errors. */
export function parseProfile(text: string, where: string): Profile {
  let raw: unknown;
  try {
    raw = JSON.parse(quoteArgValues(text));
  } catch (e) {
    throw new ProfileError(`${where}: not JSON: ${(e as Error).message}`);
  }
  const p = raw as Partial<Profile> & Record<string, unknown>;
  if (typeof p !== "object" || p === null || !ACTIONS.includes(p.defaultAction as Action)) {
    throw new ProfileError(`${where}: defaultAction must be one of ${ACTIONS.join(", ")}`);
  }
  const rules = (p.syscalls ?? []) as SyscallRule[];
  if (!Array.isArray(rules)) throw new ProfileError(`${where}: syscalls must be a list`);
  errnoValue(p.defaultErrnoRet, `${where}: defaultErrnoRet`);
  rules.forEach((r, i) => {
    const at = `${where}: syscalls[${i}]`;
    if (typeof r !== "object" || r === null) throw new ProfileError(`${at}: not an object`);
    if (!Array.isArray(r.names) || r.names.some((n) => typeof n !== "string")) throw new ProfileError(`${at}: names must be a list of system call names`);
    if (!ACTIONS.includes(r.action)) throw new ProfileError(`${at}: unsupported action ${JSON.stringify(r.action)}`);
    errnoValue(r.errnoRet, `${at}: errnoRet`);
    for (const key of ["includes", "excludes"] as const) {
      const c = r[key];
      if (c === undefined) continue;
      const lists = typeof c === "object" && c !== null ? [c.caps, c.arches] : [null];
      if (lists.some((l) => l !== undefined && !(Array.isArray(l) && l.every((x) => typeof x === "string")))) {
        throw new ProfileError(`${at}: ${key} must be an object with lists of caps and arches`);
      }
    }
    if (r.args !== undefined && !Array.isArray(r.args)) throw new ProfileError(`${at}: args must be a list`);
    for (const a of r.args ?? []) {
      if (typeof a !== "object" || a === null) throw new ProfileError(`${at}: each argument check must be an object`);
      if (!OPS.includes(a.op)) throw new ProfileError(`${at}: unsupported comparison ${JSON.stringify(a.op)}`);
      if (!(Number.isInteger(a.index) && a.index >= 0 && a.index < 6)) throw new ProfileError(`${at}: argument index ${a.index} is not 0..5`);
      a.value = argValue(a.value, `${at}: value`);
      if (a.valueTwo !== undefined) a.valueTwo = argValue(a.valueTwo, `${at}: valueTwo`);
    }
  });
  return { defaultAction: p.defaultAction as Action, ...(p.defaultErrnoRet !== undefined ? { defaultErrnoRet: p.defaultErrnoRet } : {}), syscalls: rules };
}

function errnoValue(v: unknown, what: string): void {
  if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 4095)) throw new ProfileError(`${what} ${JSON.stringify(v)} is not an errno number (0..4095)`);
}

/** A 64-bit argument value: an integer, negative ones taken as two's complement. */
function argValue(v: unknown, what: string): number | bigint {
  if (typeof v === "number" && Number.isSafeInteger(v)) return v;
  if (typeof v === "string" && /^-?\d+$/.test(v)) {
    const b = BigInt(v);
    if (b >= -(1n << 63n) && b < 1n << 64n) return b;
  }
  throw new ProfileError(`${what} ${JSON.stringify(v)} is not a 64-bit integer`);
}

const ALLOWED = `
accept accept4 access alarm arch_prctl bind brk cachestat capget capset chdir chmod chown clock_getres
clock_gettime clock_nanosleep close close_range connect copy_file_range creat dup dup2 dup3 epoll_create
epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve
execveat exit exit_group faccessat faccessat2 fadvise64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2
fchown fchownat fcntl fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstatfs fsync
ftruncate futex futex_requeue futex_wait futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64
getegid geteuid getgid getgroups getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom
getresgid getresuid getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid
gettimeofday getuid getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel
io_destroy io_getevents io_pgetevents ioprio_get ioprio_set io_setup io_submit kill landlock_add_rule
landlock_create_ruleset landlock_restrict_self lchown lgetxattr link linkat listen listxattr llistxattr
lremovexattr lseek lsetxattr lstat madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir
mkdirat mlock mlock2 mlockall mmap mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
mq_timedsend mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at
nanosleep newfstatat open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free
pkey_mprotect poll ppoll prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pwrite64 pwritev
pwritev2 read readahead readlink readlinkat readv recvfrom recvmmsg recvmsg remap_file_pages removexattr rename
renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam
sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_setaffinity
sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
sendfile sendmmsg sendmsg sendto setfsgid setfsuid setgid setgroups setitimer setpgid setpriority setregid
setresgid setresuid setreuid setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid
setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 socketpair splice stat statfs
statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete
timer_getoverrun timer_gettime timer_settime timerfd_create timerfd_gettime timerfd_settime times tkill truncate
umask uname unlink unlinkat utime utimensat utimes vfork vmsplice wait4 waitid write writev
`;

/** System calls a capability unlocks in the default profile. */
const BY_CAP: Record<string, string> = {
  CAP_SYS_ADMIN: `bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr
    move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog umount2 unshare`,
  CAP_DAC_READ_SEARCH: "open_by_handle_at",
  CAP_SYS_BOOT: "reboot",
  CAP_SYS_CHROOT: "chroot",
  CAP_SYS_MODULE: "delete_module init_module finit_module",
  CAP_SYS_PACCT: "acct",
  CAP_SYS_PTRACE: "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
  CAP_SYS_RAWIO: "iopl ioperm",
  CAP_SYS_TIME: "settimeofday clock_settime clock_adjtime adjtimex",
  CAP_SYS_TTY_CONFIG: "vhangup",
  CAP_SYS_NICE: "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
  CAP_SYSLOG: "syslog",
  CAP_BPF: "bpf",
  CAP_PERFMON: "perf_event_open",
};

const words = (s: string) => s.split(/\s+/).filter(Boolean);
/** Namespace-creating clone flags. */
export const CLONE_NAMESPACE_FLAGS = CLONE.NEWNS | CLONE.NEWCGROUP | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWUSER | CLONE.NEWPID | CLONE.NEWNET | CLONE.NEWTIME;

export function defaultProfile(): Profile {
  const rules: SyscallRule[] = [{ names: words(ALLOWED), action: "SCMP_ACT_ALLOW" }];
  // clone without namespace flags; clone3 (flags in a struct the filter cannot read) falls back to clone.
  rules.push(
    { names: ["clone"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }], excludes: { caps: ["CAP_SYS_ADMIN"] } },
    { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: Errno.ENOSYS, excludes: { caps: ["CAP_SYS_ADMIN"] } },
  );
  // personality: only the harmless personas (Linux, with or without 32-bit addressing or ASLR off; and the query).
  for (const v of [0x0, 0x8, 0x20000, 0x20008, 0xffffffff]) {
    rules.push({ names: ["personality"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: v, op: "SCMP_CMP_EQ" }] });
  }
  // mknod: FIFOs, sockets and regular files only. Without a device cgroup a
  // container able to make /dev/sda could read the host's disk.
  for (const type of [0, S.IFIFO, S.IFREG, S.IFSOCK]) {
    rules.push(
      { names: ["mknodat"], action: "SCMP_ACT_ALLOW", args: [{ index: 2, value: S.IFMT, valueTwo: type, op: "SCMP_CMP_MASKED_EQ" }] },
      { names: ["mknod"], action: "SCMP_ACT_ALLOW", args: [{ index: 1, value: S.IFMT, valueTwo: type, op: "SCMP_CMP_MASKED_EQ" }] },
    );
  }
  // socket: everything but AF_VSOCK (40), a way to the host. The family is an
  // int: the kernel ignores the upper 32 bits, so only the lower ones are
  // compared (a 64-bit "!= 40" would let (1 << 32) | 40 through).
  rules.push(
    { names: ["socket"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: 0xffffffff, valueTwo: AF_VSOCK, op: "SCMP_CMP_MASKED_EQ" }] },
    { names: ["socket"], action: "SCMP_ACT_ALLOW" },
  );
  // ioctl: everything but TIOCSTI and TIOCLINUX, which push input into a terminal (a terminal the
  // container was handed could type commands into a shell outside it). The request is an unsigned
  // int: only the lower 32 bits are compared, as the kernel reads them.
  rules.push(
    { names: ["ioctl"], action: "SCMP_ACT_ERRNO", args: [{ index: 1, value: 0xffffffff, valueTwo: TIOCSTI, op: "SCMP_CMP_MASKED_EQ" }] },
    { names: ["ioctl"], action: "SCMP_ACT_ERRNO", args: [{ index: 1, value: 0xffffffff, valueTwo: TIOCLINUX, op: "SCMP_CMP_MASKED_EQ" }] },
    { names: ["ioctl"], action: "SCMP_ACT_ALLOW" },
  );
  for (const [cap, names] of Object.entries(BY_CAP)) rules.push({ names: words(names), action: "SCMP_ACT_ALLOW", includes: { caps: [cap] } });
  return { defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 1, syscalls: rules };
}
