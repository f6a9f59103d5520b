// Networks made with `bunker network create`: made, listed, removed, and
// made whole again after a bunker killed half-way (see net/networks.ts for
// the marks). The default bridge (bunker0) is network.ts's.

import { randomBytes } from "node:crypto";
import { log } from "../log";
import { hostSubnetsInUse, makeBridge, removeBridge, hardenBridge, type BridgeConfig } from "../net/bridge";
import { bridgeName, findRecord, listRecords, natTableName, NetworkError, readRecord, validateNetworkName, withNetworksLock, writeRecord, type NetworkRecord } from "../net/networks";
import { contains, formatIp, formatSubnet, hostRange, overlaps, parseIp, parseSubnet, type Subnet } from "../net/addr";
import { deleteTableScript, nftPath, runNft, type NatTable } from "../net/nat";
import { deleteTableScript6, tableScript6, type Nat6Network } from "../net/nat6";
import { contains6, defaultSubnets6, formatIp6, formatSubnet6, gatewayOf6, overlaps6, parseIp6, parseSubnet6, pickSubnet6, type Ipv6, type Subnet6 } from "../net/addr6";
import { addAddress6, hostSubnets6InUse } from "../net/rtnl";
import { enableIpv6Forwarding, enableIpv6On, linksLosingRouterAdverts } from "../net/sysctl";
import { listLeases, withNetworkLock, type Lease } from "../net/ipam";
import { NetlinkSocket } from "../sys/netlink";
import { fileType, listDir, readText } from "../sys/fs";
import { mayBeNetworkName } from "../spec/validate";
import { stateDir } from "./state";
import { removeTree } from "./leftovers";
import { reconcileLeases } from "./network-leases";
import { withdraw } from "./network-dns";

export const networksRoot = () => `${stateDir()}/networks`;

export interface CreateNetwork {
  name: string;
  subnet?: string;
  gateway?: string;
  /** --ipv6: dual-stack, with `subnet6` (--subnet with an IPv6 one) or a unique local /64 of its own. */
  ipv6?: boolean;
  subnet6?: string;
  gateway6?: string;
  internal?: boolean;
  labels?: Record<string, string>;
}

/** The ip6 table of a dual-stack network: the same name in the ip6 family. */
export const nat6Of = (r: NetworkRecord): Nat6Network => ({ table: natTableName(r.id), bridge: r.bridge, subnet6: parseSubnet6(r.subnet6!), internal: r.internal });

/** The IPv6 subnet and gateway of a new dual-stack network: the one asked for, checked, or a unique local /64 derived from its id. */
function chooseSubnet6(root: string, o: CreateNetwork, id: string, nl: NetlinkSocket): { subnet6: Subnet6; gateway6: Ipv6 } {
  const others = listRecords(root).flatMap((r) => (r.subnet6 ? [{ name: r.name, subnet: parseSubnet6(r.subnet6) }] : []));
  const host = hostSubnets6InUse(nl);
  let subnet6: Subnet6;
  if (o.subnet6 !== undefined) {
    subnet6 = parseSubnet6(o.subnet6);
    const clash = others.find((x) => overlaps6(x.subnet, subnet6));
    if (clash) throw new NetworkError(`--subnet ${o.subnet6}: overlaps network ${clash.name} (${formatSubnet6(clash.subnet)})`);
    if (host.some((u) => overlaps6(subnet6, u))) throw new NetworkError(`--subnet ${o.subnet6}: overlaps a route or address of this host`);
  } else {
    if (o.gateway6 !== undefined) throw new NetworkError("--gateway with an IPv6 address needs an IPv6 --subnet");
    const free = pickSubnet6(defaultSubnets6(id), [...others.map((x) => x.subnet), ...host]);
    if (!free) throw new NetworkError("no free unique local /64 for the network: choose one with --subnet");
    subnet6 = free;
  }
  let gateway6 = gatewayOf6(subnet6);
  if (o.gateway6 !== undefined) {
    gateway6 = parseIp6(o.gateway6);
    if (!contains6(subnet6, gateway6) || gateway6 === subnet6.base) throw new NetworkError(`--gateway ${o.gateway6}: not a host address of ${formatSubnet6(subnet6)}`);
  }
  return { subnet6, gateway6 };
}

/**
 * A network's bridge made whole: the link, its addresses, forwarding, and
 * its tables (ip, and ip6 when dual-stack); its index. The caller recorded
 * the network before, so that a kill in between is undone later.
 */
