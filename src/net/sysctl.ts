// The kernel's network settings a bridge needs, read and written under
// /proc/sys/net. They belong to the network namespace of the thread that
// opens the file: the host's for root, the rootless network namespace's there.

import { readText, writeValue } from "../sys/fs";
import type { NetlinkSocket } from "../sys/netlink";
import { RTPROT } from "../sys/constants";
import { routes6 } from "./rtnl";
import { BunkerError } from "../errors";

export class SysctlError extends BunkerError {
  override name = "SysctlError";
}

/** `path` under /proc/sys with slashes (net/ipv6/conf/bk-1a2b/disable_ipv6): a link's name may hold a dot. */
const nameOf = (path: string) => path.replaceAll(".", "\u0000").replaceAll("/", ".").replaceAll("\u0000", "/");

export function readSysctl(path: string): string | undefined {
  try {
    return readText(`/proc/sys/${path}`, 4096).trim();
  } catch {
    // no such setting (IPv6 off in this kernel, a link that is gone)
    return undefined;
  }
}

/** Writes `value` unless it is already so: a setting that needs no change needs no privilege. */
export function setSysctl(path: string, value: string): void {
  if (readSysctl(path) === value) return;
  try {
    writeValue(`/proc/sys/${path}`, `${value}\n`);
  } catch (e) {
    const why = e instanceof Error ? e.message.replace(/^.*?: /, "") : String(e);
    throw new SysctlError(`set ${nameOf(path)} to ${value}: ${why}`);
  }
}

/** Routing between the bridges and out of the host, for IPv6 (ip_forward's counterpart). */
export function enableIpv6Forwarding(): void {
  if (readSysctl("net/ipv6/conf/all/forwarding") === undefined) throw new SysctlError("set net.ipv6.conf.all.forwarding to 1: this kernel has no IPv6 (booted with ipv6.disable=1?)");
  setSysctl("net/ipv6/conf/all/forwarding", "1");
}

/**
 * IPv6 on `link`: a new link takes net.ipv6.conf.default.disable_ipv6,
 * which some hosts set to 1, and then refuses every IPv6 address.
 */
export function enableIpv6On(link: string): void {
  setSysctl(`net/ipv6/conf/${link}/disable_ipv6`, "0");
}

/**
 * Links whose IPv6 default route came from a router advertisement and that
 * take advertisements only while the host does not forward (accept_ra 1):
 * once forwarding is on they ignore them, and the host loses that default
 * route when it expires. accept_ra 2 would keep it, but that is the host
 * owner's choice: the caller warns, naming them, before turning forwarding on.
 */
export function linksLosingRouterAdverts(nl: NetlinkSocket): string[] {
  if (readSysctl("net/ipv6/conf/all/forwarding") !== "0") return [];
  // This thread's network namespace, like the netlink socket's: every link with an RA route has a link-local address.
  const names = new Map<number, string>();
  for (const line of readText("/proc/thread-self/net/if_inet6").split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length === 6) names.set(parseInt(f[1]!, 16), f[5]!);
  }
  const out = new Set<string>();
  for (const r of routes6(nl)) {
    const name = r.prefix === 0 && r.protocol === RTPROT.RA && r.oif !== undefined ? names.get(r.oif) : undefined;
    if (name && readSysctl(`net/ipv6/conf/${name}/accept_ra`) === "1") out.add(name);
  }
  return [...out];
}
