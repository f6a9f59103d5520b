// rtnetlink requests bunker makes: links (bridge, veth), addresses, routes.
// Each names what it does and to which object, so a refusal reads
// `create veth bk1a2b3c: File exists`.

import { attr, attrString, attrU8, attrU32, concat, nested, parseAttrs, type NetlinkSocket } from "../sys/netlink";
import { AF_BRIDGE, AF_INET, AF_INET6, IFA, IFA_F_NODAD, IFF_UP, IFLA, IFLA_BRPORT_MODE, IFLA_INFO, NLM_F, RT_SCOPE_UNIVERSE, RT_TABLE_MAIN, RTA, RTM, RTN_UNICAST, RTPROT, VETH_INFO_PEER } from "../sys/constants";
import { IFADDRMSG_LAYOUT as IFADDR, IFINFOMSG_LAYOUT as IFINFO, RTMSG_LAYOUT as RTMSG } from "../sys/layouts";
import { Errno } from "../sys/errno";
import { randomBytes } from "../sys/libc";
import { formatIp, maskOf, type Ipv4 } from "./addr";
import { formatIp6, ip6Bytes, ip6FromBytes, type Ipv6, type Subnet6 } from "./addr6";


/** struct ifinfomsg */
function ifinfo(index = 0, flags = 0, change = 0): Uint8Array {
  const b = new Uint8Array(IFINFO.SIZE);
  const dv = new DataView(b.buffer);
  dv.setInt32(IFINFO.index, index, true);
  dv.setUint32(IFINFO.flags, flags, true);
  dv.setUint32(IFINFO.change, change, true);
  return b;
}

/** struct ifaddrmsg */
function ifaddr(prefix: number, index: number): Uint8Array {
  const b = new Uint8Array(IFADDR.SIZE);
  b[IFADDR.family] = AF_INET;
  b[IFADDR.prefixlen] = prefix;
  new DataView(b.buffer).setUint32(IFADDR.index, index, true);
  return b;
}

/** struct rtmsg */
function rtmsg(dstLen: number): Uint8Array {
  const b = new Uint8Array(RTMSG.SIZE);
  b[RTMSG.family] = AF_INET;
  b[RTMSG.dstLen] = dstLen;
  b[RTMSG.table] = RT_TABLE_MAIN;
  b[RTMSG.protocol] = RTPROT.BOOT;
  b[RTMSG.scope] = RT_SCOPE_UNIVERSE;
  b[RTMSG.type] = RTN_UNICAST;
  return b;
}

const ipBytes = (ip: Ipv4) => Uint8Array.of(ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255);

/** The index of the link called `name`, or null if there is none. */
export function linkIndex(nl: NetlinkSocket, name: string): number | null {
  try {
    const [m] = nl.request(`look up link ${name}`, RTM.GETLINK, 0, concat([ifinfo(), attrString(IFLA.IFNAME, name)]));
    return m ? new DataView(m.payload.buffer, m.payload.byteOffset).getInt32(IFINFO.index, true) : null;
  } catch (e) {
    if ((e as { errno?: number }).errno === Errno.ENODEV) return null;
    throw e;
  }
}

/**
 * A bridge with the MAC address `mac`. Given one, a bridge keeps it; left to
 * itself it takes the lowest of its ports' addresses, which changes as
 * containers come and go and strands the gateway address other containers
 * have in their ARP caches.
 */
export function createBridge(nl: NetlinkSocket, name: string, mac: Uint8Array): void {
  const info = nested(IFLA.LINKINFO, attrString(IFLA_INFO.KIND, "bridge"));
  nl.request(`create bridge ${name}`, RTM.NEWLINK, NLM_F.CREATE | NLM_F.EXCL, concat([ifinfo(), attrString(IFLA.IFNAME, name), attr(IFLA.ADDRESS, mac), info]));
}

export function setMac(nl: NetlinkSocket, index: number, name: string, mac: Uint8Array): void {
  nl.request(`set the MAC address of ${name}`, RTM.NEWLINK, 0, concat([ifinfo(index), attr(IFLA.ADDRESS, mac)]));
}

/** A random locally administered unicast MAC address. */
export function randomMac(): Uint8Array {
  const mac = randomBytes(6);
  mac[0] = (mac[0]! & 0xfe) | 0x02;
  return mac;
}

/**
 * A veth pair: `host` stays here, attached to the bridge `master`; its peer
 * is born in the network namespace of `pid` with the name `peer`.
 */
export function createVeth(nl: NetlinkSocket, host: string, peer: string, pid: number, master: number): void {
  const peerInfo = attr(VETH_INFO_PEER, concat([ifinfo(), attrString(IFLA.IFNAME, peer), attrU32(IFLA.NET_NS_PID, pid)]));
  const info = nested(IFLA.LINKINFO, attrString(IFLA_INFO.KIND, "veth"), nested(IFLA_INFO.DATA, peerInfo));
  nl.request(
    `create veth ${host}`,
    RTM.NEWLINK,
    NLM_F.CREATE | NLM_F.EXCL,
    concat([ifinfo(), attrString(IFLA.IFNAME, host), attrU32(IFLA.MASTER, master), info]),
  );
}