export function makeNetworkBridge(nl: NetlinkSocket, r: NetworkRecord, lockFd: number): number {
  const nat = r.nat && nftPath() !== undefined;
  const index = makeBridge(nl, r.bridge, parseSubnet(r.subnet), parseIp(r.gateway), nat ? natOf(r) : undefined, lockFd);
  hardenBridge(false, r.bridge);
  if (r.subnet6) {
    const s6 = parseSubnet6(r.subnet6);
    const losing = linksLosingRouterAdverts(nl);
    if (losing.length) void log.warn(`IPv6 forwarding turns off router advertisements on ${losing.join(", ")}: the host's IPv6 default route there lapses unless accept_ra is 2`);
    enableIpv6Forwarding();
    enableIpv6On(r.bridge);
    addAddress6(nl, index, r.bridge, parseIp6(r.gateway6!), s6.prefix);
    if (nat) runNft(tableScript6(nat6Of(r)), `set up IPv6 NAT for the bridge ${r.bridge}`, lockFd);
  }
  return index;
}

/** The NAT table of a network made by `network create`. */
export const natOf = (r: NetworkRecord): NatTable => ({ table: natTableName(r.id), bridge: r.bridge, subnet: parseSubnet(r.subnet), isolated: true, ...(r.internal ? { internal: true } : {}) });

/** Candidates for a network's subnet when none is given: /24s of 10.90.0.0-10.127.255.0, clear of the default bridge's 10.89.0.0/16. */
function* candidates(): Generator<Subnet> {
  for (let b = 90; b < 128; b++) for (let c = 0; c < 256; c++) yield { base: ((10 << 24) | (b << 16) | (c << 8)) >>> 0, prefix: 24 };
}

function defaultBridgeSubnet(root: string): Subnet | undefined {
  try {
    return parseSubnet((JSON.parse(readText(`${root}/bunker0/network.json`)) as BridgeConfig).subnet);
  } catch {
    // no default bridge yet: it will pick a /16 clear of every bridge's route
    return undefined;
  }
}

/** A subnet and gateway for a new network: the one asked for, checked, or the first free /24. */
function chooseSubnet(root: string, o: CreateNetwork, nl: NetlinkSocket): { subnet: Subnet; gateway: number } {
  const others = listRecords(root).map((r) => ({ name: r.name, subnet: parseSubnet(r.subnet) }));
  const bunker0 = defaultBridgeSubnet(root);
  if (bunker0) others.push({ name: "bridge (bunker0)", subnet: bunker0 });
  const host = hostSubnetsInUse(nl);
  let subnet: Subnet;
  if (o.subnet !== undefined) {
    subnet = parseSubnet(o.subnet);
    const clash = others.find((x) => overlaps(x.subnet, subnet));
    if (clash) throw new NetworkError(`--subnet ${o.subnet}: overlaps network ${clash.name} (${formatSubnet(clash.subnet)})`);
    // The bridges' own routes are the networks' above: name those, and only then the host's.
    if (host.some((u) => overlaps(subnet, u))) throw new NetworkError(`--subnet ${o.subnet}: overlaps a route or address of this host`);
  } else {
    if (o.gateway !== undefined) throw new NetworkError("--gateway needs --subnet");
    const free = [...candidates()].find((c) => !others.some((x) => overlaps(x.subnet, c)) && !host.some((u) => overlaps(c, u)));
    if (!free) throw new NetworkError("no free /24 in 10.90.0.0-10.127.255.255: choose one with --subnet");
    subnet = free;
  }
  let gateway = subnet.base + 1;
  if (o.gateway !== undefined) {
    gateway = parseIp(o.gateway);
    const { first, last } = hostRange(subnet);
    if (!contains(subnet, gateway) || gateway < first - 1 || gateway > last) throw new NetworkError(`--gateway ${o.gateway}: not a host address of ${formatSubnet(subnet)}`);
  }
  return { subnet, gateway };
}

/** bunker network create. */
export function createNetwork(o: CreateNetwork): NetworkRecord {
  validateNetworkName(o.name);
  const root = networksRoot();
  return withNetworksLock(root, () => {
    finishInterrupted(root);
    if (readRecord(root, o.name)) throw new NetworkError(`network ${o.name} already exists`);
    const nl = NetlinkSocket.open(0);
    try {
      const { subnet, gateway } = chooseSubnet(root, o, nl);
      const id = randomBytes(32).toString("hex");
      const nat = nftPath() !== undefined;
      const v6 = o.ipv6 || o.subnet6 !== undefined ? chooseSubnet6(root, o, id, nl) : undefined;
      // Each container's IPv6 address takes its IPv4 address's place (network-named.ts): room for all of them.
      if (v6 && 128 - v6.subnet6.prefix < 32 - subnet.prefix) throw new NetworkError(`--subnet ${formatSubnet6(v6.subnet6)}: smaller than ${formatSubnet(subnet)}: give an IPv6 subnet of /${96 + subnet.prefix} or larger`);
      if (v6 && o.gateway6 !== undefined && v6.gateway6 !== gatewayOf6(v6.subnet6)) throw new NetworkError(`--gateway ${o.gateway6}: an IPv6 network's gateway is its subnet's first address (${formatIp6(gatewayOf6(v6.subnet6))})`);
      const record: NetworkRecord = {
        name: o.name,
        id,
        driver: "bridge",
        bridge: bridgeName(id),
        subnet: formatSubnet(subnet),
        gateway: formatIp(gateway),
        ...(v6 ? { subnet6: formatSubnet6(v6.subnet6), gateway6: formatIp6(v6.gateway6) } : {}),
        internal: o.internal === true,
        nat,
        created: new Date().toISOString(),
        ...(o.labels && Object.keys(o.labels).length ? { labels: o.labels } : {}),
      };
      // Recorded before the bridge is made: a kill from here on leaves a mark that says what to undo.
      writeRecord(root, { ...record, pending: true });
      try {
        withNetworkLock(`${root}/${o.name}`, (lockFd) => makeNetworkBridge(nl, record, lockFd));
      } catch (e) {
        takeDown(root, record, nl);
        throw e;
      }
      writeRecord(root, record);
      if (!nat) void log.warn(`nft not found: containers on ${o.name} reach only the host and each other, and -p cannot publish ports; install the nftables package`);
      return record;
    } finally {
      nl.close();
    }
  });
}

