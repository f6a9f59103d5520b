// Compiles native/child.c with bun:ffi's TinyCC at run time. The source is
// embedded in the executable and handed to the compiler through a memfd, so
// no file another user could swap is ever read.

import { cc, linkSymbols, ptr, read, type Pointer } from "bun:ffi";
import { syscallNumber } from "./syscalls";
import source from "../../native/child.c" with { type: "text" };
import { mkdtempSync, rmSync } from "node:fs";
import { closeFd, libc, libcAddress, sys, writeAll } from "./libc";

const MFD_CLOEXEC = 1;

export interface Native {
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
}

let loaded: Native | null = null;
/** The compiled module stays referenced: its code must outlive every call into it. */
let keep: unknown = null;

/**
 * `scratch`: a private directory on a tmpfs where Bun may stage the compiler's
 * runtime headers (in a directory made and removed by this call); without it
 * they go to $TMPDIR, often on disk and slower.
 */
export function loadNative(scratch?: string): Native {
  if (loaded) return loaded;
  const previous = libc.getenv("BUN_TMPDIR");
  // A directory of this call's own, removed once the compiler is done with it: nothing
  // stays behind in the state directory, and concurrent runs never share the headers.
  const staging = scratch ? mkdtempSync(`${scratch}/cc-`) : undefined;
  if (staging) libc.setenv("BUN_TMPDIR", staging, 1);
  const fd = sys("create memfd for the child program source", "memfd_create", Buffer.from("bunker-child.c\0"), MFD_CLOEXEC);
  try {
    writeAll("write child program source", fd, new TextEncoder().encode(source));
    const lib = cc({
      source: `/proc/self/fd/${fd}`,
      flags: ["-nostdlib", "-std=c11", "-O2"],
      symbols: { bunker_table: { args: [], returns: "ptr" } },
    });
    const table = lib.symbols.bunker_table()!;
    const entry = (i: number) => read.ptr(table, i * 8) as Pointer;
    // Calls through plain function pointers: no per-symbol code generation.
    const fns = linkSymbols({
      init: { ptr: entry(2), args: ["ptr", "i64", "i64", "i64", "i64", "i64"], returns: "void" },
      relay: { ptr: entry(5), args: ["ptr"], returns: "i64" },
      relayInit: { ptr: entry(6), args: ["ptr"], returns: "void" },
      to: { ptr: entry(3), args: ["i32"], returns: "void" },
      nondefault: { ptr: entry(4), args: ["ptr"], returns: "u64" },
      started: { ptr: entry(7), args: [], returns: "i64" },
    }).symbols;
    keep = lib;
    loaded = {
      childEntry: Number(entry(0)),
      forwardHandler: Number(entry(1)),
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
      forwardStarted: () => Number(fns.started()),
      nonDefaultSignals: () => {
        const mask = BigInt(fns.nondefault(libcAddress.sigaction as unknown as Pointer));
        const out: number[] = [];
        for (let sig = 1; sig <= 64; sig++) if ((mask >> BigInt(sig - 1)) & 1n) out.push(sig);
        return out;
      },
    };
    return loaded;
  } finally {
    closeFd(fd);
    if (staging) {
      if (previous === null) libc.unsetenv("BUN_TMPDIR");
      else libc.setenv("BUN_TMPDIR", String(previous), 1);
      rmSync(staging, { recursive: true, force: true });
    }
  }
}
