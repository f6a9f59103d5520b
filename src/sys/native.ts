// Compiles native/child.c with bun:ffi's TinyCC at run time. The source is
// embedded in the executable and handed to the compiler through a memfd, so
// no file another user could swap is ever read.

import { cc } from "bun:ffi";
import source from "../../native/child.c" with { type: "text" };
import { closeFd, sys, writeAll } from "./libc";

const MFD_CLOEXEC = 1;

export interface Native {
  /** Address of `int bunker_child(void *program)`, the clone entry point. */
  childEntry: number;
  /** Address of the signal-forwarding handler. */
  forwardHandler: number;
  forwardInit(sys: number, killNr: number): void;
  forwardTo(pid: number): void;
}

let loaded: Native | null = null;

export function loadNative(): Native {
  if (loaded) return loaded;
  const fd = sys("create memfd for the child program source", "memfd_create", Buffer.from("bunker-child.c\0"), MFD_CLOEXEC);
  try {
    writeAll("write child program source", fd, new TextEncoder().encode(source));
    const lib = cc({
      source: `/proc/self/fd/${fd}`,
      flags: ["-nostdlib", "-std=c11", "-O2"],
      symbols: {
        bunker_child_entry: { args: [], returns: "ptr" },
        bunker_forward_entry: { args: [], returns: "ptr" },
        bunker_forward_init: { args: ["ptr", "i64"], returns: "void" },
        bunker_forward_to: { args: ["i32"], returns: "void" },
      },
    });
    const s = lib.symbols;
    loaded = {
      childEntry: Number(s.bunker_child_entry()),
      forwardHandler: Number(s.bunker_forward_entry()),
      forwardInit: (sysAddr, killNr) => s.bunker_forward_init(sysAddr, killNr),
      forwardTo: (pid) => s.bunker_forward_to(pid),
    };
    return loaded;
  } finally {
    closeFd(fd);
  }
}
