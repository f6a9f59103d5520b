// Assembles the whole child program: the handshake with the parent, the
// planners' steps, and the execve along PATH that ends it.

import { ChildProgram, type Slot } from "../child/program";
import { planParentCheck } from "../child/liveness";
import { descriptorBound, planDescriptorsFrom } from "../child/descriptors";
import { has } from "../sys/kernel";
import { planSetUser, planUsernsEntry } from "../identity/plan";
import { ALL_CAP_LIMITS, capPlan, planBoundingSet, planCapabilities, planNoNewPrivs, planRlimits, planSeccomp, type CapLimits, type Rlimit } from "../security/plan";
import { planLoopbackUp } from "../net/loopback";
import { planRootfs, type RootfsFacts } from "../rootfs/plan";
import { envValue, DEFAULT_PATH } from "../spec/defaults";
import type { ContainerSpec, Process } from "../spec/types";
import { AT, CLONE, F_SETFL, IOPRIO_CLASS, IOPRIO_CLASS_SHIFT, IOPRIO_WHO_PROCESS, O, PER_LINUX32, PR_SET_DUMPABLE, PR_SET_NAME, PR_SET_PDEATHSIG, SIG_BLOCK, SIG_SETMASK, SIGNALS, X_OK } from "../sys/constants";
import { syscallNumber } from "../sys/syscalls";
import { planTerminal, type TerminalSetup } from "./tty";
import { Errno } from "../sys/errno";
import { INIT_ARGS, type InitField } from "../../native/layout";
import { SCHED_FLAG, SCHED_POLICY } from "../spec/sched";
import { KERNEL_SIGACTION_SIZE, KERNEL_SIGSET_SIZE, SCHED_ATTR_LAYOUT as SA } from "../sys/layouts";

export interface Handshake {
  syncRead: number;
  syncWrite: number;
  /** The error pipe's write end, for a child that reports its namespaces made (see planHandshake). */
  errWrite?: number;
}

/** What a child that reports its namespaces made writes where a failure report would go: step -1. */
export const NAMESPACES_MADE = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

