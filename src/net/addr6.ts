// IPv6 addresses and subnets as 128-bit bigints, parsed and printed
// (RFC 4291 text forms in, RFC 5952's canonical form out), and the unique
// local /64 a network gets when --ipv6 names no subnet.

import { AddressError, parseIp } from "./addr";

export type Ipv6 = bigint;

export interface Subnet6 {
  base: Ipv6;
  prefix: number;
}

const ALL = (1n << 128n) - 1n;

function parseGroups(part: string, s: string): number[] {
  if (part === "") return [];
  const out: number[] = [];
  const words = part.split(":");
  for (const [i, w] of words.entries()) {
    // A dotted quad may stand for the last two groups (::ffff:192.0.2.1).
    if (i === words.length - 1 && w.includes(".")) {
      let v4: number;
      try {
        v4 = parseIp(w);
      } catch {
        throw new AddressError(`"${s}" is not an IPv6 address`);
      }
      out.push(v4 >>> 16, v4 & 0xffff);
    } else if (/^[0-9a-fA-F]{1,4}$/.test(w)) out.push(parseInt(w, 16));
    else throw new AddressError(`"${s}" is not an IPv6 address`);
  }
  return out;
}

export function parseIp6(s: string): Ipv6 {
  const bad = () => new AddressError(`"${s}" is not an IPv6 address`);
  // A zone (fe80::1%eth0) names a link, which a network's address never has.
  if (s.length > 45 || s.includes("%")) throw bad();
  const halves = s.split("::");
  if (halves.length > 2) throw bad();
  const head = parseGroups(halves[0]!, s);
  const tail = halves.length === 2 ? parseGroups(halves[1]!, s) : [];
  // The dotted quad may only end the address.
  if (halves.length === 2 && halves[0]!.includes(".")) throw bad();
  let groups: number[];
  if (halves.length === 2) {
    // "::" stands for at least one group of zeros.
    if (head.length + tail.length > 7) throw bad();
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    if (head.length !== 8) throw bad();
    groups = head;
  }
  return groups.reduce((n, g) => (n << 16n) | BigInt(g), 0n);
}

export function groupsOf(ip: Ipv6): number[] {
  const out: number[] = [];
  for (let i = 7; i >= 0; i--) out.push(Number((ip >> BigInt(i * 16)) & 0xffffn));
  return out;
}

/**
 * RFC 5952: lower case, no leading zeros, the longest run of two or more zero
 * groups (the first of equal runs) as "::", and an IPv4-mapped address with
 * its dotted quad, as `ip addr` and docker print them.
 */
export function formatIp6(ip: Ipv6): string {
  const g = groupsOf(ip);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return `::ffff:${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
  }
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** The 16 bytes of an address, in network order, as netlink and sockets take them. */
export function ip6Bytes(ip: Ipv6): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = Number((ip >> BigInt((15 - i) * 8)) & 0xffn);
  return out;
}

export function ip6FromBytes(b: Uint8Array): Ipv6 {
  let n = 0n;
  for (let i = 0; i < 16; i++) n = (n << 8n) | BigInt(b[i] ?? 0);
  return n;
}

export const maskOf6 = (prefix: number): Ipv6 => (prefix === 0 ? 0n : (ALL << BigInt(128 - prefix)) & ALL);

/**
 * "fd00:1:2:3::/64"; host bits must be zero. Containers get addresses by
 * number, not by SLAAC, so the prefix may be longer than /64, up to /120
 * (a gateway and a few containers); shorter than /48 is refused as almost
 * surely a mistake for one bridge.
 */
export function parseSubnet6(s: string): Subnet6 {
  const m = s.match(/^([0-9a-fA-F:.]+)\/(\d{1,3})$/);
  if (!m) throw new AddressError(`"${s}" is not an IPv6 subnet: use ADDRESS/PREFIX, like fd00:1:2:3::/64`);
  const base = parseIp6(m[1]!);
  const prefix = Number(m[2]);
  if (prefix < 48 || prefix > 120) throw new AddressError(`subnet ${s}: the prefix must be between /48 and /120`);
  if ((base & ~maskOf6(prefix) & ALL) !== 0n) {
    throw new AddressError(`subnet ${s}: the address has host bits set (did you mean ${formatIp6(base & maskOf6(prefix))}/${prefix}?)`);
  }
  return { base, prefix };
}

export const formatSubnet6 = (s: Subnet6) => `${formatIp6(s.base)}/${s.prefix}`;

export const contains6 = (s: Subnet6, ip: Ipv6): boolean => (ip & maskOf6(s.prefix)) === s.base;

export function overlaps6(a: Subnet6, b: Subnet6): boolean {
  const m = maskOf6(Math.min(a.prefix, b.prefix));
  return (a.base & m) === (b.base & m);
}

/** The bridge's own address: the first after the subnet-router anycast address (the subnet's base). */
export const gatewayOf6 = (s: Subnet6): Ipv6 => s.base + 1n;

/** Addresses containers may get: after the gateway to the end (IPv6 has no broadcast address). */
export function hostRange6(s: Subnet6): { first: Ipv6; last: Ipv6 } {
  return { first: s.base + 2n, last: s.base | (~maskOf6(s.prefix) & ALL) };
}

/** The `n`th container address (1 is the first after the gateway), or undefined past the end. */
export function nthHost6(s: Subnet6, n: number | bigint): Ipv6 | undefined {
  const { first, last } = hostRange6(s);
  const ip = first + BigInt(n) - 1n;
  return BigInt(n) >= 1n && ip <= last ? ip : undefined;
}

/** How far into the subnet's host addresses `ip` is (nthHost6's inverse), or undefined outside them. */
export function hostNumber6(s: Subnet6, ip: Ipv6): bigint | undefined {
  const { first, last } = hostRange6(s);
  return ip >= first && ip <= last ? ip - first + 1n : undefined;
}

/** Unique local addresses, RFC 4193: fd00::/8 with a 40-bit global ID. */
export const ULA: Subnet6 = { base: 0xfdn << 120n, prefix: 8 };

const hashed40 = (s: string) => new Bun.CryptoHasher("sha256").update(s).digest("hex").slice(0, 10);

/**
 * Candidates for a network's default IPv6 subnet, in order: first the /64
 * whose global ID is the first 40 bits of the network's id (a user can tell
 * from `fd1a:2b3c:4d5e::/64` which network it is), then others drawn from
 * the id's hash, should the host route the first already.
 */
export function defaultSubnets6(networkId: string, count = 16): Subnet6[] {
  const out: Subnet6[] = [];
  for (let k = 0; k < count; k++) {
    const own = networkId.toLowerCase().match(/^[0-9a-f]{10}/)?.[0];
    const id = k === 0 && own ? own : hashed40(`${networkId}:${k}`);
    out.push({ base: (0xfdn << 120n) | (BigInt(`0x${id}`) << 80n), prefix: 64 });
  }
  return out;
}

/** The first candidate that overlaps no subnet in `used` (the host's routes and addresses). */
export function pickSubnet6(candidates: readonly Subnet6[], used: readonly Subnet6[]): Subnet6 | undefined {
  return candidates.find((c) => !used.some((u) => overlaps6(c, u)));
}
