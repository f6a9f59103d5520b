// A container on networks made by `network create` (--network NAME, and
// `network connect|disconnect` while it runs): per network a lease, written
// before anything is done on the host in its name, then the bridge made
// whole if it went missing, the published ports' NAT elements (on the first
// network only), the veth, and the name in the network's DNS. Leases name
// their veth, so whatever a killed bunker left is found and undone from them.

import { openNamespaceOf } from "./namespaces";
import { log } from "../log";
import { BunkerError } from "../errors";
import { attachVeth, detachLink, type VethPlan } from "../net/bridge";
import { allocate, listLeases, withNetworkLock, type Lease } from "../net/ipam";
import { natTableName, readRecord, type NetworkRecord } from "../net/networks";
import { parseIp, parseSubnet } from "../net/addr";
import { formatIp6, nthHost6, parseSubnet6 } from "../net/addr6";
import { linkIndex, routes } from "../net/rtnl";
import { reservePorts, type Reservation } from "../net/ports";
import { nftPath } from "../net/nat";
import type { NetworkAttachment, PortMapping } from "../spec/types";
import { mayBeNetworkName } from "../spec/validate";
import { NetlinkSocket, openInNamespace } from "../sys/netlink";
import { closeFd } from "../sys/libc";
import { Errno, SysError } from "../sys/errno";
import { listDir, readText, writeAtomic } from "../sys/fs";
import { guardBridge, leaseVeth, namespaceOutlives, publish, reconcileLeases, undoLease } from "./network-leases";
import { makeNetworkBridge, natOf, networkByRef, networksRoot } from "./networks";
import { announce, namesAvailable, withdraw } from "./network-dns";
import { containerDir, type AttachedNetwork } from "./store";

const SLOTS = "0123456789abcdefghijklmnopqrstuvwxyz";

/** The veth host end for a container's slot: bk<id><slot>, 15 characters (the default bridge's is bk<id>). */
const slotVeth = (id: string, slot: string) => `bk${id.slice(0, 12)}${slot}`;

/** Where a container's networks are kept across starts once connect or disconnect changed them (under its lock); read at each start, the spec's otherwise. */
const attachmentsPath = (id: string) => `${containerDir(id)}/networks.json`;

export function readAttachments(id: string, fallback: readonly NetworkAttachment[]): NetworkAttachment[] {
  try {
    const list = JSON.parse(readText(attachmentsPath(id), 1 << 16)) as NetworkAttachment[];
    if (Array.isArray(list) && list.every((a) => typeof a?.name === "string")) return list;
  } catch {
    // none written: the spec's
  }
  return [...fallback];
}

export function writeAttachments(id: string, list: readonly NetworkAttachment[]): void {
  writeAtomic(attachmentsPath(id), JSON.stringify(list));
}

/** Every lease the container holds, on every network made by `network create`. */
function leasesOf(id: string): { record: NetworkRecord; lease: Lease }[] {
  const root = networksRoot();
  const out: { record: NetworkRecord; lease: Lease }[] = [];
  for (const name of listNetworkNames()) {
    const record = readRecord(root, name);
    if (!record) continue;
    for (const lease of listLeases(`${root}/${name}`)) if (lease.id === id) out.push({ record, lease });
  }
  return out;
}

function listNetworkNames(): string[] {
  return listDir(networksRoot()).filter(mayBeNetworkName);
}

/** The bridge's index, the bridge made again if it went missing (a reboot, `ip link del`). Call with the network's lock held. */
function bridgeIndex(nl: NetlinkSocket, r: NetworkRecord, lockFd: number): number {
  const index = linkIndex(nl, r.bridge);
  if (index !== null) return index;
  void log.warn(`bridge ${r.bridge} of network ${r.name} was missing: made again`);
  return makeNetworkBridge(nl, r, lockFd);
}

/** withNetworkLock for a network made by `network create`: one removed meanwhile is no such network, and is not made again. */
function lockedNetwork<T>(dir: string, ref: string, fn: (lockFd: number) => T): T {
  try {
    return withNetworkLock(dir, fn, false);
  } catch (e) {
    if (e instanceof SysError && e.errno === Errno.ENOENT) throw new BunkerError(`--network ${ref}: no such network`);
    throw e;
  }
}

/**
 * A container's IPv6 address: its IPv4 address's place in the subnet, the
 * same place in the IPv6 one (past its gateway, the first), so unique as the
 * IPv4 lease is. `network create` makes the IPv6 subnet at least as large.
 */
function ip6For(r: NetworkRecord, place: number): string {
  const ip6 = nthHost6(parseSubnet6(r.subnet6!), place);
  if (ip6 === undefined || formatIp6(ip6) === r.gateway6) throw new BunkerError(`network ${r.name}: no IPv6 address in ${r.subnet6} for the container's place ${place} in ${r.subnet}`);
  return formatIp6(ip6);
}

interface Placed {
  record: NetworkRecord;
  lease: Lease;
  bridgeIndex: number;
}

