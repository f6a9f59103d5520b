// Addresses on the bridge: one lease file per address under the network's
// state directory (leases/<ip>.json), taken and freed under the network's lock.
// A lease names its container and the host ports it publishes, and is written
// before anything is done on the host in its name: what a killed bunker left
// behind can then always be found and undone later.

import type { PortMapping } from "../spec/types";
import { listDir, lockFile, makeDir, readText, removePath, writeAtomic } from "../sys/fs";
import { formatIp, formatSubnet, hostRange, parseIp, type Ipv4, type Subnet } from "./addr";
import { BunkerError } from "../errors";

export interface Lease {
  ip: string;
  id: string;
  ports: PortMapping[];
  /** Whether NAT elements may exist for the ports (set before nft runs). */
  nat: boolean;
}

export class PoolExhausted extends BunkerError {
  override name = "PoolExhausted";
}

const leasesDir = (dir: string) => `${dir}/leases`;

/** Runs `fn` holding the network's lock; `fn` gets the lock's descriptor, for nft to hold too. */
export function withNetworkLock<T>(dir: string, fn: (lockFd: number) => T): T {
  makeDir(dir.slice(0, dir.lastIndexOf("/")));
  makeDir(dir);
  const lock = lockFile(`${dir}/lock`)!;
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
 * The lowest free address of the subnet, leased to `id` with the ports it
 * will publish. Call with the network's lock held.
 */
export function allocate(dir: string, subnet: Subnet, id: string, ports: readonly PortMapping[]): Lease {
  makeDir(leasesDir(dir));
  const taken = new Set<Ipv4>(listLeases(dir).map((l) => parseIp(l.ip)));
  const { first, last } = hostRange(subnet);
  for (let ip = first; ip <= last; ip++) {
    if (taken.has(ip)) continue;
    const lease: Lease = { ip: formatIp(ip), id, ports: [...ports], nat: ports.length > 0 };
    writeLease(dir, lease);
    return lease;
  }
  throw new PoolExhausted(`address pool ${formatSubnet(subnet)} of the bridge is exhausted: all ${last - first + 1} addresses are leased`);
}

function writeLease(dir: string, lease: Lease): void {
  writeAtomic(`${leasesDir(dir)}/${lease.ip}.json`, JSON.stringify(lease));
}

export function freeLease(dir: string, ip: string): void {
  removePath(`${leasesDir(dir)}/${ip}.json`);
}

