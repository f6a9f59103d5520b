// Kernel ABI constants (identical on x86_64 and aarch64 unless noted: open's
// O_DIRECTORY and O_NOFOLLOW, which aarch64's asm/fcntl.h defines apart
// from the generic values x86_64 takes; test/unit/abi.test.ts reads both
// from the kernel's headers).

export const CLONE = {
  NEWTIME: 0x80,
  /** Share the caller's memory (until execve). */
  VM: 0x100,
  /** Suspend the caller until the child has exec'd or exited. */
  VFORK: 0x4000,
  /** The child's parent is the caller's parent. */
  PARENT: 0x8000,
  NEWNS: 0x00020000,
  NEWCGROUP: 0x02000000,
  NEWUTS: 0x04000000,
  NEWIPC: 0x08000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
} as const;

export const SIGNALS = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
} as const;

export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  SYNCHRONOUS: 16,
  REMOUNT: 32,
  MANDLOCK: 64,
  DIRSYNC: 128,
  NOSYMFOLLOW: 256,
  NOATIME: 1024,
  NODIRATIME: 2048,
  BIND: 4096,
  MOVE: 8192,
  REC: 16384,
  SILENT: 32768,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  SHARED: 1 << 20,
  UNBINDABLE: 1 << 17,
  RELATIME: 1 << 21,
  STRICTATIME: 1 << 24,
} as const;

export const MNT_DETACH = 2;

export const AT = {
  FDCWD: -100,
  SYMLINK_NOFOLLOW: 0x100,
  REMOVEDIR: 0x200,
  EMPTY_PATH: 0x1000,
  RECURSIVE: 0x8000,
} as const;

export const OPEN_TREE = { CLONE: 1, CLOEXEC: 0o2000000 } as const;
/** openat2(2)'s resolve flags. */
export const RESOLVE = { NO_XDEV: 0x01, NO_MAGICLINKS: 0x02, NO_SYMLINKS: 0x04, BENEATH: 0x08, IN_ROOT: 0x10 } as const;
export const MOVE_MOUNT = { F_SYMLINKS: 1, F_EMPTY_PATH: 4, T_SYMLINKS: 0x10 } as const;
export const MOUNT_ATTR = { RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, NOATIME: 0x10, STRICTATIME: 0x20, NODIRATIME: 0x80, IDMAP: 0x100000, NOSYMFOLLOW: 0x200000 } as const;

/** open(2)'s flags on `arch`: on aarch64 the generic O_DIRECTORY and O_NOFOLLOW would mean O_DIRECT and O_LARGEFILE. */
export function openFlags(arch: "x86_64" | "aarch64") {
  const arm = arch === "aarch64";
  return {
    RDONLY: 0,
    WRONLY: 1,
    RDWR: 2,
    CREAT: 0o100,
    EXCL: 0o200,
    NOCTTY: 0o400,
    TRUNC: 0o1000,
    APPEND: 0o2000,
    NONBLOCK: 0o4000,
    DIRECTORY: arm ? 0o40000 : 0o200000,
    NOFOLLOW: arm ? 0o100000 : 0o400000,
    CLOEXEC: 0o2000000,
    PATH: 0o10000000,
  } as const;
}

export const O = openFlags(process.arch === "arm64" ? "aarch64" : "x86_64");

export const S = { IFIFO: 0o010000, IFCHR: 0o020000, IFDIR: 0o040000, IFBLK: 0o060000, IFREG: 0o100000 } as const;

export const PR_SET_PDEATHSIG = 1;
export const PR_SET_DUMPABLE = 4;
export const PR_SET_NAME = 15;
export const F_SETFL = 4;
export const F_SETFD = 2;
export const CLOSE_RANGE_CLOEXEC = 4;
export const SIG_SETMASK = 2;
export const SIG_BLOCK = 0;
export const SIG_UNBLOCK = 1;

export const AF_UNIX = 1;
export const AF_INET = 2;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = 0o2000000;
export const SIOCSIFFLAGS = 0x8914;
export const IFF_UP = 0x1;
export const IFF_LOOPBACK = 0x8;
export const IFF_RUNNING = 0x40;

/** Linux's dev_t encoding (new_encode_dev). */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return (mi & 0xffn) | ((ma & 0xfffn) << 8n) | ((mi & ~0xffn) << 12n) | ((ma & ~0xfffn) << 32n);
}
