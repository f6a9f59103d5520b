// Removing containers, and finishing for a killed bunker. A container's own
// bunker undoes what its start set up (cgroups, network, pins) and then
// records the end or removes the state; `rm` waits for that. When that bunker
// was killed, whoever comes next (`rm`, `ps`, `stats`) undoes the set-up
// itself, after the container's processes are gone, and only then records
// the end or removes the state: the state is the record of what to undo, and
// a process that still lives keeps it.

import { pruneMountPoints } from "./mountpoints";
import { stopFuseOverlay } from "./fuse-overlay";
import { stopHealthMonitor } from "./health-monitor";
import { detectLayout } from "../cgroups/detect";
import { cgroupPids, placements, removeCgroups, thaw, type CgroupState } from "../cgroups/tree";
import { SIGNALS } from "../sys/constants";
import { fileType } from "../sys/fs";
import { trySys } from "../sys/libc";
import { log } from "../log";
import { BunkerError, isFailure } from "../errors";
import { releaseCgroups } from "./cgroup";
import { signalContainer } from "./lifecycle";
import { reconcileNetwork } from "./network";
import { unpinNamespaces } from "./pin";
import { holdRestarts } from "./restart";
import { containerEvent } from "./events";
import {
  clearStateTemps,
  ContainerGone,
  currentStatus,
  isDamaged,
  listStates,
  processAlive,
  readEntry,
  readState,
  removeState,
  supervisorAlive,
  withLockAsync,
  writeState,
  type ContainerState,
  type Damaged,
} from "./store";

/** How long `rm` waits for a container's processes to end and its bunker to finish. */
export const REMOVE_DEADLINE_MS = 10_000;

const killPid = (pid: number) => void trySys("kill", pid, SIGNALS.SIGKILL);

const label = (s: { id: string; name?: string }) => s.name ?? s.id;

/** Whether nobody will finish this container's start or end: its bunker and its process are both gone, and no end was recorded. */
const abandoned = (s: ContainerState) => s.status !== "stopped" && !supervisorAlive(s) && !processAlive(s);

/**
 * Undoes what a killed bunker had set up for its container, whose processes
 * must be gone: the cgroups (which also proves that), the network (lease, NAT
 * elements, veth, helper), the pins of a start that never finished, and the
 * mount points it made in its rootfs (once no other container uses them).
 */
export async function undoSetUp(s: ContainerState, force: boolean): Promise<void> {
  if (s.cgroup) {
    // Processes of it that outlived its first one (the state may be stale): only `rm -f` kills them.
    const pids = cgroupPids(s.cgroup);
    if (pids.length && !force) throw new BunkerError(`container ${label(s)} still has processes in its cgroups (${pids.join(", ")}): use rm -f`);
    thaw(s.cgroup);
    for (const pid of pids) killPid(pid);
    await releaseCgroups(s.cgroup);
    const left = s.cgroup.dirs.find((d) => fileType(d.path) !== null);
    if (left) throw new BunkerError(`container ${label(s)}: processes are still in its cgroup ${left.path}`);
  }
  await reconcileNetwork([s]);
  if (s.rootfsHelper) stopFuseOverlay(s.rootfsHelper.pid, s.rootfsHelper.pidStart);
  if (s.healthMonitor) stopHealthMonitor(s.healthMonitor);
  if (s.status === "created") {
    for (const dir of s.pinned ?? []) {
      try {
        // Only its own: the directory may hold another container's pins.
        unpinNamespaces(dir, s.namespaceIds ?? {});
      } catch {
        // nothing was pinned there yet
      }
    }
  }
  // Its record names a bunker that is dead now: unless a pin keeps its mount namespace, nothing uses what it made.
  pruneMountPoints();
}

/**
 * Finishes an abandoned container under its lock: undoes its set-up, then
 * records how it ended or (--rm, or `remove`) removes it. Returns the state
 * as it is after, null once removed; a container taken care of meanwhile is
 * left as it is.
 */
async function finish(id: string, remove: boolean, force = false): Promise<ContainerState | null> {
  return withLockAsync(id, async () => {
    const s = readState(id);
    if (!s) return null;
    if (abandoned(s)) {
      await undoSetUp(s, force);
      // It died with its bunker: its first process is killed then (PR_SET_PDEATHSIG, SIGKILL).
      if (s.status === "running") containerEvent("die", s, { exitCode: "137" });
    } else if (s.status !== "stopped") return s;
    if (remove || s.autoRemove) {
      removeState(s);
      return null;
    }
    if (s.status === "stopped") return s;
    // A container an OCI client created has no bunker process to die with: its process ended, and its
    // end (the exit status) is the client's, which reaped it.
    const ended: ContainerState = { ...s, status: "stopped", ...(s.oci ? {} : { killedWithSupervisor: true }) };
    delete ended.paused;
    delete ended.namespaces;
    writeState(ended);
    return ended;
  });
}

