// System call numbers by architecture. x86_64 has its own table; aarch64 uses
// the generic table from asm-generic/unistd.h.

export type Arch = "x86_64" | "aarch64";

const table = {
  read: [0, 63],
  write: [1, 64],
  close: [3, 57],
  ioctl: [16, 29],
  fcntl: [72, 25],
  socket: [41, 198],
  bind: [49, 200],
  connect: [42, 203],
  listen: [50, 201],
  shutdown: [48, 210],
  getsockname: [51, 204],
  sendto: [44, 206],
  recvfrom: [45, 207],
  setsockopt: [54, 208],
  execve: [59, 221],
  execveat: [322, 281],
  kill: [62, 129],
  chdir: [80, 49],
  fchdir: [81, 50],
  umask: [95, 166],
  ioprio_set: [251, 30],
  sched_setattr: [314, 274],
  personality: [135, 92],
  getuid: [102, 174],
  getgid: [104, 176],
  geteuid: [107, 175],
  setgroups: [116, 159],
  setresuid: [117, 147],
  setresgid: [119, 149],
  capget: [125, 90],
  getrandom: [318, 278],
  clock_gettime: [228, 113],
  capset: [126, 91],
  pivot_root: [155, 41],
  prctl: [157, 167],
  mount: [165, 40],
  umount2: [166, 39],
  sethostname: [170, 161],
  setdomainname: [171, 162],
  exit_group: [231, 94],
  rt_sigaction: [13, 134],
  rt_sigprocmask: [14, 135],
  getpid: [39, 172],
  getppid: [110, 173],
  waitid: [247, 95],
  openat: [257, 56],
  mkdirat: [258, 34],
  mknodat: [259, 33],
  fchownat: [260, 54],
  unlinkat: [263, 35],
  symlinkat: [266, 36],
  unshare: [272, 97],
  mmap: [9, 222],
  fsetxattr: [190, 7],
  lgetxattr: [192, 9],
  fgetxattr: [193, 10],
  llistxattr: [195, 12],
  linkat: [265, 37],
  fchown: [93, 55],
  fchmod: [91, 52],
  lseek: [8, 62],
  ftruncate: [77, 46],
  utimensat: [280, 88],
  munmap: [11, 215],
  dup3: [292, 24],
  pipe2: [293, 59],
  prlimit64: [302, 261],
  setns: [308, 268],
  seccomp: [317, 277],
  memfd_create: [319, 279],
  open_tree: [428, 428],
  move_mount: [429, 429],
  fsopen: [430, 430],
  fsconfig: [431, 431],
  fsmount: [432, 432],
  pidfd_open: [434, 434],
  pidfd_send_signal: [424, 424],
  clone3: [435, 435],
  close_range: [436, 436],
  openat2: [437, 437],
  statx: [332, 291],
  statfs: [137, 43],
  fstatfs: [138, 44],
  faccessat: [269, 48],
  flock: [73, 32],
  renameat2: [316, 276],
  getdents64: [217, 61],
  readlinkat: [267, 78],
  wait4: [61, 260],
  ppoll: [271, 73],
  socketpair: [53, 199],
  sendmsg: [46, 211],
  recvmsg: [47, 212],
  setsid: [112, 157],
  rt_sigtimedwait: [128, 137],
  mount_setattr: [442, 442],
  process_vm_writev: [311, 271],
  bpf: [321, 280],
} as const satisfies Record<string, readonly [number, number]>;

export type SyscallName = keyof typeof table;

export const syscallNames = Object.keys(table) as SyscallName[];

export function hostArch(): Arch {
  switch (process.arch) {
    case "x64":
      return "x86_64";
    case "arm64":
      return "aarch64";
    default:
      throw new Error(`unsupported architecture ${process.arch}: bunker runs on x86_64 and aarch64`);
  }
}

export function syscallNumber(name: SyscallName, arch: Arch = hostArch()): number {
  return table[name][arch === "x86_64" ? 0 : 1];
}

/** Reverse lookup, for describing a program in debug output. */
export function syscallName(nr: number, arch: Arch = hostArch()): string {
  const i = arch === "x86_64" ? 0 : 1;
  for (const name of syscallNames) if (table[name][i] === nr) return name;
  return `syscall ${nr}`;
}
