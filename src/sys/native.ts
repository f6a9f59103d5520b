// The child interpreter (native/child.c). The build compiles it into a small
// shared object for the target architecture (native/object.ts), carried in the
// executable as BUNKER_CHILD_OBJECT: a run writes it to a memfd and dlopens it
// from there, never from a path another user could swap. Without the object (a
// build without a C compiler, `bun test` on the sources), or where it cannot be
// loaded, or with BUNKER_NATIVE=compile, bun:ffi's TinyCC compiles the same
// source at run time, handed over through a memfd too.

import { cc, dlopen, linkSymbols, ptr, read, type Pointer } from "bun:ffi";
import { mkdtempSync, rmSync } from "node:fs";
import { syscallNumber } from "./syscalls";
import source from "../../native/child.c" with { type: "text" };
import { childLayoutHeader, LAYOUT_INCLUDE, tableIndex } from "../../native/layout";
import { closeFd, libc, libcAddress } from "./libc";
import { memoryFile } from "./memfd";

/** The build's object for this architecture, base64; absent or empty without one. */
declare const BUNKER_CHILD_OBJECT: string | undefined;

export interface Native {
  /** How the interpreter was had: "prebuilt object", or "compiled at run time" and why. */
  origin: string;
  /** Address of `int bunker_child(void *program)`, the clone entry point. */
  childEntry: number;
  /** Address of the signal-forwarding handler; forwardTo(-1) stops forwarding. */
  forwardHandler: number;
  /**
   * winchFd >= 0: SIGWINCH writes a byte there (for the terminal relay) instead of being forwarded.
   * reportFd >= 0: the error pipe's read end, whose end of file says the command runs (see native/child.c).
   */
  forwardInit(sys: number, killNr: number, writeNr: number, winchFd: number, reportFd?: number): void;
  forwardTo(pid: number): void;
  /**
   * The command runs: from now on signals are passed on as they are (until
   * then they kill the set-up, see native/child.c). Returns the signal that
   * ended the set-up, or 0.
   */
  forwardStarted(): number;
  /** Signals this process handles or ignores (the container must not inherit them). */
  nonDefaultSignals(): number[];
  /** Runs the terminal relay until the pty master ends; returns 0 or -errno. */
  relay(r: { in: number; out: number; master: number; winch: number }): number;
  /**
   * clone3 with `args` (struct clone_args, `size` bytes, its stack set), the
   * child running `program` as the childEntry would: the pid, or -errno
   * (-ENOSYS where the interpreter was compiled at run time).
   */
  clone3(args: number, size: number, program: number): number;
}

let loaded: Native | null = null;
/** The loaded module stays referenced: its code must outlive every call into it. */
let keep: unknown = null;

const SYMBOLS = { bunker_table: { args: [], returns: "ptr" } } as const;

/** Loads a shared object from memory; throws with the reason when it cannot. */
function fromObject(bytes: Uint8Array): { table: Pointer; lib: unknown } {
  const fd = memoryFile("bunker-child", "the child interpreter", bytes, "map");
  try {
    const lib = dlopen(`/proc/self/fd/${fd}`, SYMBOLS);
    return { table: lib.symbols.bunker_table() as Pointer, lib };
  } finally {
    closeFd(fd);
  }
}

/**
 * Compiles the source with TinyCC. `scratch`: a private directory on a tmpfs
 * where Bun may stage the compiler's runtime headers (in a directory made and
 * removed by this call); without it they go to $TMPDIR, often on disk and slower.
 */
function fromSource(scratch: string | undefined): { table: Pointer; lib: unknown } {
  const previous = libc.getenv("BUN_TMPDIR");
  let staging: string | undefined;
  let fd = -1;
  try {
    // A directory of this call's own, removed once the compiler is done with it: nothing
    // stays behind in the state directory, and concurrent runs never share the headers.
    if (scratch) {
      staging = mkdtempSync(`${scratch}/cc-`);
      libc.setenv("BUN_TMPDIR", staging, 1);
    }
    fd = memoryFile("bunker-child.c", "child program source", new TextEncoder().encode(source.replace(LAYOUT_INCLUDE, childLayoutHeader())), "data", "create memfd for the child program source");
    const lib = cc({ source: `/proc/self/fd/${fd}`, flags: ["-nostdlib", "-std=c11", "-O2"], symbols: SYMBOLS });
    return { table: lib.symbols.bunker_table() as Pointer, lib };
  } finally {
    if (fd >= 0) closeFd(fd);
    if (staging) {
      if (previous === null) libc.unsetenv("BUN_TMPDIR");
      else libc.setenv("BUN_TMPDIR", String(previous), 1);
      rmSync(staging, { recursive: true, force: true });
    }
  }
}