/** What a child created for `bunker start` writes once it waits at its start gate: step -2. */
export const CREATED = new Uint8Array([0xfe, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

/**
 * OCI create's gate: the child, all set up, waits here until `bunker start`
 * writes a byte into the FIFO `fifo` (open read-write, close-on-exec; see
 * oci/gate.ts). bunker exits before that: the child must outlive it.
 */
export interface StartGate {
  fifo: number;
  errWrite: number;
}

/** A cgroup's file that a process moves itself into by writing "0" (open for writing, close-on-exec). */
export interface CgroupEntry {
  fd: number;
  dir: string;
}

export interface HandshakeOptions {
  /**
   * Once released, the child moves itself into these cgroup v1 directories
   * through their `tasks` files: a thread that moves itself is the one move
   * that does not take the kernel's lock on every thread group, whose
   * release waits for an RCU grace period (8 to 30 ms for cgroup.procs).
   * Single-threaded as it is, the child moves whole.
   */
  cgroupTasks?: readonly CgroupEntry[];
  /** Make the cgroup namespace once released: bunker has placed the child in its cgroups by then. */
  cgroupns?: boolean;
  /** Then say so on the error pipe and wait to be released once more (for --pin, which needs every namespace). */
  reportNamespaces?: boolean;
  /** What bunker does meanwhile, in the step's words (default: pin the namespaces). */
  reportFor?: string;
  /** Leave the last steps (planHandshakeEnd) to the caller: it makes namespaces after this, in a joined user namespace. */
  endLater?: boolean;
}

const NS_FLAGS: Record<string, number> = {
  pid: CLONE.NEWPID,
  network: CLONE.NEWNET,
  mount: CLONE.NEWNS,
  ipc: CLONE.NEWIPC,
  uts: CLONE.NEWUTS,
  user: CLONE.NEWUSER,
  cgroup: CLONE.NEWCGROUP,
  time: CLONE.NEWTIME,
};

/**
 * Namespaces made by clone. The cgroup namespace comes later (see
 * planCgroupNamespace), and so does the time namespace (planTimeNamespace):
 * its flag is the exit signal's bits to clone.
 */
export function cloneFlags(spec: ContainerSpec): number {
  // In a joined user namespace, the new ones are made after joining it, so that it owns them.
  if (joinsUserns(spec)) return 0;
  return ownNamespaceFlags(spec);
}

function ownNamespaceFlags(spec: ContainerSpec): number {
  let flags = 0;
  for (const ns of spec.oci.linux.namespaces) if (!ns.path && ns.type !== "cgroup" && ns.type !== "time") flags |= NS_FLAGS[ns.type] ?? 0;
  return flags;
}

/** Whether the spec joins a user namespace by path (a pod's) instead of making one. */
export function joinsUserns(spec: ContainerSpec): boolean {
  return spec.oci.linux.namespaces.some((n) => n.type === "user" && n.path !== undefined);
}

/**
 * A time namespace of the container's own, owned by its user namespace: made
 * for this process's children by unshare, its clocks offset while nothing is
 * in it yet (linux.timeOffsets), then entered. Entering takes a process that
 * shares its memory with no other (the kernel's EUSERS otherwise): the
 * container's process is given a copy (see createContainer).
 */
function planTimeNamespace(p: ChildProgram, spec: ContainerSpec): void {
  p.call("make the time namespace", "unshare", [CLONE.NEWTIME]);
  const offsets = spec.oci.linux.timeOffsets ?? {};
  const lines = (["monotonic", "boottime"] as const).flatMap((clock) => {
    const o = offsets[clock];
    return o ? [`${clock} ${o.secs} ${o.nanosecs}\n`] : [];
  });
  if (lines.length) {
    // Not dumpable, this process's /proc files are the host root's: in a user namespace of its
    // own it could not open the file. Nothing else is in the container yet to reach it meanwhile.
    const userns = hasNamespace(spec, "user");
    if (userns) p.call("make this process dumpable while it offsets its clocks", "prctl", [PR_SET_DUMPABLE, 1, 0, 0, 0]);
    const fd = p.newSlot();
    p.call("open /proc/self/timens_offsets", "openat", [AT.FDCWD, p.str("/proc/self/timens_offsets"), O.WRONLY | O.CLOEXEC, 0], { save: fd });
    const text = new TextEncoder().encode(lines.join(""));
    p.call(`offset the time namespace's clocks (${lines.map((l) => l.trim()).join(", ")})`, "write", [fd, p.arena.bytes(text), text.length], { expect: { value: text.length, errno: Errno.EIO } });
    p.call("close /proc/self/timens_offsets", "close", [fd]);
    if (userns) p.call("make this process not dumpable again", "prctl", [PR_SET_DUMPABLE, 0, 0, 0, 0]);
  }
  const ns = p.newSlot();
  p.call("open the new time namespace", "openat", [AT.FDCWD, p.str("/proc/self/ns/time_for_children"), O.RDONLY | O.CLOEXEC, 0], { save: ns });
  p.call("enter the new time namespace", "setns", [ns, CLONE.NEWTIME]);
  p.call("close the time namespace's file", "close", [ns]);
}

export function hasNamespace(spec: ContainerSpec, type: string): boolean {
  return spec.oci.linux.namespaces.some((n) => n.type === type && !n.path);
}

/** The first steps: die with the parent, then wait until it has done its part. */
export function planHandshake(p: ChildProgram, h: Handshake, o: HandshakeOptions = {}): void {
  // Should bunker die before this step, the blocking read below sees EOF.
  p.call("ask to be killed when bunker dies", "prctl", [PR_SET_PDEATHSIG, SIGNALS.SIGKILL, 0, 0, 0]);
  p.call("close the parent's end of the sync pipe", "close", [h.syncWrite]);
  const buf = p.arena.alloc(8).addr;
  // EOF here means bunker went away (or gave up) before the container started.
  p.call("wait for bunker to finish setting up", "read", [h.syncRead, buf, 1], { expect: { value: 1, errno: Errno.ECANCELED } });
  for (const c of o.cgroupTasks ?? []) {
    p.call(`move into the container's cgroup ${c.dir}`, "write", [c.fd, p.str("0"), 1], { expect: { value: 1, errno: Errno.EIO } });
    p.call(`close ${c.dir}/tasks`, "close", [c.fd]);
  }
  // A cgroup namespace is rooted at the cgroups its creator is in when it is made: made only now, the
  // container sees its own cgroup at /.
  if (o.cgroupns) p.call("create the cgroup namespace", "unshare", [CLONE.NEWCGROUP]);
  if (o.reportNamespaces) planNamespacesMade(p, h, o.reportFor);
  if (!o.endLater) planHandshakeEnd(p, h);
}

/** Says the namespaces are made, and waits for bunker to release it once more (having pinned them, or plumbed the network into them). */
function planNamespacesMade(p: ChildProgram, h: Handshake, what = "pin the namespaces"): void {
  if (h.errWrite === undefined) return;
  const buf = p.arena.alloc(8).addr;
  p.call("tell bunker the namespaces are made", "write", [h.errWrite, p.arena.bytes(NAMESPACES_MADE), 8], { expect: { value: 8, errno: Errno.EIO } });
  p.call(`wait for bunker to ${what}`, "read", [h.syncRead, buf, 1], { expect: { value: 1, errno: Errno.ECANCELED } });
}

/** The handshake's end: the sync pipe a liveness check from then on, and this process no longer dumpable. */
function planHandshakeEnd(p: ChildProgram, h: Handshake): void {
  // From now on the pipe only tells whether bunker is alive (see child/liveness.ts).
  p.call("make the sync pipe non-blocking", "fcntl", [h.syncRead, F_SETFL, O.NONBLOCK]);
  // Until execve this process is a copy of bunker: its /proc/PID/exe leads to bunker's executable
  // on the host. Not dumpable, nothing in a container it joins may open that (execve resets it).
  // Only now: a non-dumpable process's /proc files belong to the host's root, and bunker, rootless,
  // had to write this one's uid_map and open its namespaces first.
  p.call("make this process not dumpable", "prctl", [PR_SET_DUMPABLE, 0, 0, 0, 0]);
}

/**
 * Handlers copied from bunker, and ignored signals (which survive execve), go
 * back to the default. `signals` lists those not at their default in bunker.
 * Then the signals bunker forwards are unblocked (spawnChild blocks them
 * across clone, while the child still has bunker's handlers): a Ctrl-C or
 * SIGTERM passed on during the rest of the set-up ends it at once, even if a
 * step blocks, instead of waiting, pending, for an execve that may never come.
 */
export function planSignalReset(p: ChildProgram, signals: readonly number[]): void {
  const dfl = p.arena.alloc(KERNEL_SIGACTION_SIZE).addr; // SIG_DFL, no flags, empty mask: all zero on every arch
  for (const sig of new Set(signals)) {
    if (sig === SIGNALS.SIGKILL || sig === SIGNALS.SIGSTOP) continue;
    p.call(`reset the handler of signal ${sig}`, "rt_sigaction", [sig, dfl, 0, KERNEL_SIGSET_SIZE]);
  }
  p.call("unblock all signals", "rt_sigprocmask", [SIG_SETMASK, p.arena.alloc(KERNEL_SIGSET_SIZE).addr, 0, KERNEL_SIGSET_SIZE]);
}

/**
 * A session of its own: the container must not share the caller's, whose
 * controlling terminal it could otherwise push input into (TIOCSTI) or hang
 * up, and whose foreground process group it would be part of.
 */
export function planSession(p: ChildProgram): void {
  p.call("start a session", "setsid", []);
}

/** The names in a UTS namespace of its own (the domain name cleared unless given); in a joined one, only those given. */
function planUts(p: ChildProgram, spec: ContainerSpec, own: boolean): void {
  const name = spec.oci.hostname;
  if (name !== undefined) {
    const bytes = new TextEncoder().encode(name);
    p.call(`set hostname to ${name}`, "sethostname", [p.arena.bytes(bytes), bytes.length]);
  }
  const domain = spec.oci.domainname ?? (own ? "" : undefined);
  if (domain === undefined) return;
  const dbytes = new TextEncoder().encode(domain);
  p.call(`set domain name to "${domain}"`, "setdomainname", [p.arena.bytes(dbytes), dbytes.length]);
}

/** Candidate paths for the command, as execvp would try them. */
export function execCandidates(command: string, pathVar: string | undefined): string[] {
  if (command.includes("/")) return [command];
  const dirs = (pathVar ?? DEFAULT_PATH).split(":");
  return dirs.map((d) => `${d === "" ? "." : d.replace(/\/+$/, "")}/${command}`);
}

function planWorkdirCreate(p: ChildProgram, spec: ContainerSpec): void {
  const cwd = spec.oci.process.cwd;
  if (cwd === "/" || !spec.bunker.cwd.create) return;
  const parts = cwd.split("/").filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const dir = `/${parts.slice(0, i).join("/")}`;
    p.call(`create working directory ${dir}`, "mkdirat", [AT.FDCWD, p.str(dir), 0o755], { ignore: [Errno.EEXIST] });
  }
}

function planWorkdirEnter(p: ChildProgram, spec: ContainerSpec): void {
  const cwd = spec.oci.process.cwd;
  if (cwd === "/") return;
  p.call(`change directory to ${cwd}`, "chdir", [p.str(cwd)], {
    ignore: spec.bunker.cwd.optional ? [Errno.ENOENT, Errno.ENOTDIR, Errno.EACCES] : [],
  });
}

/** Where bunker's own command line and environment lie in its memory (see planInitIdentity). */
export interface ArgsArea {
  argStart: bigint;
  argEnd: bigint;
  envStart: bigint;
  envEnd: bigint;
}

const INIT_NAME = "init";

/**
 * --init's PID 1 is a copy of bunker that never execs: its /proc/1/cmdline
 * and environ would show bunker's own command line (host paths) and the
 * caller's environment to the container. It overwrites both areas of its own
 * memory (process_vm_writev on itself: no capability is needed for one's own
 * memory) and renames itself.
 */
function planInitIdentity(p: ChildProgram, area: ArgsArea): void {
  const argLen = Number(area.argEnd - area.argStart);
  const envLen = Number(area.envEnd - area.envStart);
  const name = new TextEncoder().encode(INIT_NAME);
  p.call(`name this process ${INIT_NAME}`, "prctl", [PR_SET_NAME, p.arena.bytes(new Uint8Array([...name, 0])), 0, 0, 0]);
  if (argLen <= name.length || envLen < 0) return;
  const data = new Uint8Array(argLen + envLen);
  data.set(name);
  // A last byte that is not NUL tells the kernel the title was rewritten (setproctitle's rule):
  // /proc/PID/cmdline then ends at the first NUL instead of listing the whole zeroed area.
  data[argLen - 1] = 0x20;
  const local = p.arena.words([p.arena.bytes(data), data.length]);
  const remote = p.arena.words([area.argStart, argLen, area.envStart, envLen]);
  const self = p.newSlot();
  p.call("find this process's pid", "getpid", [], { save: self });
  p.call("replace bunker's command line and environment in init's memory", "process_vm_writev", [self, local, 1, remote, envLen > 0 ? 2 : 1, 0], {
    expect: { value: data.length, errno: Errno.EIO },
  });
}

/**
 * --init: this process stays as PID 1, reaping and passing signals on; the
 * command runs as its child. Given `program` (native/init.c in a memory
 * file), init execs it once the command runs, and holds kilobytes from then on.
 */
function planInit(p: ChildProgram, program: number | undefined): void {
  const all = p.arena.words([0xffffffffffffffffn]);
  p.call("block all signals for init", "rt_sigprocmask", [SIG_BLOCK, all, 0, KERNEL_SIGSET_SIZE]);
  const pidText = p.arena.alloc(24).addr;
  const fields: Record<InitField, number> = {
    nr_close_range: syscallNumber("close_range"),
    nr_sigtimedwait: syscallNumber("rt_sigtimedwait"),
    nr_wait4: syscallNumber("wait4"),
    nr_kill: syscallNumber("kill"),
    all_signals: all,
    init_fd: program ?? -1,
    nr_execveat: syscallNumber("execveat"),
    argv: p.arena.words([p.str(INIT_NAME), pidText, 0]),
    pid_text: pidText,
    envp: p.arena.words([0]),
    nr_close: syscallNumber("close"),
    fd_bound: has("closeRange") ? -1 : descriptorBound(),
  };
  const args = p.arena.words(INIT_ARGS.map((f) => fields[f]));
  const flags = CLONE.VM | CLONE.VFORK | SIGNALS.SIGCHLD;
  p.call("start the command under init", "init", [p.forkStack(), flags, args]);
}

/**
 * Descriptors bunker's caller left open (not close-on-exec) go at execve,
 * but for --preserve-fds's. Early: a seccomp profile installed before the
 * user switch (without no_new_privs) may not allow close_range, which is
 * newer than many profiles.
 */
export function planInheritedFds(p: ChildProgram, preserve: number): void {
  planDescriptorsFrom(p, 3 + preserve, "mark inherited descriptors close-on-exec");
}

/**
 * The wait for `bunker start`. The child stops dying with bunker (which
 * exits now; the caller, or its subreaper, is the parent from then on), says
 * it is created, and blocks on the FIFO until start writes its byte. Before
 * the seccomp filter, which may not allow the read.
 */
function planStartGate(p: ChildProgram, gate: StartGate, spec: ContainerSpec): void {
  // The command is looked up now, as runc does, so that one that is missing fails create (which the
  // client hears) rather than start (once bunker is gone): the first place along PATH it may be run from.
  const command = spec.oci.process.args[0]!;
  for (const path of execCandidates(command, envValue(spec.oci.process.env, "PATH"))) {
    p.call(`find "${command}"`, "faccessat", [AT.FDCWD, p.str(path), X_OK, 0], { probe: true, exec: { command, searched: !command.includes("/") } });
  }
  p.call("stay when bunker exits", "prctl", [PR_SET_PDEATHSIG, 0, 0, 0, 0]);
  p.call("tell bunker the container is created", "write", [gate.errWrite, p.arena.bytes(CREATED), 8], { expect: { value: 8, errno: Errno.EIO } });
  const buf = p.arena.alloc(8).addr;
  p.call("wait for bunker start", "read", [gate.fifo, buf, 1], { expect: { value: 1, errno: Errno.ECANCELED } });
  p.call("close the start gate", "close", [gate.fifo]);
}

/**
 * The process's own settings, the same for a container's first process and
 * for one exec'd into it: its umask (process.user.umask, else 022) and an
 * empty signal mask (bunker's thread may have blocked some).
 */
export function planProcessSettings(p: ChildProgram, proc: Process): void {
  const umask = proc.user.umask ?? 0o022;
  p.call(`set the umask to ${umask.toString(8).padStart(3, "0")}`, "umask", [umask]);
  const empty = p.arena.alloc(8).addr;
  p.call("unblock all signals", "rt_sigprocmask", [SIG_SETMASK, empty, 0, KERNEL_SIGSET_SIZE]);
}

/** execve of the process's command: `path` when given, else each candidate along its PATH until one runs. */
export function planCommand(p: ChildProgram, proc: Pick<Process, "args" | "env">, path?: string): void {
  const argv = p.arena.strv(proc.args);
  const envp = p.arena.strv(proc.env);
  const command = proc.args[0]!;
  for (const candidate of path !== undefined ? [path] : execCandidates(command, envValue(proc.env, "PATH"))) {
    p.call(`exec "${command}"`, "execve", [p.str(candidate), argv, envp], { continueOnFail: true, exec: { command, searched: !command.includes("/") } });
  }
}

function planExec(p: ChildProgram, spec: ContainerSpec, extras: PlanExtras, filter: SeccompFilter | null, lockedDown: boolean): void {
  if (extras.stdin !== undefined) p.call("take /dev/null as stdin (no -i)", "dup3", [extras.stdin, 0, 0]);
  const output = extras.output;
  if (output !== undefined) {
    p.call("send stdout to the container's log", "dup3", [output.out, 1, 0]);
    p.call("send stderr to the container's log", "dup3", [output.err, 2, 0]);
  }
  planProcessSettings(p, spec.oci.process);
  if (extras.startGate) planStartGate(p, extras.startGate, spec);
  if (!lockedDown) planLockdown(p, spec, filter);
  planCommand(p, spec.oci.process);
}

/** A namespace to join by an open file (--join-ns), instead of creating one. */
export interface JoinedNamespace {
  type: string;
  fd: number;
  flag: number;
}

export interface PlanExtras {
  /** A descriptor to give the container as stdin instead of bunker's own (/dev/null, without -i). */
  stdin?: number;
  /** Descriptors for the container's stdout and stderr (a detached container's log: its pipes, or /dev/null). */
  output?: { out: number; err: number };
  joined?: readonly JoinedNamespace[];
  /** -t: the pseudo-terminal's set-up. */
  terminal?: TerminalSetup;
  /** The kernel's highest capability number, and bunker's own bounding set. */
  capLimits?: CapLimits;
  /** The compiled seccomp filter (see security/seccomp), or null for none. */
  filter?: SeccompFilter | null;
  /** --pin: stop once every namespace exists, for bunker to pin them (see planHandshake). */
  pin?: boolean;
  /** Stop once every namespace exists, for bunker to plumb the network: in a joined user namespace they exist only after the handshake. */
  plumbLate?: boolean;
  /** --init: where bunker's command line and environment lie, for init to overwrite its copy. */
  argsArea?: ArgsArea;
  /** --init: native/init.c in a memory file, for init to exec once the command runs. */
  initProgram?: number;
  /** The container's cgroup v1 `tasks` files, for the child to move itself in (see HandshakeOptions). */
  cgroupTasks?: readonly CgroupEntry[];
  /** OCI create: wait at this gate before execve (see planStartGate). */
  startGate?: StartGate;
  /** OCI --preserve-fds: descriptors 3 to 3+N-1 pass to the command. */
  preserveFds?: number;
  /** Joining a PID namespace: set to where the forked process's pid is saved (see planContainer). */
  forked?: { slot?: Slot };
}

export interface SeccompFilter {
  bytes: Uint8Array;
  what: string;
  /** seccomp(2)'s filter flags. */
  flags?: number;
}

/** ioprio_set(IOPRIO_WHO_PROCESS, 0: this process, class << IOPRIO_CLASS_SHIFT | priority); its children inherit it. */
function planIoPriority(p: ChildProgram, io: NonNullable<ContainerSpec["oci"]["process"]["ioPriority"]>): void {
  p.call(`set the I/O priority to ${io.class} ${io.priority}`, "ioprio_set", [IOPRIO_WHO_PROCESS, 0, (IOPRIO_CLASS[io.class.replace(/^IOPRIO_CLASS_/, "") as keyof typeof IOPRIO_CLASS] << IOPRIO_CLASS_SHIFT) | io.priority]);
}

/** sched_setattr(0: this process, struct sched_attr (its first version), 0); children inherit it. */
function planScheduler(p: ChildProgram, s: NonNullable<ContainerSpec["oci"]["process"]["scheduler"]>): void {
  const attr = new Uint8Array(SA.SIZE);
  const dv = new DataView(attr.buffer);
  dv.setUint32(SA.size, SA.SIZE, true);
  dv.setUint32(SA.policy, SCHED_POLICY[s.policy]!, true);
  dv.setBigUint64(SA.flags, BigInt((s.flags ?? []).reduce((a, f) => a | SCHED_FLAG[f]!, 0)), true);
  dv.setInt32(SA.nice, s.nice ?? 0, true);
  dv.setUint32(SA.priority, s.priority ?? 0, true);
  dv.setBigUint64(SA.runtime, BigInt(s.runtime ?? 0), true);
  dv.setBigUint64(SA.deadline, BigInt(s.deadline ?? 0), true);
  dv.setBigUint64(SA.period, BigInt(s.period ?? 0), true);
  p.call(`set the scheduling policy to ${s.policy}`, "sched_setattr", [0, p.arena.bytes(attr), 0]);
}

/** Limits, the bounding set, the user switch and the final capabilities, in the order the kernel needs. */
export function planCredentials(p: ChildProgram, spec: ContainerSpec, syncRead: number, limits: CapLimits, filter: SeccompFilter | null = null): void {
  const proc = spec.oci.process;
  if (proc.rlimits?.length) planRlimits(p, proc.rlimits.map(toRlimit));
  // While capabilities are whole: the real-time class needs CAP_SYS_ADMIN.
  if (proc.ioPriority) planIoPriority(p, proc.ioPriority);
  if (proc.scheduler) planScheduler(p, proc.scheduler);
  const persona = spec.oci.linux.personality;
  // PER_LINUX 0, PER_LINUX32 8; it outlives execve.
  if (persona) p.call(`set the execution domain to ${persona.domain}`, "personality", [persona.domain === "LINUX32" ? PER_LINUX32 : 0]);
  const caps = proc.capabilities ? capPlan(proc.capabilities, limits) : undefined;
  const switches = proc.user.uid !== 0;
  if (caps) planBoundingSet(p, caps, switches);
  // Without no_new_privs only CAP_SYS_ADMIN may install a filter: do it while it is still held.
  if (!proc.noNewPrivileges && filter) planSeccomp(p, filter.bytes, filter.what, filter.flags);
  planSetUser(p, spec, syncRead);
  if (caps) planCapabilities(p, caps, switches);
}

/** no_new_privs and then the seccomp filter, the last steps before execve. */
export function planLockdown(p: ChildProgram, spec: ContainerSpec, filter: SeccompFilter | null): void {
  if (!spec.oci.process.noNewPrivileges) return;
  planNoNewPrivs(p);
  if (filter) planSeccomp(p, filter.bytes, filter.what, filter.flags);
}

const INFINITY = 0xffffffffffffffffn;
function toRlimit(r: { type: string; soft: number; hard: number }): Rlimit {
  const v = (n: number) => (n >= 2 ** 63 ? INFINITY : BigInt(n));
  return { name: r.type.replace(/^RLIMIT_/, "").toLowerCase(), soft: v(r.soft), hard: v(r.hard) };
}

export function planContainer(spec: ContainerSpec, h: Handshake, facts: RootfsFacts, signals: readonly number[], extras: PlanExtras = {}): ChildProgram {
  const joined = extras.joined ?? [];
  const p = new ChildProgram();
  const joinsUser = joinsUserns(spec);
  // In a joined user namespace the cgroup namespace is made with the others, after joining it.
  const report = extras.pin === true || extras.plumbLate === true;
  const reportFor = [...(extras.pin ? ["pin the namespaces"] : []), ...(extras.plumbLate ? ["plumb the network into them"] : [])].join(" and ");
  planHandshake(p, h, {
    cgroupns: hasNamespace(spec, "cgroup") && !joinsUser,
    reportNamespaces: report && !joinsUser,
    reportFor,
    endLater: joinsUser,
    ...(extras.cgroupTasks ? { cgroupTasks: extras.cgroupTasks } : {}),
  });
  planUsernsEntry(p, spec, h.syncRead);
  const at = (j: JoinedNamespace) => `join the ${j.type} namespace at ${spec.oci.linux.namespaces.find((n) => n.type === j.type)?.path}`;
  // A time namespace is entered only by a process whose memory no other shares: after any fork below.
  for (const j of joined) if (j.flag !== CLONE.NEWTIME) p.call(at(j), "setns", [j.fd, j.flag]);
  if (joinsUser) {
    // Its root, where it maps one: what the container makes (mount points) is then its root's.
    p.call("become group 0 in the joined user namespace", "setresgid", [0, 0, 0], { ignore: [Errno.EINVAL] });
    p.call("become user 0 in the joined user namespace", "setresuid", [0, 0, 0], { ignore: [Errno.EINVAL] });
    const own = ownNamespaceFlags(spec) | (hasNamespace(spec, "cgroup") ? CLONE.NEWCGROUP : 0);
    if (own) p.call("make the container's namespaces, owned by the joined user namespace", "unshare", [own]);
    // Only now do they exist; and bunker, rootless, can open them only while this process is dumpable,
    // which joining the user namespace and becoming its root ended (the kernel's rule for changed
    // credentials). Dumpable, it is open only to the user's own processes, until the handshake ends.
    if (report) {
      p.call("make this process dumpable while bunker opens its namespaces", "prctl", [PR_SET_DUMPABLE, 1, 0, 0, 0]);
      planNamespacesMade(p, h, reportFor);
    }
    planHandshakeEnd(p, h);
  }
  if (joined.some((j) => j.flag === CLONE.NEWPID) || (joinsUser && hasNamespace(spec, "pid"))) {
    // setns and unshare move only future children into a PID namespace: the container's process is
    // a child made now (bunker's, by CLONE_PARENT), which goes on; this one ends. Its pid comes back in `slot`.
    const slot = p.newSlot();
    p.call("start the container's process inside its PID namespace", "fork", [p.forkStack(), CLONE.PARENT | SIGNALS.SIGCHLD], { save: slot });
    planParentCheck(p, h.syncRead);
    if (extras.forked) extras.forked.slot = slot;
  }
  if (hasNamespace(spec, "time")) planTimeNamespace(p, spec);
  for (const j of joined) if (j.flag === CLONE.NEWTIME) p.call(at(j), "setns", [j.fd, j.flag]);
  planSignalReset(p, signals);
  planInheritedFds(p, extras.preserveFds ?? 0);
  // A joined UTS namespace (a pod's) takes the config's names too, as runc gives them.
  if (spec.oci.linux.namespaces.some((n) => n.type === "uts")) planUts(p, spec, hasNamespace(spec, "uts"));
  if (hasNamespace(spec, "network")) planLoopbackUp(p);
  planRootfs(p, spec, facts);
  planWorkdirCreate(p, spec);
  planCredentials(p, spec, h.syncRead, extras.capLimits ?? ALL_CAP_LIMITS, extras.filter ?? null);
  planWorkdirEnter(p, spec);
  const filter = extras.filter ?? null;
  if (spec.bunker.init) {
    // init lives as long as the container, inside it: it holds no more than the container does,
    // and it is the session leader, so the command (its child) has no controlling terminal either.
    planSession(p);
    if (extras.argsArea) planInitIdentity(p, extras.argsArea);
    planLockdown(p, spec, filter);
    planInit(p, extras.initProgram);
  }
  if (extras.terminal) planTerminal(p, extras.terminal);
  else if (!spec.bunker.init) planSession(p);
  planExec(p, spec, extras, filter, spec.bunker.init === true);
  return p;
}
