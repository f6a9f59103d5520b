// clone(2) from TypeScript into native code, the sync-pipe handshake, and
// turning the child's (step, errno) report into a named error.

import { ptr, read, toArrayBuffer, type Pointer } from "bun:ffi";
import { HEADER_WORDS, SLOT_BASE, type ChildProgram, type Slot } from "../child/program";
import { AT, CLONE, CLONE_INTO_CGROUP, O, SIG_BLOCK, SIG_UNBLOCK, SIGNALS } from "../sys/constants";
import { cstr } from "../sys/fs";
import { Errno, errnoMessage, SysError } from "../sys/errno";
import { blockSignals, closeFd, errno, exitCodeOf, libc, libcAddress, pipe, readUpTo, setSignalHandler, sharedCopy, trySys, waitFor, writeAll } from "../sys/libc";
import { loadNative } from "../sys/native";
import { syscallNumber } from "../sys/syscalls";
import { log, mark } from "../log";
import { CREATED, NAMESPACES_MADE } from "./plan";
import { BunkerError, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND } from "../errors";
import { CLONE_ARGS_LAYOUT as CA } from "../sys/layouts";

/** Signals that reach bunker and are passed on to the container's first process. */
export const FORWARDED_SIGNALS = [
  SIGNALS.SIGINT,
  SIGNALS.SIGTERM,
  SIGNALS.SIGHUP,
  SIGNALS.SIGQUIT,
  SIGNALS.SIGUSR1,
  SIGNALS.SIGUSR2,
  SIGNALS.SIGWINCH,
];

const STACK_SIZE = 256 * 1024;

export interface Pipes {
  syncRead: number;
  syncWrite: number;
  errRead: number;
  errWrite: number;
}

export function openPipes(): Pipes {
  const [syncRead, syncWrite] = pipe("create the sync pipe", O.CLOEXEC);
  const [errRead, errWrite] = pipe("create the error pipe", O.CLOEXEC);
  return { syncRead, syncWrite, errRead, errWrite };
}

/** Closes one end and forgets it, so nothing closes the same number twice. */
function release(p: Pipes, end: keyof Pipes): void {
  closeFd(p[end]);
  p[end] = -1;
}

export function closePipes(p: Pipes): void {
  for (const end of ["syncRead", "syncWrite", "errRead", "errWrite"] as const) release(p, end);
}

/** "killed by signal 9", "exit status 1": a raw wait status in words. */
function describeStatus(status: number): string {
  return (status & 0x7f) === 0 ? `exit status ${(status >> 8) & 0xff}` : `killed by signal ${status & 0x7f}`;
}

/** Turns the child's report into the error the user sees. */
export function childFailure(program: ChildProgram, index: number, e: number): BunkerError {
  const step = program.steps[index];
  const exec = step?.opts.exec;
  if (exec) {
    if (e === Errno.ENOENT || e === Errno.ENOTDIR) {
      const why = exec.searched ? "not found in PATH" : "no such file or directory";
      return new BunkerError(`exec "${exec.command}": ${why}`, EXIT_NOT_FOUND);
    }
    return new BunkerError(`exec "${exec.command}": ${errnoMessage(e).toLowerCase()}`, EXIT_NOT_EXECUTABLE);
  }
  return new BunkerError(`${program.describe(index)}: ${errnoMessage(e)}`);
}

export interface Started {
  pid: number;
}

/** Where a program that forks (to enter a PID namespace) leaves the new process's pid. */
export interface ForkResult {
  slot: Slot;
}

/**
 * Clones the child into `program` with the given namespace flags and waits
 * until it has exec'd the container's command (or reported why it could not).
 * `beforeStart` runs while the child waits on the sync pipe.
 */
export interface SpawnOptions {
  /** Where a program that forks leaves the new process's pid. */
  fork?: ForkResult;
  /** The terminal's SIGWINCH pipe, for the signal forwarder. */
  winchFd?: number;
  /** Clone with CLONE_VM (the default; see below). */
  shareMemory?: boolean;
  /**
   * Forward the signals bunker receives to the child (the default). A helper
   * started while a container is being set up (fuse-overlayfs) leaves the
   * forwarding to the container's.
   */
  forwardSignals?: boolean;
  /**
   * For a program whose handshake reports that its namespaces are all made
   * (see planHandshake): runs then, before the child goes on.
   */
  namespacesMade?: (pid: number) => Promise<void> | void;
  /**
   * A cgroup v2 directory to start the child in (clone3's CLONE_INTO_CGROUP):
   * moving it there afterwards through cgroup.procs waits for an RCU grace
   * period (8 to 30 ms). Where clone3 is refused, the child starts where
   * bunker is, and beforeStart is told so.
   */
  intoCgroup?: string;
  /**
   * OCI create: the program ends at a start gate (see planStartGate), where
   * it reports that it is created; spawnChild returns then, the child waiting.
   */
  untilCreated?: boolean;
}


