// The create operation: the container's state, cgroups and network, its
// child program, clone, and everything the parent does while the child waits
// (cgroups, ID maps, network plumbing, pins, OCI's creation hooks). It ends
// with the container's process about to exec (or, for OCI create, waiting at
// its start gate); a failure on the way undoes all of it.

import { requireContainerKernel } from "../sys/kernel";
import { enabled, log, mark } from "../log";
import { writeIdMaps } from "../identity/maps";
import type { ContainerSpec } from "../spec/types";
import { cstr, FileError, openNamespace, writeValue } from "../sys/fs";
import { waitFor } from "../sys/libc";
import { loadNative } from "../sys/native";
import type { ChildProgram, Slot } from "../child/program";
import { cloneFlags, hasNamespace, joinsUserns, planContainer, type CgroupEntry, type JoinedNamespace } from "./plan";
import { applyUsernsFrom } from "./userns-from";
import { ensureRootlessNetns } from "./rootless-netns";
import { closePipes, FORWARDED_SIGNALS, openPipes, spawnChild } from "./spawn";
import { scratchDir } from "./state";
import { initProgram } from "./initprog";
import { BunkerError } from "../errors";
import { ContainerGone, containerDir, createState, readState, removeState, withLock, writeState, type ContainerState } from "./store";
import { ownArgsArea, startTime } from "../sys/proc";
import { AT, CLONE, O, SIGNALS } from "../sys/constants";
import { closeFd, sys, trySys } from "../sys/libc";
import { namespaceIds, pinNamespaces, unpinNamespaces } from "./pin";
import { containerFilter } from "../security/seccomp";
import { prepareNetwork, type PreparedNetwork } from "./network";
import { claimMountPoints, releaseMountPoints } from "./mountpoints";
import type { RootfsClaim } from "../rootfs/claims";
import { createContainerCgroups, joinCgroups, openCgroupTasks, releaseCgroups } from "./cgroup";
import { capLimits } from "./caplimits";
import { closeTerminal, consoleTerminal, prepareTerminal, type TerminalSetup } from "./tty";
import { writePidFile } from "./pidfile";
import { openGate } from "./gate";
import { runHooks } from "./hooks";
import { rootfsFacts } from "./facts";
import { prepareImageRoot } from "./image-rootfs";
import { mountFuseOverlay, type FuseOverlay } from "./fuse-overlay";
import { idmappedMounts, type IdmappedMounts } from "./idmapped";
import type { LogPipes } from "./log-writer";

export interface RunRecord {
  name?: string;
  autoRemove: boolean;
  detached: boolean;
  /** The state was already created (by the `run -d` that started this supervisor). */
  existing?: boolean;
  /** A stopped container started again: what its state goes back to if this start fails (instead of going). */
  restore?: ContainerState;
  /** Without -i: the container's stdin is /dev/null, not bunker's (docker's rule). */
  noStdin?: boolean;
  /** Descriptors to give the container as stdout and stderr (a detached container's log). */
  output?: { out: number; err: number };
  /** The log a detached supervisor writes from the container's output (see log-writer.ts). */
  log?: LogPipes;
  /** Pin the new namespaces into this directory once the container runs. */
  pin?: string;
  /** -t: a pseudo-terminal; `interactive` (-i) relays the caller's input to it; `detached`, its master goes to the waiter. */
  tty?: { interactive: boolean; detached?: boolean };
  /** --sig-proxy=false: the signals bunker receives are not passed on (they end bunker, and the container with it). */
  sigProxy?: false;
  /** A descriptor to give the container as stdin (a detached one's with -i); closed here once it has it. */
  stdin?: number;
  /** Called once the command runs (or with the error that stopped it). */
  onStarted?: (err?: Error) => void;
  /** Once the command runs, become the native waiter (see handoff.ts) instead of waiting here. */
  handOff?: boolean;
  /** A container an OCI client asked for: its bundle; with `create`, OCI create's process model. */
  oci?: OciRun;
}

export interface OciRun {
  bundle: string;
  annotations?: Record<string, string>;
  create?: OciCreate;
}

/**
 * What `bunker create` adds: the container's process waits at a start gate
 * before execve and outlives bunker, its parent then being the caller (or the
 * caller's subreaper), which collects its end; no bunker process stays.
 */
export interface OciCreate {
  /** Where to write the process's host pid (digits, no newline). */
  pidFile?: string;
  /** process.terminal: a socket connected to --console-socket, where the pty's master goes. */
  console?: number;
  /** Descriptors 3 to 3+N-1 pass to the command. */
  preserveFds?: number;
}

/**
 * Namespaces a new container may join by path. A joined mount namespace is
 * where its root is then set up (pivot_root included), as runc and crun do.
 */
