// One DNS question over UDP to a server on an IPv4 address, answered or not
// within a short time: how bunker sees that the network's responder knows a
// container (or no longer does) before it goes on.

import { AF_INET, SO_RCVTIMEO, SOCK_CLOEXEC, SOCK_DGRAM, SOL_SOCKET } from "../sys/constants";
import { SOCKADDR_IN_LAYOUT } from "../sys/layouts";
import { closeFd, randomBytes, trySys } from "../sys/libc";
import { dnsQuery, dnsReply, type DnsReply } from "./dns-message";
import { sockaddr } from "./ports";


/** The reply to one question, or null when none came in `timeoutMs` (nobody listens, or the server is busy). */
export function askDns(server: string, port: number, name: string, type: number, timeoutMs: number): DnsReply | null {
  const fd = trySys("socket", AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return null;
  try {
    const tv = BigInt64Array.of(BigInt(Math.floor(timeoutMs / 1000)), BigInt((timeoutMs % 1000) * 1000));
    trySys("setsockopt", fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
    // connected: a port nobody listens on comes back as ECONNREFUSED at once, not as a timeout
    if (trySys("connect", fd, sockaddr(server, port), SOCKADDR_IN_LAYOUT.SIZE) < 0) return null;
    const id = new DataView(randomBytes(2).buffer).getUint16(0);
    const q = dnsQuery(id, name, type);
    if (trySys("sendto", fd, q, q.length, 0, null, 0) !== q.length) return null;
    const buf = new Uint8Array(1500);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const n = trySys("recvfrom", fd, buf, buf.length, 0, null, null);
      if (n < 0) return null;
      const r = dnsReply(buf.subarray(0, n));
      if (r && r.id === id) return r;
    }
    return null;
  } finally {
    closeFd(fd);
  }
}
