// A container's cgroups from start to end: whether it gets them (and the
// limits can be had), made before clone, the child placed while it waits,
// OOM kills read once it ends, removed after; and what a killed bunker left.

import { allowsEverything } from "../cgroups/devicefilter";
import { detectLayout } from "../cgroups/detect";
import { isFrozen, oomKills, memoryLimit, setFrozen, usage, type Usage } from "../cgroups/control";
import { CONTROLLER_FLAGS } from "../cgroups/limits";
import { carrierVersion, createCgroups, updateCgroups, enforcesDevices, missingController, PARENT, placements, placeProcess, removeCgroups, thaw, type CgroupDir, type CgroupState, type Placement } from "../cgroups/tree";
import { DeviceRulesError } from "../cgroups/devices";
import { log } from "../log";
import type { ContainerSpec, LinuxResources } from "../spec/types";
import { cstr, listDir, readText, removePath } from "../sys/fs";
import { closeFd, trySys } from "../sys/libc";
import { AT, O, SIGNALS, W_OK } from "../sys/constants";
import { BunkerError, isFailure, within } from "../errors";
import type { CgroupEntry } from "./plan";
import { errnoMessage } from "../sys/errno";
import { currentStatus, readState, supervisorAlive, withLock, writeState, type ContainerState } from "./store";

export type CgroupsMode = "enabled" | "disabled";

const DELEGATION_HINT = "a rootless user needs a cgroup v2 subtree delegated to it (systemd: systemd-run --user --scope -p Delegate=yes bunker run ...)";

/**
 * Whether a new container gets cgroups of its own. Root always does, unless
 * disabled; a rootless user where a delegated v2 subtree allows it. Limits
 * that cannot be enforced are an error, never ignored; but --oom-kill-disable
 * where cgroup v2 carries memory is a warning, as in docker and podman, and
 * taken out of `resources`.
 */
export async function chooseCgroups(mode: CgroupsMode, uid: number, resources: LinuxResources | undefined): Promise<boolean> {
  if (mode === "disabled") {
    if (resources) throw new BunkerError("resource limits need cgroups: leave out --cgroups=disabled or the limits");
    return false;
  }
  const ps = placements(detectLayout(), uid);
  if (typeof ps === "string") {
    if (resources) throw new BunkerError(`resource limits need cgroups: ${ps}${uid === 0 ? "" : `; ${DELEGATION_HINT}`}, or run without limits`);
    await log.debug(`no cgroups for this container: ${ps}`);
    return false;
  }
  const missing = missingController(ps, resources);
  if (missing) throw new BunkerError(`${CONTROLLER_FLAGS[missing.controller]} needs the ${missing.controller} controller, which ${missing.where} ${missing.where.startsWith("the cgroup") ? "does" : "do"} not offer`);
  if (resources?.memory?.disableOOMKiller) {
    // As docker and podman: a warning, not an error, where the switch does not exist.
    if (carrierVersion(ps, "memory") === 2) {
      await log.warn("--oom-kill-disable: cgroup v2 cannot turn the OOM killer off; it stays on for this container");
      // Dropped from the limits, which would refuse it (an OCI config's is an error there).
      delete resources.memory.disableOOMKiller;
      if (Object.keys(resources.memory).length === 0) delete resources.memory;
    } else if (resources.memory.limit === undefined) await log.warn("--oom-kill-disable without -m/--memory: the container may take all of the host's memory, with nothing to stop it");
  }
  return true;
}

export function cgroupsPath(id: string): string {
  return `/${PARENT}/${id}`;
}

/** The limits a spec asks for, leaving out the defaults that come with a cgroup (devices, a default PID limit). */
function requestedLimits(spec: ContainerSpec): string[] {
  const r = spec.oci.linux.resources ?? {};
  return Object.keys(r).filter((k) => k !== "devices" && !(k === "pids" && spec.bunker.pidsDefault));
}

