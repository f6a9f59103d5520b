// One DNS question over UDP, asked and read here independently of bunker's
// own code: what a test compares a DNS responder's answers with.

import { createSocket } from "node:dgram";

export interface Answer {
  rcode: number;
  addresses: string[];
}

export const NXDOMAIN: Answer = { rcode: 3, addresses: [] };
export const found = (...addresses: string[]): Answer => ({ rcode: 0, addresses });

/** One question (A or AAAA) to `server`:53; null when nothing answers within 300 ms. */
export function ask(server: string, name: string, type: "A" | "AAAA" = "A"): Promise<Answer | null> {
  const labels = name.split(".").map((l) => Buffer.concat([Buffer.of(l.length), Buffer.from(l)]));
  const id = Math.floor(Math.random() * 65536);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2);
  header.writeUInt16BE(1, 4);
  const question = Buffer.concat([header, ...labels, Buffer.of(0, 0, type === "A" ? 1 : 28, 0, 1)]);
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    const done = (a: Answer | null) => {
      clearTimeout(timer);
      s.close();
      resolve(a);
    };
    const timer = setTimeout(() => done(null), 300);
    s.on("error", () => done(null));
    s.on("message", (m: Buffer) => {
      if (m.readUInt16BE(0) !== id) return;
      // The question comes back as it was sent; answers name it by a pointer (2 bytes).
      let off = question.length;
      const addresses: string[] = [];
      for (let i = 0; i < m.readUInt16BE(6); i++) {
        off += (m[off]! & 0xc0) === 0xc0 ? 2 : m.indexOf(0, off) + 1 - off;
        const rtype = m.readUInt16BE(off);
        const len = m.readUInt16BE(off + 8);
        const data = m.subarray(off + 10, off + 10 + len);
        if (rtype === 1) addresses.push([...data].join("."));
        if (rtype === 28) addresses.push(Array.from({ length: 8 }, (_, k) => data.readUInt16BE(2 * k).toString(16)).join(":"));
        off += 10 + len;
      }
      done({ rcode: m[3]! & 0xf, addresses });
    });
    // connected, so that a gateway nobody serves says so at once (ECONNREFUSED) rather than by the timeout
    s.connect(53, server, () => s.send(question));
  });
}

