// What each value bunker keeps in src/sys/constants.ts and src/sys/layouts.ts
// is called in C, and which headers define it: names only. The values
// themselves come from the compilers (abi-c.ts), never from this file.

import type { Unit } from "./abi-c";

/** uapi headers alone: the kernel's own definitions (glibc's fcntl.h or sys/mount.h would clash with them). */
export const KERNEL_HEADERS = [
  "<linux/types.h>",
  "<linux/fcntl.h>",
  "<linux/openat2.h>",
  "<linux/mount.h>",
  "<linux/fs.h>",
  "<linux/sched.h>",
  "<linux/sched/types.h>",
  "<linux/stat.h>",
  "<linux/prctl.h>",
  "<linux/capability.h>",
  "<linux/memfd.h>",
  "<linux/close_range.h>",
  "<linux/wait.h>",
  "<linux/poll.h>",
  "<linux/mman.h>",
  "<asm/ioctls.h>",
  "<asm/termbits.h>",
  "<asm/termios.h>",
  "<asm/statfs.h>",
  "<linux/sockios.h>",
  "<linux/if.h>",
  "<linux/netlink.h>",
  "<linux/rtnetlink.h>",
  "<linux/if_link.h>",
  "<linux/if_addr.h>",
  "<linux/veth.h>",
  "<linux/netfilter.h>",
  "<linux/netfilter/nfnetlink.h>",
  "<linux/netfilter/nf_tables.h>",
  "<linux/audit.h>",
  "<linux/seccomp.h>",
  "<linux/filter.h>",
  "<linux/bpf.h>",
  "<linux/magic.h>",
  "<linux/ioprio.h>",
  "<linux/personality.h>",
  "<asm/unistd.h>",
] as const;

/** glibc's headers: what bunker hands to libc (sigaction, sigset_t), and what only glibc defines for user space (AF_*, MSG_*, MNT_DETACH). */
export const LIBC_HEADERS = [
  "<fcntl.h>",
  "<signal.h>",
  "<sys/socket.h>",
  "<sys/un.h>",
  "<netinet/in.h>",
  "<sys/mount.h>",
  "<sys/stat.h>",
  "<sys/statvfs.h>",
  "<sys/sysmacros.h>",
  "<sys/resource.h>",
  "<dirent.h>",
  "<time.h>",
  "<unistd.h>",
] as const;
export const LIBC_PRELUDE = ["#define _GNU_SOURCE"] as const;

export type Where = "kernel" | "libc";

/**
 * Values newer than Debian 12's headers (Linux 6.1): checked where the
 * headers define them, and otherwise named as unchecked. memfd_create's
 * MFD_NOEXEC_SEAL and MFD_EXEC came with 6.3; statfs's ST_NOSYMFOLLOW
 * (Linux 5.10) is not in Debian 12's glibc headers.
 */
export const NEWER_THAN_HEADERS: ReadonlySet<string> = new Set(["MFD_NOEXEC_SEAL", "MFD_EXEC", "ST_NOSYMFOLLOW"]);

/** Constants taken from glibc's headers; every other one from the kernel's. */
const FROM_LIBC: readonly RegExp[] = [
  /^SIG/, // the signals and SIG_BLOCK/SIG_UNBLOCK/SIG_SETMASK, as glibc's sigaction and pthread_sigmask take them
  /^SA_/,
  /^AF_/,
  /^SOCK_/,
  /^SOL_/,
  /^SO_/,
  /^SCM_/,
  /^MSG_/,
  /^MS_/,
  /^MNT_DETACH$/,
  /^ST_/,
  /^UMOUNT_NOFOLLOW$/,
  /^S_I/,
  /^CLOCK_/,
  /^RLIMIT_/,
  /^SEEK_/,
  /^[RWXF]_OK$/,
];
export const whereIs = (c: string): Where => (FROM_LIBC.some((r) => r.test(c)) ? "libc" : "kernel");

/** The C name of constants.ts's export `name` (a number) or of its member `key` (an object of values). */
export function cName(name: string, key?: string): string {
  if (key === undefined) {
    const renamed: Record<string, string> = { WALL: "__WALL", LINUX_CAPABILITY_VERSION_3: "_LINUX_CAPABILITY_VERSION_3", X32_SYSCALL_BIT: "__X32_SYSCALL_BIT" };
    return renamed[name] ?? name;
  }
  if (name === "SIGNALS" || name.startsWith("TERMIOS_")) return key;
  if (name === "V") return `V${key}`;
  if (name === "BPF_CMD") return `BPF_${key}`;
  return `${name}_${key}`;
}

