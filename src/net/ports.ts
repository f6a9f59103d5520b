// Host ports for -p: held by bunker while the container runs. A bound socket
// (never listening) keeps any other program from taking the port, and is how
// a port already in use is found; with the bridge, DNAT rewrites connections
// before they could reach it. One socket per port, so a range costs one open
// file per port: a range beyond the open-file limit is refused up front.

import type { PortMapping } from "../spec/types";
import { countOf } from "../spec/ports";
import { AF_INET, RLIMIT_NOFILE, SO_REUSEADDR, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET } from "../sys/constants";
import { SOCKADDR_IN_LAYOUT as SIN } from "../sys/layouts";
import { Errno, errnoMessage } from "../sys/errno";
import { listDir } from "../sys/fs";
import { closeFd, trySys } from "../sys/libc";
import { parseIp } from "./addr";
import { BunkerError } from "../errors";

export class PortError extends BunkerError {
  override name = "PortError";
}

/** An IPv4 sockaddr_in. */
export function sockaddr(ip: string, port: number): Uint8Array {
  const sa = new Uint8Array(SIN.SIZE);
  const dv = new DataView(sa.buffer);
  dv.setUint16(SIN.family, AF_INET, true);
  dv.setUint16(SIN.port, port, false);
  dv.setUint32(SIN.addr, parseIp(ip), false);
  return sa;
}

export interface Reservation {
  ports: PortMapping[];
  /** The sockets holding the ports (until release). */
  fds(): readonly number[];
  release(): void;
}

/** Descriptors the rest of a start needs beside the ports' (pipes, netlink, the lock, nft's stdio...). */
const SPARE = 64;

/** Refuses, before binding any, more ports than open files can hold. */
function checkOpenFiles(total: number): void {
  const lim = new BigUint64Array(2);
  if (trySys("prlimit64", 0, RLIMIT_NOFILE, null, lim) < 0) return;
  const soft = lim[0]!;
  if (soft >= BigInt(Number.MAX_SAFE_INTEGER)) return;
  const open = listDir("/proc/self/fd").length;
  if (total + open + SPARE > Number(soft)) {
    throw new PortError(
      `publish ${total} ports: each is held open while the container runs, and ${total} open files exceed the limit of ${soft} (ulimit -n): publish fewer ports or raise the limit`,
    );
  }
}

/**
 * Binds every host port (a free one for port 0) and returns the mappings
 * with real port numbers: a range with its host ports given stays one
 * mapping; port 0 becomes one mapping per port. With `keep` false the
 * sockets are closed at once: a helper (pasta, slirp4netns) binds the ports
 * itself right after.
 */
export function reservePorts(ports: readonly PortMapping[], keep: boolean): Reservation {
  const fds: number[] = [];
  const release = () => {
    for (const fd of fds.splice(0)) closeFd(fd);
  };
  const out: PortMapping[] = [];
  const bind = (p: PortMapping, hostPort: number): number => {
    const what = `publish ${p.hostIp === "0.0.0.0" ? "" : `${p.hostIp}:`}${hostPort || "(any)"}/${p.protocol}`;
    const fd = trySys("socket", AF_INET, (p.protocol === "tcp" ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new PortError(`${what}: open a socket: ${errnoMessage(-fd)}`);
    fds.push(fd);
    // Only a check for a helper that binds the port itself (as servers do, with SO_REUSEADDR):
    // a connection the helper served that waits out TIME_WAIT there does not keep it from the port.
    if (!keep && trySys("setsockopt", fd, SOL_SOCKET, SO_REUSEADDR, Int32Array.of(1), 4) < 0) throw new PortError(`${what}: set SO_REUSEADDR`);
    const r = trySys("bind", fd, sockaddr(p.hostIp, hostPort), SIN.SIZE);
    if (r === -Errno.EADDRINUSE) throw new PortError(`${what}: port ${hostPort} is already in use on the host`);
    if (r === -Errno.EADDRNOTAVAIL) throw new PortError(`${what}: ${p.hostIp} is not an address of this host`);
    if (r < 0) throw new PortError(`${what}: ${errnoMessage(-r)}`);
    if (hostPort !== 0) return hostPort;
    const sa = new Uint8Array(SIN.SIZE);
    const len = Int32Array.of(SIN.SIZE);
    trySys("getsockname", fd, sa, len);
    return new DataView(sa.buffer).getUint16(SIN.port, false);
  };
  try {
    checkOpenFiles(ports.reduce((n, p) => n + countOf(p), 0));
    for (const p of ports) {
      const { range: n = 1, ...one } = p;
      if (p.hostPort !== 0) {
        for (let i = 0; i < n; i++) bind(p, p.hostPort + i);
        out.push(p);
      } else for (let i = 0; i < n; i++) out.push({ ...one, hostPort: bind(p, 0), containerPort: p.containerPort + i });
    }
  } catch (e) {
    release();
    throw e;
  }
  if (!keep) release();
  return { ports: out, fds: () => [...fds], release };
}
