// A detached container's supervisor, once the container runs, becomes the
// waiter (native/waiter.c): a static program of a few kilobytes, exec'd from
// a memory file in place of this Bun process. The pid stays, so the container
// stays its child and still dies with it; what this process held for the
// container (published ports' sockets, slirp4netns's exit pipe, the log's
// pipes) is kept open across the exec, and the waiter writes the log. When the container ends, the waiter takes its lock and
// starts `bunker __finish`, which undoes the set-up and records the end
// (src/runtime/finish.ts).

import { Arena } from "../sys/mem";
import { AT, F_GETFD, F_SETFD, FD_CLOEXEC, O } from "../sys/constants";
import { errnoMessage } from "../sys/errno";
import { cstr } from "../sys/fs";
import { closeFd, trySys } from "../sys/libc";
import { memoryFile } from "../sys/memfd";
import { prebuiltNativeOff } from "../sys/native";
import { containerDir } from "./store";
import type { LogPipes } from "./log-writer";

/** The build's waiter for this architecture, base64; absent or empty without one. */
declare const BUNKER_WAITER: string | undefined;


/** Whether this is the compiled executable (its code in Bun's embedded file system), not bun running the sources. */
export const compiledBunker = (): boolean => Bun.main.startsWith("/$bunfs/");

/** The command line that runs bunker itself (the executable, or bun with the source entry). */
export function selfCommand(): string[] {
  return compiledBunker() ? [process.execPath] : [process.execPath, Bun.main];
}

/** Whether this bunker can hand off at all, and if not, why. */
export function handOffUnavailable(): string | null {
  if (prebuiltNativeOff()) return "BUNKER_NATIVE=compile";
  if (typeof BUNKER_WAITER !== "string" || BUNKER_WAITER === "") return "this build carries no waiter";
  // `bunker __finish` is run from this executable: bun running the sources would need its script too.
  if (!compiledBunker()) return "not a compiled bunker";
  return null;
}

/** The waiter in a memory file, and bunker's own executable (for the bunker it starts), both opened; or why not. */
function openWaiter(): { memfd: number; exe: number } | string {
  // vm.memfd_noexec=2 refuses an executable memory file: then no hand-off.
  let memfd: number;
  try {
    memfd = memoryFile("bunker-wait", "the waiter", new Uint8Array(Buffer.from(BUNKER_WAITER!, "base64")), "exec");
  } catch (e) {
    return (e as Error).message;
  }
  const exe = trySys("openat", AT.FDCWD, cstr("/proc/self/exe"), O.PATH, 0);
  if (exe < 0) {
    closeFd(memfd);
    return `open /proc/self/exe: ${errnoMessage(-exe)}`;
  }
  return { memfd, exe };
}

/** This process's environment, for execve. */
const environment = (arena: Arena) =>
  arena.strv(Object.entries(process.env).flatMap(([k, v]) => (v === undefined || k.includes("=") || `${k}${v}`.includes("\0") ? [] : [`${k}=${v}`])));

/**
 * A restart policy's back-off for container `id`, whose state names this
 * process as the one that will start it again: this process becomes the
 * waiter, which sleeps `ms` and then becomes `bunker __supervise ID
 * --restart` (native/waiter.c). Returns only when that fails, with the reason.
 */
export function sleepThenRestart(id: string, ms: number): string {
  const unavailable = handOffUnavailable();
  if (unavailable) return unavailable;
  const opened = openWaiter();
  if (typeof opened === "string") return opened;
  try {
    const arena = new Arena();
    const argv = arena.strv(["bunker-wait", "sleep", String(Math.max(0, Math.round(ms))), String(opened.exe), id]);
    const r = trySys("execveat", opened.memfd, cstr(""), argv, environment(arena), AT.EMPTY_PATH);
    void arena.size;
    return `execveat: ${errnoMessage(-r)}`;
  } finally {
    closeFd(opened.exe);
    closeFd(opened.memfd);
  }
}

/**
 * Execs the waiter for container `id`, whose first process is `pid` (a child
 * of this process), keeping `keep` open across the exec. Returns only when
 * that fails, with the reason; nothing is changed then.
 */
export function handOff(id: string, pid: number, keep: readonly number[], log?: LogPipes): string {
  const unavailable = handOffUnavailable();
  if (unavailable) return unavailable;
  const opened: number[] = [];
  const cleared: number[] = [];
  try {
    const waiter = openWaiter();
    if (typeof waiter === "string") return waiter;
    const { memfd, exe } = waiter;
    // Inherited by the waiter, and by the bunker it starts: this executable, and the container's lock file.
    opened.push(memfd, exe);
    const lock = trySys("openat", AT.FDCWD, cstr(`${containerDir(id)}/lock`), O.RDWR | O.NOFOLLOW, 0);
    if (lock < 0) return `open the container's lock: ${errnoMessage(-lock)}`;
    opened.push(lock);
    for (const fd of [...keep, ...(log ? [log.out, log.err, log.dir, log.sock, log.input].filter((f) => f >= 0) : [])]) {
      const flags = trySys("fcntl", fd, F_GETFD, 0);
      if (flags < 0 || (flags & FD_CLOEXEC) === 0) continue;
      if (trySys("fcntl", fd, F_SETFD, flags & ~FD_CLOEXEC) === 0) cleared.push(fd);
    }
    const arena = new Arena();
    // What it serves: output (a terminal's master alone), input, the attach socket, the log's directory with its cap in KiB (0: none) and how many files it keeps.
    const served = log ? [log.out, log.err, log.input, log.sock, log.tty ? 1 : 0, log.dir, Math.ceil(log.maxSize / 1024), log.maxFiles].map(String) : [];
    const argv = arena.strv(["bunker-wait", String(pid), String(lock), String(exe), id, ...served]);
    const r = trySys("execveat", memfd, cstr(""), argv, environment(arena), AT.EMPTY_PATH);
    // Only a failure comes back.
    void arena.size;
    return `execveat: ${errnoMessage(-r)}`;
  } finally {
    for (const fd of cleared) trySys("fcntl", fd, F_SETFD, FD_CLOEXEC);
    for (const fd of opened) closeFd(fd);
  }
}
