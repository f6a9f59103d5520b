// bunker exec: a new process inside a running container (or inside pinned
// namespaces). The child joins the namespaces, forks once to be really in the
// PID namespace (setns moves only future children), takes the container's
// credentials, working directory and environment, and execs.

import { planParentCheck } from "../child/liveness";
import { ChildProgram } from "../child/program";
import { capLimits } from "./caplimits";
import { log } from "../log";
import type { ContainerSpec, Process, User } from "../spec/types";
import { CLONE, PR_SET_PDEATHSIG, SIGNALS } from "../sys/constants";
import { Errno } from "../sys/errno";
import { FileError, inodeOf, listDir, openNamespace, readInRoot, readLink } from "../sys/fs";
import { closeFd, exitCodeOf, trySys, waitFor } from "../sys/libc";
import { loadNative } from "../sys/native";
import { isAlive } from "../sys/proc";
import { has } from "../sys/kernel";
import { BunkerError } from "../errors";
import { NS_ORDER, openNamespaceFiles, ownNamespaces } from "./namespaces";
import { openPinDir, pinnedTypesAt } from "./pin";
import { planCommand, planCredentials, planProcessSettings, planInheritedFds, planHandshake, planLockdown, planSession, planSignalReset, type SeccompFilter } from "./plan";
import { containerFilter } from "../security/seccomp";
import { closePipes, FORWARDED_SIGNALS, openPipes, spawnChild } from "./spawn";
import { scratchDir } from "./state";
import { capabilitiesFor, DEFAULT_SECURITY, type SecurityOptions } from "../spec/defaults";
import { resolveCaps } from "../security/caps";
import { closeTerminal, consoleTerminal, planTerminal, prepareTerminal, receiveMaster, relayTerminal, type TerminalSetup } from "./tty";
import { writePidFile } from "./pidfile";
import type { CgroupState } from "../cgroups/tree";
import { cgroupJoin, type CgroupJoin } from "./cgroup";
import type { ContainerState } from "./store";
import { resolveUser } from "../identity/passwd";
import { isMapped } from "../identity/idmap";

export type Target =
  /** A running container's first process, held by a pidfd. */
  | { kind: "pid"; pid: number; pidfd: number; flags: number }
  /** Namespace files (pinned): one descriptor per type. */
  | { kind: "files"; fds: { type: string; fd: number; flag: number }[] };

/** A pidfd for the container's process, checked to still be that process. */
export function openTarget(pid: number, start: number, name: string): Target {
  if (!has("pidfdSetns")) return openNamespacesOf(pid, start, name);
  const fd = trySys("pidfd_open", pid, 0);
  if (fd < 0 || !isAlive(pid, start)) {
    if (fd >= 0) closeFd(fd);
    throw new BunkerError(`container ${name} is not running`);
  }
  return { kind: "pid", pid, pidfd: fd, flags: ownNamespaces(pid) };
}

/**
 * Before Linux 5.8 (no setns on a pidfd): the process's namespace files, one
 * by one, checked after they are open to be that process's still.
 */
function openNamespacesOf(pid: number, start: number, name: string): Target {
  let fds: { type: string; fd: number; flag: number }[];
  try {
    fds = openNamespaceFiles(pid, ownNamespaces(pid));
  } catch (e) {
    if (e instanceof FileError && !isAlive(pid, start)) throw new BunkerError(`container ${name} is not running`);
    throw e;
  }
  if (!isAlive(pid, start)) {
    for (const f of fds) closeFd(f.fd);
    throw new BunkerError(`container ${name} is not running`);
  }
  return { kind: "files", fds };
}

