// Restart policies (--restart) without a daemon. Whoever records a
// container's end (`bunker __finish` after the waiter, a supervisor that
// stayed a Bun process, a foreground `run`) asks restartDue; when the policy
// says to start it again, the state records it as restarting, naming the
// process that will do it, which sleeps the back-off (natively where it can:
// kilobytes, not a Bun) and then becomes the container's supervisor again
// (`bunker __supervise ID --restart`). `stop`, `kill` and `rm` end a
// back-off by killing that process; a stopped container's policy holds again
// once it is started.

import { existsSync, rmSync, writeFileSync } from "node:fs";
import { SIGNALS } from "../sys/constants";
import { trySys } from "../sys/libc";
import { startTime } from "../sys/proc";
import { log } from "../log";
import { selfCommand, sleepThenRestart } from "./handoff";
import { ContainerGone, containerDir, readState, supervisorAlive, withLock, writeState, type ContainerState } from "./store";

/** docker's back-off: 100 ms, doubled at each restart up to a minute; back to 100 ms after a run of 10 s. */
const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 60_000;
const RESET_AFTER_MS = 10_000;

/**
 * The back-off before container `s`, whose end has just been recorded, is
 * started again; null when its policy leaves it stopped.
 */
export function restartDue(s: ContainerState): number | null {
  const policy = s.spec.bunker.restart;
  if (!policy || policy.name === "no" || s.autoRemove || s.oci || s.status !== "stopped" || restartsHeld(s.id)) return null;
  if (policy.name === "on-failure") {
    if (s.exitCode === 0) return null;
    if (policy.maxRetries !== undefined && (s.restartCount ?? 0) >= policy.maxRetries) return null;
  }
  const ran = s.started !== undefined && s.finished !== undefined ? Date.parse(s.finished) - Date.parse(s.started) : 0;
  if (s.restartDelay === undefined || ran >= RESET_AFTER_MS) return FIRST_DELAY_MS;
  return Math.min(s.restartDelay * 2, MAX_DELAY_MS);
}

/**
 * Records (the caller holds the container's lock) that process `pid` will
 * start `s` again after `delay` ms.
 */
export function recordRestarting(s: ContainerState, delay: number, pid: number): ContainerState {
  const next: ContainerState = { ...s, restarting: true, restartDelay: delay, supervisor: pid };
  const start = startTime(pid);
  if (start !== null) next.supervisorStart = start;
  else delete next.supervisorStart;
  writeState(next);
  return next;
}

/**
 * After container `id`'s end was recorded: whether its policy starts it
 * again, and if so after how long, recorded under its lock as the job of the
 * process `restarter` names (given the back-off). Null when it stays stopped.
 */
export function claimRestart(id: string, restarter: (delay: number) => number): number | null {
  try {
    return withLock(id, () => {
      const s = readState(id);
      const delay = s ? restartDue(s) : null;
      if (s && delay !== null) recordRestarting(s, delay, restarter(delay));
      return delay;
    });
  } catch (e) {
    if (e instanceof ContainerGone) return null;
    throw e;
  }
}

/**
 * A foreground container has ended and its end is recorded: if its policy
 * starts it again, a detached bunker does, after the back-off (docker's
 * client, too, returns when the container ends and leaves its restart to the
 * daemon).
 */
export function restartInBackground(id: string): void {
  claimRestart(id, (delay) => {
    const proc = Bun.spawn([...selfCommand(), "__supervise", id, "--restart-after", String(delay)], { stdio: ["ignore", "ignore", "ignore"], detached: true, env: process.env });
    proc.unref();
    return proc.pid;
  });
}

/**
 * Sleeps the back-off of container `id` in this process, which its state
 * names as the one to start it again: as the native waiter, which then execs
 * `bunker __supervise ID --restart` (and this never returns), or, where that
 * cannot be, here. The caller then takes the container over (takeOver).
 */
export async function sleepBackOff(id: string, ms: number): Promise<void> {
  const why = sleepThenRestart(id, ms);
  await log.debug(`the back-off is slept by a bunker process: ${why}`);
  await Bun.sleep(ms);
}

/**
 * Ends the back-off of a restarting container (the caller holds its lock and
 * writes the state it returns): its restarter is killed and the state no
 * longer names it.
 */
export function cancelRestart(s: ContainerState): ContainerState {
  if (!s.restarting) return s;
  if (supervisorAlive(s)) trySys("kill", s.supervisor!, SIGNALS.SIGKILL);
  const next = { ...s };
  delete next.restarting;
  delete next.supervisor;
  delete next.supervisorStart;
  return next;
}

/**
 * The mark that a command stopped the container: a file beside its state,
 * not a field of it, which a supervisor starting it writes whole from what it
 * read before (a stop meanwhile would be lost).
 */
const heldMark = (id: string) => `${containerDir(id)}/restarts-held`;

/** Whether a command stopped the container since it was last started: its policy leaves it stopped. */
export const restartsHeld = (id: string): boolean => existsSync(heldMark(id));

/** The container is started by a command: its policy holds again. The caller holds its lock. */
export function releaseRestarts(id: string): void {
  rmSync(heldMark(id), { force: true });
}

/**
 * `stop`, `kill` with SIGKILL or its stop signal (docker's rule) and `rm -f`:
 * the container's policy leaves it stopped until it is started again, and a
 * back-off under way ends. Only a container with a policy is marked.
 */
export function holdRestarts(id: string): void {
  try {
    withLock(id, () => {
      const s = readState(id);
      if (!s || (!s.spec.bunker.restart && !s.restarting)) return;
      writeFileSync(heldMark(id), "", { mode: 0o600 });
      if (s.restarting) writeState(cancelRestart(s));
    });
  } catch (e) {
    if (!(e instanceof ContainerGone)) throw e;
  }
}

/**
 * A stopped container made ready to start again, by this process: what its
 * last run left (its process, times, end, network, cgroups) goes; its
 * restarts so far, its back-off and its log stay.
 */
export function startingAgain(s: ContainerState, restart: boolean): ContainerState {
  const next: ContainerState = { ...s, status: "created", detached: true, supervisor: process.pid };
  const start = startTime(process.pid);
  if (start !== null) next.supervisorStart = start;
  for (const k of ["pid", "pidStart", "started", "finished", "exitCode", "killedWithSupervisor", "namespaces", "paused", "oomKilled", "memoryLimit", "restarting", "error", "network", "cgroup", "rootfsHelper"] as const) delete next[k];
  if (restart) next.restartCount = (s.restartCount ?? 0) + 1;
  else delete next.restartDelay;
  return next;
}
