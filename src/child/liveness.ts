// Keeping the child tied to bunker's life. PR_SET_PDEATHSIG is cleared by
// every change of credentials, so it is set again after each one, and then
// the child checks bunker did not die in between: bunker holds the sync
// pipe's write end open until the child has exec'd, so a non-blocking read
// gives EAGAIN while bunker lives and EOF once it is gone.

import { PR_SET_PDEATHSIG, SIGNALS } from "../sys/constants";
import { Errno } from "../sys/errno";
import type { ChildProgram } from "./program";

export function planParentCheck(p: ChildProgram, syncRead: number): void {
  p.call("ask to be killed when bunker dies", "prctl", [PR_SET_PDEATHSIG, SIGNALS.SIGKILL, 0, 0, 0]);
  const buf = p.arena.alloc(8).addr;
  p.call("check that bunker is still running", "read", [syncRead, buf, 1], {
    ignore: [Errno.EAGAIN],
    expect: { value: -1, errno: Errno.ECANCELED },
  });
}
