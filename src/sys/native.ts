// Compiles native/child.c with bun:ffi's TinyCC at run time. The source is
// embedded in the executable and handed to the compiler through a memfd, so
// no file another user could swap is ever read.

import { cc, linkSymbols, read, type Pointer } from "bun:ffi";
import source from "../../native/child.c" with { type: "text" };
import { closeFd, libc, libcAddress, sys, writeAll } from "./libc";

const MFD_CLOEXEC = 1;

export interface Native {
  /** Address of `int bunker_child(void *program)`, the clone entry point. */
  childEntry: number;
  /** Address of the signal-forwarding handler; forwardTo(-1) stops forwarding. */
  forwardHandler: number;
  forwardInit(sys: number, killNr: number): void;
  forwardTo(pid: number): void;
  /** Signals this process handles or ignores (the container must not inherit them). */
  nonDefaultSignals(): number[];
}

let loaded: Native | null = null;
/** The compiled module stays referenced: its code must outlive every call into it. */
let keep: unknown = null;

/**
 * `scratch`: a private directory on a tmpfs where Bun may stage the compiler's
 * runtime headers; without it they go to $TMPDIR, often on disk and slower.
 */
export function loadNative(scratch?: string): Native {
  if (loaded) return loaded;
  const previous = libc.getenv("BUN_TMPDIR");
  if (scratch) libc.setenv("BUN_TMPDIR", scratch, 1);
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
      init: { ptr: entry(2), args: ["ptr", "i64"], returns: "void" },
      to: { ptr: entry(3), args: ["i32"], returns: "void" },
      nondefault: { ptr: entry(4), args: ["ptr"], returns: "u64" },
    }).symbols;
    keep = lib;
    loaded = {
      childEntry: Number(entry(0)),
      forwardHandler: Number(entry(1)),
      forwardInit: (sysAddr, killNr) => fns.init(sysAddr as unknown as Pointer, killNr),
      forwardTo: (pid) => fns.to(pid),
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
    if (scratch) {
      if (previous === null) libc.unsetenv("BUN_TMPDIR");
      else libc.setenv("BUN_TMPDIR", String(previous), 1);
    }
  }
}
