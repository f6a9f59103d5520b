// The bunker0 bridge and a container's veth on it.
//
// The bridge is made on first use: a subnet that collides with no route or
// address of the host (or the one --subnet names), the first address of it on
// the bridge, IPv4 forwarding, route_localnet (see nat.ts), and the NAT table.
// A container gets a veth pair: bk<id> on the host, attached to the bridge;
// its peer born in the container's network namespace as eth0, given the
// leased address and a default route through the bridge.

import { readText, writeAtomic } from "../sys/fs";
import { closeFd, trySys } from "../sys/libc";
import { NetlinkSocket, openInNamespace } from "../sys/netlink";
import { Errno, errnoMessage } from "../sys/errno";
import { AT, O } from "../sys/constants";
import { formatIp, formatSubnet, gatewayOf, maskOf, overlaps, parseIp, parseSubnet, type Subnet } from "./addr";
import { nftPath, runNft, tableScript } from "./nat";
import { addAddress, addDefaultRoute, addresses, createBridge, createVeth, deleteLink, linkIndex, routes, setUp } from "./rtnl";

export const BRIDGE = "bunker0";

export interface BridgeConfig {
  name: string;
  subnet: string;
  gateway: string;
  /** Whether the NAT table was set up (nft was there). */
  nat: boolean;
}

export class BridgeError extends Error {
  override name = "BridgeError";
}

/** Candidates for the default subnet, in order: /16s of 10.0.0.0/8 that podman and docker leave alone. */
export function defaultSubnets(): Subnet[] {
  const out: Subnet[] = [];
  for (let b = 89; b < 128; b++) out.push({ base: ((10 << 24) | (b << 16)) >>> 0, prefix: 16 });
  return out;
}

/** The first candidate that overlaps no route (other than the default route) and no address. */
export function pickSubnet(candidates: readonly Subnet[], used: readonly Subnet[]): Subnet | undefined {
  return candidates.find((c) => !used.some((u) => overlaps(c, u)));
}

function hostSubnetsInUse(nl: NetlinkSocket): Subnet[] {
  const used: Subnet[] = [];
  for (const r of routes(nl)) if (r.prefix > 0) used.push({ base: r.dst, prefix: r.prefix });
  for (const a of addresses(nl)) used.push({ base: a.ip, prefix: 32 });
  return used;
}

function writeSysctl(path: string, value: string): void {
  const what = `set ${path.replace("/proc/sys/", "").replaceAll("/", ".")}`;
  const fd = trySys("openat", AT.FDCWD, new TextEncoder().encode(`${path}\0`), O.WRONLY | O.CLOEXEC, 0);
  if (fd < 0) throw new BridgeError(`${what}: ${errnoMessage(-fd)}`);
  try {
    const data = new TextEncoder().encode(`${value}\n`);
    const n = trySys("write", fd, data, data.length);
    if (n < 0) throw new BridgeError(`${what}: ${errnoMessage(-n)}`);
  } finally {
    closeFd(fd);
  }
}

function readConfig(dir: string): BridgeConfig | null {
  try {
    return JSON.parse(readText(`${dir}/network.json`)) as BridgeConfig;
  } catch {
    return null;
  }
}

export interface EnsuredBridge {
  config: BridgeConfig;
  index: number;
  /** Set when it was made just now and NAT could not be set up. */
  notice?: string;
}

/**
 * The bridge as it is, or made now. Call with the network's lock held.
 * `requested` is --subnet: it must match an existing bridge.
 */
