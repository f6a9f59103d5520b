// Kernel ABI constants bunker passes to the kernel and to libc: one value
// each where x86_64 and aarch64 agree, a per-architecture table where they
// do not. They differ only in:
//   - open(2)'s O_DIRECTORY and O_NOFOLLOW (aarch64's asm/fcntl.h; there
//     x86_64's values would mean O_DIRECT and O_LARGEFILE): openFlags(arch);
//   - system call numbers (syscalls.ts, syscall-table.ts);
//   - the seccomp audit architecture (AUDIT_ARCH below).
// Everything else here (clone, mount, signal, socket, netlink, tty ioctl,
// termios, prctl, capability, statx, fcntl, wait, poll values, and the
// struct layouts in layouts.ts) is the same on both: x86_64 and aarch64
// both take the generic definitions. test/unit/abi.test.ts reads every value
// from each architecture's kernel and glibc headers: each export is checked
// under its C name (NAME for a number, PREFIX_KEY for a table's member), and
// test/unit/abi-names.ts says which headers define it.

import { hostArch, type Arch } from "./syscalls";

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
/** clone3's flag for a child born in a cgroup (beyond 32 bits: clone3 only). */
export const CLONE_INTO_CGROUP = 0x200000000n;

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

/** statfs(2)'s f_flags: how a mount was made, as a remount must keep it (glibc's sys/statvfs.h). */
export const ST = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  NOATIME: 1024,
  NODIRATIME: 2048,
  RELATIME: 4096,
  NOSYMFOLLOW: 8192,
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
/** mount_setattr's and fsmount's flags; _ATIME is the mask of the access-time mode (RELATIME is its 0). */
export const MOUNT_ATTR = { RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, _ATIME: 0x70, RELATIME: 0, NOATIME: 0x10, STRICTATIME: 0x20, NODIRATIME: 0x80, IDMAP: 0x100000, NOSYMFOLLOW: 0x200000 } as const;