/**
 * Takes a lease on `a`'s network (and its ports' NAT elements), the bridge
 * made whole first. The network must still be there once its lock is held:
 * a `network rm` may have taken it in between.
 */
function place(nl: NetlinkSocket, a: NetworkAttachment, id: string, name: string | undefined, slot: string, ifname: string, ports: readonly PortMapping[]): Placed {
  const found = networkByRef(a.name, `--network ${a.name}`);
  const root = networksRoot();
  const dir = `${root}/${found.name}`;
  return lockedNetwork(dir, a.name, (lockFd) => {
    const record = readRecord(root, found.name);
    if (!record || record.pending || record.removing) throw new BunkerError(`--network ${a.name}: no such network`);
    const table = natTableName(record.id);
    reconcileLeases(dir, table, lockFd, (l) => withdraw(record, l.id));
    if (listLeases(dir).some((l) => l.id === id)) throw new BunkerError(`container ${name ?? id} is already on network ${record.name}`);
    const index = bridgeIndex(nl, record, lockFd);
    const nat = record.nat && nftPath() ? natOf(record) : undefined;
    guardBridge(dir, nat, record.bridge, lockFd);
    const subnet = parseSubnet(record.subnet);
    const lease = allocate(dir, subnet, id, ports, a.ip, record.gateway, (ip) => ({
      ...(name !== undefined ? { name } : {}),
      aliases: [...(a.aliases ?? [])],
      veth: slotVeth(id, slot),
      ifname,
      // The IPv6 address follows the IPv4 one: unique as it is, and known from it.
      ...(record.subnet6 ? { ip6: ip6For(record, parseIp(ip) - subnet.base) } : {}),
    }));
    if (lease.ports.length) publish(lease, table, lockFd);
    return { record, lease, bridgeIndex: index };
  });
}

/** Gives back a lease: its NAT elements, its DNS name, its veth when the namespace lives on. */
function unplace(p: { record: NetworkRecord; lease: Lease }, veth: boolean): void {
  const dir = `${networksRoot()}/${p.record.name}`;
  withdraw(p.record, p.lease.id);
  if (veth) {
    const nl = NetlinkSocket.open(0);
    try {
      detachLink(nl, leaseVeth(p.lease));
    } catch (e) {
      void log.warn(`remove the veth of ${p.lease.id}: ${(e as Error).message}`);
    } finally {
      nl.close();
    }
  }
  lockedNetwork(dir, p.record.name, (lockFd) => {
    // Only this container's own lease: the address may be someone else's by now if it was freed.
    if (listLeases(dir).some((l) => l.ip === p.lease.ip && l.id === p.lease.id)) undoLease(dir, p.lease, natTableName(p.record.id), lockFd);
  });
}

const attached = (p: Placed): AttachedNetwork => ({
  name: p.record.name,
  id: p.record.id,
  ip: p.lease.ip,
  gateway: p.record.gateway,
  subnet: p.record.subnet,
  ...(p.lease.ip6 ? { ip6: p.lease.ip6, gateway6: p.record.gateway6!, subnet6: p.record.subnet6! } : {}),
  aliases: p.lease.aliases ?? [],
  ifname: p.lease.ifname!,
  veth: p.lease.veth!,
});

/** Where the lease's veth goes, with the addresses of both families and, if `route`, the default routes through this network. */
function vethPlan(p: Placed, inside: string, route: boolean): VethPlan {
  const v6 = p.lease.ip6 && p.record.subnet6 ? { ip6: p.lease.ip6, prefix6: parseSubnet6(p.record.subnet6).prefix, ...(route ? { defaultVia6: p.record.gateway6! } : {}) } : {};
  return { bridgeIndex: p.bridgeIndex, host: p.lease.veth!, inside, ip: p.lease.ip, prefix: parseSubnet(p.record.subnet).prefix, ...(route ? { defaultVia: p.record.gateway } : {}), ...v6 };
}

export interface PreparedNamed {
  networks: AttachedNetwork[];
  ports: PortMapping[];
  attach(pid: number): Promise<void>;
  release(): void;
  held(): readonly number[];
}

/** --network NAME...: leases on each network before clone; veths and DNS names while the child waits. */
export function prepareNamed(id: string, name: string | undefined, list: readonly NetworkAttachment[], wanted: readonly PortMapping[], names: boolean): PreparedNamed {
  const placed: Placed[] = [];
  let reservation: Reservation | undefined;
  let plumbed = false;
  const nl = NetlinkSocket.open(0);
  const release = () => {
    const outlives = plumbed && namespaceOutlives(id);
    for (const p of placed.splice(0)) {
      try {
        unplace(p, outlives);
      } catch (e) {
        void log.warn(`leave network ${p.record.name}: ${(e as Error).message}`);
      }
    }
    plumbed = false;
    reservation?.release();
    reservation = undefined;
  };
  try {
    if (wanted.length && list.length) {
      const first = networkByRef(list[0]!.name, `--network ${list[0]!.name}`);
      if (first.internal) throw new BunkerError(`-p: network ${first.name} is internal: nothing is published from it`);
      if (!first.nat || !nftPath()) throw new BunkerError("-p needs NAT rules, and nft is not installed: install the nftables package");
    }
    reservation = reservePorts(wanted, true);
    list.forEach((a, i) => placed.push(place(nl, a, id, name, SLOTS[i]!, `eth${i}`, i === 0 ? reservation!.ports : [])));
  } catch (e) {
    release();
    nl.close();
    throw e;
  }
  // The default route through the first network that leads out.
  const routed = placed.find((p) => !p.record.internal);
  return {
    networks: placed.map(attached),
    ports: placed[0]?.lease.ports ?? [],
    attach: async (pid) => {
      plumbed = true;
      for (const p of placed) {
        attachVeth(nl, vethPlan(p, p.lease.ifname!, p === routed), pid);
        if (names) announce(p.record, p.lease);
      }
    },
    release: () => {
      release();
      nl.close();
    },
    held: () => reservation?.fds() ?? [],
  };
}

