// run -d: the container is run by a supervising bunker process in its own
// session, which records the exit status when the container ends. The
// caller waits only until the command has started (or failed to), prints
// the id and returns.

import { writeOut } from "../output";
import type { ContainerSpec } from "../spec/types";
import { AT, O } from "../sys/constants";
import { closeFd, pipe, readUpTo, sys, writeAll } from "../sys/libc";
import { BunkerError } from "../errors";
import { selfCommand } from "./handoff";
import { initialState, runContainer, type RunRecord } from "./run";
import { containerDir, createState, readState, removeState, withLock, writeState } from "./store";
import { cstr } from "../sys/fs";
import { DEFAULT_LOG } from "../spec/logging";
import type { LogSettings } from "../spec/types";
import { LOG_NAME } from "./log-reader";
import type { LogPipes } from "./log-writer";
import { startTime } from "../sys/proc";

export async function detach(spec: ContainerSpec, record: RunRecord): Promise<number> {
  const state = initialState(spec, record);
  createState(state);
  const [readEnd, writeEnd] = pipe("create the start-up pipe", O.CLOEXEC);
  let proc;
  try {
    proc = Bun.spawn([...selfCommand(), "__supervise", spec.bunker.id, ...(record.pin !== undefined ? [record.pin] : [])], {
      stdio: ["ignore", "ignore", "ignore", writeEnd],
      detached: true,
      env: process.env,
    });
  } catch (e) {
    closeFd(readEnd);
    removeState(state);
    throw new BunkerError(`start the container's supervisor: ${(e as Error).message}`);
  } finally {
    closeFd(writeEnd);
  }
  proc.unref();
  const report = new TextDecoder().decode(readUpTo("read the supervisor's start-up report", readEnd, 65536));
  closeFd(readEnd);
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
  const m = report.match(/^error (\d+) (.*)\n?$/s);
  if (m) throw new BunkerError(m[2]!.trimEnd(), Number(m[1]));
  throw new BunkerError(`the container's supervisor ended before starting it${report ? `: ${report.trim()}` : ""}`);
}

/** `bunker __supervise ID`: the detached side. fd 3 carries the start-up report. */
export async function supervise(id: string, pinDir?: string): Promise<number> {
  const state = readState(id);
  if (!state) return 125;
  // This process answers for the container from now on, not the `run -d` that started it.
  state.supervisor = process.pid;
  state.supervisorStart = startTime(process.pid) ?? undefined;
  withLock(id, () => writeState(state));
  const { output, log } = openLog(id, state.spec.bunker.log ?? DEFAULT_LOG);
  if (log) {
    state.logPath = `${containerDir(id)}/${LOG_NAME}`;
    withLock(id, () => writeState(state));
  }
  const report = (text: string) => {
    try {
      writeAll("write the start-up report", 3, new TextEncoder().encode(text));
    } catch {
      // the caller went away: nothing to tell
    }
    closeFd(3);
  };
  try {
    return await runContainer(state.spec, {
      autoRemove: state.autoRemove,
      detached: true,
      existing: true,
      handOff: true,
      output,
      ...(log ? { log } : {}),
      ...(state.name !== undefined ? { name: state.name } : {}),
      ...(pinDir !== undefined ? { pin: pinDir } : {}),
      onStarted: (err) => {
        if (!err) return report("ok\n");
        report(`error ${err instanceof BunkerError ? err.exitCode : 125} ${err.message}\n`);
      },
    });
  } catch {
    // told through onStarted if the start failed; after it, this process has no one to tell
    return 125;
  } finally {
    for (const fd of new Set([output.out, output.err, ...(log ? [log.out, log.err, log.dir, log.outWrite, log.errWrite] : [])])) if (fd >= 0) closeFd(fd);
  }
}

/**
 * What the container gets as stdout and stderr: pipes whose other ends the
 * log is written from, or /dev/null with --log-driver none.
 */
function openLog(id: string, settings: LogSettings): { output: { out: number; err: number }; log?: LogPipes } {
  if (settings.driver === "none") {
    const nul = sys("open /dev/null", "openat", AT.FDCWD, cstr("/dev/null"), O.WRONLY | O.CLOEXEC, 0);
    return { output: { out: nul, err: nul } };
  }
  const [out, outWrite] = pipe("create the container's stdout pipe", O.CLOEXEC);
  const [err, errWrite] = pipe("create the container's stderr pipe", O.CLOEXEC);
  const dir = sys(`open ${containerDir(id)}`, "openat", AT.FDCWD, cstr(containerDir(id)), O.RDONLY | O.DIRECTORY | O.CLOEXEC, 0);
  return { output: { out: outWrite, err: errWrite }, log: { out, err, outWrite, errWrite, dir, maxSize: settings.maxSize, maxFiles: settings.maxFiles } };
}