/**
 * Lets the bridge send a frame back out of the port it came in by. Where
 * br_netfilter is loaded, a packet a container sends to its own published
 * port through a host address is DNATed back to it while still in the
 * bridge, which then drops it as a frame for the port it came from.
 */
export function setHairpin(nl: NetlinkSocket, index: number, name: string): void {
  const msg = ifinfo(index);
  msg[IFINFO.family] = AF_BRIDGE;
  nl.request(`turn on hairpin mode of bridge port ${name}`, RTM.SETLINK, 0, concat([msg, nested(IFLA.PROTINFO, attrU8(IFLA_BRPORT_MODE, 1))]));
}

export function setUp(nl: NetlinkSocket, index: number, name: string): void {
  nl.request(`bring up ${name}`, RTM.NEWLINK, 0, ifinfo(index, IFF_UP, IFF_UP));
}

export function deleteLink(nl: NetlinkSocket, name: string): void {
  nl.request(`delete link ${name}`, RTM.DELLINK, 0, concat([ifinfo(), attrString(IFLA.IFNAME, name)]));
}

export function addAddress(nl: NetlinkSocket, index: number, name: string, ip: Ipv4, prefix: number): void {
  const broadcast = (ip | ~maskOf(prefix)) >>> 0;
  nl.request(
    `add address ${formatIp(ip)}/${prefix} to ${name}`,
    RTM.NEWADDR,
    NLM_F.CREATE | NLM_F.EXCL,
    concat([ifaddr(prefix, index), attr(IFA.LOCAL, ipBytes(ip)), attr(IFA.ADDRESS, ipBytes(ip)), attr(IFA.BROADCAST, ipBytes(broadcast))]),
  );
}

export function addDefaultRoute(nl: NetlinkSocket, gateway: Ipv4, index: number): void {
  nl.request(
    `add default route via ${formatIp(gateway)}`,
    RTM.NEWROUTE,
    NLM_F.CREATE | NLM_F.EXCL,
    concat([rtmsg(0), attr(RTA.GATEWAY, ipBytes(gateway)), attrU32(RTA.OIF, index)]),
  );
}

export interface Route {
  dst: Ipv4;
  prefix: number;
  gateway?: Ipv4;
  oif?: number;
}

const readIp = (b: Uint8Array) => ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;

/** IPv4 routes of the main table. */
export function routes(nl: NetlinkSocket): Route[] {
  const out: Route[] = [];
  // Without a protocol or type in the header: with strict checking the kernel takes them as filters.
  const header = new Uint8Array(RTMSG.SIZE);
  header[RTMSG.family] = AF_INET;
  header[RTMSG.table] = RT_TABLE_MAIN;
  for (const m of nl.dump("list routes", RTM.GETROUTE, header)) {
    if (m.payload[RTMSG.family] !== AF_INET) continue;
    const a = parseAttrs(m.payload.subarray(RTMSG.SIZE));
    const table = a.get(RTA.TABLE);
    const t = table ? new DataView(table.buffer, table.byteOffset).getUint32(0, true) : m.payload[RTMSG.table]!;
    if (t !== RT_TABLE_MAIN) continue;
    const dst = a.get(RTA.DST);
    const gw = a.get(RTA.GATEWAY);
    const oif = a.get(RTA.OIF);
    out.push({
      dst: dst ? readIp(dst) : 0,
      prefix: m.payload[RTMSG.dstLen]!,
      ...(gw ? { gateway: readIp(gw) } : {}),
      ...(oif ? { oif: new DataView(oif.buffer, oif.byteOffset).getUint32(0, true) } : {}),
    });
  }
  return out;
}

/** IPv4 addresses on the host's links, with their prefix lengths. */
export function addresses(nl: NetlinkSocket): { ip: Ipv4; prefix: number; index: number }[] {
  const out: { ip: Ipv4; prefix: number; index: number }[] = [];
  for (const m of nl.dump("list addresses", RTM.GETADDR, ifaddr(0, 0))) {
    if (m.payload[IFADDR.family] !== AF_INET) continue;
    const a = parseAttrs(m.payload.subarray(IFADDR.SIZE));
    const local = a.get(IFA.LOCAL) ?? a.get(IFA.ADDRESS);
    if (local) out.push({ ip: readIp(local), prefix: m.payload[IFADDR.prefixlen]!, index: new DataView(m.payload.buffer, m.payload.byteOffset).getUint32(IFADDR.index, true) });
  }
  return out;
}