export function ensureBridge(nl: NetlinkSocket, dir: string, requested?: string): EnsuredBridge {
  const want = requested !== undefined ? parseSubnet(requested) : undefined;
  const index = linkIndex(nl, BRIDGE);
  if (index !== null) {
    let config = readConfig(dir);
    if (!config) {
      // Made by an earlier bunker whose state directory is gone (a reboot keeps no bridge, but a wiped /run does).
      const addr = addresses(nl).find((a) => a.index === index);
      if (!addr) throw new BridgeError(`bridge ${BRIDGE} exists but has no IPv4 address: remove it with bunker network prune`);
      const subnet = { base: (addr.ip & maskOf(addr.prefix)) >>> 0, prefix: addr.prefix };
      config = { name: BRIDGE, subnet: formatSubnet(subnet), gateway: formatIp(addr.ip), nat: false };
      writeAtomic(`${dir}/network.json`, JSON.stringify(config));
    }
    if (want && formatSubnet(want) !== config.subnet) {
      throw new BridgeError(`bridge ${BRIDGE} already uses ${config.subnet}, not ${formatSubnet(want)}: stop its containers and run bunker network prune to change it`);
    }
    return { config, index };
  }
  const subnet = want ?? pickSubnet(defaultSubnets(), hostSubnetsInUse(nl));
  if (!subnet) throw new BridgeError(`no free /16 in 10.89.0.0-10.127.255.255 for ${BRIDGE}: choose one with --subnet`);
  if (want && hostSubnetsInUse(nl).some((u) => overlaps(want, u))) {
    throw new BridgeError(`subnet ${formatSubnet(want)} overlaps a route or address of this host`);
  }
  const gateway = gatewayOf(subnet);
  createBridge(nl, BRIDGE);
  let made: number | null = null;
  try {
    made = linkIndex(nl, BRIDGE);
    if (made === null) throw new BridgeError(`bridge ${BRIDGE} vanished right after it was created`);
    addAddress(nl, made, BRIDGE, gateway, subnet.prefix);
    writeSysctl(`/proc/sys/net/ipv4/conf/${BRIDGE}/route_localnet`, "1");
    setUp(nl, made, BRIDGE);
    writeSysctl("/proc/sys/net/ipv4/ip_forward", "1");
    const nat = nftPath() !== undefined;
    if (nat) runNft(tableScript(BRIDGE, subnet), "set up NAT for the bridge");
    const config: BridgeConfig = { name: BRIDGE, subnet: formatSubnet(subnet), gateway: formatIp(gateway), nat };
    writeAtomic(`${dir}/network.json`, JSON.stringify(config));
    return {
      config,
      index: made,
      ...(nat ? {} : { notice: `nft not found: containers on ${BRIDGE} reach only the host and each other, and -p cannot publish ports; install the nftables package` }),
    };
  } catch (e) {
    try {
      deleteLink(nl, BRIDGE);
    } catch {
      // the error below says what failed
    }
    throw e;
  }
}

/** Removes the bridge (its containers' veths go with it). */
export function removeBridge(nl: NetlinkSocket): boolean {
  if (linkIndex(nl, BRIDGE) === null) return false;
  deleteLink(nl, BRIDGE);
  return true;
}

export const vethName = (id: string) => `bk${id}`.slice(0, 15);

/** The container's veth: created, on the bridge, up; eth0 inside with `ip` and a default route. */
export function attachVeth(nl: NetlinkSocket, bridge: EnsuredBridge, id: string, pid: number, ip: string): void {
  const host = vethName(id);
  createVeth(nl, host, "eth0", pid, bridge.index);
  try {
    const index = linkIndex(nl, host);
    if (index === null) throw new BridgeError(`veth ${host} vanished right after it was created`);
    setUp(nl, index, host);
    const nsFd = trySys("openat", AT.FDCWD, new TextEncoder().encode(`/proc/${pid}/ns/net\0`), O.RDONLY | O.CLOEXEC, 0);
    if (nsFd < 0) throw new BridgeError(`open the network namespace of process ${pid}: ${errnoMessage(-nsFd)}`);
    let inner: NetlinkSocket;
    try {
      inner = openInNamespace(0, nsFd);
    } finally {
      closeFd(nsFd);
    }
    try {
      const eth0 = linkIndex(inner, "eth0");
      if (eth0 === null) throw new BridgeError("eth0 is missing in the container's network namespace");
      const subnet = parseSubnet(bridge.config.subnet);
      addAddress(inner, eth0, "eth0", parseIp(ip), subnet.prefix);
      setUp(inner, eth0, "eth0");
      addDefaultRoute(inner, parseIp(bridge.config.gateway), eth0);
    } finally {
      inner.close();
    }
  } catch (e) {
    detachVeth(nl, id);
    throw e;
  }
}

/** Deletes the host end (and so both ends) if it is still there. */
export function detachVeth(nl: NetlinkSocket, id: string): void {
  try {
    deleteLink(nl, vethName(id));
  } catch (e) {
    if ((e as { errno?: number }).errno !== Errno.ENODEV) throw e;
  }
}