const JOINABLE: Record<string, number> = { user: CLONE.NEWUSER, network: CLONE.NEWNET, ipc: CLONE.NEWIPC, uts: CLONE.NEWUTS, mount: CLONE.NEWNS, pid: CLONE.NEWPID, cgroup: CLONE.NEWCGROUP, time: CLONE.NEWTIME };

/** Opens the namespace files a spec joins (--join-ns); closed again once the child has them. */
function openJoined(spec: ContainerSpec): JoinedNamespace[] {
  const out: JoinedNamespace[] = [];
  for (const ns of spec.oci.linux.namespaces) {
    if (!ns.path) continue;
    const flag = JOINABLE[ns.type];
    if (flag === undefined) throw new BunkerError(`a new container cannot join a ${ns.type} namespace`);
    let fd: number;
    try {
      fd = openNamespace(ns.path);
    } catch (e) {
      for (const j of out) closeFd(j.fd);
      if (e instanceof FileError) throw new BunkerError(`open the ${ns.type} namespace ${ns.path}: ${e.reason}`);
      throw e;
    }
    out.push({ type: ns.type, fd, flag });
  }
  // The user namespace first: the others are joined with the privileges it gives.
  return out.sort((a, b) => Number(b.flag === CLONE.NEWUSER) - Number(a.flag === CLONE.NEWUSER));
}

/** process.oomScoreAdj, set from outside before the process runs (inherited by what it starts). */
function setOomScoreAdj(pid: number, value: number): void {
  try {
    writeValue(`/proc/${pid}/oom_score_adj`, String(value));
  } catch (e) {
    throw new BunkerError(`set oomScoreAdj ${value}: ${(e as Error).message}`);
  }
}

export function initialState(spec: ContainerSpec, r: RunRecord): ContainerState {
  return {
    id: spec.bunker.id,
    ...(r.name !== undefined ? { name: r.name } : {}),
    status: "created",
    rootfs: spec.bunker.rootMode === "host" ? null : spec.oci.root.path,
    command: spec.oci.process.args,
    created: new Date().toISOString(),
    autoRemove: r.autoRemove,
    detached: r.detached,
    supervisor: process.pid,
    supervisorStart: startTime(process.pid) ?? undefined,
    ...(r.oci ? { oci: { bundle: r.oci.bundle, ...(r.oci.annotations ? { annotations: r.oci.annotations } : {}) } } : {}),
    spec,
  };
}


/** A container whose process has been cloned and set up, and what is held for it until it ends. */
export interface Created {
  state: ContainerState;
  pid: number;
  net: PreparedNetwork;
  /** The steps the child ran, on this process's memory: kept until it has exec'd or been reaped. */
  program: ChildProgram;
  terminal?: TerminalSetup;
  /** Mount points bunker made in the root filesystem, removed when the container ends. */
  mountPoints?: RootfsClaim;
  /** fuse-overlayfs serving its root filesystem: stopped when it ends. */
  fuse?: FuseOverlay;
}

const NS_TYPES = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];

/** The files naming the process's namespaces, as state records them. */
export function namespacePaths(pid: number): Record<string, string> {
  return Object.fromEntries(NS_TYPES.map((t) => [t, `/proc/${pid}/ns/${t}`]));
}

/**
 * Creates the container: recorded as created (or taken over from the `run -d`
 * that recorded it), its process cloned and set up. Resolves once the process
 * has exec'd the command, or with OCI create once it waits at its gate.
 */