export interface ExecRequest {
  target: Target;
  args: string[];
  env: string[];
  cwd: string;
  user: User;
  /** The container's spec, for its ID maps and whether setgroups is allowed; absent for pinned namespaces. */
  spec?: ContainerSpec;
  /** -t: a terminal from the container's devpts; `interactive` (-i) relays input. */
  tty?: { interactive: boolean };
  /** The container's cgroups, joined before the command runs. */
  cgroup?: CgroupState;
  /** Pinned namespaces only: every capability and no seccomp filter instead of docker's defaults. */
  privileged?: boolean;
  /**
   * OCI exec's process.json: the whole process (user with umask, its own
   * capabilities, rlimits, no_new_privs) instead of the container's with the
   * exec's user.
   */
  process?: Process;
  /** OCI exec --detach: return once the command runs; it outlives bunker (its parent becomes the caller). */
  detach?: { pidFile?: string };
  /** OCI exec --console-socket: a socket connected to it, where the terminal's master goes. */
  console?: number;
  /** OCI --preserve-fds: descriptors 3 to 3+N-1 pass to the command. */
  preserveFds?: number;
  /** The command's stdin, and its stdout and stderr both (a hook's: the state on stdin, its output kept). */
  stdio?: { stdin: number; output: number };
  /** A descriptor to give the command as stdin instead of bunker's own (/dev/null, without -i). */
  stdinFd?: number;
  /** The program to exec as it is (a hook's path), instead of args[0] looked up along PATH. */
  path?: string;
}

function entersTime(t: Target): boolean {
  return t.kind === "pid" ? (t.flags & CLONE.NEWTIME) !== 0 : t.fds.some((f) => f.type === "time");
}

function joinsPid(t: Target): boolean {
  return t.kind === "pid" ? (t.flags & CLONE.NEWPID) !== 0 : t.fds.some((f) => f.type === "pid");
}

/**
 * The exec'd process's capabilities: the container's bounding set; all of it
 * for root, otherwise what the container's own non-root user was given (the
 * caps added for it), or nothing.
 */
function execCapabilities(spec: ContainerSpec, uid: number): { capabilities?: ContainerSpec["oci"]["process"]["capabilities"] } {
  const caps = spec.oci.process.capabilities;
  if (!caps) return {};
  const sets = uid === 0 ? (caps.bounding ?? []) : spec.oci.process.user.uid !== 0 ? (caps.effective ?? []) : [];
  return { capabilities: { bounding: caps.bounding ?? [], effective: sets, permitted: sets, inheritable: sets, ambient: uid === 0 ? [] : sets } };
}

/**
 * The exec'd command's program. Every process that enters a container's PID
 * namespace is visible to it, and a container holding CAP_SYS_PTRACE (or one
 * sharing its user) could seize such a process before it execs. So the first
 * process, outside the container's PID namespace and sharing bunker's memory,
 * joins the namespaces and drops to the container's privileges (capabilities,
 * user, no_new_privs, seccomp) first; only then is the process that enters the
 * PID namespace made, with a copy of memory of its own (no CLONE_VM): seizing
 * it gives nothing the container does not already hold, and no way into
 * bunker's memory.
 */
export function planExecProgram(
  req: ExecRequest,
  pipes: { syncRead: number; syncWrite: number },
  signals: readonly number[],
  terminal?: TerminalSetup,
  filter: SeccompFilter | null = null,
  cgroups: CgroupJoin["files"] = [],
) {
  const p = new ChildProgram();
  planHandshake(p, pipes);
  const t = req.target;
  if (t.kind === "pid") {
    if (t.flags !== 0) p.call("join the container's namespaces", "setns", [t.pidfd, t.flags]);
  } else {
    for (const f of t.fds) p.call(`join the pinned ${f.type} namespace`, "setns", [f.fd, f.flag]);
  }
  planSignalReset(p, signals);
  planInheritedFds(p, req.preserveFds ?? 0);
  if (req.stdinFd !== undefined) p.call("take /dev/null as stdin (no -i)", "dup3", [req.stdinFd, 0, 0]);
  if (req.stdio) {
    p.call("take the state as stdin", "dup3", [req.stdio.stdin, 0, 0]);
    p.call("send stdout to bunker", "dup3", [req.stdio.output, 1, 0]);
    p.call("send stderr to bunker", "dup3", [req.stdio.output, 2, 0]);
  }
  const spec = execSpec(req);
  planCredentials(p, spec, pipes.syncRead, capLimits(), filter);
  p.call(`change directory to ${req.cwd}`, "chdir", [p.str(req.cwd)]);
  planLockdown(p, spec, filter);
  const fork = joinsPid(t) ? p.newSlot() : undefined;
  if (fork) {
    const flags = CLONE.PARENT | SIGNALS.SIGCHLD;
    p.call("start a process inside the PID namespace", "fork", [p.forkStack(), flags], { save: fork });
    // A new process: the parent-death signal is not inherited across fork.
    planParentCheck(p, pipes.syncRead);
  }
  // The command's own process moves itself in (see cgroupJoin); the one that forked it never enters.
  // The descriptors were opened by bunker, whose credentials the kernel checks, not this process's.
  for (const c of cgroups) p.call(`move into the container's cgroup ${c.dir}`, "write", [c.fd, p.str("0"), 1], { expect: { value: 1, errno: Errno.EIO } });
  if (terminal) planTerminal(p, terminal);
  else planSession(p);
  planProcessSettings(p, spec.oci.process);
  // Detached, the command outlives bunker, which returns once it runs.
  if (req.detach) p.call("stay when bunker exits", "prctl", [PR_SET_PDEATHSIG, 0, 0, 0, 0]);
  planCommand(p, { args: req.args, env: req.env }, req.path);
  return { program: p, fork };
}

