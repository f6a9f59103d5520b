// Netlink sockets: messages with attributes, requests answered by an ack,
// dumps answered by many messages. The protocols on top (rtnetlink) live in net/.

import { AF_NETLINK, AT, CLONE, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK, NLA_F_NESTED, NLM_F, NLMSG_DONE, NLMSG_ERROR, NLMSGERR_ATTR_MSG, O, SOCK_CLOEXEC, SOCK_RAW, SOL_NETLINK } from "./constants";
import { Errno, SysError } from "./errno";
import { NLATTR_LAYOUT as NLA, NLMSGERR_LAYOUT, NLMSGHDR_LAYOUT as NLH, SOCKADDR_NL_LAYOUT } from "./layouts";
import { closeFd, sys, trySys } from "./libc";

const align4 = (n: number) => (n + 3) & ~3;

/** One attribute: a type and a payload (nested attributes are payloads made of attributes). */
export function attr(type: number, payload: Uint8Array): Uint8Array {
  const len = NLA.SIZE + payload.length;
  const out = new Uint8Array(align4(len));
  const dv = new DataView(out.buffer);
  dv.setUint16(NLA.len, len, true);
  dv.setUint16(NLA.type, type, true);
  out.set(payload, NLA.SIZE);
  return out;
}

export const attrString = (type: number, s: string) => attr(type, new TextEncoder().encode(`${s}\0`));
export function attrU32(type: number, v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return attr(type, b);
}
export const attrU8 = (type: number, v: number) => attr(type, Uint8Array.of(v));
export const nested = (type: number, ...parts: Uint8Array[]) => attr(type | NLA_F_NESTED, concat(parts));

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + align4(p.length), 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += align4(p.length);
  }
  return out;
}

/** Attributes of a payload, by type (the last one wins, as the kernel reads them). */
export function parseAttrs(buf: Uint8Array): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let off = 0; off + NLA.SIZE <= buf.length; ) {
    const len = dv.getUint16(off + NLA.len, true);
    if (len < NLA.SIZE || off + len > buf.length) break;
    out.set(dv.getUint16(off + NLA.type, true) & 0x3fff, buf.subarray(off + NLA.SIZE, off + len));
    off += align4(len);
  }
  return out;
}

export interface Message {
  type: number;
  flags: number;
  payload: Uint8Array;
}

/** A netlink failure: the errno, and the kernel's own explanation when it gave one. */
export class NetlinkError extends SysError {
  constructor(
    op: string,
    errno: number,
    readonly detail?: string,
  ) {
    super(op, errno);
    if (detail) this.message = `${this.message} (${detail})`;
  }
}

export class NetlinkSocket {
  private seq = 1;
  private readonly buf = new Uint8Array(65536);

  private constructor(readonly fd: number) {}