/** Its bridge, its NAT table and its directory, whatever of them is there. Call with the networks' lock held. */
function takeDown(root: string, r: NetworkRecord, nl: NetlinkSocket): void {
  withNetworkLock(`${root}/${r.name}`, (lockFd) => takeDownLocked(root, r, nl, lockFd), false);
}

/** takeDown with the network's own lock held too, on `lockFd`: marked first, removed last, all in one hold of it. */
function takeDownLocked(root: string, r: NetworkRecord, nl: NetlinkSocket, lockFd: number): void {
  writeRecord(root, { ...r, removing: true });
  if (nftPath()) runNft(deleteTableScript(natTableName(r.id)) + deleteTableScript6(natTableName(r.id)), `remove the NAT tables of network ${r.name}`, lockFd);
  removeBridge(nl, r.bridge);
  // Removed while its lock is held: whoever waits for it then finds no network, and makes no directory.
  removeTree(`${root}/${r.name}`);
}

/** Networks a killed `network create` or `network rm` left marked: taken down. Call with the networks' lock held. */
export function finishInterrupted(root: string): void {
  // A directory without its record: a create killed before it wrote one.
  for (const name of unrecorded(root)) removeTree(`${root}/${name}`);
  const marked = listRecords(root).filter((r) => r.pending || r.removing);
  if (!marked.length) return;
  const nl = NetlinkSocket.open(0);
  try {
    for (const r of marked) {
      try {
        takeDown(root, r, nl);
      } catch (e) {
        void log.warn(`finish removing network ${r.name}: ${(e as Error).message}`);
      }
    }
  } finally {
    nl.close();
  }
}

/** Directories of networks with no record in them. */
export function unrecorded(root: string): string[] {
  return listDir(root).filter((n) => mayBeNetworkName(n) && fileType(`${root}/${n}`) === "dir" && !readRecord(root, n));
}

/** A network by name or id, whole (not being made or removed), or a 125 error naming the reference. */
export function networkByRef(ref: string, what = `network ${ref}`): NetworkRecord {
  const r = findRecord(networksRoot(), ref);
  if (!r || r.pending || r.removing) throw new NetworkError(`${what}: no such network`);
  return r;
}

export interface NetworkUse {
  record: NetworkRecord;
  leases: Lease[];
}

/**
 * bunker network rm: refused while a container uses it, naming them; what
 * dead containers held is freed first. The leases are looked at and the
 * network taken down in one hold of its lock, so no container joins between.
 */
export function removeNetwork(ref: string): NetworkRecord {
  const root = networksRoot();
  return withNetworksLock(root, () => {
    const r = networkByRef(ref);
    const dir = `${root}/${r.name}`;
    const nl = NetlinkSocket.open(0);
    try {
      withNetworkLock(
        dir,
        (lockFd) => {
          reconcileLeases(dir, natTableName(r.id), lockFd, (l) => withdraw(r, l.id));
          const users = listLeases(dir);
          if (users.length) {
            const names = users.map((l) => l.name ?? l.id.slice(0, 12));
            const them = names.length === 1 ? "it" : "them";
            throw new NetworkError(`network ${r.name} is in use by container${names.length === 1 ? "" : "s"} ${names.join(", ")}: stop ${them} or disconnect ${them} first`);
          }
          takeDownLocked(root, r, nl, lockFd);
        },
        false,
      );
    } finally {
      nl.close();
    }
    return r;
  });
}

/** Every network made by `network create`, with its leases. */
export function listNetworks(): NetworkUse[] {
  const root = networksRoot();
  return listRecords(root)
    .filter((r) => !r.pending && !r.removing)
    .map((record) => ({ record, leases: listLeases(`${root}/${record.name}`) }));
}