/** open(2)'s flags on `arch`: on aarch64 the generic O_DIRECTORY and O_NOFOLLOW would mean O_DIRECT and O_LARGEFILE. */
export function openFlags(arch: Arch) {
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

/** The open flags of the architecture this file runs on (process.arch at run time, not where it was built). */
export const O = openFlags(hostArch());

export const S = { IFMT: 0o170000, IFSOCK: 0o140000, IFLNK: 0o120000, IFIFO: 0o010000, IFCHR: 0o020000, IFDIR: 0o040000, IFBLK: 0o060000, IFREG: 0o100000, ISVTX: 0o1000 } as const;

/** statx(2)'s mask bits and attributes. */
export const STATX = { TYPE: 1, MODE: 2, UID: 8, GID: 0x10, INO: 0x100, SIZE: 0x200, BTIME: 0x800, MNT_ID: 0x1000 } as const;
export const STATX_ATTR_MOUNT_ROOT = 0x2000n;

export const PR_SET_PDEATHSIG = 1;
export const PR_SET_DUMPABLE = 4;
export const PR_SET_KEEPCAPS = 8;
export const PR_SET_NAME = 15;
export const PR_CAPBSET_DROP = 24;
export const PR_SET_NO_NEW_PRIVS = 38;
export const PR_CAP_AMBIENT = 47;
export const PR_CAP_AMBIENT_RAISE = 2;
export const PR_CAP_AMBIENT_CLEAR_ALL = 4;
/** capget/capset's header version: two 32-bit words of each set. */
export const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_SETFL = 4;
export const FD_CLOEXEC = 1;
export const F_DUPFD_CLOEXEC = 1030;
export const F_ADD_SEALS = 1033;
export const F_SEAL = { SEAL: 1, SHRINK: 2, GROW: 4, WRITE: 8 } as const;
export const MFD = { CLOEXEC: 1, ALLOW_SEALING: 2, NOEXEC_SEAL: 8, EXEC: 0x10 } as const;
export const CLOSE_RANGE_CLOEXEC = 4;
/** The new mount API's flags and fsconfig commands. */
export const FSOPEN_CLOEXEC = 1;
export const FSMOUNT_CLOEXEC = 1;
export const FSCONFIG = { SET_FLAG: 0, SET_STRING: 1, CMD_CREATE: 6 } as const;
/** access(2)'s modes. */
export const X_OK = 1;
export const W_OK = 2;
/** seccomp(2)'s operation, and the filter flags an OCI config may ask for. */
export const SECCOMP_SET_MODE_FILTER = 1;
export const SECCOMP_FILTER_FLAG = { TSYNC: 1, LOG: 2, SPEC_ALLOW: 4 } as const;
/** personality(2)'s PER_LINUX32. */
export const PER_LINUX32 = 0x0008;
/** ioprio_set's "who" (a process), classes, and where the class goes in the value. */
export const IOPRIO_WHO_PROCESS = 1;
export const IOPRIO_CLASS = { RT: 1, BE: 2, IDLE: 3 } as const;
export const IOPRIO_CLASS_SHIFT = 13;
export const RENAME_NOREPLACE = 1;
export const UMOUNT_NOFOLLOW = 8;
export const LOCK = { SH: 1, EX: 2, NB: 4 } as const;
export const SEEK_END = 2;

export const SIG_BLOCK = 0;
export const SIG_UNBLOCK = 1;
export const SIG_SETMASK = 2;
/** glibc's struct sigaction flag. */
export const SA_RESTART = 0x10000000;

/** wait4/waitid options and waitid's id type. */
export const WNOHANG = 1;
export const WEXITED = 4;
export const WNOWAIT = 0x01000000;
export const WALL = 0x40000000;
export const P_PID = 1;

export const PROT = { READ: 1, WRITE: 2 } as const;
export const MAP = { SHARED: 1, ANONYMOUS: 0x20 } as const;
export const POLLIN = 1;
export const CLOCK_REALTIME = 0;
export const RLIMIT_NOFILE = 7;

/** Terminal ioctls: the generic numbers, which x86_64 and aarch64 both use. */
export const TCGETS = 0x5401;
export const TCSETSW = 0x5403;
export const TIOCSCTTY = 0x540e;
export const TIOCSTI = 0x5412;
export const TIOCGWINSZ = 0x5413;
export const TIOCSWINSZ = 0x5414;
export const TIOCLINUX = 0x541c;
export const TIOCSPTLCK = 0x40045431;
export const TIOCGPTPEER = 0x5441;
/** termios flags cfmakeraw clears or sets, and the c_cc indexes it writes. */
export const TERMIOS_I = { IGNBRK: 0x1, BRKINT: 0x2, PARMRK: 0x8, ISTRIP: 0x20, INLCR: 0x40, IGNCR: 0x80, ICRNL: 0x100, IXON: 0x400 } as const;
export const TERMIOS_O = { OPOST: 0x1 } as const;
export const TERMIOS_C = { CSIZE: 0x30, CS8: 0x30, PARENB: 0x100 } as const;
export const TERMIOS_L = { ISIG: 0x1, ICANON: 0x2, ECHO: 0x8, ECHONL: 0x40, IEXTEN: 0x8000 } as const;
export const V = { TIME: 5, MIN: 6 } as const;

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const AF_VSOCK = 40;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_SEQPACKET = 5;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_RCVTIMEO = 20;
export const SCM_RIGHTS = 1;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const SIOCSIFFLAGS = 0x8914;
export const IFF_UP = 0x1;
export const IFF_LOOPBACK = 0x8;
export const IFF_RUNNING = 0x40;

/** Netlink sockets and messages. */
export const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;
export const SOL_NETLINK = 270;
export const NETLINK_EXT_ACK = 11;
export const NETLINK_GET_STRICT_CHK = 12;
export const NLM_F = { REQUEST: 1, MULTI: 2, ACK: 4, ROOT: 0x100, MATCH: 0x200, REPLACE: 0x100, EXCL: 0x200, CREATE: 0x400, DUMP: 0x300, CAPPED: 0x100, ACK_TLVS: 0x200 } as const;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSGERR_ATTR_MSG = 1;
export const NLA_F_NESTED = 0x8000;
/** rtnetlink. */
export const RTM = { NEWLINK: 16, DELLINK: 17, GETLINK: 18, SETLINK: 19, NEWADDR: 20, GETADDR: 22, NEWROUTE: 24, GETROUTE: 26 } as const;
export const IFLA = { ADDRESS: 1, IFNAME: 3, MASTER: 10, PROTINFO: 12, LINKINFO: 18, NET_NS_PID: 19 } as const;
export const IFLA_INFO = { KIND: 1, DATA: 2 } as const;
export const IFLA_BRPORT_MODE = 4;
export const VETH_INFO_PEER = 1;
export const IFA = { ADDRESS: 1, LOCAL: 2, BROADCAST: 4, FLAGS: 8 } as const;
export const IFA_F_NODAD = 0x02;
export const RTA = { DST: 1, OIF: 4, GATEWAY: 5, TABLE: 15 } as const;
export const RT_TABLE_MAIN = 254;
export const RTPROT = { BOOT: 3, RA: 9 } as const;
export const RT_SCOPE_UNIVERSE = 0;
export const RTN_UNICAST = 1;
/** nfnetlink's nftables rule dump. */
export const NFNL_SUBSYS_NFTABLES = 10;
export const NFT_MSG_GETRULE = 7;
export const NFTA_RULE = { TABLE: 1, CHAIN: 2 } as const;
export const NFPROTO_IPV4 = 2;

/** seccomp's audit architecture of each machine (linux/audit.h): what a filter checks first. */
export const AUDIT_ARCH: Record<Arch, number> = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };
/** x86_64's x32 system calls: the number with this bit set. */
export const X32_SYSCALL_BIT = 0x40000000;

/** bpf(2)'s commands, program and attach types bunker uses (a cgroup v2 device filter). */
export const BPF_CMD = { PROG_LOAD: 5, PROG_ATTACH: 8 } as const;
export const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
export const BPF_CGROUP_DEVICE = 6;
export const BPF_F_ALLOW_MULTI = 2;
/** What a cgroup device program is asked (struct bpf_cgroup_dev_ctx's access_type). */
export const BPF_DEVCG_DEV = { BLOCK: 1, CHAR: 2 } as const;
export const BPF_DEVCG_ACC = { MKNOD: 1, READ: 2, WRITE: 4 } as const;

/** File system magic numbers (statfs's f_type). */
export const TMPFS_MAGIC = 0x01021994;
export const RAMFS_MAGIC = 0x858458f6;
export const NSFS_MAGIC = 0x6e736673;

/** Linux's dev_t encoding (new_encode_dev). */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return (mi & 0xffn) | ((ma & 0xfffn) << 8n) | ((mi & ~0xffn) << 12n) | ((ma & ~0xfffn) << 32n);
}
