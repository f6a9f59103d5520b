// bunker exec: a new process inside a running container (or inside pinned
// namespaces). The child joins the namespaces, forks once to be really in the
// PID namespace (setns moves only future children), takes the container's
// credentials, working directory and environment, and execs.

import { planParentCheck } from "../child/liveness";
import { ChildProgram } from "../child/program";
import { capLimits } from "./run";
import { log } from "../log";
import type { ContainerSpec, User } from "../spec/types";
import { CLONE, SIGNALS } from "../sys/constants";
import { SysError } from "../sys/errno";
import { inodeOf, listDir, openNamespace, readLink } from "../sys/fs";
import { closeFd, exitCodeOf, trySys, waitFor } from "../sys/libc";
import { loadNative } from "../sys/native";
import { isAlive } from "../sys/proc";
import { BunkerError } from "./errors";
import { execCandidates, planCredentials, planHandshake, planLockdown, planSignalReset, type SeccompFilter } from "./plan";
import { containerFilter } from "../security/seccomp";
import { closePipes, FORWARDED_SIGNALS, openPipes, spawnChild } from "./spawn";
import { scratchDir } from "./state";
import { envValue } from "../spec/defaults";
import { closeTerminal, planTerminal, prepareTerminal, receiveMaster, relayTerminal, type TerminalSetup } from "./tty";
import { CLOSE_RANGE_CLOEXEC, SIG_SETMASK } from "../sys/constants";
import { Errno } from "../sys/errno";
import type { CgroupState } from "../cgroups/tree";
import { joinCgroups } from "./cgroup";

/** Namespace files, in the order setns must take them one by one (the user namespace first). */
export const NS_ORDER: [string, number][] = [
  ["user", CLONE.NEWUSER],
  ["mnt", CLONE.NEWNS],
  ["net", CLONE.NEWNET],
  ["ipc", CLONE.NEWIPC],
  ["uts", CLONE.NEWUTS],
  ["cgroup", CLONE.NEWCGROUP],
  ["time", CLONE.NEWTIME],
  ["pid", CLONE.NEWPID],
];

export type Target =
  /** A running container's first process, held by a pidfd. */
  | { kind: "pid"; pid: number; pidfd: number; flags: number }
  /** Namespace files (pinned): one descriptor per type. */
  | { kind: "files"; fds: { type: string; fd: number; flag: number }[] };

/** The namespaces of `pid` that differ from ours: joining one's own would fail (and mean nothing). */
export function ownNamespaces(pid: number): number {
  let flags = 0;
  for (const [type, flag] of NS_ORDER) {
    const theirs = readLink(`/proc/${pid}/ns/${type}`);
    if (theirs !== null && theirs !== readLink(`/proc/self/ns/${type}`)) flags |= flag;
  }
  return flags;
}

