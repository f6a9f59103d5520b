// A new network namespace starts with `lo` down. One ioctl brings it up.

import type { ChildProgram } from "../child/program";
import { AF_INET, IFF_LOOPBACK, IFF_RUNNING, IFF_UP, SIOCSIFFLAGS, SOCK_CLOEXEC, SOCK_DGRAM } from "../sys/constants";
import { IFREQ_LAYOUT as IFREQ } from "../sys/layouts";

export function planLoopbackUp(p: ChildProgram): void {
  const sock = p.newSlot();
  const { addr, view } = p.arena.alloc(IFREQ.SIZE, 8);
  view.set(new TextEncoder().encode("lo"), IFREQ.name);
  new DataView(view.buffer, view.byteOffset, IFREQ.SIZE).setInt16(IFREQ.flags, IFF_UP | IFF_LOOPBACK | IFF_RUNNING, true);
  p.call("open a socket to configure lo", "socket", [AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0], { save: sock });
  p.call("bring lo up", "ioctl", [sock, SIOCSIFFLAGS, addr]);
  p.call("close the lo socket", "close", [sock]);
}
