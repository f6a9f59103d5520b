// Which UDP sockets a process has bound to a port, from /proc: how bunker
// sees aardvark-dns serve a gateway (it says nothing itself), and who holds
// a port it could not bind.

import { AF_INET, SOCK_CLOEXEC, SOCK_DGRAM } from "../sys/constants";
import { Errno, errnoMessage } from "../sys/errno";
import { listDir, readLink, readText } from "../sys/fs";
import { closeFd, trySys } from "../sys/libc";
import { ipv6Text } from "./dns-message";
import { sockaddr } from "./ports";

/** /proc/net/udp prints each 32-bit word of an address as the host reads it. */
function addressOf(hex: string): string {
  const words = hex.match(/.{8}/g)!.map((w) => parseInt(w, 16));
  const bytes = new Uint8Array(Uint32Array.from(words).buffer);
  return bytes.length === 4 ? Array.from(bytes).join(".") : ipv6Text(bytes);
}

/** The UDP sockets `pid` holds bound to `port`: inode to local address. */
export function listeners(pid: number, port: number): Map<string, string> {
  const held = new Set<string>();
  for (const fd of listDir(`/proc/${pid}/fd`)) {
    const m = readLink(`/proc/${pid}/fd/${fd}`)?.match(/^socket:\[(\d+)\]$/);
    if (m) held.add(m[1]!);
  }
  const out = new Map<string, string>();
  for (const table of ["udp", "udp6"]) {
    let text = "";
    try {
      text = readText(`/proc/${pid}/net/${table}`);
    } catch {
      // gone, or no IPv6 in this kernel
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1]?.match(/^([0-9A-F]{8}|[0-9A-F]{32}):([0-9A-F]{4})$/);
      if (!local || parseInt(local[2]!, 16) !== port || !held.has(f[9]!)) continue;
      out.set(f[9]!, addressOf(local[1]!));
    }
  }
  return out;
}

/** 0 when `ip`:`port` could be bound for UDP now, else -errno (IPv6 addresses are not tried: 0). */
export function tryBind(ip: string, port: number): number {
  if (ip.includes(":")) return 0;
  const fd = trySys("socket", AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fd;
  try {
    return Math.min(0, trySys("bind", fd, sockaddr(ip, port), 16));
  } finally {
    closeFd(fd);
  }
}

/** Why nobody can bind `ip`:`port` for UDP, if that is so. */
export function portHolder(ip: string, port: number): string | undefined {
  const r = tryBind(ip, port);
  if (r === 0) return undefined;
  if (r === -Errno.EADDRINUSE) return `port ${port} there is taken by another program`;
  if (r === -Errno.EADDRNOTAVAIL) return `${ip} is not an address of this network namespace`;
  return errnoMessage(-r);
}