export async function createContainer(spec: ContainerSpec, record: RunRecord): Promise<Created> {
  // A new container is refused before anything is made (state, an event); one started again, in the
  // try below, so that it is put back as it was with the reason.
  if (!record.restore) requireContainerKernel();
  // A user's container on their networks is made in the user namespace of their rootless network namespace.
  if (spec.bunker.network === "named" && (process.geteuid?.() ?? 0) !== 0) spec.bunker.net = { ...spec.bunker.net!, usernsFrom: (await ensureRootlessNetns()).userns };
  applyUsernsFrom(spec);
  // Made in a joined user namespace, its network namespace exists only once the child has made it there.
  const plumbLate = joinsUserns(spec) && hasNamespace(spec, "network");
  let state = initialState(spec, record);
  if (record.existing) {
    const saved = readState(spec.bunker.id);
    if (!saved) throw new BunkerError(`container ${spec.bunker.id} has no state`);
    state = { ...saved, supervisor: state.supervisor, supervisorStart: state.supervisorStart };
  } else createState(state);
  mark("state");
  const pipes = openPipes();
  let program: ChildProgram | undefined;
  let terminal: TerminalSetup | undefined;
  let joined: JoinedNamespace[] = [];
  let net: PreparedNetwork | undefined;
  let mountPoints: RootfsClaim | undefined;
  let init: ReturnType<typeof initProgram> | undefined;
  let cgroupTasks: CgroupEntry[] = [];
  let idmapped: IdmappedMounts | undefined;
  let fuse: FuseOverlay | undefined;
  let gate = -1;
  let nullStdin = -1;
  const forked: { slot?: Slot } = {};
  try {
    requireContainerKernel();
    if (record.oci?.create) gate = openGate(containerDir(state.id));
    if (record.noStdin) nullStdin = sys("open /dev/null", "openat", AT.FDCWD, cstr("/dev/null"), O.RDONLY | O.CLOEXEC, 0);
    // The state records the image's directories: made now, they are removed with it whatever happens next.
    await prepareImageRoot(spec);
    joined = openJoined(spec);
    state.cgroup = await createContainerCgroups(spec, process.geteuid?.() ?? 0);
    if (state.cgroup) {
      // Recorded at once: a bunker killed from here on leaves cgroups the next one can find.
      withLock(state.id, () => writeState(state));
      cgroupTasks = openCgroupTasks(state.cgroup);
      mark("cgroups");
    }
    net = await prepareNetwork(spec, record.name ?? state.name);
    mark("network");
    const native = loadNative(scratchDir);
    mark("native");
    const filter = await containerFilter(spec);
    if (record.oci?.create?.console !== undefined) terminal = consoleTerminal(record.oci.create.console, spec.oci.process.consoleSize);
    else if (record.tty) terminal = prepareTerminal(record.tty.detached === true);
    if (spec.bunker.init) {
      init = initProgram();
      if ("unavailable" in init) await log.debug(`--init stays a copy of bunker: ${init.unavailable}`);
    }
    idmapped = await idmappedMounts(spec);
    const facts = { ...rootfsFacts(spec, net, record.name ?? state.name), ...(idmapped.fds.size ? { idmapped: idmapped.fds } : {}) };
    // An OCI bundle's mount points stay in its rootfs, as runc leaves them: the client owns that directory.
    if (!record.oci) mountPoints = claimMountPoints(spec, facts, { pid: process.pid, start: state.supervisorStart ?? 0 }, record.pin);
    program = planContainer(spec, pipes, facts, [...native.nonDefaultSignals(), ...FORWARDED_SIGNALS], {
      ...(record.output !== undefined ? { output: record.output } : {}),
      ...(nullStdin >= 0 ? { stdin: nullStdin } : record.stdin !== undefined ? { stdin: record.stdin } : {}),
      joined,
      ...(terminal ? { terminal } : {}),
      capLimits: capLimits(),
      filter,
      pin: record.pin !== undefined,
      plumbLate,
      ...(spec.bunker.init ? { argsArea: ownArgsArea() ?? undefined } : {}),
      ...(init && "fd" in init ? { initProgram: init.fd } : {}),
      cgroupTasks,
      ...(record.oci?.create ? { startGate: { fifo: gate, errWrite: pipes.errWrite }, preserveFds: record.oci.create.preserveFds ?? 0 } : {}),
      forked,
    });
    mark("plan");
    if (enabled("debug")) {
      await log.debug(() => `child interpreter: ${native.origin}\nchild program:\n${program!.listing().join("\n")}`);
      mark("log");
    }
    const v2Cgroup = state.cgroup?.dirs.find((d) => d.version === 2)?.path;
    const attachNetwork = async (pid: number) => {
      await net!.attach(pid);
      // Recorded now, so a helper is found and stopped even if bunker is killed before the command runs.
      if (net!.state.helper) withLock(state.id, () => writeState(state));
    };
    // The child waits on the sync pipe while it is placed in its cgroups, its
    // ID maps are written and its network plumbed; with --pin it waits once
    // more, after making its cgroup namespace, for all its namespaces to be
    // pinned: they exist then, and nothing in them has run yet.
    const started = await spawnChild(
      program,
      pipes,
      cloneFlags(spec),
      async (pid, bornInCgroup) => {
        // Recorded first: from here on stop, kill and rm -f reach the starting container.
        withLock(state.id, () => {
          state.pid = pid;
          state.pidStart = startTime(pid) ?? undefined;
          state.network = net!.state;
          writeState(state);
        });
        joinCgroups(state.cgroup, pid, bornInCgroup);
        if (spec.oci.process.oomScoreAdj !== undefined) setOomScoreAdj(pid, spec.oci.process.oomScoreAdj);
        await writeIdMaps(pid, spec);
        // In the namespaces just made, with the container's IDs: the child binds the mount as its root.
        if (spec.bunker.image?.driver === "fuse-overlayfs") {
          fuse = await mountFuseOverlay(pid, spec.bunker.image, `${containerDir(state.id)}/fuse-overlayfs.log`);
          state.rootfsHelper = { pid: fuse.pid, ...(fuse.pidStart !== undefined ? { pidStart: fuse.pidStart } : {}) };
          withLock(state.id, () => writeState(state));
        }
        if (!plumbLate) await attachNetwork(pid);
        // OCI's hooks of creation: its namespaces exist, and nothing in them has run yet.
        if (spec.oci.hooks) {
          await runHooks("prestart", state, "created");
          await runHooks("createRuntime", state, "creating");
          await runHooks("createContainer", state, "creating");
        }
      },
      {
        winchFd: terminal?.winchWrite ?? -1,
        ...(record.sigProxy === false ? { forwardSignals: false } : {}),
        // A process that outlives bunker (--init's, OCI create's) cannot run on bunker's memory, nor one
        // that enters a time namespace; one that forks into a joined PID namespace leaves that to its
        // child, and must share it to report the pid.
        shareMemory: forked.slot !== undefined || (!spec.bunker.init && !record.oci?.create && !spec.oci.linux.namespaces.some((n) => n.type === "time")),
        ...(forked.slot !== undefined ? { fork: { slot: forked.slot } } : {}),
        untilCreated: record.oci?.create !== undefined,
        ...(v2Cgroup !== undefined ? { intoCgroup: v2Cgroup } : {}),
        ...(record.pin !== undefined || plumbLate
          ? {
              namespacesMade: async (pid: number) => {
                if (plumbLate) await attachNetwork(pid);
                if (record.pin === undefined) return;
                // Recorded before pinning, so that pins of a start cut short are found and undone.
                state.pinned = [record.pin!];
                state.namespaceIds = namespaceIds(pid);
                withLock(state.id, () => writeState(state));
                pinNamespaces(pid, record.pin!);
              },
            }
          : {}),
      },
    );
    return { state, pid: started.pid, net, program, ...(terminal ? { terminal } : {}), ...(mountPoints ? { mountPoints } : {}), ...(fuse ? { fuse } : {}) };
  } catch (err) {
    closePipes(pipes);
    await net?.release();
    fuse?.stop();
    if (terminal) closeTerminal(terminal);
    if (state.pinned) {
      try {
        // Only its own: the directory may hold another container's pins.
        unpinNamespaces(record.pin!, state.namespaceIds ?? {});
      } catch {
        // pinned by the failed start; anything left is named by the error below
      }
    }
    await releaseCgroups(state.cgroup);
    releaseMountPoints(mountPoints, state.pinned);
    if (record.restore) restoreStopped(record.restore, err as Error);
    else removeState(state);
    record.onStarted?.(err as Error);
    throw err;
  } finally {
    for (const j of joined) closeFd(j.fd);
    // The child has exec'd, or has failed: its init has its own descriptor of the program.
    if (init && "fd" in init) closeFd(init.fd);
    for (const c of cgroupTasks) closeFd(c.fd);
    // The child has its mounts, or has failed: the maps' user namespaces live on in them.
    idmapped?.close();
    closeFd(gate);
    if (nullStdin >= 0) closeFd(nullStdin);
  }
}