// IPv6: the same requests for AF_INET6. An address is added without
// duplicate address detection (IFA_F_NODAD), so it can be used at once
// rather than after a second of "tentative"; the kernel adds the on-link
// route of its prefix itself (IFA_F_NOPREFIXROUTE is not set).


/** struct ifaddrmsg for AF_INET6 */
function ifaddr6(prefix: number, index: number): Uint8Array {
  const b = ifaddr(prefix, index);
  b[IFADDR.family] = AF_INET6;
  return b;
}

/** struct rtmsg for AF_INET6 */
function rtmsg6(dstLen: number): Uint8Array {
  const b = rtmsg(dstLen);
  b[RTMSG.family] = AF_INET6;
  return b;
}

/**
 * A route dump's header: with strict checking the kernel takes its protocol
 * and type as filters, so a request's RTPROT_BOOT would leave out the routes
 * the kernel made (proto kernel) and those a user added (proto static).
 */
function rtmsg6Dump(): Uint8Array {
  const b = new Uint8Array(RTMSG.SIZE);
  b[RTMSG.family] = AF_INET6;
  b[RTMSG.table] = RT_TABLE_MAIN;
  return b;
}

export function addAddress6(nl: NetlinkSocket, index: number, name: string, ip: Ipv6, prefix: number): void {
  const msg = ifaddr6(prefix, index);
  msg[IFADDR.flags] = IFA_F_NODAD;
  nl.request(
    `add address ${formatIp6(ip)}/${prefix} to ${name}`,
    RTM.NEWADDR,
    NLM_F.CREATE | NLM_F.EXCL,
    concat([msg, attr(IFA.ADDRESS, ip6Bytes(ip)), attrU32(IFA.FLAGS, IFA_F_NODAD)]),
  );
}

export function addDefaultRoute6(nl: NetlinkSocket, gateway: Ipv6, index: number): void {
  nl.request(
    `add IPv6 default route via ${formatIp6(gateway)}`,
    RTM.NEWROUTE,
    NLM_F.CREATE | NLM_F.EXCL,
    concat([rtmsg6(0), attr(RTA.GATEWAY, ip6Bytes(gateway)), attrU32(RTA.OIF, index)]),
  );
}

export interface Route6 {
  dst: Ipv6;
  prefix: number;
  /** Who made it: RTPROT_RA (9) for one learned from a router advertisement. */
  protocol: number;
  gateway?: Ipv6;
  oif?: number;
}

const u32At = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getUint32(0, true);

/** IPv6 routes of the main table (the default route among them, with prefix 0). */
export function routes6(nl: NetlinkSocket): Route6[] {
  const out: Route6[] = [];
  for (const m of nl.dump("list IPv6 routes", RTM.GETROUTE, rtmsg6Dump())) {
    if (m.payload[RTMSG.family] !== AF_INET6) continue;
    const a = parseAttrs(m.payload.subarray(RTMSG.SIZE));
    const table = a.get(RTA.TABLE);
    if ((table ? u32At(table) : m.payload[RTMSG.table]!) !== RT_TABLE_MAIN) continue;
    const dst = a.get(RTA.DST);
    const gw = a.get(RTA.GATEWAY);
    const oif = a.get(RTA.OIF);
    out.push({
      dst: dst ? ip6FromBytes(dst) : 0n,
      prefix: m.payload[RTMSG.dstLen]!,
      protocol: m.payload[RTMSG.protocol]!,
      ...(gw ? { gateway: ip6FromBytes(gw) } : {}),
      ...(oif ? { oif: u32At(oif) } : {}),
    });
  }
  return out;
}

/** IPv6 addresses on the links, with their prefix lengths (link-local ones too). */
export function addresses6(nl: NetlinkSocket): { ip: Ipv6; prefix: number; index: number }[] {
  const out: { ip: Ipv6; prefix: number; index: number }[] = [];
  for (const m of nl.dump("list IPv6 addresses", RTM.GETADDR, ifaddr6(0, 0))) {
    if (m.payload[IFADDR.family] !== AF_INET6) continue;
    const a = parseAttrs(m.payload.subarray(IFADDR.SIZE));
    const local = a.get(IFA.LOCAL) ?? a.get(IFA.ADDRESS);
    if (local) out.push({ ip: ip6FromBytes(local), prefix: m.payload[IFADDR.prefixlen]!, index: new DataView(m.payload.buffer, m.payload.byteOffset).getUint32(IFADDR.index, true) });
  }
  return out;
}

/**
 * What a new network's IPv6 subnet must not overlap: every route of the
 * host but the default one, and every address of it (as a /128).
 */
export function hostSubnets6InUse(nl: NetlinkSocket): Subnet6[] {
  const used: Subnet6[] = [];
  for (const r of routes6(nl)) if (r.prefix > 0) used.push({ base: r.dst, prefix: r.prefix });
  for (const a of addresses6(nl)) used.push({ base: a.ip, prefix: 128 });
  return used;
}
