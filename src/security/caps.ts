// Capability names and sets. Pure: no system calls.

import { BunkerError } from "../errors";

export const CAPABILITIES = [
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
  "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
  "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
  "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
  "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
  "CHECKPOINT_RESTORE",
] as const;

export type CapName = (typeof CAPABILITIES)[number];

/** The set docker and podman give a container. */
export const DEFAULT_CAPS: readonly CapName[] = [
  "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
  "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
];

export class CapError extends BunkerError {
  override name = "CapError";
}

/** CAP_NET_ADMIN, net_admin, NET_ADMIN -> NET_ADMIN; ALL stays ALL. */
export function capName(s: string): CapName | "ALL" {
  const n = s.toUpperCase().replace(/^CAP_/, "");
  if (n === "ALL") return "ALL";
  if ((CAPABILITIES as readonly string[]).includes(n)) return n as CapName;
  throw new CapError(`unknown capability "${s}"`);
}

export function capNumber(n: CapName): number {
  return CAPABILITIES.indexOf(n);
}

/** The container's capabilities: the default set, then drops, then adds (docker's order: add wins). */
export function resolveCaps(add: readonly string[], drop: readonly string[], privileged: boolean): CapName[] {
  if (privileged) return [...CAPABILITIES];
  const adds = add.map(capName);
  const drops = drop.map(capName);
  let set = new Set<CapName>(drops.includes("ALL") ? [] : DEFAULT_CAPS);
  for (const d of drops) if (d !== "ALL") set.delete(d);
  if (adds.includes("ALL")) set = new Set(CAPABILITIES);
  for (const a of adds) if (a !== "ALL") set.add(a);
  return CAPABILITIES.filter((c) => set.has(c));
}

/** Two 32-bit words (low, high) of a capability mask. */
export function capWords(caps: readonly CapName[]): [number, number] {
  let lo = 0;
  let hi = 0;
  for (const c of caps) {
    const n = capNumber(c);
    if (n < 32) lo |= 1 << n;
    else hi |= 1 << (n - 32);
  }
  return [lo >>> 0, hi >>> 0];
}