/** The C struct and field (or expression) of each layout in layouts.ts; SIZE is sizeof unless given. */
export interface Layout {
  struct: string;
  where: Where;
  fields: Record<string, string>;
}

const s = (struct: string, where: Where, fields: Record<string, string>): Layout => ({ struct, where, fields });

export const LAYOUTS: Record<string, Layout> = {
  STATX_LAYOUT: s("struct statx", "kernel", { mask: "stx_mask", attributes: "stx_attributes", uid: "stx_uid", gid: "stx_gid", mode: "stx_mode", ino: "stx_ino", size: "stx_size", btimeSec: "stx_btime.tv_sec", btimeNsec: "stx_btime.tv_nsec", devMajor: "stx_dev_major", devMinor: "stx_dev_minor", mntId: "stx_mnt_id" }),
  STATFS_LAYOUT: s("struct statfs", "kernel", { type: "f_type", flags: "f_flags" }),
  CLONE_ARGS_LAYOUT: s("struct clone_args", "kernel", { flags: "flags", pidfd: "pidfd", childTid: "child_tid", parentTid: "parent_tid", exitSignal: "exit_signal", stack: "stack", stackSize: "stack_size", tls: "tls", setTid: "set_tid", setTidSize: "set_tid_size", cgroup: "cgroup", SIZE: "=CLONE_ARGS_SIZE_VER2" }),
  MOUNT_ATTR_LAYOUT: s("struct mount_attr", "kernel", { attrSet: "attr_set", attrClr: "attr_clr", propagation: "propagation", usernsFd: "userns_fd", SIZE: "=MOUNT_ATTR_SIZE_VER0" }),
  OPEN_HOW_LAYOUT: s("struct open_how", "kernel", { flags: "flags", mode: "mode", resolve: "resolve" }),
  SECCOMP_DATA_LAYOUT: s("struct seccomp_data", "kernel", { nr: "nr", arch: "arch", instructionPointer: "instruction_pointer", args: "args" }),
  SOCK_FILTER_LAYOUT: s("struct sock_filter", "kernel", { code: "code", jt: "jt", jf: "jf", k: "k" }),
  SOCK_FPROG_LAYOUT: s("struct sock_fprog", "kernel", { len: "len", filter: "filter" }),
  SOCKADDR_IN_LAYOUT: s("struct sockaddr_in", "libc", { family: "sin_family", port: "sin_port", addr: "sin_addr" }),
  SOCKADDR_UN_LAYOUT: s("struct sockaddr_un", "libc", { family: "sun_family", path: "sun_path" }),
  SOCKADDR_NL_LAYOUT: s("struct sockaddr_nl", "kernel", { family: "nl_family", pid: "nl_pid", groups: "nl_groups" }),
  NLMSGHDR_LAYOUT: s("struct nlmsghdr", "kernel", { len: "nlmsg_len", type: "nlmsg_type", flags: "nlmsg_flags", seq: "nlmsg_seq", pid: "nlmsg_pid" }),
  NLMSGERR_LAYOUT: s("struct nlmsgerr", "kernel", { error: "error", msg: "msg" }),
  NLATTR_LAYOUT: s("struct nlattr", "kernel", { len: "nla_len", type: "nla_type" }),
  IFINFOMSG_LAYOUT: s("struct ifinfomsg", "kernel", { family: "ifi_family", type: "ifi_type", index: "ifi_index", flags: "ifi_flags", change: "ifi_change" }),
  IFADDRMSG_LAYOUT: s("struct ifaddrmsg", "kernel", { family: "ifa_family", prefixlen: "ifa_prefixlen", flags: "ifa_flags", scope: "ifa_scope", index: "ifa_index" }),
  RTMSG_LAYOUT: s("struct rtmsg", "kernel", { family: "rtm_family", dstLen: "rtm_dst_len", srcLen: "rtm_src_len", tos: "rtm_tos", table: "rtm_table", protocol: "rtm_protocol", scope: "rtm_scope", type: "rtm_type", flags: "rtm_flags" }),
  NFGENMSG_LAYOUT: s("struct nfgenmsg", "kernel", { family: "nfgen_family", version: "version", resId: "res_id" }),
  IFREQ_LAYOUT: s("struct ifreq", "kernel", { name: "ifr_name", flags: "ifr_flags" }),
  TERMIOS_LAYOUT: s("struct termios", "kernel", { iflag: "c_iflag", oflag: "c_oflag", cflag: "c_cflag", lflag: "c_lflag", line: "c_line", cc: "c_cc" }),
  WINSIZE_LAYOUT: s("struct winsize", "kernel", { row: "ws_row", col: "ws_col", xpixel: "ws_xpixel", ypixel: "ws_ypixel" }),
  MSGHDR_LAYOUT: s("struct msghdr", "libc", { name: "msg_name", namelen: "msg_namelen", iov: "msg_iov", iovlen: "msg_iovlen", control: "msg_control", controllen: "msg_controllen", flags: "msg_flags" }),
  IOVEC_LAYOUT: s("struct iovec", "libc", { base: "iov_base", len: "iov_len" }),
  CMSGHDR_LAYOUT: s("struct cmsghdr", "libc", { len: "cmsg_len", level: "cmsg_level", type: "cmsg_type", data: "=CMSG_LEN(0)", LEN_FD: "=CMSG_LEN(sizeof(int))", SPACE_FD: "=CMSG_SPACE(sizeof(int))" }),
  POLLFD_LAYOUT: s("struct pollfd", "kernel", { fd: "fd", events: "events", revents: "revents" }),
  SIGACTION_LAYOUT: s("struct sigaction", "libc", { handler: "sa_handler", mask: "sa_mask", flags: "sa_flags", restorer: "sa_restorer" }),
  SIGINFO_LAYOUT: s("siginfo_t", "libc", { signo: "si_signo", pid: "si_pid" }),
  CAP_HEADER_LAYOUT: s("struct __user_cap_header_struct", "kernel", { version: "version", pid: "pid" }),
  CAP_DATA_LAYOUT: s("struct __user_cap_data_struct", "kernel", { effective: "effective", permitted: "permitted", inheritable: "inheritable" }),
  SCHED_ATTR_LAYOUT: s("struct sched_attr", "kernel", { size: "size", policy: "sched_policy", flags: "sched_flags", nice: "sched_nice", priority: "sched_priority", runtime: "sched_runtime", deadline: "sched_deadline", period: "sched_period", SIZE: "=SCHED_ATTR_SIZE_VER0" }),
  DIRENT64_LAYOUT: s("struct dirent64", "libc", { ino: "d_ino", off: "d_off", reclen: "d_reclen", type: "d_type", name: "d_name" }),
  RLIMIT_LAYOUT: s("struct rlimit64", "libc", { cur: "rlim_cur", max: "rlim_max" }),
  BPF_PROG_LOAD_LAYOUT: s("union bpf_attr", "kernel", { progType: "prog_type", insnCnt: "insn_cnt", insns: "insns", license: "license", logLevel: "log_level", logSize: "log_size", logBuf: "log_buf", progName: "prog_name" }),
  BPF_PROG_ATTACH_LAYOUT: s("union bpf_attr", "kernel", { targetFd: "target_fd", attachBpfFd: "attach_bpf_fd", attachType: "attach_type", attachFlags: "attach_flags" }),
  BPF_CGROUP_DEV_CTX_LAYOUT: s("struct bpf_cgroup_dev_ctx", "kernel", { accessType: "access_type", major: "major", minor: "minor" }),
};

