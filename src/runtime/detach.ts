// run -d: the container is run by a supervising bunker process in its own
// session, which records the exit status when the container ends. The
// caller waits only until the command has started (or failed to), prints
// the id and returns.

import { requireContainerKernel } from "../sys/kernel";
import { writeOut } from "../output";
import type { ContainerSpec } from "../spec/types";
import { AT, F_SETFL, O, POLLIN } from "../sys/constants";
import { closeFd, pipe, readUpTo, sys, trySys, writeAll } from "../sys/libc";
import { connectAttach, listenForAttach } from "./attach";
import { containerEvent } from "./events";
import { BunkerError } from "../errors";
import { selfCommand } from "./handoff";
import { initialState, runContainer, type RunRecord } from "./run";
import { ContainerGone, containerDir, createState, currentStatus, readState, removeState, withLock, writeState, type ContainerState } from "./store";
import { cancelRestart, claimRestart, releaseRestarts, restartsHeld, sleepBackOff, startingAgain } from "./restart";
import { cstr } from "../sys/fs";
import { DEFAULT_LOG } from "../spec/logging";
import type { LogSettings } from "../spec/types";
import { LOG_NAME } from "./log-reader";
import type { LogPipes } from "./log-writer";
import { startTime } from "../sys/proc";
import { KERNEL_SIGSET_SIZE, POLLFD_LAYOUT as POLLFD } from "../sys/layouts";

/**
 * Waits for the start-up report on `fd`, calling `whileStarting` every few
 * milliseconds until it says it is done (or the report comes).
 */
function awaitReport(fd: number, whileStarting?: () => boolean): void {
  if (!whileStarting) return;
  const poll = new Uint8Array(POLLFD.SIZE);
  const dv = new DataView(poll.buffer);
  const interval = new BigInt64Array([0n, 2_000_000n]);
  for (;;) {
    dv.setInt32(POLLFD.fd, fd, true);
    dv.setInt16(POLLFD.events, POLLIN, true);
    dv.setInt16(POLLFD.revents, 0, true);
    if (trySys("ppoll", poll, 1, interval, null, KERNEL_SIGSET_SIZE) > 0) return;
    if (whileStarting()) return;
  }
}

/** Starts `bunker __supervise ID ARGS...` in a session of its own, and reads its start-up report. */
function startSupervisor(id: string, args: string[], whileStarting?: () => boolean): { report: string; proc: ReturnType<typeof Bun.spawn> } {
  const [readEnd, writeEnd] = pipe("create the start-up pipe", O.CLOEXEC);
  let proc;
  try {
    proc = Bun.spawn([...selfCommand(), "__supervise", id, ...args], {
      stdio: ["ignore", "ignore", "ignore", writeEnd],
      detached: true,
      env: process.env,
    });
  } catch (e) {
    closeFd(readEnd);
    throw new BunkerError(`start the container's supervisor: ${(e as Error).message}`);
  } finally {
    closeFd(writeEnd);
  }
  proc.unref();
  awaitReport(readEnd, whileStarting);
  const report = new TextDecoder().decode(readUpTo("read the supervisor's start-up report", readEnd, 65536));
  closeFd(readEnd);
  return { report, proc };
}

/** The error a start-up report that is not "ok" stands for. */
function reportError(report: string): BunkerError {
  const m = report.match(/^error (\d+) (.*)\n?$/s);
  if (m) return new BunkerError(m[2]!.trimEnd(), Number(m[1]));
  return new BunkerError(`the container's supervisor ended before starting it${report ? `: ${report.trim()}` : ""}`);
}

export async function detach(spec: ContainerSpec, record: RunRecord): Promise<number> {
  // Before its state is made: the supervisor's refusal would read as one that ended before starting.
  requireContainerKernel();
  const state = initialState(spec, record);
  createState(state);
  let started;
  try {
    started = startSupervisor(spec.bunker.id, record.pin !== undefined ? [record.pin] : []);
  } catch (e) {
    removeState(state);
    throw e;
  }
  const { report, proc } = started;
  if (report === "ok\n") {
    await writeOut(`${spec.bunker.id}\n`);
    return 0;
  }
  // The supervisor removes the state of a container that did not start. One that died
  // before it could is finished for here, once it has gone: undone, then removed.
  await Promise.race([proc.exited, Bun.sleep(10_000)]);
  const left = readState(spec.bunker.id);
  if (left && left.status === "created") {
    if (left.supervisor === process.pid) withLock(left.id, () => removeState(left));
    else await (await import("./remove")).removeContainer(left, true);
  }
  throw reportError(report);
}

