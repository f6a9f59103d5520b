// Waiting for a running container: the detached supervisor hands off to the
// native waiter, a terminal is relayed, and once the first process ends
// everything held for it is released and its end recorded (or the container
// removed, with --rm).

import { enabled, log, mark, markReport } from "../log";
import { closeFd, exitCodeOf, trySys, waitFor } from "../sys/libc";
import { loadNative } from "../sys/native";
import { F_SETFL, O, SIGNALS } from "../sys/constants";
import { formatBytes } from "../spec/resources";
import { writeErr } from "../output";
import { handOff } from "./handoff";
import { restartInBackground } from "./restart";
import { pumpLog } from "./log-writer";
import { readState, removeState, withLock, writeState } from "./store";
import { releaseMountPoints } from "./mountpoints";
import { oomReport, releaseCgroups } from "./cgroup";
import { closeTerminal, receiveMaster, relayTerminal } from "./tty";
import type { Created, RunRecord } from "./create";
import { containerEvent } from "./events";

/** Waits for the container's first process to end; resolves to its exit status. */
export async function waitContainer(c: Created, record: RunRecord): Promise<number> {
  const { state, pid, net, program, terminal, mountPoints } = c;
  const logPipes = record.log;
  if (logPipes) {
    // The container has its copies: the pipes end when its processes are gone.
    for (const k of ["outWrite", "errWrite", "inRead"] as const) {
      if (logPipes[k] >= 0) closeFd(logPipes[k]);
      logPipes[k] = -1;
    }
  }
  if (terminal && record.tty?.detached && logPipes) {
    // A detached container's terminal: its master is its output, for the waiter (or, failing that, this process) to serve.
    logPipes.out = receiveMaster(terminal);
    closeTerminal(terminal);
    // A container that does not read its terminal must not hold up the waiter writing a client's input to it.
    trySys("fcntl", logPipes.out, F_SETFL, O.NONBLOCK);
  }
  if (record.handOff) {
    // Returns only if the exec fails: then this process waits (and writes the log), as it would without it.
    const why = handOff(state.id, pid, net.held(), logPipes);
    await log.debug(`the supervisor stays a bunker process: ${why}`);
  }
  if (terminal && !record.tty?.detached) {
    const master = receiveMaster(terminal);
    closeFd(terminal.childSock);
    closeFd(terminal.slot);
    try {
      relayTerminal(loadNative(), terminal, master, record.tty!.interactive);
    } finally {
      closeFd(terminal.parentSock);
      closeFd(terminal.winchRead);
      closeFd(terminal.winchWrite);
    }
  }
  const status = logPipes ? await pumpLog(pid, logPipes) : waitFor(pid);
  // The child ran on `program`'s memory until it exec'd (or, with --init, on its own copy).
  program.retain(null);
  // Once reaped, the pid can be reused: nothing more is sent to it.
  loadNative().forwardTo(-1);
  mark("exited");
  // Its root filesystem's server, once nothing of the container uses it.
  c.fuse?.stop();
  await net.release();
  // `bunker ns pin` may have pinned its mount namespace since: the state on disk says.
  if (mountPoints) releaseMountPoints(mountPoints, readState(state.id)?.pinned ?? state.pinned);
  const code = exitCodeOf(status);
  const oom = oomReport(state.cgroup);
  await releaseCgroups(state.cgroup);
  mark("cgroups released");
  if (oom.killed && code === 128 + SIGNALS.SIGKILL) {
    const limit = oom.limit !== undefined ? ` (limit ${formatBytes(oom.limit)})` : "";
    await writeErr(`bunker: container ${state.id} was killed: out of memory${limit}\n`);
  }
  if (oom.killed) containerEvent("oom", state);
  containerEvent("die", state, { exitCode: String(code) });
  try {
    withLock(state.id, () => {
      if (record.autoRemove) return removeState(state);
      state.status = "stopped";
      state.exitCode = code;
      delete state.paused;
      if (oom.killed) {
        state.oomKilled = true;
        if (oom.limit !== undefined) state.memoryLimit = oom.limit;
      }
      state.finished = new Date().toISOString();
      delete state.namespaces;
      writeState(state);
    });
  } catch (err) {
    // `bunker rm -f` may have removed the container meanwhile: then there is nothing to record.
    if (readState(state.id) !== null) throw err;
  }
  if (!record.detached && !record.autoRemove && state.spec.bunker.restart) restartInBackground(state.id);
  mark("recorded");
  if (enabled("debug")) await log.debug(`timings: ${markReport()}`);
  return code;
}