/** Takes out of the spec the defaults the placements cannot carry (all of them without a cgroup). */
async function dropDefaults(spec: ContainerSpec, ps: Placement[]): Promise<void> {
  const r = spec.oci.linux.resources;
  if (!r) return;
  if (spec.bunker.pidsDefault && r.pids && missingController(ps, { pids: r.pids })) {
    delete r.pids;
    delete spec.bunker.pidsDefault;
    await log.debug("no default PID limit: no pids controller for this container's cgroup");
  }
  if (r.devices && !enforcesDevices(ps)) {
    delete r.devices;
    await log.debug("no device rules: this host has neither a v1 devices controller nor cgroup v2");
  }
  if (Object.keys(r).length === 0) delete spec.oci.linux.resources;
}

/**
 * Makes the cgroups a spec asks for (none without linux.cgroupsPath). Without
 * limits a cgroup is only a convenience (stats, pause, the default PID limit,
 * device rules): where the host will not give one, the container runs
 * without, and its spec says so. Device rules that cannot be put in force in
 * a cgroup that was made are an error.
 */
export async function createContainerCgroups(spec: ContainerSpec, uid: number): Promise<CgroupState | undefined> {
  if (spec.oci.linux.cgroupsPath === undefined) return undefined;
  const ps = placements(detectLayout(), uid);
  let why: string;
  if (typeof ps === "string") why = ps;
  else {
    removeStale(ps);
    await dropDefaults(spec, ps);
    try {
      return createCgroups(ps, spec.oci.linux.cgroupsPath, spec.oci.linux.resources);
    } catch (e) {
      if (e instanceof DeviceRulesError) throw new BunkerError(`device rules for container ${spec.bunker.id}: ${e.message} (--cgroups=disabled runs it without a cgroup, and so without device rules)`);
      if (!isFailure(e)) throw e;
      why = e.message;
    }
  }
  if (requestedLimits(spec).length) throw new BunkerError(why);
  if (spec.bunker.cgroupRequired) throw new BunkerError(`the cgroup ${spec.oci.linux.cgroupsPath}: ${why}`);
  // As root the cgroup also carries the device allow-list: say that it is missing (nodev still covers the rootfs).
  const devices = spec.oci.linux.resources?.devices ?? [];
  if (devices.length > 0 && !allowsEverything(devices)) await log.warn(`no cgroup for container ${spec.bunker.id} (${why}): it runs without device rules; only nodev on its root filesystem keeps device nodes closed`);
  else await log.debug(`no cgroup for this container: ${why}`);
  delete spec.oci.linux.cgroupsPath;
  await dropDefaults(spec, []);
  return undefined;
}

/**
 * The file of cgroup `d` through which a single-threaded process moves itself
 * in by writing "0": on v1 `tasks`, whose move of the writing thread itself
 * does not wait for an RCU grace period as cgroup.procs does (a process that
 * moves itself whole through cgroup.procs takes the lock on every thread
 * group); on v2 cgroup.procs, as threads may not leave their domain there.
 */
const joinFile = (d: CgroupDir) => `${d.path}/${d.version === 1 ? "tasks" : "cgroup.procs"}`;

/** joinFile(d), open for writing (close-on-exec): the descriptor, or -errno. */
const openJoinFile = (d: CgroupDir) => trySys("openat", AT.FDCWD, cstr(joinFile(d)), O.WRONLY | O.CLOEXEC, 0);

/**
 * The join files of the container's cgroup v1 directories, open for its first
 * process to move itself in (see HandshakeOptions in plan.ts); closed by the caller.
 */
export function openCgroupTasks(state: CgroupState | undefined): CgroupEntry[] {
  const out: CgroupEntry[] = [];
  for (const d of state?.dirs ?? []) {
    if (d.version !== 1) continue;
    const fd = openJoinFile(d);
    if (fd < 0) {
      for (const c of out) closeFd(c.fd);
      throw new BunkerError(`place the process in the container's cgroup: open ${joinFile(d)}: ${errnoMessage(-fd)}`);
    }
    out.push({ fd, dir: d.path });
  }
  return out;
}

/**
 * Puts `pid` into the container's cgroup v2 directory before it runs anything
 * of its own, unless it was started there (`inV2`, by clone3). The v1 ones it
 * enters itself (openCgroupTasks).
 */
export function joinCgroups(state: CgroupState | undefined, pid: number, inV2 = false): void {
  if (!state || inV2) return;
  try {
    placeProcess({ dirs: state.dirs.filter((d) => d.version === 2) }, pid);
  } catch (e) {
    throw within(e, "place the process in the container's cgroup");
  }
}

