// The namespace types a process can be in, which of them a process has of
// its own, and what `bunker ns` shows of them.

import type { ChildProgram } from "../child/program";
import { CLONE } from "../sys/constants";
import { FileError, listDir, openNamespace, readLink, readText } from "../sys/fs";
import { BunkerError } from "../errors";
import { has } from "../sys/kernel";
import { closeFd } from "../sys/libc";

/** Namespace files, in the order setns must take them one by one (the user namespace first). */
export const NS_ORDER: [string, number][] = [
  ["user", CLONE.NEWUSER],
  ["mnt", CLONE.NEWNS],
  ["net", CLONE.NEWNET],
  ["ipc", CLONE.NEWIPC],
  ["uts", CLONE.NEWUTS],
  ["cgroup", CLONE.NEWCGROUP],
  ["time", CLONE.NEWTIME],
  ["pid", CLONE.NEWPID],
];

/** The namespaces of `pid` that differ from ours: joining one's own would fail (and mean nothing). */
export function ownNamespaces(pid: number): number {
  let flags = 0;
  for (const [type, flag] of NS_ORDER) {
    const theirs = readLink(`/proc/${pid}/ns/${type}`);
    if (theirs !== null && theirs !== readLink(`/proc/self/ns/${type}`)) flags |= flag;
  }
  return flags;
}

/** Process `pid`'s namespace of `type` ("net", ...), opened; the caller closes it. */
export function openNamespaceOf(pid: number, type: string): number {
  try {
    return openNamespace(`/proc/${pid}/ns/${type}`);
  } catch (e) {
    if (e instanceof FileError) throw new BunkerError(`open the ${type === "net" ? "network" : type} namespace of process ${pid}: ${e.reason}`);
    throw e;
  }
}

/** `pid`'s namespace files of the types in `flags`, opened in the order setns takes them (closed again on failure). */
export function openNamespaceFiles(pid: number, flags: number): { type: string; fd: number; flag: number }[] {
  const opened: { type: string; fd: number; flag: number }[] = [];
  try {
    for (const [type, flag] of NS_ORDER) if ((flags & flag) !== 0) opened.push({ type, fd: openNamespace(`/proc/${pid}/ns/${type}`), flag });
  } catch (e) {
    for (const o of opened) closeFd(o.fd);
    throw e;
  }
  return opened;
}

/**
 * Steps that join the namespaces `flags` of process `pid`, held by `pidfd`:
 * one setns on the pidfd, or before Linux 5.8 (no setns on a pidfd) one per
 * namespace file, opened now. Returns what it opened, for the caller to
 * close once the child is made. `pid` must be a child not yet reaped, so
 * that its number names no other process.
 */
export function planJoinProcess(p: ChildProgram, pid: number, pidfd: number, flags: number, what: string): number[] {
  if (has("pidfdSetns")) {
    p.call(`join ${what}`, "setns", [pidfd, flags]);
    return [];
  }
  const files = openNamespaceFiles(pid, flags);
  for (const f of files) p.call(`join the ${f.type} namespace of ${what}`, "setns", [f.fd, f.flag]);
  return files.map((f) => f.fd);
}

const TYPES = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];

function inode(link: string | null): number | null {
  const m = link?.match(/\[(\d+)\]$/);
  return m ? Number(m[1]) : null;
}

/** Whether `pid` names a process there is. */
export function processExists(pid: number): boolean {
  return readLink(`/proc/${pid}/ns/pid`) !== null;
}

export interface NamespaceRow {
  type: string;
  inode: number | null;
  /** Bunker's own namespace of the type, beside it. */
  host: number | null;
  own: boolean;
}

/** The namespaces of `pid` beside this process's, by type. */
export function namespaceRows(pid: number): NamespaceRow[] {
  return TYPES.map((type) => {
    const theirs = readLink(`/proc/${pid}/ns/${type}`);
    const ours = readLink(`/proc/self/ns/${type}`);
    return { type, inode: inode(theirs), host: inode(ours), own: theirs !== null && theirs !== ours };
  }).filter((r) => r.inode !== null);
}

/** The processes in `pid`'s PID namespace, with their pid inside it (NSpid's last field). */
export function processesBeside(pid: number): { hostPid: number; pid: number; command: string }[] {
  const nsLink = readLink(`/proc/${pid}/ns/pid`) ?? "";
  const out: { hostPid: number; pid: number; command: string }[] = [];
  for (const e of listDir("/proc")) {
    if (!/^\d+$/.test(e) || readLink(`/proc/${e}/ns/pid`) !== nsLink) continue;
    try {
      const status = readText(`/proc/${e}/status`);
      const nspid = status.match(/^NSpid:\s*(.*)$/m)?.[1]?.trim().split(/\s+/) ?? [];
      const command = readText(`/proc/${e}/cmdline`).split("\0").filter(Boolean).join(" ");
      out.push({ hostPid: Number(e), pid: Number(nspid[nspid.length - 1] ?? e), command });
    } catch {
      // exited meanwhile
    }
  }
  return out.sort((a, b) => a.pid - b.pid);
}
