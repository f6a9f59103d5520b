// The namespace types a process can be in, and which of them a process has
// of its own.

import { CLONE } from "../sys/constants";
import { readLink } from "../sys/fs";

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