/** The build's object, decoded; null without one. */
function builtObject(): Uint8Array | null {
  const b64 = typeof BUNKER_CHILD_OBJECT === "string" ? BUNKER_CHILD_OBJECT : "";
  return b64 === "" ? null : new Uint8Array(Buffer.from(b64, "base64"));
}

/**
 * The interpreter, loaded once per process: the build's object if there is one
 * and it loads, else compiled now. `scratch` is asked for only when compiling.
 */
/**
 * BUNKER_NATIVE=compile: none of the native code built with the executable
 * is used (the interpreter is compiled at run time, detached supervisors and
 * --init stay Bun processes), as on a build made without a C compiler.
 */
export const prebuiltNativeOff = (): boolean => process.env.BUNKER_NATIVE === "compile";

export function loadNative(scratch: () => string | undefined = () => undefined): Native {
  if (loaded) return loaded;
  const forced = prebuiltNativeOff();
  loaded = openNative(forced ? null : builtObject(), scratch, forced ? "BUNKER_NATIVE=compile" : "this build carries no prebuilt object");
  return loaded;
}

/** Loads `object` (or compiles, when it is null, saying `why`, or does not load); not cached. */
export function openNative(object: Uint8Array | null, scratch: () => string | undefined = () => undefined, why = "no prebuilt object"): Native {
  let got: { table: Pointer; lib: unknown } | undefined;
  let origin = `compiled at run time (${why})`;
  if (object) {
    try {
      got = fromObject(object);
      origin = "prebuilt object";
    } catch (e) {
      origin = `compiled at run time (the prebuilt object did not load: ${e instanceof Error ? e.message : String(e)})`;
    }
  }
  got ??= fromSource(scratch());
  const { table, lib } = got;
  const entry = (name: Parameters<typeof tableIndex>[0]) => read.ptr(table, tableIndex(name) * 8) as Pointer;
  // Calls through plain function pointers: no per-symbol code generation.
  const fns = linkSymbols({
    init: { ptr: entry("bunker_forward_init"), args: ["ptr", "i64", "i64", "i64", "i64", "i64"], returns: "void" },
    relay: { ptr: entry("bunker_relay"), args: ["ptr"], returns: "i64" },
    relayInit: { ptr: entry("bunker_relay_init"), args: ["ptr"], returns: "void" },
    to: { ptr: entry("bunker_forward_to"), args: ["i32"], returns: "void" },
    nondefault: { ptr: entry("bunker_nondefault_signals"), args: ["ptr"], returns: "u64" },
    started: { ptr: entry("bunker_forward_started"), args: [], returns: "i64" },
    clone3: { ptr: entry("bunker_clone3"), args: ["ptr", "i64", "i64", "ptr"], returns: "i64" },
  }).symbols;
  keep = [keep, lib, fns];
  return {
    origin,
    childEntry: Number(entry("bunker_child")),
    forwardHandler: Number(entry("bunker_forward")),
    forwardInit: (sysAddr, killNr, writeNr, winchFd, reportFd = -1) => fns.init(sysAddr as unknown as Pointer, killNr, writeNr, winchFd, reportFd, syscallNumber("ppoll")),
    relay: (r) => {
      fns.relayInit(libcAddress.errnoLocation as unknown as Pointer);
      const buf = new Uint8Array(16384);
      const args = new BigInt64Array([
        BigInt(r.in),
        BigInt(r.out),
        BigInt(r.master),
        BigInt(r.winch),
        BigInt(syscallNumber("ppoll")),
        BigInt(syscallNumber("read")),
        BigInt(syscallNumber("write")),
        BigInt(syscallNumber("ioctl")),
        BigInt(ptr(buf)),
        BigInt(buf.length),
      ]);
      const result = Number(fns.relay(args as unknown as Pointer));
      // `buf` and `args` must live until the call returns.
      void buf.length;
      void args.length;
      return result;
    },
    forwardTo: (pid) => fns.to(pid),
    clone3: (args, size, program) => Number(fns.clone3(args as unknown as Pointer, size, syscallNumber("clone3"), program as unknown as Pointer)),
    forwardStarted: () => Number(fns.started()),
    nonDefaultSignals: () => {
      const mask = BigInt(fns.nondefault(libcAddress.sigaction as unknown as Pointer));
      const out: number[] = [];
      for (let sig = 1; sig <= 64; sig++) if ((mask >> BigInt(sig - 1)) & 1n) out.push(sig);
      return out;
    },
  };
}
