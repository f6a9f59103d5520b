// What a container's network starts from on this host: the resolvers it
// may use, and the user-mode helper a rootless container gets by default.

import { helperPath, tunProblem } from "../net/helpers";
import type { NetworkMode } from "../spec/types";
import { readText } from "../sys/fs";

/** Nameservers the container can use: the host's, without loopback ones; else `fallback`. */
export function resolvConf(hostText: string | null, fallback: readonly string[]): string {
  const lines = (hostText ?? "").split("\n");
  const servers = lines.filter((l) => /^\s*nameserver\s+/.test(l)).map((l) => l.trim().split(/\s+/)[1]!).filter((ip) => !/^127\.|^::1$/.test(ip));
  return resolvConfOf(hostText, servers.length ? servers : fallback);
}

/** The host's search, options and domain lines with `servers` as the nameservers. */
export function resolvConfOf(hostText: string | null, servers: readonly string[]): string {
  const other = (hostText ?? "").split("\n").filter((l) => /^\s*(search|options|domain)\s/.test(l)).map((l) => l.trim());
  return [...other, ...servers.map((s) => `nameserver ${s}`), ""].join("\n");
}

export function hostResolv(): string | null {
  try {
    return readText("/etc/resolv.conf");
  } catch {
    // none on the host: the public resolvers are used
    return null;
  }
}

/** docker's fallback when the host has only loopback nameservers. */
export const PUBLIC_DNS = ["8.8.8.8", "8.8.4.4"];

/**
 * The rootless default: slirp4netns, else pasta, else none with the reason.
 * slirp4netns first: it reports readiness on a pipe and starts in about half
 * of pasta's time (bench/startup.ts).
 */
export function privateMode(root: boolean, pathVar: string): { mode: NetworkMode; notice?: string } {
  if (root) return { mode: "bridge" };
  const tun = tunProblem();
  for (const name of ["slirp4netns", "pasta"] as const) if (helperPath(name, pathVar) && !tun) return { mode: name };
  if (tun) return { mode: "none", notice: `no network for the container (only lo): ${tun}` };
  return { mode: "none", notice: "no network for the container (only lo): neither pasta nor slirp4netns is installed: install the passt or slirp4netns package" };
}
