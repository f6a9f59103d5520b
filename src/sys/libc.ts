// The libc binding. Everything the parent asks of the kernel goes through here.

import { dlopen, FFIType, ptr, read, toArrayBuffer, type Pointer } from "bun:ffi";
import { MAP, PROT, SA_RESTART, WALL } from "./constants";
import { Errno, SysError } from "./errno";
import { GLIBC_SIGSET_SIZE, SIGACTION_LAYOUT } from "./layouts";
import { syscallNumber, type SyscallName } from "./syscalls";

// syscall() returns i64_fast, a plain number for every value a system call
// returns here: an "i64" result is a BigInt, whose allocation may run the
// garbage collector on this thread between the call and the read of errno,
// and the collector's own system calls (futex: EAGAIN) overwrite errno.
const lib = dlopen("libc.so.6", {
  syscall: { args: ["i64", "i64", "i64", "i64", "i64", "i64", "i64"], returns: FFIType.i64_fast },
  __errno_location: { args: [], returns: "ptr" },
  clone: { args: ["ptr", "ptr", "i32", "ptr"], returns: "i32" },
  waitpid: { args: ["i32", "ptr", "i32"], returns: "i32" },
  sigaction: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  pthread_sigmask: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  setenv: { args: ["cstring", "cstring", "i32"], returns: "i32" },
  unsetenv: { args: ["cstring"], returns: "i32" },
  getenv: { args: ["cstring"], returns: "cstring" },
});

export const libc = lib.symbols;

/** Addresses handed to native code, which links no libc symbols of its own. */
export const libcAddress = {
  syscall: Number((lib.symbols.syscall as unknown as { ptr: number }).ptr),
  errnoLocation: Number((lib.symbols.__errno_location as unknown as { ptr: number }).ptr),
  sigaction: Number((lib.symbols.sigaction as unknown as { ptr: number }).ptr),
  clone: Number((lib.symbols.clone as unknown as { ptr: number }).ptr),
};

export function errno(): number {
  const p = libc.__errno_location();
  return p === null ? 0 : read.i32(p, 0);
}

type Arg = number | bigint | NodeJS.TypedArray | null;

function toArg(a: Arg | undefined): number | bigint {
  if (a === undefined || a === null) return 0;
  if (typeof a === "number" || typeof a === "bigint") return a;
  return ptr(a);
}

/** A raw system call; throws SysError naming `op` on failure. */
export function sys(op: string, name: SyscallName, ...args: Arg[]): number {
  const r = libc.syscall(
    syscallNumber(name),
    toArg(args[0]),
    toArg(args[1]),
    toArg(args[2]),
    toArg(args[3]),
    toArg(args[4]),
    toArg(args[5]),
  );
  const n = Number(r);
  if (n === -1) throw new SysError(op, errno());
  return n;
}

/** Like sys(), but returns -errno instead of throwing. */
export function trySys(name: SyscallName, ...args: Arg[]): number {
  const r = Number(
    libc.syscall(syscallNumber(name), toArg(args[0]), toArg(args[1]), toArg(args[2]), toArg(args[3]), toArg(args[4]), toArg(args[5])),
  );
  return r === -1 ? -errno() : r;
}

export function pipe(op: string, flags: number): [number, number] {
  const fds = new Int32Array(2);
  sys(op, "pipe2", fds, flags);
  return [fds[0]!, fds[1]!];
}

export function closeFd(fd: number): void {
  if (fd >= 0) trySys("close", fd);
}

export function writeAll(op: string, fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) {
    const chunk = data.subarray(off);
    const n = trySys("write", fd, chunk, chunk.length);
    if (n === -Errno.EINTR) continue;
    if (n < 0) throw new SysError(op, -n);
    off += n;
  }
}

/** Reads until EOF or `max` bytes, retrying on EINTR; the buffer grows as data comes. */
export function readUpTo(op: string, fd: number, max: number): Uint8Array {
  let buf = new Uint8Array(Math.min(max, 4096));
  let off = 0;
  while (off < max) {
    if (off === buf.length) {
      const bigger = new Uint8Array(Math.min(max, buf.length * 4));
      bigger.set(buf);
      buf = bigger;
    }
    const n = trySys("read", fd, buf.subarray(off), buf.length - off);
    if (n === -Errno.EINTR) continue;
    if (n < 0) throw new SysError(op, -n);
    if (n === 0) break;
    off += n;
  }
  return buf.subarray(0, off);
}

/** glibc's sigset_t (1024 bits): what pthread_sigmask takes. */
export function sigset(signals: readonly number[]): Uint8Array {
  const set = new Uint8Array(GLIBC_SIGSET_SIZE);
  for (const s of signals) set[(s - 1) >> 3]! |= 1 << ((s - 1) & 7);
  return set;
}


/** Installs a native handler (a function address) with SA_RESTART, via glibc's struct sigaction. */
export function setSignalHandler(signal: number, handler: number): void {
  const act = new Uint8Array(SIGACTION_LAYOUT.SIZE);
  const dv = new DataView(act.buffer);
  dv.setBigUint64(SIGACTION_LAYOUT.handler, BigInt(handler), true);
  dv.setInt32(SIGACTION_LAYOUT.flags, SA_RESTART, true);
  if (libc.sigaction(signal, act, null) !== 0) throw new SysError(`sigaction ${signal}`, errno());
}

export function blockSignals(how: number, signals: readonly number[]): void {
  const r = libc.pthread_sigmask(how, sigset(signals), null);
  if (r !== 0) throw new SysError("pthread_sigmask", r);
}

/** waitpid, retrying on EINTR; returns the raw status. */
export function waitFor(pid: number): number {
  const status = new Int32Array(1);
  for (;;) {
    const r = libc.waitpid(pid, status, WALL);
    if (r === pid) return status[0]!;
    const e = errno();
    if (r === -1 && e === Errno.EINTR) continue;
    throw new SysError(`wait for container process ${pid}`, e);
  }
}

/** Exit status the docker way: the code, or 128+N for death by signal N. */
export function exitCodeOf(status: number): number {
  const sig = status & 0x7f;
  if (sig === 0) return (status >> 8) & 0xff;
  return 128 + sig;
}

/** `n` random bytes from getrandom: Web Crypto's first use costs a run about 0.3 ms of set-up. */
export function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  if (trySys("getrandom", b, n, 0) !== n) crypto.getRandomValues(b);
  return b;
}

/**
 * A copy of `bytes` in a page shared with the processes this one clones,
 * even without CLONE_VM: what a child with a copy of memory writes there,
 * this process reads. Unmapped by `release` (a child keeps its own mapping).
 */
export function sharedCopy(op: string, bytes: Uint8Array): { addr: number; view: Uint8Array; release(): void } {
  const size = Math.ceil(bytes.length / 4096) * 4096 || 4096;
  const addr = trySys("mmap", 0, size, PROT.READ | PROT.WRITE, MAP.SHARED | MAP.ANONYMOUS, -1, 0);
  if (addr < 0 && addr > -4096) throw new SysError(op, -addr);
  const view = new Uint8Array(toArrayBuffer(addr as Pointer, 0, size));
  view.set(bytes);
  return { addr, view, release: () => void trySys("munmap", addr, size) };
}