/**
 * bunker start: stopped container `id` (created, or ended) runs again,
 * detached, under a supervisor of its own. A start that fails leaves it
 * stopped, with the reason in its state. `whileStarting` is called every few
 * milliseconds while it starts, until it says it is done (start -a connects
 * to the attach socket so, before the container's first output).
 */
export async function startStopped(id: string, whileStarting?: () => boolean): Promise<void> {
  const { report, proc } = startSupervisor(id, ["--start"], whileStarting);
  if (report === "ok\n") return;
  // A supervisor that died while starting it leaves it to be finished as any whose bunker was killed.
  await Promise.race([proc.exited, Bun.sleep(10_000)]);
  const { reconcile } = await import("./remove");
  const left = readState(id);
  if (left) await reconcile([left]);
  throw reportError(report);
}

/**
 * startStopped for `start -a`: connected to the attach socket while it
 * starts, before its first output is served. The socket, or undefined if
 * none could be had by then (the caller connects after).
 */
export async function startConnected(s: ContainerState): Promise<number | undefined> {
  let sock = -1;
  try {
    await startStopped(s.id, () => {
      const r = connectAttach(s);
      if (r >= 0) sock = r;
      return sock >= 0;
    });
  } catch (e) {
    if (sock >= 0) closeFd(sock);
    throw e;
  }
  return sock >= 0 ? sock : undefined;
}

type Mode = { kind: "run"; pin?: string } | { kind: "start" } | { kind: "restart" } | { kind: "restart-after"; ms: number };

function parseMode(args: readonly string[]): Mode | null {
  if (args[0] === "--start") return { kind: "start" };
  if (args[0] === "--restart") return { kind: "restart" };
  if (args[0] === "--restart-after") return /^\d+$/.test(args[1] ?? "") ? { kind: "restart-after", ms: Number(args[1]) } : null;
  return { kind: "run", ...(args[0] !== undefined ? { pin: args[0] } : {}) };
}

/**
 * Takes stopped container `id` over to start it again: for `start`, any
 * stopped one (a back-off under way ends); for a restart, only one whose
 * state still names this process as its restarter. Returns the state to
 * start from and the stopped one to go back to, or why not.
 */
function takeOver(id: string, kind: "start" | "restart"): { state: ContainerState; before: ContainerState } | string {
  try {
    return withLock(id, () => {
      const s = readState(id);
      if (!s) return `no such container: ${id}`;
      if (kind === "restart" && (!s.restarting || s.supervisor !== process.pid || restartsHeld(id))) return "its restart was called off";
      if (currentStatus(s) !== "stopped") return `container ${s.name ?? s.id} is already running`;
      if (s.status !== "stopped") return `container ${s.name ?? s.id} is being finished: try again`;
      const before = kind === "start" ? cancelRestart(s) : s;
      if (kind === "start") releaseRestarts(id);
      const state = startingAgain(s, kind === "restart");
      writeState(state);
      // docker's, when its policy starts a container again.
      if (kind === "restart") containerEvent("restart", state);
      return { state, before };
    });
  } catch (e) {
    if (e instanceof ContainerGone) return `no such container: ${id}`;
    throw e;
  }
}

/**
 * `bunker __supervise ID [PIN | --start | --restart | --restart-after MS]`:
 * the detached side. For a new container (`run -d`) and `start`, fd 3
 * carries the start-up report.
 */
export async function supervise(id: string, args: readonly string[]): Promise<number> {
  const mode = parseMode(args);
  if (!mode) return 2;
  // Once: fd 3 is closed after it, and its number is then another descriptor's.
  let reported = mode.kind !== "run" && mode.kind !== "start";
  const report = (text: string) => {
    if (reported) return;
    reported = true;
    try {
      writeAll("write the start-up report", 3, new TextEncoder().encode(text));
    } catch {
      // the caller went away: nothing to tell
    }
    closeFd(3);
  };
  if (mode.kind === "restart-after") {
    // A foreground run's restarter: named in the state by the run that started it, just after.
    if (!(await namedRestarter(id))) return 0;
    await sleepBackOff(id, mode.ms);
  }
  let state: ContainerState | null;
  let before: ContainerState | undefined;
  if (mode.kind === "run") {
    state = readState(id);
    if (!state) return 125;
    // This process answers for the container from now on, not the `run -d` that started it.
    state.supervisor = process.pid;
    state.supervisorStart = startTime(process.pid) ?? undefined;
    withLock(id, () => writeState(state!));
  } else {
    const taken = takeOver(id, mode.kind === "start" ? "start" : "restart");
    if (typeof taken === "string") {
      report(`error 125 ${taken}\n`);
      return mode.kind === "start" ? 125 : 0;
    }
    ({ state, before } = taken);
  }
  for (;;) {
    const code = await superviseOnce(state, report, before, mode.kind === "run" ? mode.pin : undefined);
    if (code === null) return 125;
    // Still here: this process waited for the container itself (it could not become the waiter).
    const delay = claimRestart(id, () => process.pid);
    if (delay === null) return code;
    await sleepBackOff(id, delay);
    const taken = takeOver(id, "restart");
    if (typeof taken === "string") return code;
    ({ state, before } = taken);
  }
}