/**
 * The spec an exec'd process runs under: the container's, with the exec's
 * user and capabilities. Pinned namespaces carry no spec: the command gets
 * docker's default confinement (capabilities, no_new_privs, the default
 * seccomp filter), or with `privileged` every capability and no filter.
 */
export function execSpec(req: ExecRequest): ContainerSpec {
  const s = req.spec;
  if (s && req.process) return { ...s, oci: { ...s.oci, process: req.process } };
  if (s) return { ...s, oci: { ...s.oci, process: { ...s.oci.process, user: req.user, ...execCapabilities(s, req.user.uid) } } };
  const sec: SecurityOptions = req.privileged ? { ...DEFAULT_SECURITY, caps: resolveCaps([], [], true), privileged: true } : DEFAULT_SECURITY;
  return {
    oci: { process: { user: req.user, capabilities: capabilitiesFor(sec, req.user.uid), noNewPrivileges: true }, linux: { namespaces: [] } },
    bunker: { setgroups: true, seccomp: req.privileged ? "unconfined" : "default" },
  } as unknown as ContainerSpec;
}

/** Starts the command; returns once it runs (or with why it could not). */
async function launch(req: ExecRequest): Promise<{ pid: number; program: ChildProgram; terminal: TerminalSetup | undefined }> {
  const pipes = openPipes();
  let pid: number;
  let program: ChildProgram | undefined;
  const terminal = req.console !== undefined ? consoleTerminal(req.console, req.process?.consoleSize) : req.tty ? prepareTerminal() : undefined;
  let cgroups: CgroupJoin | undefined;
  try {
    const native = loadNative(scratchDir);
    const filter = await containerFilter(execSpec(req));
    cgroups = await cgroupJoin(req.cgroup);
    const planned = planExecProgram(req, pipes, [...native.nonDefaultSignals(), ...FORWARDED_SIGNALS], terminal, filter, cgroups.files);
    program = planned.program;
    await log.debug(() => `child interpreter: ${native.origin}\nexec program:\n${planned.program.listing().join("\n")}`);
    ({ pid } = await spawnChild(planned.program, pipes, 0, () => {}, {
      ...(planned.fork ? { fork: { slot: planned.fork } } : {}),
      // Entering a time namespace takes a process whose memory no other shares (the kernel's EUSERS).
      shareMemory: !entersTime(req.target),
      winchFd: terminal?.winchWrite ?? -1,
    }));
  } catch (err) {
    closePipes(pipes);
    if (terminal) closeTerminal(terminal);
    throw err;
  } finally {
    cgroups?.close();
    if (req.target.kind === "pid") closeFd(req.target.pidfd);
    else for (const f of req.target.fds) closeFd(f.fd);
  }
  return { pid, program, terminal };
}