export interface CgroupJoin {
  /** The join file of each cgroup of the container (see joinFile), open for writing (close-on-exec). */
  files: CgroupEntry[];
  close(): void;
}

/** Why a rootless caller may not move its own processes into `dir` (it needs write access to their common ancestor); null if it may. */
function cannotMoveInto(dir: string): string | null {
  const v2 = detectLayout().v2;
  if (!v2) return "this host's cgroups are v1";
  const own = `${v2.mount}${v2.own === "/" ? "" : v2.own}`;
  const from = own.split("/");
  const to = dir.split("/");
  let n = 0;
  while (n < from.length && n < to.length && from[n] === to[n]) n++;
  const ancestor = to.slice(0, n).join("/");
  if (trySys("faccessat", AT.FDCWD, cstr(`${ancestor}/cgroup.procs`), W_OK, 0) === 0) return null;
  return `moving processes there from your cgroup ${own} needs write access to ${ancestor}/cgroup.procs`;
}

/**
 * What a process started in a running container (bunker exec) needs to move
 * itself into its cgroups after it has entered the PID namespace and before
 * it runs anything: moved from here instead, it would have to be the process
 * that enters the namespaces, which lives on beside the command until it is
 * reaped and meanwhile counts against the container's pids.max. A rootless
 * caller may lack the right to move a process there from its own cgroup
 * (another session's, say): then it runs outside them, with a warning, as
 * runc does.
 */
export async function cgroupJoin(state: CgroupState | undefined): Promise<CgroupJoin> {
  const files: CgroupJoin["files"] = [];
  const close = () => {
    for (const f of files.splice(0)) closeFd(f.fd);
  };
  if (!state) return { files, close };
  const root = process.geteuid?.() === 0;
  for (const d of state.dirs) {
    let why: string;
    const denied = root ? null : cannotMoveInto(d.path);
    if (denied) why = `${d.path}: ${denied}`;
    else {
      const fd = openJoinFile(d);
      if (fd >= 0) {
        files.push({ fd, dir: d.path });
        continue;
      }
      why = `open ${joinFile(d)}: ${errnoMessage(-fd)}`;
    }
    close();
    if (root) throw new BunkerError(`place the process in the container's cgroup: ${why}`);
    await log.warn(`place the process in the container's cgroup: ${why}: the command runs outside the container's cgroups`);
    break;
  }
  return { files, close };
}

export interface OomReport {
  killed: boolean;
  limit?: number;
}

/** Whether the kernel killed anything for memory, read before the cgroups go. */
export function oomReport(state: CgroupState | undefined): OomReport {
  if (!state) return { killed: false };
  const limit = memoryLimit(state);
  return { killed: oomKills(state) > 0, ...(limit !== undefined ? { limit } : {}) };
}

const killPid = (pid: number) => void trySys("kill", pid, SIGNALS.SIGKILL);

/** Removes the container's cgroups once its processes are gone. */
export async function releaseCgroups(state: CgroupState | undefined): Promise<void> {
  if (!state) return;
  const left = await removeCgroups(state, 5000, killPid);
  if (left.length) await log.warn(`could not remove cgroups ${left.join(", ")}`);
}

/**
 * Removes cgroups under bunker's parents that no live container owns: those a
 * bunker killed before it could clean up left behind. Busy ones stay. Every
 * container's first cgroup is made first and removed last, so the first
 * hierarchy's parent lists every container that has any.
 */
export function reconcileCgroups(uid = process.geteuid?.() ?? 0): void {
  const ps = placements(detectLayout(), uid);
  if (typeof ps !== "string") removeStale(ps);
}

function removeStale(ps: Placement[]): void {
  if (ps.length === 0) return;
  for (const id of listDir(ps[0]!.parent)) {
    if (!/^[0-9a-f]{12}$/.test(id)) continue;
    const s = readState(id);
    if (s !== null && (currentStatus(s) !== "stopped" || supervisorAlive(s))) continue;
    for (const p of [...ps].reverse()) {
      try {
        removePath(`${p.parent}/${id}`, true);
      } catch {
        // still has processes, or already gone
      }
    }
  }
}