/** Waits (briefly) for the container's state to name this process as its restarter. */
async function namedRestarter(id: string): Promise<boolean> {
  const end = Date.now() + 5000;
  for (;;) {
    const s = readState(id);
    if (!s || restartsHeld(id)) return false;
    if (s.restarting && s.supervisor === process.pid) return true;
    if (Date.now() > end) return false;
    await Bun.sleep(10);
  }
}

/** Runs the container once; its exit status, or null when it did not start (reported). */
async function superviseOnce(state: ContainerState, report: (text: string) => void, before: ContainerState | undefined, pinDir: string | undefined): Promise<number | null> {
  const id = state.id;
  const tty = state.spec.oci.process.terminal === true;
  const log = await openIo(id, state.spec.bunker.log ?? DEFAULT_LOG, tty, state.spec.bunker.stdin === true);
  if (log.dir >= 0) {
    state.logPath = `${containerDir(id)}/${LOG_NAME}`;
    withLock(id, () => writeState(state));
  }
  try {
    return await runContainer(state.spec, {
      autoRemove: state.autoRemove,
      detached: true,
      existing: true,
      handOff: true,
      ...(tty ? { tty: { interactive: false, detached: true } } : { output: { out: log.outWrite, err: log.errWrite } }),
      ...(log.inRead >= 0 ? { stdin: log.inRead } : {}),
      log,
      ...(state.name !== undefined ? { name: state.name } : {}),
      ...(pinDir !== undefined ? { pin: pinDir } : {}),
      ...(before ? { restore: before } : {}),
      onStarted: (err) => {
        if (!err) return report("ok\n");
        report(`error ${err instanceof BunkerError ? err.exitCode : 125} ${err.message}\n`);
      },
    });
  } catch {
    // told through onStarted if the start failed; after it, this process has no one to tell
    return null;
  } finally {
    // The container's ends (outWrite, errWrite, inRead) are closed once it has them, and set to -1.
    for (const fd of [log.out, log.err, log.dir, log.outWrite, log.errWrite, log.sock, log.input, log.inRead]) if (fd >= 0) closeFd(fd);
  }
}

/**
 * What a detached container's supervisor holds for it: pipes for its stdout
 * and stderr (or, with a terminal, the master it sends later), a pipe for its
 * stdin with -i, its log's directory (none with --log-driver none), and the
 * socket clients attach on.
 */
async function openIo(id: string, settings: LogSettings, tty: boolean, stdin: boolean): Promise<LogPipes> {
  const io: LogPipes = { out: -1, err: -1, outWrite: -1, errWrite: -1, dir: -1, maxSize: settings.maxSize, maxFiles: settings.maxFiles, sock: -1, input: -1, inRead: -1, tty };
  try {
    if (!tty) {
      [io.out, io.outWrite] = pipe("create the container's stdout pipe", O.CLOEXEC);
      [io.err, io.errWrite] = pipe("create the container's stderr pipe", O.CLOEXEC);
      if (stdin) {
        [io.inRead, io.input] = pipe("create the container's stdin pipe", O.CLOEXEC);
        // Input the container does not read in time is dropped by the waiter, never waited for.
        trySys("fcntl", io.input, F_SETFL, O.NONBLOCK);
      }
    }
    if (settings.driver !== "none") io.dir = sys(`open ${containerDir(id)}`, "openat", AT.FDCWD, cstr(containerDir(id)), O.RDONLY | O.DIRECTORY | O.CLOEXEC, 0);
    io.sock = await listenForAttach(id);
    return io;
  } catch (e) {
    for (const fd of [io.out, io.err, io.outWrite, io.errWrite, io.dir, io.sock, io.input, io.inRead]) if (fd >= 0) closeFd(fd);
    throw e;
  }
}
