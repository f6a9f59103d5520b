// `bunker __finish ID STATUS LOCKFD`: the end of a detached container whose
// supervisor handed off to the waiter (handoff.ts, native/waiter.c). The
// waiter reaped the container (STATUS is wait(2)'s), took the container's
// lock on LOCKFD, started this process with it and exited: from here on the
// container's bunker is gone, as after a kill, and what it set up is undone
// the same way (remove.ts) — except that the exit status is known and is
// recorded, with an out-of-memory kill, as the supervisor would have.

import { fileType, inodeOf } from "../sys/fs";
import { closeFd, exitCodeOf, trySys } from "../sys/libc";
import { oomReport } from "./cgroup";
import { containerEvent } from "./events";
import { undoSetUp } from "./remove";
import { recordRestarting, restartDue, sleepBackOff } from "./restart";
import { containerDir, processAlive, readState, removeState, supervisorAlive, writeState, type ContainerState } from "./store";
import { LOCK } from "../sys/constants";


/** How long the waiter may take to exit after starting this process: until then it counts as the container's bunker. */
const WAITER_EXIT_MS = 2000;

export async function finishContainer(id: string, statusArg: string, lockArg: string): Promise<number> {
  if (!/^[0-9a-f]{12}$/.test(id) || !/^\d+$/.test(statusArg) || !/^\d+$/.test(lockArg)) return 2;
  const delay = await recordEnd(id, Number(statusArg), Number(lockArg));
  if (typeof delay !== "number") return delay.code;
  // Its restart policy starts it again: this process, which the state now names, once the back-off is over.
  await sleepBackOff(id, delay);
  const { supervise } = await import("./detach");
  return supervise(id, ["--restart"]);
}

/** Undoes the container's set-up and records its end, under the lock on `lockFd`; the back-off before a restart, if its policy wants one. */
async function recordEnd(id: string, status: number, lockFd: number): Promise<number | { code: number }> {
  try {
    // Only with the container's own lock in hand, held already (a second flock of the same open file succeeds).
    const lockPath = `${containerDir(id)}/lock`;
    if (fileType(lockPath) !== "file" || inodeOf("", lockFd) !== inodeOf(lockPath)) return { code: 2 };
    if (trySys("flock", lockFd, LOCK.EX | LOCK.NB) !== 0) return { code: 2 };
    const s = readState(id);
    if (!s) return { code: 0 };
    if (s.status === "stopped" || processAlive(s)) return { code: 2 };
    const end = Date.now() + WAITER_EXIT_MS;
    while (supervisorAlive(s) && Date.now() < end) await Bun.sleep(2);
    const oom = oomReport(s.cgroup);
    await undoSetUp(s, true);
    if (oom.killed) containerEvent("oom", s);
    containerEvent("die", s, { exitCode: String(exitCodeOf(status)) });
    if (s.autoRemove) {
      removeState(s);
      return { code: 0 };
    }
    const ended: ContainerState = { ...s, status: "stopped", exitCode: exitCodeOf(status), finished: new Date().toISOString() };
    delete ended.paused;
    delete ended.namespaces;
    if (oom.killed) {
      ended.oomKilled = true;
      if (oom.limit !== undefined) ended.memoryLimit = oom.limit;
    }
    writeState(ended);
    const delay = restartDue(ended);
    if (delay === null) return { code: 0 };
    recordRestarting(ended, delay, process.pid);
    return delay;
  } finally {
    closeFd(lockFd);
  }
}