/** A stopped container whose start failed: stopped as it was, with the reason (docker's State.Error). */
function restoreStopped(s: ContainerState, err: Error): void {
  try {
    withLock(s.id, () => writeState({ ...s, error: err.message }));
  } catch (e) {
    // removed meanwhile (rm -f): nothing to restore
    if (!(e instanceof ContainerGone)) throw e;
  }
}

/**
 * OCI create's end: the state says created, the pid file names the process,
 * and bunker lets go of everything. A pid file that cannot be written undoes
 * the container: the client would not know its process.
 */
export async function leaveCreated(c: Created, oci: OciCreate): Promise<number> {
  const { state, pid, net } = c;
  if (c.terminal) closeTerminal(c.terminal);
  withLock(state.id, () => {
    state.pid = pid;
    state.pidStart = startTime(pid) ?? undefined;
    state.namespaces = namespacePaths(pid);
    state.network = net.state;
    writeState(state);
  });
  try {
    if (oci.pidFile !== undefined) writePidFile(oci.pidFile, pid);
  } catch (err) {
    trySys("kill", pid, SIGNALS.SIGKILL);
    waitFor(pid);
    await net.release();
    await releaseCgroups(state.cgroup);
    withLock(state.id, () => removeState(state));
    throw err;
  }
  mark("created");
  return 0;
}
