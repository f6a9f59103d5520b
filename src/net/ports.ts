// Host ports for -p: held by bunker while the container runs. A bound socket
// (never listening) keeps any other program from taking the port, and is how
// a port already in use is found; with the bridge, DNAT rewrites connections
// before they could reach it.

import type { PortMapping } from "../spec/types";
import { AF_INET, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_STREAM } from "../sys/constants";
import { Errno, errnoMessage } from "../sys/errno";
import { closeFd, trySys } from "../sys/libc";
import { parseIp } from "./addr";

export class PortError extends Error {
  override name = "PortError";
}

function sockaddr(ip: string, port: number): Uint8Array {
  const sa = new Uint8Array(16);
  const dv = new DataView(sa.buffer);
  dv.setUint16(0, AF_INET, true);
  dv.setUint16(2, port, false);
  dv.setUint32(4, parseIp(ip), false);
  return sa;
}

export interface Reservation {
  ports: PortMapping[];
  release(): void;
}

/**
 * Binds every host port (a free one for port 0) and returns the mappings
 * with real port numbers. With `keep` false the sockets are closed at once:
 * a helper (pasta, slirp4netns) binds the ports itself right after.
 */
export function reservePorts(ports: readonly PortMapping[], keep: boolean): Reservation {
  const fds: number[] = [];
  const release = () => {
    for (const fd of fds.splice(0)) closeFd(fd);
  };
  const out: PortMapping[] = [];
  try {
    for (const p of ports) {
      const what = `publish ${p.hostIp === "0.0.0.0" ? "" : `${p.hostIp}:`}${p.hostPort || "(any)"}/${p.protocol}`;
      const fd = trySys("socket", AF_INET, (p.protocol === "tcp" ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
      if (fd < 0) throw new PortError(`${what}: open a socket: ${errnoMessage(-fd)}`);
      fds.push(fd);
      const r = trySys("bind", fd, sockaddr(p.hostIp, p.hostPort), 16);
      if (r === -Errno.EADDRINUSE) throw new PortError(`${what}: port ${p.hostPort} is already in use on the host`);
      if (r === -Errno.EADDRNOTAVAIL) throw new PortError(`${what}: ${p.hostIp} is not an address of this host`);
      if (r < 0) throw new PortError(`${what}: ${errnoMessage(-r)}`);
      let hostPort = p.hostPort;
      if (hostPort === 0) {
        const sa = new Uint8Array(16);
        const len = Int32Array.of(16);
        trySys("getsockname", fd, sa, len);
        hostPort = new DataView(sa.buffer).getUint16(2, false);
      }
      out.push({ ...p, hostPort });
    }
  } catch (e) {
    release();
    throw e;
  }
  if (!keep) release();
  return { ports: out, release };
}
