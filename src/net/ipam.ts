// Addresses on the bridge: one lease file per address under the network's
// state directory (leases/<ip>.json), taken and freed under the network's lock.
// A lease names its container and the host ports it publishes, and is written
// before anything is done on the host in its name: what a killed bunker left
// behind can then always be found and undone later.

import type { PortMapping } from "../spec/types";
import { inodeOf, listDir, lockFile, makeDir, readText, removePath, writeAtomic } from "../sys/fs";
import { Errno, SysError } from "../sys/errno";
import { contains, formatIp, formatSubnet, hostRange, parseIp, type Ipv4, type Subnet } from "./addr";
import { BunkerError } from "../errors";

export interface Lease {
  ip: string;
  id: string;
  ports: PortMapping[];
  /** Whether NAT elements may exist for the ports (set before nft runs). */
  nat: boolean;
  /** On a network made by `network create`: the container's name and aliases (for DNS), its veth's host end and its interface inside. */
  name?: string;
  aliases?: string[];
  veth?: string;
  ifname?: string;
  /** On a dual-stack network: its IPv6 address. */
  ip6?: string;
}

export class PoolExhausted extends BunkerError {
  override name = "PoolExhausted";
}

const leasesDir = (dir: string) => `${dir}/leases`;

/**
 * Runs `fn` holding the network's lock; `fn` gets the lock's descriptor, for
 * nft to hold too. `make`: the directory is made if missing (the default
 * bridge's); a network made by `network create` has its own from the start,
 * and one that is gone must stay gone (ENOENT).
 */
export function withNetworkLock<T>(dir: string, fn: (lockFd: number) => T, make = true): T {
  if (make) {
    makeDir(dir.slice(0, dir.lastIndexOf("/")));
    makeDir(dir);
  }
  const lock = lockFile(`${dir}/lock`)!;
  // A directory removed (and perhaps made anew) while this waited: the lock held is of a file no longer there.
  if (!make && inodeOf("", lock.fd) !== inodeOf(`${dir}/lock`)) {
    lock.release();
    throw new SysError(`lock ${dir}/lock`, Errno.ENOENT);
  }
  try {
    return fn(lock.fd);
  } finally {
    lock.release();
  }
}

export function listLeases(dir: string): Lease[] {
  const out: Lease[] = [];
  for (const f of listDir(leasesDir(dir))) {
    if (!f.endsWith(".json")) continue;
    try {
      out.push(JSON.parse(readText(`${leasesDir(dir)}/${f}`)) as Lease);
    } catch {
      // a half-written file cannot exist (writes are atomic); anything else is not ours
    }
  }
  return out;
}

/**
 * The lowest free address of the subnet (or `want`, if it is free), leased
 * to `id` with the ports it will publish and `extra`. Call with the
 * network's lock held. `skip`: an address that is not the subnet's first
 * but the gateway's.
 */
export function allocate(dir: string, subnet: Subnet, id: string, ports: readonly PortMapping[], want?: string, skip?: string, extra: (ip: string) => Omit<Lease, "ip" | "id" | "ports" | "nat"> = () => ({})): Lease {
  makeDir(leasesDir(dir));
  const leases = listLeases(dir);
  const taken = new Set<Ipv4>(leases.map((l) => parseIp(l.ip)));
  if (skip !== undefined) taken.add(parseIp(skip));
  const { first, last } = hostRange(subnet);
  const lease = (ip: Ipv4): Lease => ({ ip: formatIp(ip), id, ports: [...ports], nat: ports.length > 0, ...extra(formatIp(ip)) });
  if (want !== undefined) {
    const ip = parseIp(want);
    if (!contains(subnet, ip) || ip <= subnet.base || ip > last) throw new BunkerError(`--ip ${want}: not an address for a container in ${formatSubnet(subnet)}`);
    if (taken.has(ip)) {
      const holder = leases.find((l) => l.ip === want);
      throw new BunkerError(`--ip ${want}: the address is taken${holder ? ` by container ${holder.name ?? holder.id}` : " by the gateway"}`);
    }
    const l = lease(ip);
    writeLease(dir, l);
    return l;
  }
  for (let ip = first; ip <= last; ip++) {
    if (taken.has(ip)) continue;
    const l = lease(ip);
    writeLease(dir, l);
    return l;
  }
  throw new PoolExhausted(`address pool ${formatSubnet(subnet)} of the bridge is exhausted: all ${last - first + 1} addresses are leased`);
}

function writeLease(dir: string, lease: Lease): void {
  writeAtomic(`${leasesDir(dir)}/${lease.ip}.json`, JSON.stringify(lease));
}

export function freeLease(dir: string, ip: string): void {
  removePath(`${leasesDir(dir)}/${ip}.json`);
}

