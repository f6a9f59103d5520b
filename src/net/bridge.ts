// The bunker0 bridge and a container's veth on it.
//
// The bridge is made on first use: a subnet that collides with no route or
// address of the host (or the one --subnet names), the first address of it on
// the bridge, a fixed MAC address, IPv4 forwarding, and the NAT table with
// its loopback guard (see nat.ts). route_localnet is turned on by the caller
// once it has checked the guard is there (hardenBridge).
// A container gets a veth pair: bk<id> on the host, attached to the bridge;
// its peer born in the container's network namespace as eth0, given the
// leased address and a default route through the bridge.
//
// network.json is written before the bridge is made, marked pending, and
// again without the mark once it is complete: a bridge whose creation a
// killed bunker left unfinished is removed and made again (no container can
// be on it: they attach only to a finished one).

import { readText, removePath, writeAtomic } from "../sys/fs";
import { closeFd, trySys } from "../sys/libc";
import { NetlinkSocket, openInNamespace } from "../sys/netlink";
import { Errno, errnoMessage } from "../sys/errno";
import { AT, O } from "../sys/constants";
import { parseIp6 } from "./addr6";
import { formatIp, formatSubnet, gatewayOf, maskOf, overlaps, parseIp, parseSubnet, type Subnet } from "./addr";
import { defaultTable, nftPath, runNft, tableScript, type NatTable } from "./nat";
import { addAddress6, addDefaultRoute6, addAddress, addDefaultRoute, addresses, createBridge, createVeth, deleteLink, linkIndex, randomMac, routes, setHairpin, setMac, setUp } from "./rtnl";
import { BunkerError } from "../errors";

export const BRIDGE = "bunker0";

/** 2: a fixed MAC address and the loopback guard. Absent: made by an older bunker. */
export const BRIDGE_VERSION = 2;

export interface BridgeConfig {
  name: string;
  subnet: string;
  gateway: string;
  /** Whether the NAT table was set up (nft was there). */
  nat: boolean;
  version?: number;
  /** Written before the bridge is made: set while its creation is unfinished. */
  pending?: boolean;
}