/**
 * The steps of prepareNamed one at a time, for a user's container, whose
 * networks' bridges are in their rootless network namespace: each is run
 * there by its own `bunker __netns` (see network-rootless.ts). Published
 * ports are slirp4netns's there, not NAT elements: none are leased.
 */
export function placeAll(id: string, name: string | undefined, list: readonly NetworkAttachment[]): AttachedNetwork[] {
  const nl = NetlinkSocket.open(0);
  const placed: Placed[] = [];
  try {
    list.forEach((a, i) => placed.push(place(nl, a, id, name, SLOTS[i]!, `eth${i}`, [])));
    return placed.map(attached);
  } catch (e) {
    for (const p of placed) unplace(p, false);
    throw e;
  } finally {
    nl.close();
  }
}

/** The veths of the container's leases into process `pid`'s network namespace, in the order placeAll took them, and their names. */
export function plumbAll(id: string, pid: number, names: boolean, nsFd?: number): void {
  const mine = leasesOf(id).sort((a, b) => (a.lease.ifname ?? "").localeCompare(b.lease.ifname ?? "", undefined, { numeric: true }));
  const nl = NetlinkSocket.open(0);
  try {
    const placed = mine.map(({ record, lease }) => ({ record, lease, bridgeIndex: lockedNetwork(`${networksRoot()}/${record.name}`, record.name, (lockFd) => bridgeIndex(nl, record, lockFd)) }));
    const routed = placed.find((p) => !p.record.internal);
    for (const p of placed) {
      attachVeth(nl, { ...vethPlan(p, p.lease.ifname!, p === routed), ...(nsFd !== undefined ? { nsFd } : {}) }, pid);
      if (names) announce(p.record, p.lease);
    }
  } finally {
    nl.close();
  }
}

/** Gives back every lease of the container (its veths too when its namespace lives on). */
export function releaseAll(id: string): void {
  const outlives = namespaceOutlives(id);
  for (const p of leasesOf(id)) {
    try {
      unplace(p, outlives);
    } catch (e) {
      void log.warn(`leave network ${p.record.name}: ${(e as Error).message}`);
    }
  }
}

/** A netlink socket in the network namespace of process `pid`. */
function socketIn(pid: number): NetlinkSocket {
  const nsFd = openNamespaceOf(pid, "net");
  try {
    return openInNamespace(0, nsFd);
  } finally {
    closeFd(nsFd);
  }
}

/** bunker network connect: a running container joins a network now (the first free ethN, the first free veth slot). */
export function connectRunning(id: string, name: string | undefined, pid: number, a: NetworkAttachment, nsFd?: number): AttachedNetwork {
  const mine = leasesOf(id);
  const slot = [...SLOTS].find((c) => !mine.some((m) => m.lease.veth === slotVeth(id, c)));
  if (!slot) throw new BunkerError(`container ${name ?? id} is on too many networks`);
  const inner = nsFd !== undefined ? openInNamespace(0, nsFd) : socketIn(pid);
  let ifname: string;
  let routed: boolean;
  try {
    let n = 0;
    while (linkIndex(inner, `eth${n}`) !== null) n++;
    ifname = `eth${n}`;
    routed = hasDefaultRoute(inner);
  } finally {
    inner.close();
  }
  const nl = NetlinkSocket.open(0);
  try {
    const p = place(nl, a, id, name, slot, ifname, []);
    try {
      attachVeth(nl, { ...vethPlan(p, ifname, !routed && !p.record.internal), ...(nsFd !== undefined ? { nsFd } : {}) }, pid);
      if (namesAvailable(p.record.name)) announce(p.record, p.lease);
    } catch (e) {
      unplace(p, true);
      throw e;
    }
    return attached(p);
  } finally {
    nl.close();
  }
}

function hasDefaultRoute(nl: NetlinkSocket): boolean {
  return routes(nl).some((r) => r.prefix === 0);
}

/** bunker network disconnect of a running container: its veth on that network goes, and its lease and name. */
export function disconnectRunning(id: string, record: NetworkRecord): boolean {
  const hit = leasesOf(id).find((m) => m.record.id === record.id);
  if (!hit) return false;
  unplace(hit, true);
  return true;
}
