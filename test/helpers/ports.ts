// Host ports for tests to publish: free now, and below the kernel's ephemeral
// range, where an outgoing connection elsewhere on the host could take one
// between the check and the container's start.

import { readFileSync } from "node:fs";

/** The first port of `n` consecutive ones free for TCP on every address. */
export function freeRange(n: number): number {
  const [ephemeral] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
  const top = Math.min(ephemeral ?? 32768, 65536) - n;
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 10000 + Math.floor(Math.random() * Math.max(1, top - 10000));
    let ok = true;
    // One at a time: a range of thousands must not need thousands of open files here.
    for (let p = base; p < base + n && ok; p++) {
      try {
        Bun.listen({ hostname: "0.0.0.0", port: p, socket: { data() {} } }).stop(true);
      } catch {
        ok = false;
      }
    }
    if (ok) return base;
  }
  throw new Error(`no ${n} consecutive free ports found`);
}

/** One free port (see freeRange). */
export const freePort = (): number => freeRange(1);
