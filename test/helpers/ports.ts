// Host ports for tests to publish: free now, and below the kernel's ephemeral
// range, where an outgoing connection elsewhere on the host could take one
// between the check and the container's start.

import { readFileSync } from "node:fs";

/**
 * Local ports of every TCP and UDP socket of this network namespace, in any state: a
 * connection in TIME_WAIT keeps its port from a bind without SO_REUSEADDR (bunker's),
 * though a listener with it (Bun.listen's) would get the port.
 */
function portsInUse(): Set<number> {
  const used = new Set<number>();
  for (const table of ["tcp", "tcp6", "udp", "udp6"]) {
    let text = "";
    try {
      text = readFileSync(`/proc/net/${table}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      if (local) used.add(parseInt(local.slice(local.lastIndexOf(":") + 1), 16));
    }
  }
  return used;
}

/** The first port of `n` consecutive ones free for TCP on every address. */
export function freeRange(n: number): number {
  const [ephemeral] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
  const top = Math.min(ephemeral ?? 32768, 65536) - n;
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 10000 + Math.floor(Math.random() * Math.max(1, top - 10000));
    const used = portsInUse();
    let ok = true;
    for (let p = base; p < base + n && ok; p++) if (used.has(p)) ok = false;
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

/** Whether `port` is held on the host: a listener of the test's own cannot have it (one that can is closed again at once). */
export function portHeld(port: number): boolean {
  try {
    Bun.listen({ hostname: "0.0.0.0", port, socket: { data() {} } }).stop(true);
    return false;
  } catch {
    return true;
  }
}
