// Byte offsets and sizes of the kernel's and glibc's structs that bunker
// fills or reads in buffers of its own. Every one is the same on x86_64 and
// aarch64 (both LP64, and these structs have no per-architecture variant
// there: struct stat and epoll_event, which do differ, are not used);
// test/unit/abi.test.ts reads each from both architectures' headers
// (offsetof, sizeof).

/** struct statx (linux/stat.h). */
export const STATX_LAYOUT = { mask: 0, attributes: 8, uid: 20, gid: 24, mode: 28, ino: 32, size: 40, btimeSec: 80, btimeNsec: 88, devMajor: 136, devMinor: 140, mntId: 144, SIZE: 256 } as const;

/** struct statfs: only f_type is read; SIZE is the buffer bunker hands over. */
export const STATFS_LAYOUT = { type: 0, flags: 80, SIZE: 120 } as const;

/** struct clone_args (linux/sched.h) up to its cgroup field: CLONE_ARGS_SIZE_VER2. */
export const CLONE_ARGS_LAYOUT = { flags: 0, pidfd: 8, childTid: 16, parentTid: 24, exitSignal: 32, stack: 40, stackSize: 48, tls: 56, setTid: 64, setTidSize: 72, cgroup: 80, SIZE: 88 } as const;

/** struct mount_attr (linux/mount.h): MOUNT_ATTR_SIZE_VER0. */
export const MOUNT_ATTR_LAYOUT = { attrSet: 0, attrClr: 8, propagation: 16, usernsFd: 24, SIZE: 32 } as const;

/** struct open_how (linux/openat2.h). */
export const OPEN_HOW_LAYOUT = { flags: 0, mode: 8, resolve: 16, SIZE: 24 } as const;

/** struct seccomp_data (linux/seccomp.h): the words a filter loads. */
export const SECCOMP_DATA_LAYOUT = { nr: 0, arch: 4, instructionPointer: 8, args: 16, SIZE: 64 } as const;

/** struct sock_filter and struct sock_fprog (linux/filter.h). */
export const SOCK_FILTER_LAYOUT = { code: 0, jt: 2, jf: 3, k: 4, SIZE: 8 } as const;
export const SOCK_FPROG_LAYOUT = { len: 0, filter: 8, SIZE: 16 } as const;

/** struct sockaddr_in, sockaddr_un, sockaddr_nl. */
export const SOCKADDR_IN_LAYOUT = { family: 0, port: 2, addr: 4, SIZE: 16 } as const;
export const SOCKADDR_UN_LAYOUT = { family: 0, path: 2, SIZE: 110 } as const;
export const SOCKADDR_NL_LAYOUT = { family: 0, pid: 4, groups: 8, SIZE: 12 } as const;

/** Netlink: struct nlmsghdr, nlmsgerr, nlattr (rtattr has the same layout). */
export const NLMSGHDR_LAYOUT = { len: 0, type: 4, flags: 6, seq: 8, pid: 12, SIZE: 16 } as const;
export const NLMSGERR_LAYOUT = { error: 0, msg: 4 } as const;
export const NLATTR_LAYOUT = { len: 0, type: 2, SIZE: 4 } as const;
/** rtnetlink: struct ifinfomsg, ifaddrmsg, rtmsg; nfnetlink's nfgenmsg. */
export const IFINFOMSG_LAYOUT = { family: 0, type: 2, index: 4, flags: 8, change: 12, SIZE: 16 } as const;
export const IFADDRMSG_LAYOUT = { family: 0, prefixlen: 1, flags: 2, scope: 3, index: 4, SIZE: 8 } as const;
export const RTMSG_LAYOUT = { family: 0, dstLen: 1, srcLen: 2, tos: 3, table: 4, protocol: 5, scope: 6, type: 7, flags: 8, SIZE: 12 } as const;
export const NFGENMSG_LAYOUT = { family: 0, version: 1, resId: 2, SIZE: 4 } as const;
/** struct ifreq: the name and ifr_flags (SIOCSIFFLAGS). */
export const IFREQ_LAYOUT = { name: 0, flags: 16, SIZE: 40 } as const;

/** The kernel's struct termios (asm/termbits.h), which TCGETS fills: not glibc's, which is larger. */
export const TERMIOS_LAYOUT = { iflag: 0, oflag: 4, cflag: 8, lflag: 12, line: 16, cc: 17, SIZE: 36 } as const;
export const WINSIZE_LAYOUT = { row: 0, col: 2, xpixel: 4, ypixel: 6, SIZE: 8 } as const;

/** struct msghdr, iovec and cmsghdr; CMSG_LEN and CMSG_SPACE of one descriptor (SCM_RIGHTS). */
export const MSGHDR_LAYOUT = { name: 0, namelen: 8, iov: 16, iovlen: 24, control: 32, controllen: 40, flags: 48, SIZE: 56 } as const;
export const IOVEC_LAYOUT = { base: 0, len: 8, SIZE: 16 } as const;
export const CMSGHDR_LAYOUT = { len: 0, level: 8, type: 12, data: 16, LEN_FD: 20, SPACE_FD: 24 } as const;

/** struct pollfd. */
export const POLLFD_LAYOUT = { fd: 0, events: 4, revents: 6, SIZE: 8 } as const;

/** glibc's struct sigaction and sigset_t (what libc's sigaction takes), and the kernel's sigset (rt_sigprocmask's size). */
export const SIGACTION_LAYOUT = { handler: 0, mask: 8, flags: 136, restorer: 144, SIZE: 152 } as const;
export const GLIBC_SIGSET_SIZE = 128;
export const KERNEL_SIGSET_SIZE = 8;
/** The kernel's struct sigaction (rt_sigaction's, not glibc's): handler, flags, restorer, mask. */
export const KERNEL_SIGACTION_SIZE = 32;
/** siginfo_t: where waitid puts the pid. */
export const SIGINFO_LAYOUT = { signo: 0, pid: 16, SIZE: 128 } as const;

/** capget/capset's struct __user_cap_header_struct and one __user_cap_data_struct. */
export const CAP_HEADER_LAYOUT = { version: 0, pid: 4, SIZE: 8 } as const;
export const CAP_DATA_LAYOUT = { effective: 0, permitted: 4, inheritable: 8, SIZE: 12 } as const;

/** struct sched_attr (SCHED_ATTR_SIZE_VER0). */
export const SCHED_ATTR_LAYOUT = { size: 0, policy: 4, flags: 8, nice: 16, priority: 20, runtime: 24, deadline: 32, period: 40, SIZE: 48 } as const;

/** struct linux_dirent64 (getdents64). */
export const DIRENT64_LAYOUT = { ino: 0, off: 8, reclen: 16, type: 18, name: 19 } as const;

/** struct rlimit64 (prlimit64). */
export const RLIMIT_LAYOUT = { cur: 0, max: 8, SIZE: 16 } as const;

/** union bpf_attr: BPF_PROG_LOAD's and BPF_PROG_ATTACH's fields; struct bpf_cgroup_dev_ctx; struct bpf_insn. */
export const BPF_PROG_LOAD_LAYOUT = { progType: 0, insnCnt: 4, insns: 8, license: 16, logLevel: 24, logSize: 28, logBuf: 32, progName: 48 } as const;
export const BPF_PROG_ATTACH_LAYOUT = { targetFd: 0, attachBpfFd: 4, attachType: 8, attachFlags: 12 } as const;
export const BPF_CGROUP_DEV_CTX_LAYOUT = { accessType: 0, major: 4, minor: 8, SIZE: 12 } as const;
export const BPF_INSN_SIZE = 8;