  /** A socket of `protocol` (0 for rtnetlink) in the calling thread's network namespace. */
  static open(protocol: number): NetlinkSocket {
    const fd = sys("open a netlink socket", "socket", AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    const one = Int32Array.of(1);
    // Ask for the kernel's text on errors, and for dumps filtered by what a request names.
    trySys("setsockopt", fd, SOL_NETLINK, NETLINK_EXT_ACK, one, 4);
    trySys("setsockopt", fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, one, 4);
    const sa = new Uint8Array(SOCKADDR_NL_LAYOUT.SIZE);
    new DataView(sa.buffer).setUint16(SOCKADDR_NL_LAYOUT.family, AF_NETLINK, true);
    const r = trySys("bind", fd, sa, sa.length);
    if (r < 0) {
      closeFd(fd);
      throw new SysError("bind a netlink socket", -r);
    }
    return new NetlinkSocket(fd);
  }

  close(): void {
    closeFd(this.fd);
  }

  private send(op: string, type: number, flags: number, body: Uint8Array): number {
    const seq = this.seq++;
    const msg = new Uint8Array(NLH.SIZE + body.length);
    const dv = new DataView(msg.buffer);
    dv.setUint32(NLH.len, msg.length, true);
    dv.setUint16(NLH.type, type, true);
    dv.setUint16(NLH.flags, flags | NLM_F.REQUEST, true);
    dv.setUint32(NLH.seq, seq, true);
    msg.set(body, NLH.SIZE);
    const sa = new Uint8Array(SOCKADDR_NL_LAYOUT.SIZE);
    new DataView(sa.buffer).setUint16(SOCKADDR_NL_LAYOUT.family, AF_NETLINK, true);
    for (;;) {
      const n = trySys("sendto", this.fd, msg, msg.length, 0, sa, sa.length);
      if (n === -Errno.EINTR) continue;
      if (n < 0) throw new SysError(op, -n);
      return seq;
    }
  }

  /** Reads the answers to `seq` until the ack, the end of a dump, or an error. */
  private receive(op: string, seq: number): Message[] {
    const out: Message[] = [];
    for (;;) {
      const n = trySys("recvfrom", this.fd, this.buf, this.buf.length, 0, 0, 0);
      if (n === -Errno.EINTR) continue;
      if (n < 0) throw new SysError(op, -n);
      const dv = new DataView(this.buf.buffer, 0, n);
      for (let off = 0; off + NLH.SIZE <= n; ) {
        const len = dv.getUint32(off + NLH.len, true);
        if (len < NLH.SIZE || off + len > n) throw new SysError(op, Errno.EPROTO);
        const type = dv.getUint16(off + NLH.type, true);
        const flags = dv.getUint16(off + NLH.flags, true);
        const mseq = dv.getUint32(off + NLH.seq, true);
        const payload = this.buf.slice(off + NLH.SIZE, off + len);
        off += align4(len);
        if (mseq !== seq) continue;
        if (type === NLMSG_DONE) return out;
        if (type === NLMSG_ERROR) {
          const pdv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
          const error = -pdv.getInt32(NLMSGERR_LAYOUT.error, true);
          if (error === 0) return out;
          throw new NetlinkError(op, error, extAckMessage(payload, flags));
        }
        out.push({ type, flags, payload });
        if (!(flags & NLM_F.MULTI)) return out;
      }
    }
  }

  /** A request the kernel acknowledges; throws NetlinkError naming `op` if it refuses. */
  request(op: string, type: number, flags: number, body: Uint8Array): Message[] {
    return this.receive(op, this.send(op, type, flags | NLM_F.ACK, body));
  }

  /** A dump: every message the kernel sends back. */
  dump(op: string, type: number, body: Uint8Array): Message[] {
    return this.receive(op, this.send(op, type, NLM_F.DUMP, body));
  }
}

function extAckMessage(payload: Uint8Array, flags: number): string | undefined {
  if (!(flags & NLM_F.ACK_TLVS)) return undefined;
  // After the error: the request's header (or all of it, unless capped), then TLVs.
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const reqLen = flags & NLM_F.CAPPED ? NLH.SIZE : dv.getUint32(NLMSGERR_LAYOUT.msg + NLH.len, true);
  const msg = parseAttrs(payload.subarray(NLMSGERR_LAYOUT.msg + align4(reqLen))).get(NLMSGERR_ATTR_MSG);
  if (!msg) return undefined;
  const end = msg.indexOf(0);
  return new TextDecoder().decode(end >= 0 ? msg.subarray(0, end) : msg) || undefined;
}


/**
 * A netlink socket inside another network namespace: this thread enters it
 * (`nsFd`), opens the socket, and comes back. A socket stays in the namespace
 * it was made in.
 */
export function openInNamespace(protocol: number, nsFd: number): NetlinkSocket {
  const cstr = new TextEncoder().encode("/proc/thread-self/ns/net\0");
  const home = sys("open this thread's network namespace", "openat", AT.FDCWD, cstr, O.RDONLY | O.CLOEXEC, 0);
  try {
    sys("enter the container's network namespace", "setns", nsFd, CLONE.NEWNET);
    try {
      return NetlinkSocket.open(protocol);
    } finally {
      sys("return to bunker's network namespace", "setns", home, CLONE.NEWNET);
    }
  } finally {
    closeFd(home);
  }
}
