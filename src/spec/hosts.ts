// What --add-host, --dns, --dns-search and --dns-option put in a container's
// /etc/hosts and /etc/resolv.conf, checked as docker checks them.

import { isIP } from "node:net";
import type { DnsSettings, ExtraHost } from "./types";
import { SpecError } from "./validate";

/** --add-host NAME:IP (or NAME=IP); IP may be host-gateway, and an IPv6 one may be in brackets. */
export function parseAddHost(value: string): ExtraHost {
  const at = value.search(/[:=]/);
  const name = at > 0 ? value.slice(0, at) : "";
  const ip = at > 0 ? value.slice(at + 1).replace(/^\[(.*)\]$/, "$1") : "";
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(name)) throw new SpecError(`--add-host ${value}: give NAME:IP, with a host name (letters, digits, dots, dashes)`);
  if (ip !== "host-gateway" && isIP(ip) === 0) throw new SpecError(`--add-host ${value}: "${ip}" is not an IP address (or host-gateway)`);
  return { name, ip };
}

/** --dns, --dns-search, --dns-option; undefined when none is given. */
export function parseDns(servers: readonly string[], search: readonly string[], options: readonly string[]): DnsSettings | undefined {
  if (!servers.length && !search.length && !options.length) return undefined;
  for (const s of servers) if (isIP(s) === 0) throw new SpecError(`--dns ${s}: not an IP address`);
  for (const s of search) if (!/^(\.|[A-Za-z0-9]([A-Za-z0-9.-]{0,252}))$/.test(s)) throw new SpecError(`--dns-search ${s}: not a domain name`);
  for (const o of options) if (!/^[a-z][a-z0-9_-]*(:\d+)?$/.test(o)) throw new SpecError(`--dns-option ${o}: not a resolver option (ndots:2, edns0, ...)`);
  return { servers: [...servers], search: [...search], options: [...options] };
}

/**
 * resolv.conf with `dns` over `base` (the one bunker would write): its
 * nameservers, search domains and options each replace the base's when
 * given ("." as the only search domain clears them, as docker does).
 */
export function resolvConfWith(base: string, dns: DnsSettings): string {
  const lines = base.split("\n").filter((l) => l.trim() !== "");
  const keep = (word: string, given: boolean) => (l: string) => !(given && l.trim().startsWith(word));
  const out = lines.filter(keep("nameserver", dns.servers.length > 0)).filter(keep("search", dns.search.length > 0)).filter(keep("options", dns.options.length > 0));
  for (const s of dns.servers) out.push(`nameserver ${s}`);
  if (dns.search.length && !(dns.search.length === 1 && dns.search[0] === ".")) out.push(`search ${dns.search.join(" ")}`);
  if (dns.options.length) out.push(`options ${dns.options.join(" ")}`);
  return `${out.join("\n")}\n`;
}