/** The running container's cgroups; an error says why there are none to act on. */
export function cgroupOf(s: ContainerState, what: string): CgroupState {
  const name = s.name ?? s.id;
  if (currentStatus(s) !== "running") throw new BunkerError(`container ${name} is not running`);
  if (!s.cgroup) throw new BunkerError(`container ${name} has no cgroup to ${what} (it runs with --cgroups=disabled, or rootless without a delegated cgroup)`);
  return s.cgroup;
}

/**
 * bunker pause / unpause: freezes or thaws every process of the container.
 * The flag is recorded before freezing, so an interrupted pause still leaves
 * a container that unpause, stop and rm know to thaw.
 */
export async function setPaused(s: ContainerState, paused: boolean): Promise<void> {
  const name = s.name ?? s.id;
  const cg = cgroupOf(s, paused ? "freeze" : "thaw");
  if (paused && s.paused) throw new BunkerError(`container ${name} is already paused`);
  if (!paused && !s.paused && !isFrozen(cg)) throw new BunkerError(`container ${name} is not paused`);
  const record = (value: boolean) =>
    withLock(s.id, () => {
      const now = readState(s.id);
      if (!now) return;
      if (value) now.paused = true;
      else delete now.paused;
      writeState(now);
    });
  if (paused) record(true);
  try {
    await setFrozen(cg, paused);
  } catch (e) {
    if (paused) {
      thaw(cg);
      record(false);
    }
    throw within(e, `${paused ? "pause" : "unpause"} container ${name}`);
  }
  if (!paused) record(false);
}

/**
 * Changes a running container's limits, then records them in its spec (each
 * resource given replaces the one it had).
 */
export function updateResources(s: ContainerState, r: LinuxResources): void {
  const name = s.name ?? s.id;
  // A created container too: clients set limits between create and start (the kubelet's CPU manager does).
  if (currentStatus(s) === "stopped") throw new BunkerError(`container ${name} is not running`);
  if (!s.cgroup) throw new BunkerError(`container ${name} has no cgroup to update (it runs with --cgroups=disabled, or rootless without a delegated cgroup)`);
  const cg = s.cgroup;
  withLock(s.id, () => {
    const now = readState(s.id);
    if (!now) throw new BunkerError(`container ${name} does not exist`);
    const was = now.spec.oci.linux.resources ?? {};
    // cgroup v2 takes the quota and the period in one write: the one not given stays as it is.
    const asked: LinuxResources = { ...r };
    if (r.cpu && (r.cpu.quota !== undefined || r.cpu.period !== undefined)) {
      const quota = r.cpu.quota ?? was.cpu?.quota;
      const period = r.cpu.period ?? was.cpu?.period;
      asked.cpu = { ...r.cpu, ...(quota !== undefined ? { quota } : {}), ...(period !== undefined ? { period } : {}) };
    }
    try {
      updateCgroups(cg, asked);
    } catch (e) {
      throw within(e, `update container ${name}`);
    }
    // Field by field: a new CPU quota keeps the shares in force.
    const merged: LinuxResources = { ...was, ...asked };
    if (was.memory && asked.memory) merged.memory = { ...was.memory, ...asked.memory };
    if (was.cpu && asked.cpu) merged.cpu = { ...was.cpu, ...asked.cpu };
    now.spec.oci.linux.resources = merged;
    writeState(now);
  });
}

export interface Sample {
  state: ContainerState;
  /** Monotonic time of the sample, in microseconds. */
  at: number;
  usage: Usage | null;
}

/** Usage figures of each container (null for one without cgroups, or no longer running). */
export function sampleUsage(states: ContainerState[]): Sample[] {
  return states.map((state) => {
    const at = Math.round(performance.now() * 1000);
    if (!state.cgroup || currentStatus(state) !== "running") return { state, at, usage: null };
    return { state, at, usage: usage(state.cgroup) };
  });
}

/** The host's memory, what docker shows as the limit of a container without one. */
export function hostMemory(): number {
  try {
    const m = readText("/proc/meminfo").match(/^MemTotal:\s+(\d+) kB$/m);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    // no /proc/meminfo to read: shown as no limit
    return 0;
  }
}