/** A pidfd for the container's process, checked to still be that process. */
export function openTarget(pid: number, start: number, name: string): Target {
  const fd = trySys("pidfd_open", pid, 0);
  if (fd < 0 || !isAlive(pid, start)) {
    if (fd >= 0) closeFd(fd);
    throw new BunkerError(`container ${name} is not running`);
  }
  return { kind: "pid", pid, pidfd: fd, flags: ownNamespaces(pid) };
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

export function planExecProgram(
  req: ExecRequest,
  pipes: { syncRead: number; syncWrite: number },
  signals: readonly number[],
  terminal?: TerminalSetup,
  filter: SeccompFilter | null = null,
) {
  const p = new ChildProgram();
  planHandshake(p, pipes);
  const t = req.target;
  if (t.kind === "pid") {
    if (t.flags !== 0) p.call("join the container's namespaces", "setns", [t.pidfd, t.flags]);
  } else {
    for (const f of t.fds) p.call(`join the pinned ${f.type} namespace`, "setns", [f.fd, f.flag]);
  }
  const fork = joinsPid(t) ? p.newSlot() : undefined;
  if (fork) {
    const flags = 0x100 /* CLONE_VM */ | 0x4000 /* CLONE_VFORK */ | 0x8000 /* CLONE_PARENT */ | SIGNALS.SIGCHLD;
    p.call("start a process inside the PID namespace", "fork", [p.forkStack(), flags], { save: fork });
    // A new process: the parent-death signal is not inherited across fork.
    planParentCheck(p, pipes.syncRead);
  }
  planSignalReset(p, signals);
  const spec: ContainerSpec = req.spec
    ? { ...req.spec, oci: { ...req.spec.oci, process: { ...req.spec.oci.process, user: req.user, ...execCapabilities(req.spec, req.user.uid) } } }
    : ({
        oci: { process: { user: req.user }, linux: { namespaces: [] } },
        bunker: { setgroups: true, seccomp: "unconfined" },
      } as unknown as ContainerSpec);
  planCredentials(p, spec, pipes.syncRead, capLimits(), filter);
  if (req.cwd !== "/") p.call(`change directory to ${req.cwd}`, "chdir", [p.str(req.cwd)]);
  else p.call("change directory to /", "chdir", [p.str("/")]);
  if (terminal) planTerminal(p, terminal);
  p.call("set the umask to 022", "umask", [0o022]);
  p.call("mark inherited descriptors close-on-exec", "close_range", [3, 0xffffffff, CLOSE_RANGE_CLOEXEC]);
  p.call("unblock all signals", "rt_sigprocmask", [SIG_SETMASK, p.arena.alloc(8).addr, 0, 8]);
  if (req.spec) planLockdown(p, spec, filter);
  const argv = p.arena.strv(req.args);
  const envp = p.arena.strv(req.env);
  const command = req.args[0]!;
  for (const path of execCandidates(command, envValue(req.env, "PATH"))) {
    p.call(`exec "${command}"`, "execve", [p.str(path), argv, envp], { continueOnFail: true, exec: { command, searched: !command.includes("/") } });
  }
  return { program: p, fork };
}

/** The spec an exec'd process runs under, for its filter: the container's, with the exec's capabilities. */
function spec0(req: ExecRequest): ContainerSpec {
  const s = req.spec!;
  return { ...s, oci: { ...s.oci, process: { ...s.oci.process, user: req.user, ...execCapabilities(s, req.user.uid) } } };
}

/**
 * Puts the exec'd process into the container's cgroups. A rootless caller may
 * lack the right to move a process there from its own cgroup (another
 * session's, say): then it runs outside them, with a warning, as runc does.
 */
async function joinContainerCgroups(cgroup: CgroupState | undefined, pid: number): Promise<void> {
  try {
    joinCgroups(cgroup, pid);
  } catch (e) {
    if (process.geteuid?.() === 0 || !(e instanceof BunkerError)) throw e;
    await log.warn(`${e.message}: the command runs outside the container's cgroups`);
  }
}

export async function execIn(req: ExecRequest): Promise<number> {
  const pipes = openPipes();
  let pid: number;
  let program: ChildProgram | undefined;
  const terminal = req.tty ? prepareTerminal() : undefined;
  try {
    const native = loadNative(scratchDir());
    const filter = req.spec ? await containerFilter(spec0(req)) : null;
    const planned = planExecProgram(req, pipes, [...native.nonDefaultSignals(), ...FORWARDED_SIGNALS], terminal, filter);
    program = planned.program;
    await log.debug(() => `exec program:\n${planned.program.listing().join("\n")}`);
    ({ pid } = await spawnChild(planned.program, pipes, 0, (child) => joinContainerCgroups(req.cgroup, child), {
      ...(planned.fork ? { fork: { slot: planned.fork } } : {}),
      winchFd: terminal?.winchWrite ?? -1,
    }));
  } catch (err) {
    closePipes(pipes);
    if (terminal) closeTerminal(terminal);
    throw err;
  } finally {
    if (req.target.kind === "pid") closeFd(req.target.pidfd);
    else for (const f of req.target.fds) closeFd(f.fd);
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

/** Whether any process still lives in the PID namespace behind the file `path`. */
function pidNamespaceAlive(path: string): boolean {
  const ino = inodeOf(path)?.split(":")[2];
  if (!ino) return false;
  return listDir("/proc").some((e) => /^\d+$/.test(e) && readLink(`/proc/${e}/ns/pid`) === `pid:[${ino}]`);
}

/** Opens DIR/TYPE namespace files pinned earlier; at least one must exist. */
export function openPinned(dir: string): Target {
  const fds: { type: string; fd: number; flag: number }[] = [];
  for (const [type, flag] of NS_ORDER) {
    // Joining the namespace one is already in is refused for user namespaces and pointless for the rest.
    if (inodeOf(`${dir}/${type}`) === inodeOf(`/proc/self/ns/${type}`)) continue;
    // A PID namespace whose first process has exited takes no new ones: leave it out.
    if (type === "pid" && !pidNamespaceAlive(`${dir}/pid`)) continue;
    let fd: number;
    try {
      fd = openNamespace(`${dir}/${type}`);
    } catch (e) {
      if (e instanceof SysError && e.errno === Errno.ENOENT) continue;
      for (const f of fds) closeFd(f.fd);
      throw e;
    }
    fds.push({ type, fd, flag });
  }
  if (fds.length === 0) throw new BunkerError(`no pinned namespaces in ${dir}`);
  return { kind: "files", fds };
}