/**
 * clone3 into the cgroup v2 directory `dir`, the child running `program` on
 * `stack` up to `stackTop`: its pid, or why not (nothing was started then).
 */
function cloneIntoCgroup(dir: string, flags: number, stack: Uint8Array, stackTop: number, program: number): number | string {
  const fd = trySys("openat", AT.FDCWD, cstr(dir), O.RDONLY | O.DIRECTORY | O.CLOEXEC, 0);
  if (fd < 0) return `open: ${errnoMessage(-fd)}`;
  try {
    const args = new Uint8Array(CA.SIZE);
    const dv = new DataView(args.buffer);
    dv.setBigUint64(CA.flags, BigInt(flags) | CLONE_INTO_CGROUP, true);
    dv.setBigUint64(CA.exitSignal, BigInt(SIGNALS.SIGCHLD), true);
    dv.setBigUint64(CA.stack, BigInt(ptr(stack)), true);
    dv.setBigUint64(CA.stackSize, BigInt(stackTop - ptr(stack)), true);
    dv.setBigUint64(CA.cgroup, BigInt(fd), true);
    const r = loadNative().clone3(ptr(args), CA.SIZE, program);
    return r > 0 ? r : errnoMessage(-r);
  } finally {
    closeFd(fd);
  }
}

export async function spawnChild(
  program: ChildProgram,
  pipes: Pipes,
  cloneFlags: number,
  beforeStart: (pid: number, bornInCgroup: boolean) => Promise<void> | void,
  opts: SpawnOptions = {},
): Promise<Started> {
  const { fork, winchFd = -1, shareMemory = true, namespacesMade, intoCgroup, untilCreated = false, forwardSignals = true } = opts;
  const loaded = loadNative();
  // Without forwarding, the forwarder's settings are never touched.
  const native = forwardSignals ? loaded : { ...loaded, forwardInit: () => {}, forwardTo: () => {}, forwardStarted: () => 0 };

  const encoded = program.encode({
    sys: libcAddress.syscall,
    errnoLocation: libcAddress.errnoLocation,
    errfd: pipes.errWrite,
    clone: libcAddress.clone,
  });
  const stack = new Uint8Array(STACK_SIZE);
  program.retain(stack);
  // Pointers exceed 32 bits: align with arithmetic, not bitwise operators.
  const top = ptr(stack) + STACK_SIZE - 64;
  const stackTop = top - (top % 16);

  // A fork's first process exits once the second has exec'd, before bunker knows the second's pid: no early forwarding there.
  native.forwardInit(libcAddress.syscall, syscallNumber("kill"), syscallNumber("write"), winchFd, fork ? -1 : pipes.errRead);
  if (forwardSignals) for (const s of FORWARDED_SIGNALS) setSignalHandler(s, native.forwardHandler);

  mark("encode");
  // CLONE_VM: the child runs on `stack` inside this process's memory until
  // execve, which spares copying and tearing down Bun's page tables (about
  // 10 ms). It only reads the program, writes its own stack and, through
  // libc's syscall(), this thread's errno. Until released it sits in read()
  // on the sync pipe; once released, this thread is blocked reading the error
  // pipe until execve, so the two never use errno at once. `program` keeps
  // every buffer the child reads alive. A child that never execs (--init's
  // PID 1) gets a copy instead: sharing would make it a second user of this
  // thread's errno, and a process in the container's memory cgroup whose
  // size, to the OOM killer, is bunker's, and whose killing would kill bunker.
  const flags = cloneFlags | (shareMemory ? CLONE.VM : 0);
  // A child with a copy of memory that forks reports the new pid in its header's slot: the header
  // then sits in a page both share (the steps it points to are only read).
  const shared = fork && !shareMemory ? sharedCopy("share the child program's header", new Uint8Array(toArrayBuffer(encoded.addr as Pointer, 0, HEADER_WORDS * 8))) : undefined;
  const header = shared?.addr ?? encoded.addr;
  try {
    blockSignals(SIG_BLOCK, FORWARDED_SIGNALS);
    const born = intoCgroup !== undefined ? cloneIntoCgroup(intoCgroup, flags, stack, stackTop, header) : null;
    const pid = typeof born === "number" ? born : libc.clone(native.childEntry, stackTop, flags | SIGNALS.SIGCHLD, header);
    const cloneErrno = pid === -1 ? errno() : 0;
    if (pid > 0) native.forwardTo(pid);
    blockSignals(SIG_UNBLOCK, FORWARDED_SIGNALS);
    mark("clone");
    if (typeof born === "string") await log.debug(`the container process is moved into its cgroup after clone: clone3 into ${intoCgroup}: ${born}`);
    else if (born !== null) await log.debug(`the container process started in its cgroup ${intoCgroup} (clone3)`);
    if (pid === -1) {
      closePipes(pipes);
      throw new BunkerError(`clone the container process: ${errnoMessage(cloneErrno)}`);
    }

    release(pipes, "syncRead");
    release(pipes, "errWrite");
    /** Does `work` while the child waits on the sync pipe, then lets it go on. */
    const thenRelease = async (work: (pid: number) => Promise<void> | void, what: string) => {
      try {
        await work(pid);
        writeAll(what, pipes.syncWrite, new Uint8Array([1]));
      } catch (err) {
        // EOF on the sync pipe makes the child exit before it runs anything.
        closePipes(pipes);
        native.forwardTo(-1);
        const status = waitFor(pid);
        // The child is gone already (stop, kill or rm -f while it was being set up): say that, not EPIPE.
        if (err instanceof SysError && err.errno === Errno.EPIPE) {
          throw new BunkerError(`the container process ended while it was being set up (${describeStatus(status)})`, exitCodeOf(status));
        }
        throw err;
      }
    };
    await thenRelease((p) => beforeStart(p, typeof born === "number"), "release the container process");
    // The write end stays open until execve: the child checks it to know bunker is alive.
    let report = readUpTo("read the container's start-up report", pipes.errRead, 8);
    if (namespacesMade && report.length === 8 && report.every((b, i) => b === NAMESPACES_MADE[i])) {
      await thenRelease(namespacesMade, "release the container process again");
      report = readUpTo("read the container's start-up report", pipes.errRead, 8);
    }
    const created = untilCreated && report.length === 8 && report.every((b, i) => b === CREATED[i]);
    // Before the report's descriptor is closed: the signal handler may be reading it.
    const interrupted = native.forwardStarted();
    release(pipes, "errRead");
    release(pipes, "syncWrite");
    mark("exec");
    let target = pid;
    if (fork) {
      // The first child exits once its own child (ours, by CLONE_PARENT) has exec'd or failed.
      waitFor(pid);
      target = Number(read.i64(header as Pointer, (SLOT_BASE + fork.slot.slot) * 8));
      native.forwardTo(target > 0 ? target : -1);
    }
    if (report.length !== 0 && !created) {
      native.forwardTo(-1);
      if (target > 0) waitFor(target);
      if (report.length !== 8) throw new SysError("read the container's start-up report", Errno.EPROTO);
      const dv = new DataView(report.buffer, report.byteOffset, 8);
      throw childFailure(program, dv.getInt32(0, true), dv.getInt32(4, true));
    }
    if (target <= 0) throw new BunkerError("start the command: the forked process did not report its pid");
    if (untilCreated && !created) {
      native.forwardTo(-1);
      trySys("kill", target, SIGNALS.SIGKILL);
      throw new BunkerError(`the container process ended before it reached its start gate (${describeStatus(waitFor(target))})`);
    }
    if (interrupted) {
      // A Ctrl-C (or SIGTERM, SIGHUP, ...) during the set-up ended it (see native/child.c).
      native.forwardTo(-1);
      // The process a fork made (exec's) was not the one signalled: it goes too.
      trySys("kill", target, SIGNALS.SIGKILL);
      waitFor(target);
      const name = Object.entries(SIGNALS).find(([, n]) => n === interrupted)?.[0] ?? `signal ${interrupted}`;
      throw new BunkerError(`interrupted by ${name} while the container was being set up`, 128 + interrupted);
    }
    return { pid: target };
  } finally {
    shared?.release();
  }
}
