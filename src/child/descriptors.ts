// Descriptors the child must not carry into what it executes: marked
// close-on-exec (or closed) from `first` on, by one close_range where the
// kernel has it (CLOSE_RANGE_CLOEXEC: Linux 5.11; close_range: 5.9), else one
// fcntl or close per descriptor. Those are the ones this process has open
// now, which the child inherits at clone, and a margin above the highest for
// any opened between now and then; a number with nothing behind it is EBADF,
// which costs nothing.

import { CLOSE_RANGE_CLOEXEC, FD_CLOEXEC, F_SETFD } from "../sys/constants";
import { Errno } from "../sys/errno";
import { listDir } from "../sys/fs";
import { has } from "../sys/kernel";
import type { ChildProgram } from "./program";

const MARGIN = 64;

/** The highest descriptor this process has open (-1: none could be listed). */
function highestOpen(): number {
  try {
    return Math.max(-1, ...listDir("/proc/self/fd").map(Number).filter(Number.isSafeInteger));
  } catch {
    return -1;
  }
}

/** The highest descriptor a child cloned now may hold, with a margin: where native code closes them one by one. */
export function descriptorBound(): number {
  return Math.max(highestOpen(), 2) + MARGIN;
}

/** Marks every descriptor from `first` on close-on-exec; `close` closes them instead. */
export function planDescriptorsFrom(p: ChildProgram, first: number, desc: string, close = false): void {
  if (has(close ? "closeRange" : "closeRangeCloexec")) {
    p.call(desc, "close_range", [first, 0xffffffff, close ? 0 : CLOSE_RANGE_CLOEXEC]);
    return;
  }
  const last = Math.max(descriptorBound(), first + MARGIN);
  for (let fd = first; fd <= last; fd++) {
    if (close) p.call(`${desc} (descriptor ${fd})`, "close", [fd], { ignore: [Errno.EBADF] });
    else p.call(`${desc} (descriptor ${fd})`, "fcntl", [fd, F_SETFD, FD_CLOEXEC], { ignore: [Errno.EBADF] });
  }
}