/** Sizes that are not one struct's. */
export const SIZES: Record<string, { expr: string; where: Where | { headers: string[] } }> = {
  GLIBC_SIGSET_SIZE: { expr: "sizeof(sigset_t)", where: "libc" },
  KERNEL_SIGSET_SIZE: { expr: "_NSIG / 8", where: "libc" },
  BPF_INSN_SIZE: { expr: "sizeof(struct bpf_insn)", where: "kernel" },
  // The kernel's struct sigaction, from its own header alone (glibc's sigset_t would clash with it).
  KERNEL_SIGACTION_SIZE: { expr: "sizeof(struct sigaction)", where: { headers: ["<asm/signal.h>"] } },
};

/** The C expression of a layout's member (offsetof, sizeof, or an expression given after "="). */
export function layoutExpr(l: Layout, member: string): string {
  const f = member === "SIZE" ? (l.fields.SIZE ?? `=sizeof(${l.struct})`) : l.fields[member];
  if (f === undefined) throw new Error(`${l.struct}: no C name for ${member}`);
  return f.startsWith("=") ? f.slice(1) : `offsetof(${l.struct}, ${f})`;
}

export function unit(where: Where, values: Unit["values"]): Unit {
  return where === "kernel" ? { headers: KERNEL_HEADERS, values } : { headers: LIBC_HEADERS, prelude: LIBC_PRELUDE, values };
}
