// The processes of a running container, read from /proc: every process in
// its PID namespace (found by the namespace where the caller may read it,
// and as the first process's descendants, whose lists anyone may read), with
// what `ps` would show of each.

import { readdirSync, readlinkSync } from "node:fs";
import { parsePasswd } from "../identity/passwd";
import { readText } from "../sys/fs";

export interface ProcessInfo {
  pid: number;
  ppid: number;
  uid: number;
  /** The state letter (R, S, D, Z, T, ...). */
  stat: string;
  /** Seconds of CPU, user and system. */
  cpuSeconds: number;
  /** Seconds since it started. */
  elapsed: number;
  /** When it started, milliseconds since the epoch. */
  started: number;
  threads: number;
  rssKiB: number;
  vszKiB: number;
  tty: string;
  comm: string;
  args: string;
}

const TICKS = 100;

function read(path: string): string | null {
  try {
    return readText(path);
  } catch {
    // gone, or not the caller's to read
    return null;
  }
}

function descendants(pid: number, into: Set<number>): void {
  if (into.has(pid)) return;
  into.add(pid);
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    // gone meanwhile
    return;
  }
  for (const t of tasks) for (const c of (read(`/proc/${pid}/task/${t}/children`) ?? "").split(" ").filter(Boolean)) descendants(Number(c), into);
}

/** A tty_nr as ps names it: pts/N, ttyN, or ?. */
function ttyName(nr: number): string {
  if (nr === 0) return "?";
  const major = (nr >> 8) & 0xfff;
  const minor = (nr & 0xff) | ((nr >> 12) & 0xfff00);
  if (major >= 136 && major <= 143) return `pts/${(major - 136) * 256 + minor}`;
  if (major === 4) return `tty${minor}`;
  return "?";
}

/** The processes in the PID namespace of the container's first process `pid`, by pid. */
export function containerProcesses(pid: number): ProcessInfo[] {
  const pids = new Set<number>();
  descendants(pid, pids);
  let ns: string | null = null;
  try {
    ns = readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    // not the caller's to read: its descendants are what can be known
  }
  if (ns !== null) {
    for (const e of readdirSync("/proc")) {
      if (!/^\d+$/.test(e) || pids.has(Number(e))) continue;
      try {
        if (readlinkSync(`/proc/${e}/ns/pid`) === ns) pids.add(Number(e));
      } catch {
        // another user's, or gone
      }
    }
  }
  const uptime = Number((read("/proc/uptime") ?? "0").split(" ")[0]);
  const bootMs = Date.now() - uptime * 1000;
  const out: ProcessInfo[] = [];
  for (const p of [...pids].sort((a, b) => a - b)) {
    const stat = read(`/proc/${p}/stat`);
    const status = read(`/proc/${p}/status`);
    if (stat === null || status === null) continue;
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const field = (n: number) => Number(f[n - 3]);
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
    const args = (read(`/proc/${p}/cmdline`) ?? "").split("\0").filter(Boolean).join(" ");
    const startedTicks = field(22);
    out.push({
      pid: p,
      ppid: field(4),
      uid,
      stat: f[0] ?? "?",
      cpuSeconds: (field(14) + field(15)) / TICKS,
      elapsed: Math.max(0, uptime - startedTicks / TICKS),
      started: bootMs + (startedTicks / TICKS) * 1000,
      threads: field(20),
      rssKiB: Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0),
      vszKiB: Math.floor(field(23) / 1024),
      tty: ttyName(field(7)),
      comm,
      args: args || `[${comm}]`,
    });
  }
  return out;
}

/** The host's user names, by ID (ps shows the host's names for a container's processes). */
export function hostUserNames(): Map<number, string> {
  return new Map(parsePasswd(read("/etc/passwd") ?? "").map((e) => [e.uid, e.name]));
}
