// Signals to running and starting containers, and waiting for them to stop.

import { Errno, SysError } from "../sys/errno";
import { SIGNALS } from "../sys/constants";
import { trySys } from "../sys/libc";
import { BunkerError } from "../errors";
import { log } from "../log";
import { cgroupPids, thaw, type CgroupState } from "../cgroups/tree";
import { containerEvent } from "./events";
import { ContainerGone, currentStatus, processAlive, readState, supervisorAlive, withLock, type ContainerState } from "./store";

export { parseSignal } from "../spec/signals";

/**
 * How long a start may take to clone the container's process: until then
 * there is nothing to signal (cgroups, network and the child program are
 * prepared before clone).
 */
export const START_DEADLINE_MS = 10_000;

/**
 * Sends `sig` to the container's first process, if it is still that process.
 * A container still starting is signalled too: its process exists from clone
 * on (its set-up holds back the signals bunker forwards until just before
 * execve, and SIGKILL always works); before clone, this waits for its start
 * to record the process or to fail. False when there is no process to signal.
 */
export async function signalContainer(s: ContainerState, sig: number): Promise<boolean> {
  const end = Date.now() + START_DEADLINE_MS;
  let cur: ContainerState | null = s;
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    if (currentStatus(cur) === "stopped") return false;
    if (cur.pid !== undefined) {
      if (!processAlive(cur)) return false;
      const r = trySys("kill", cur.pid, sig);
      if (r === -Errno.ESRCH) return false;
      if (r < 0) throw new SysError(`signal container ${cur.id}`, -r);
      containerEvent("kill", cur, { signal: String(sig) });
      // Frozen processes act on no signal: as docker does, a paused container is thawed to be killed
      // (also one whose pause was interrupted before it was recorded).
      if (sig === SIGNALS.SIGKILL && cur.cgroup) thaw(cur.cgroup);
      return true;
    }
    if (Date.now() > end) throw new BunkerError(`container ${cur.name ?? cur.id} is still starting: its process was not created within ${START_DEADLINE_MS / 1000} s`);
    if (delay === 2) await log.debug(`container ${cur.name ?? cur.id} is starting: waiting for its process to be created`);
    await Bun.sleep(delay);
    cur = readState(s.id);
    if (!cur) return false;
  }
}

/**
 * Sends `sig` to every process in the container's cgroups `cg` (runc's kill
 * --all); a paused container is thawed for a SIGKILL. False when none is left.
 */
export function signalAll(cg: CgroupState, sig: number): boolean {
  if (sig === SIGNALS.SIGKILL) thaw(cg);
  const pids = cgroupPids(cg);
  for (const pid of pids) {
    const r = trySys("kill", pid, sig);
    if (r < 0 && r !== -Errno.ESRCH) throw new SysError(`signal process ${pid}`, -r);
  }
  return pids.length > 0;
}

/** The container's processes as the host sees them: those in its cgroups, or its first process alone without one. */
export function containerPids(s: ContainerState): number[] {
  if (s.cgroup) return cgroupPids(s.cgroup);
  return s.pid !== undefined && processAlive(s) ? [s.pid] : [];
}

/** Waits until the container's process is gone and its final state recorded (or its recorder gone). */
export async function waitStopped(id: string, timeoutMs = Infinity): Promise<ContainerState | null> {
  const end = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const s = readState(id);
    if (!s) return null;
    if (s.status === "stopped") return s;
    if (currentStatus(s) === "stopped" && !supervisorAlive(s)) {
      // The supervisor may have recorded the end and exited since `s` was read, or handed the
      // end to `bunker __finish`, which records it under the container's lock: read once more,
      // under the lock.
      try {
        return withLock(id, () => readState(id)) ?? s;
      } catch (e) {
        if (e instanceof ContainerGone) return s;
        throw e;
      }
    }
    if (Date.now() > end) return s;
    await Bun.sleep(delay);
  }
}