/**
 * Records the end of containers whose bunker was killed (and removes --rm
 * ones), after undoing their set-up. What cannot be undone yet is left for
 * the next command. Returns the containers still there.
 */
export async function reconcile(states: ContainerState[] = listStates()): Promise<ContainerState[]> {
  pruneMountPoints();
  const kept: ContainerState[] = [];
  for (const s of states) {
    clearStateTemps(s.id);
    if (!abandoned(s)) {
      kept.push(s);
      continue;
    }
    try {
      const after = await finish(s.id, false);
      if (after) kept.push(after);
    } catch (e) {
      if (e instanceof ContainerGone) continue;
      if (!isFailure(e)) throw e;
      await log.debug(`left for later: ${e.message}`);
      kept.push(s);
    }
  }
  return kept;
}

/**
 * bunker rm: removes the container once its processes are gone and its
 * bunker has finished (or, killed, has been finished for). With `force`, a
 * running or starting container is killed first. A container whose processes
 * outlive the deadline keeps its state, and that is an error.
 */
export async function removeContainer(s: ContainerState, force: boolean): Promise<void> {
  if (s.restarting && supervisorAlive(s)) {
    if (!force) throw new BunkerError(`container ${label(s)} is restarting: stop it first, or use rm -f`);
    holdRestarts(s.id);
  }
  if (currentStatus(s) !== "stopped") {
    if (!force) throw new BunkerError(`container ${label(s)} is running: stop it first, or use rm -f`);
    await signalContainer(s, SIGNALS.SIGKILL);
  }
  const end = Date.now() + REMOVE_DEADLINE_MS;
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    const now = readState(s.id);
    // Gone: its bunker removed it (--rm, a failed start), or another command did.
    if (!now) return;
    const settled = now.status === "stopped" || !supervisorAlive(now);
    if (settled && !processAlive(now)) {
      try {
        if ((await finish(now.id, true, force)) === null) return;
      } catch (e) {
        if (e instanceof ContainerGone) return;
        throw isFailure(e) ? new BunkerError(`${e.message}; its state is kept`) : e;
      }
    }
    if (Date.now() > end) {
      const why = processAlive(now) ? `its process ${now.pid} is still alive` : `its bunker process ${now.supervisor} has not finished with it`;
      throw new BunkerError(`remove container ${label(now)}: ${why} after ${REMOVE_DEADLINE_MS / 1000} s; its state is kept`);
    }
    // A process that outlived its bunker (nothing should: it dies with it) is killed again.
    if (force && !supervisorAlive(now) && processAlive(now)) await signalContainer(now, SIGNALS.SIGKILL);
    await Bun.sleep(delay);
  }
}

/** The cgroups named after `id` that exist: all a damaged state leaves to find its processes by. */
function cgroupsNamed(id: string): CgroupState | undefined {
  const ps = placements(detectLayout(), process.geteuid?.() ?? 0);
  if (typeof ps === "string") return undefined;
  const dirs = ps
    .map((p) => ({ path: `${p.parent}/${id}`, version: p.hierarchy.version, controllers: p.hierarchy.controllers }))
    .filter((d) => fileType(d.path) === "dir");
  return dirs.length ? { dirs } : undefined;
}

/**
 * bunker rm -f of a container whose state is damaged: what can be found by
 * its id goes. The processes in its cgroups are killed and the cgroups
 * removed (processes that outlive the deadline keep the state, and that is an
 * error), then the directory and its names; then its leases, NAT elements and
 * veth, as those of any container that is gone.
 */
export async function removeDamaged(d: Damaged): Promise<void> {
  try {
    await withLockAsync(d.id, async () => {
      const now = readEntry(d.id);
      if (!now) return;
      if (!isDamaged(now)) throw new BunkerError(`container ${d.id} was repaired meanwhile: remove it again`);
      const cg = cgroupsNamed(d.id);
      if (cg) {
        thaw(cg);
        for (const pid of cgroupPids(cg)) killPid(pid);
        const left = await removeCgroups(cg, REMOVE_DEADLINE_MS, killPid);
        if (left.length) throw new BunkerError(`remove container ${d.id}: processes are still in its cgroup ${left[0]}; its state is kept`);
      }
      removeState(now);
    });
  } catch (e) {
    if (!(e instanceof ContainerGone)) throw e;
  }
  await reconcileNetwork();
  pruneMountPoints();
}
