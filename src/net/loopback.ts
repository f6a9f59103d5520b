// A new network namespace starts with `lo` down. One ioctl brings it up.

import type { ChildProgram } from "../child/program";
import { AF_INET, IFF_LOOPBACK, IFF_RUNNING, IFF_UP, SIOCSIFFLAGS, SOCK_CLOEXEC, SOCK_DGRAM } from "../sys/constants";

export function planLoopbackUp(p: ChildProgram): void {
  const sock = p.newSlot();
  // struct ifreq: char ifr_name[16]; short ifr_flags; padding to 40 bytes
  const { addr, view } = p.arena.alloc(40, 8);
  view.set(new TextEncoder().encode("lo"));
  new DataView(view.buffer, view.byteOffset, 40).setInt16(16, IFF_UP | IFF_LOOPBACK | IFF_RUNNING, true);
  p.call("open a socket to configure lo", "socket", [AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0], { save: sock });
  p.call("bring lo up", "ioctl", [sock, SIOCSIFFLAGS, addr]);
  p.call("close the lo socket", "close", [sock]);
}