/**
 * Starts the command and returns its pid, for a caller that waits for it
 * itself (a hook, with its time limit). It dies with bunker.
 */
export async function spawnIn(req: ExecRequest): Promise<number> {
  const { pid, terminal } = await launch(req);
  if (terminal) closeTerminal(terminal);
  return pid;
}

export async function execIn(req: ExecRequest): Promise<number> {
  const { pid, program, terminal } = await launch(req);
  if (req.detach) {
    if (terminal) closeTerminal(terminal);
    // The command runs on its own memory: nothing more of bunker's is needed.
    if (req.detach.pidFile !== undefined) {
      try {
        writePidFile(req.detach.pidFile, pid);
      } catch (e) {
        trySys("kill", pid, SIGNALS.SIGKILL);
        throw e;
      }
    }
    return 0;
  }
  if (terminal) {
    const master = receiveMaster(terminal);
    try {
      relayTerminal(loadNative(), terminal, master, req.tty!.interactive);
    } finally {
      closeTerminal(terminal);
    }
  }
  const status = waitFor(pid);
  program.retain(null);
  loadNative().forwardTo(-1);
  return exitCodeOf(status);
}

/** Whether any process still lives in the PID namespace whose inode is `ino`. */
function pidNamespaceAlive(ino: string): boolean {
  return listDir("/proc").some((e) => /^\d+$/.test(e) && readLink(`/proc/${e}/ns/pid`) === `pid:[${ino}]`);
}

/** Opens DIR/TYPE namespace files pinned earlier (DIR checked as pinning checks it); at least one must exist. */
export function openPinned(dir: string): Target {
  const fds: { type: string; fd: number; flag: number }[] = [];
  const { fd: dirfd } = openPinDir(dir, false);
  try {
    const pinned = pinnedTypesAt(dirfd);
    for (const [type, flag] of NS_ORDER) {
      if (!pinned.includes(type)) continue;
      let fd: number;
      try {
        fd = openNamespace(`/proc/self/fd/${dirfd}/${type}`);
      } catch (e) {
        if (e instanceof FileError) throw new BunkerError(`open the pinned ${type} namespace in ${dir}: ${e.reason}`);
        throw e;
      }
      const id = inodeOf("", fd);
      // Joining the namespace one is already in is refused for user namespaces and pointless for the rest;
      // a PID namespace whose first process has exited takes no new ones: leave both out.
      if (id === inodeOf(`/proc/self/ns/${type}`) || (type === "pid" && !pidNamespaceAlive(id?.split(":")[2] ?? ""))) {
        closeFd(fd);
        continue;
      }
      fds.push({ type, fd, flag });
    }
  } catch (e) {
    for (const f of fds) closeFd(f.fd);
    throw e;
  } finally {
    closeFd(dirfd);
  }
  if (fds.length === 0) throw new BunkerError(`no pinned namespaces in ${dir}`);
  return { kind: "files", fds };
}

/**
 * --user of an exec, looked up in the running container's own passwd and
 * group files (through its root, so its symlinks stay inside it); the IDs
 * must be mapped in its user namespace.
 */
export function containerUser(s: ContainerState, spec: string): User {
  const name = s.name ?? s.id;
  const root = `/proc/${s.pid}/root`;
  const r = resolveUser(spec, readInRoot(root, "/etc/passwd") ?? undefined, readInRoot(root, "/etc/group") ?? undefined, {
    passwd: "the container's /etc/passwd",
    group: "the container's /etc/group",
  });
  const maps = s.spec.oci.linux;
  if (maps.uidMappings && !isMapped(maps.uidMappings, r.uid)) throw new BunkerError(`user ID ${r.uid} is not mapped in container ${name}`);
  if (maps.gidMappings && !isMapped(maps.gidMappings, r.gid)) throw new BunkerError(`group ID ${r.gid} is not mapped in container ${name}`);
  const gids = maps.gidMappings ? r.additionalGids.filter((g) => isMapped(maps.gidMappings!, g)) : r.additionalGids;
  return { uid: r.uid, gid: r.gid, additionalGids: gids };
}
