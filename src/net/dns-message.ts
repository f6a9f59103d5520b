// The two DNS messages bunker needs (RFC 1035): a question for one name's
// A or AAAA records, and the addresses in the reply. Enough to ask the
// network's DNS responder whether it knows a container yet, nothing more.

export const TYPE_A = 1;
export const TYPE_AAAA = 28;

export interface DnsReply {
  id: number;
  /** 0 NOERROR, 3 NXDOMAIN, ... */
  rcode: number;
  /** The A and AAAA records of the answer section, as text. */
  addresses: string[];
}

/** A query with recursion desired, as a resolver sends it; `name` is one or more labels, no trailing dot needed. */
export function dnsQuery(id: number, name: string, type: number): Uint8Array {
  const labels = name.replace(/\.$/, "").split(".");
  if (labels.some((l) => l.length === 0 || l.length > 63)) throw new RangeError(`"${name}" is not a DNS name`);
  const enc = new TextEncoder();
  const parts = labels.map((l) => enc.encode(l));
  const out = new Uint8Array(12 + parts.reduce((n, p) => n + 1 + p.length, 0) + 1 + 4);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, id);
  dv.setUint16(2, 0x0100); // RD
  dv.setUint16(4, 1); // one question
  let off = 12;
  for (const p of parts) {
    out[off++] = p.length;
    out.set(p, off);
    off += p.length;
  }
  out[off++] = 0;
  dv.setUint16(off, type);
  dv.setUint16(off + 2, 1); // IN
  return out;
}

/** Skips a (possibly compressed) name; the offset after it, or -1 if it runs off the message. */
function skipName(b: Uint8Array, off: number): number {
  for (let hops = 0; off < b.length && hops < 128; hops++) {
    const len = b[off]!;
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) return off + 2 <= b.length ? off + 2 : -1;
    off += 1 + len;
  }
  return -1;
}

/** An IPv6 address's 16 bytes as inet_ntop writes them. */
export function ipv6Text(b: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  // The longest run of zero groups (two or more) becomes "::", as inet_ntop writes it.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

/** The reply's id, status and addresses; null for anything that is not a well-formed reply. */
export function dnsReply(b: Uint8Array): DnsReply | null {
  if (b.length < 12) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const flags = dv.getUint16(2);
  if ((flags & 0x8000) === 0) return null;
  const questions = dv.getUint16(4);
  const answers = dv.getUint16(6);
  let off = 12;
  for (let i = 0; i < questions; i++) {
    off = skipName(b, off);
    if (off < 0 || off + 4 > b.length) return null;
    off += 4;
  }
  const addresses: string[] = [];
  for (let i = 0; i < answers; i++) {
    off = skipName(b, off);
    if (off < 0 || off + 10 > b.length) return null;
    const type = dv.getUint16(off);
    const len = dv.getUint16(off + 8);
    off += 10;
    if (off + len > b.length) return null;
    const data = b.subarray(off, off + len);
    if (type === TYPE_A && len === 4) addresses.push(Array.from(data).join("."));
    if (type === TYPE_AAAA && len === 16) addresses.push(ipv6Text(data));
    off += len;
  }
  return { id: dv.getUint16(0), rcode: flags & 0xf, addresses };
}
