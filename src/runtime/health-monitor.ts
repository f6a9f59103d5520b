// The periodic health check of a running container: a process of its own,
// started beside the container by the process that waits for it (the
// detached supervisor, which then becomes the waiter, or the foreground
// bunker), that runs `bunker healthcheck run ID` at the check's interval until
// the container ends. It is native/health.c, a static program of a few
// kilobytes exec'd from a memory file; where this bunker cannot run it
// (BUNKER_NATIVE=compile, bun running the sources, a build without it) it is
// `bunker __health`, a Bun process per checked container (tens of megabytes).
// Either dies with the process that started it (PR_SET_PDEATHSIG) and is
// recorded in the state, so that undoing the container stops it too.

import { healthTimings } from "../spec/health";
import { AT, O, POLLIN, PR_SET_PDEATHSIG, SIGNALS } from "../sys/constants";
import { KERNEL_SIGSET_SIZE, POLLFD_LAYOUT as POLLFD } from "../sys/layouts";
import { cstr } from "../sys/fs";
import { closeFd, trySys } from "../sys/libc";
import { memoryFile } from "../sys/memfd";
import { prebuiltNativeOff } from "../sys/native";
import { isAlive, startTime } from "../sys/proc";
import { log } from "../log";
import { compiledBunker, selfCommand } from "./handoff";
import { readState, withLock, writeState, type ContainerState } from "./store";

/** The build's health check timer for this architecture, base64; absent or empty without one. */
declare const BUNKER_HEALTH: string | undefined;

/** Why the native timer cannot be used here, or null. */
function nativeUnavailable(): string | null {
  if (prebuiltNativeOff()) return "BUNKER_NATIVE=compile";
  if (typeof BUNKER_HEALTH !== "string" || BUNKER_HEALTH === "") return "this build carries no health check timer";
  // It runs this executable again: bun running the sources would need its script too.
  if (!compiledBunker()) return "not a compiled bunker";
  return null;
}

const ms = (ns: number) => String(Math.ceil(ns / 1e6));

/**
 * Starts the periodic check of container `state`, whose first process `pid`
 * is a child of this process and runs; records it in the state. Nothing
 * without a health check. A failure to start it is logged, not fatal: the
 * container runs, and `bunker healthcheck run` still works.
 */
export function startHealthMonitor(state: ContainerState, pid: number): void {
  const h = state.spec.bunker.healthcheck;
  if (!h) return;
  const t = healthTimings(h);
  const timing = [ms(t.interval), ms(t.startPeriod), ms(t.startInterval)];
  const opened: number[] = [];
  try {
    // A pidfd of our own child: it names this process and no later one of the same number.
    const pidfd = trySys("pidfd_open", pid, 0);
    if (pidfd < 0) return void log.warn(`container ${state.id}: no periodic health check: pidfd_open: errno ${-pidfd}`);
    opened.push(pidfd);
    const why = nativeUnavailable();
    let proc;
    if (why === null) {
      const memfd = memoryFile("bunker-health", "the health check timer", new Uint8Array(Buffer.from(BUNKER_HEALTH!, "base64")), "exec");
      opened.push(memfd);
      const exe = trySys("openat", AT.FDCWD, cstr("/proc/self/exe"), O.PATH | O.CLOEXEC, 0);
      if (exe < 0) return void log.warn(`container ${state.id}: no periodic health check: open /proc/self/exe: errno ${-exe}`);
      opened.push(exe);
      // Its descriptors: 3 bunker's executable, 4 the pidfd, 5 the memory file it is exec'd from (closed by it).
      proc = Bun.spawn(["/proc/self/fd/5", String(process.pid), "4", "3", state.id, ...timing], {
        argv0: "bunker-health",
        stdio: ["ignore", "ignore", "ignore", exe, pidfd, memfd],
        detached: true,
        env: process.env,
      });
    } else {
      void log.debug(`the periodic health check is a Bun process: ${why}`);
      proc = Bun.spawn([...selfCommand(), "__health", String(process.pid), "3", state.id, ...timing], {
        stdio: ["ignore", "ignore", "ignore", pidfd],
        detached: true,
        env: process.env,
      });
    }
    proc.unref();
    const start = startTime(proc.pid);
    const monitor = { pid: proc.pid, ...(start !== null ? { pidStart: start } : {}) };
    withLock(state.id, () => {
      const now = readState(state.id);
      if (now) writeState({ ...now, healthMonitor: monitor });
    });
  } catch (e) {
    void log.warn(`container ${state.id}: no periodic health check: ${(e as Error).message}`);
  } finally {
    for (const fd of opened) closeFd(fd);
  }
}

/** Stops a container's periodic check, if that process still runs (its pid and start time both). */
export function stopHealthMonitor(m: { pid: number; pidStart?: number }): void {
  if (m.pidStart !== undefined && isAlive(m.pid, m.pidStart)) trySys("kill", m.pid, SIGNALS.SIGKILL);
}

/**
 * `bunker __health PPID PIDFD ID INTERVAL_MS START_PERIOD_MS START_INTERVAL_MS`:
 * the Bun stand-in for native/health.c, with the same arguments and rules.
 */
export async function healthLoop(argv: string[]): Promise<number> {
  if (argv.length !== 6 || !argv.every((a, i) => i === 2 || /^\d+$/.test(a))) return 2;
  const [ppid, pidfd, id, interval, startPeriod, startInterval] = [Number(argv[0]), Number(argv[1]), argv[2]!, Number(argv[3]), Number(argv[4]), Number(argv[5])];
  trySys("prctl", PR_SET_PDEATHSIG, SIGNALS.SIGKILL, 0, 0, 0);
  if (process.ppid !== ppid) return 0;
  // The pidfd reads as ready once the container's first process has ended.
  const fds = new Uint8Array(POLLFD.SIZE);
  const dv = new DataView(fds.buffer);
  const ended = () => {
    dv.setInt32(POLLFD.fd, pidfd, true);
    dv.setInt16(POLLFD.events, POLLIN, true);
    dv.setInt16(POLLFD.revents, 0, true);
    return trySys("ppoll", fds, 1, new BigInt64Array(2), 0, KERNEL_SIGSET_SIZE) !== 0;
  };
  const cmd = selfCommand();
  const started = Date.now();
  let passed = false;
  for (;;) {
    const wait = !passed && Date.now() - started < startPeriod ? startInterval : interval;
    const due = Date.now() + wait;
    while (Date.now() < due) {
      if (ended()) return 0;
      await Bun.sleep(Math.min(200, due - Date.now()));
    }
    if (ended()) return 0;
    const check = Bun.spawn([...cmd, "healthcheck", "run", id], { stdio: ["ignore", "ignore", "ignore"], env: process.env });
    if ((await check.exited) === 0) passed = true;
  }
}