export class BridgeError extends BunkerError {
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

export function hostSubnetsInUse(nl: NetlinkSocket): Subnet[] {
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

/**
 * route_localnet on only where the loopback guard stands: hairpin from the
 * host's 127.0.0.1 to published ports needs it, and without the guard it
 * opens the host's loopback to every container on the bridge.
 */
export function hardenBridge(guarded: boolean, bridge = BRIDGE): void {
  writeSysctl(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, guarded ? "1" : "0");
}

const configPath = (dir: string) => `${dir}/network.json`;

function readConfig(dir: string): BridgeConfig | null {
  try {
    return JSON.parse(readText(configPath(dir))) as BridgeConfig;
  } catch {
    // none yet, or damaged: the bridge is then made (again) from the defaults
    return null;
  }
}

export interface EnsuredBridge {
  config: BridgeConfig;
  index: number;
  /** Set when it was made just now and NAT could not be set up. */
  notice?: string;
}

/** A bridge made by an older bunker, or whose network.json is gone: recorded as it is, with a fixed MAC address. */
function adopt(nl: NetlinkSocket, dir: string, index: number, config: BridgeConfig | null): BridgeConfig {
  if (!config) {
    // Made by an earlier bunker whose state directory is gone (a reboot keeps no bridge, but a wiped /run does).
    const addr = addresses(nl).find((a) => a.index === index);
    if (!addr) throw new BridgeError(`bridge ${BRIDGE} exists but has no IPv4 address: remove it with bunker network prune`);
    const subnet = { base: (addr.ip & maskOf(addr.prefix)) >>> 0, prefix: addr.prefix };
    config = { name: BRIDGE, subnet: formatSubnet(subnet), gateway: formatIp(addr.ip), nat: false };
  }
  let assigned = "";
  try {
    assigned = readText(`/sys/class/net/${BRIDGE}/addr_assign_type`).trim();
  } catch {
    // unknown: set it
  }
  // 3: NET_ADDR_SET, an address someone chose, which the bridge keeps.
  if (assigned !== "3") setMac(nl, index, BRIDGE, randomMac());
  // The NAT table is checked and completed by the caller (guard.ts, nat.ts's repairScript).
  const adopted: BridgeConfig = { name: BRIDGE, subnet: config.subnet, gateway: config.gateway, nat: nftPath() !== undefined, version: BRIDGE_VERSION };
  writeAtomic(configPath(dir), JSON.stringify(adopted));
  return adopted;
}

/**
 * The bridge as it is, or made now. Call with the network's lock held;
 * `lockFd` is that lock, held by nft too while it runs.
 * `requested` is --subnet: it must match an existing bridge.
 */
export function ensureBridge(nl: NetlinkSocket, dir: string, requested: string | undefined, lockFd: number): EnsuredBridge {
  const want = requested !== undefined ? parseSubnet(requested) : undefined;
  let index = linkIndex(nl, BRIDGE);
  let config = readConfig(dir);
  if (index !== null && config?.pending) {
    deleteLink(nl, BRIDGE);
    index = null;
  }
  if (index !== null) {
    if (!config || config.version !== BRIDGE_VERSION) config = adopt(nl, dir, index, config);
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
  const nat = nftPath() !== undefined;
  const made: BridgeConfig = { name: BRIDGE, subnet: formatSubnet(subnet), gateway: formatIp(gateway), nat, version: BRIDGE_VERSION };
  writeAtomic(configPath(dir), JSON.stringify({ ...made, pending: true }));
  try {
    const madeIndex = makeBridge(nl, BRIDGE, subnet, gateway, nat ? defaultTable(subnet) : undefined, lockFd);
    writeAtomic(configPath(dir), JSON.stringify(made));
    return {
      config: made,
      index: madeIndex,
      ...(nat ? {} : { notice: `nft not found: containers on ${BRIDGE} reach only the host and each other, and -p cannot publish ports; install the nftables package` }),
    };
  } catch (e) {
    try {
      removePath(configPath(dir));
    } catch {
      // the pending mark stays: the next bunker finishes the removal
    }
    throw e;
  }
}

/**
 * A bridge made whole: the link with a fixed MAC address, its gateway
 * address, up, forwarding on, and its NAT table when `nat` is given; its
 * index. Undone (the link deleted) if any step fails; the caller has
 * recorded it before, so that a kill in between is undone later.
 */
export function makeBridge(nl: NetlinkSocket, name: string, subnet: Subnet, gateway: number, nat: NatTable | undefined, lockFd: number): number {
  try {
    createBridge(nl, name, randomMac());
    const index = linkIndex(nl, name);
    if (index === null) throw new BridgeError(`bridge ${name} vanished right after it was created`);
    addAddress(nl, index, name, gateway, subnet.prefix);
    setUp(nl, index, name);
    writeSysctl("/proc/sys/net/ipv4/ip_forward", "1");
    if (nat) runNft(tableScript(nat), `set up NAT for the bridge ${name}`, lockFd);
    return index;
  } catch (e) {
    try {
      if (linkIndex(nl, name) !== null) deleteLink(nl, name);
    } catch {
      // left for the caller's record to undo
    }
    throw e;
  }
}

/** Removes the bridge (its containers' veths go with it). */
export function removeBridge(nl: NetlinkSocket, name = BRIDGE): boolean {
  if (linkIndex(nl, name) === null) return false;
  deleteLink(nl, name);
  return true;
}

export const vethName = (id: string) => `bk${id}`.slice(0, 15);

/** Where a veth goes: the bridge, and the container's address, interface and whether its default route leads through this bridge. */
export interface VethPlan {
  bridgeIndex: number;
  /** The host end's name (vethName for the default bridge). */
  host: string;
  /** Inside: eth0, eth1, ... */
  inside: string;
  ip: string;
  prefix: number;
  /** The gateway for the container's default route, when it gets one through this bridge. */
  defaultVia?: string;
  /** The container's network namespace, when the caller has it open (else opened through /proc/PID). */
  nsFd?: number;
  /** On a dual-stack network: the IPv6 address, its prefix, and the IPv6 default route's gateway. */
  ip6?: string;
  prefix6?: number;
  defaultVia6?: string;
}

/** The container's veth: created, on the bridge, up; its inside end with the address (and a default route). */
export function attachVeth(nl: NetlinkSocket, plan: VethPlan, pid: number): void {
  const { host, inside } = plan;
  createVeth(nl, host, inside, pid, plan.bridgeIndex);
  try {
    const index = linkIndex(nl, host);
    if (index === null) throw new BridgeError(`veth ${host} vanished right after it was created`);
    setHairpin(nl, index, host);
    setUp(nl, index, host);
    const nsFd = plan.nsFd ?? trySys("openat", AT.FDCWD, new TextEncoder().encode(`/proc/${pid}/ns/net\0`), O.RDONLY | O.CLOEXEC, 0);
    if (nsFd < 0) throw new BridgeError(`open the network namespace of process ${pid}: ${errnoMessage(-nsFd)}`);
    let inner: NetlinkSocket;
    try {
      inner = openInNamespace(0, nsFd);
    } finally {
      if (plan.nsFd === undefined) closeFd(nsFd);
    }
    try {
      const at = linkIndex(inner, inside);
      if (at === null) throw new BridgeError(`${inside} is missing in the container's network namespace`);
      addAddress(inner, at, inside, parseIp(plan.ip), plan.prefix);
      setUp(inner, at, inside);
      if (plan.defaultVia !== undefined) addDefaultRoute(inner, parseIp(plan.defaultVia), at);
      if (plan.ip6 !== undefined) {
        addAddress6(inner, at, inside, parseIp6(plan.ip6), plan.prefix6!);
        if (plan.defaultVia6 !== undefined) addDefaultRoute6(inner, parseIp6(plan.defaultVia6), at);
      }
    } finally {
      inner.close();
    }
  } catch (e) {
    detachLink(nl, host);
    throw e;
  }
}

/** The container's veth on the default bridge: eth0, its default route through the bridge. */
export function attachDefaultVeth(nl: NetlinkSocket, bridge: EnsuredBridge, id: string, pid: number, ip: string): void {
  attachVeth(nl, { bridgeIndex: bridge.index, host: vethName(id), inside: "eth0", ip, prefix: parseSubnet(bridge.config.subnet).prefix, defaultVia: bridge.config.gateway }, pid);
}

/** Deletes the host end (and so both ends) if it is still there. */
export function detachVeth(nl: NetlinkSocket, id: string): void {
  detachLink(nl, vethName(id));
}

/** Deletes a link if it is still there. */
export function detachLink(nl: NetlinkSocket, name: string): void {
  try {
    deleteLink(nl, name);
  } catch (e) {
    if ((e as { errno?: number }).errno !== Errno.ENODEV) throw e;
  }
}
