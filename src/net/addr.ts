// IPv4 addresses and subnets as numbers, parsed and printed.

import { BunkerError } from "../errors";

export type Ipv4 = number;

export interface Subnet {
  base: Ipv4;
  prefix: number;
}

export class AddressError extends BunkerError {
  override name = "AddressError";
}

export function parseIp(s: string): Ipv4 {
  const parts = s.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) throw new AddressError(`"${s}" is not an IPv4 address`);
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function formatIp(ip: Ipv4): string {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join(".");
}

export const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** "10.88.0.0/16"; host bits must be zero, and the subnet must leave room for a gateway and containers. */
export function parseSubnet(s: string): Subnet {
  const m = s.match(/^([0-9.]+)\/(\d{1,2})$/);
  if (!m) throw new AddressError(`"${s}" is not a subnet: use ADDRESS/PREFIX, like 10.88.0.0/16`);
  const base = parseIp(m[1]!);
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 29) throw new AddressError(`subnet ${s}: the prefix must be between /8 and /29`);
  if ((base & ~maskOf(prefix)) >>> 0 !== 0) throw new AddressError(`subnet ${s}: the address has host bits set (did you mean ${formatIp((base & maskOf(prefix)) >>> 0)}/${prefix}?)`);
  return { base, prefix };
}

export const formatSubnet = (s: Subnet) => `${formatIp(s.base)}/${s.prefix}`;

export function contains(s: Subnet, ip: Ipv4): boolean {
  return (ip & maskOf(s.prefix)) >>> 0 === s.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.base & maskOf(p)) >>> 0 === (b.base & maskOf(p)) >>> 0;
}

/** The bridge's own address: the first in the subnet. */
export const gatewayOf = (s: Subnet): Ipv4 => s.base + 1;

/** Addresses containers may get: after the gateway, before the broadcast address. */
export function hostRange(s: Subnet): { first: Ipv4; last: Ipv4 } {
  const size = 2 ** (32 - s.prefix);
  return { first: s.base + 2, last: s.base + size - 2 };
}
