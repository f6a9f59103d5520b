// Mount flags without mount_setattr (Linux 5.12): a bind remount of each
// mount by its path once it is attached, mount(2)'s MS_REMOUNT|MS_BIND. Such
// a remount replaces every per-mount flag, so it is given the mount's own
// flags (read on the host before clone, or known from how bunker made the
// mount) with the asked ones added or cleared: nothing is loosened by
// omission, and in a user namespace the flags the kernel locks stay as they
// were, as it insists.

import type { ChildProgram } from "../child/program";
import { MOUNT_ATTR, MS, ST } from "../sys/constants";
import { Errno } from "../sys/errno";
import { ATIME_MODE } from "./options";

/** What a detached tree still needs once attached: flags, on its top mount and on each one below. */
export interface PendingFlags {
  set: number;
  clear: number;
  /** MS flags the tree's top mount has now. */
  keep: number;
  /** Mounts below the top (recursive trees): their place relative to the top, and their flags now. */
  below: { rel: string; keep: number }[];
}

const ATIME_MS = MS.NOATIME | MS.RELATIME | MS.STRICTATIME;

/** statfs(2)'s f_flags (ST_*) as the MS flags a remount keeps them with. */
export function msOfStatfs(st: number): number {
  let ms = 0;
  for (const [flag, as] of [
    [ST.RDONLY, MS.RDONLY],
    [ST.NOSUID, MS.NOSUID],
    [ST.NODEV, MS.NODEV],
    [ST.NOEXEC, MS.NOEXEC],
    [ST.NODIRATIME, MS.NODIRATIME],
    [ST.NOSYMFOLLOW, MS.NOSYMFOLLOW],
  ] as const) {
    if (st & flag) ms |= as;
  }
  if (st & ST.NOATIME) ms |= MS.NOATIME;
  else if (st & ST.RELATIME) ms |= MS.RELATIME;
  else ms |= MS.STRICTATIME;
  return ms;
}

/** MOUNT_ATTR_* flags as MS flags (a new mount's atime mode is relatime unless one is set). */
export function msOfAttrs(attrs: number): number {
  let ms = attrs & (MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC);
  if (attrs & MOUNT_ATTR.NODIRATIME) ms |= MS.NODIRATIME;
  if (attrs & MOUNT_ATTR.NOSYMFOLLOW) ms |= MS.NOSYMFOLLOW;
  if (attrs & MOUNT_ATTR.NOATIME) ms |= MS.NOATIME;
  else if (attrs & MOUNT_ATTR.STRICTATIME) ms |= MS.STRICTATIME;
  else ms |= MS.RELATIME;
  return ms;
}

const PLAIN = MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.NODIRATIME | MS.NOSYMFOLLOW;

/** The flags of a bind remount: `keep` with the MOUNT_ATTR flags `set` added and `clear` taken away. */
export function remountFlags(keep: number, set: number, clear: number): number {
  const flags = ((keep & PLAIN) & ~(msOfAttrs(clear) & PLAIN)) | (msOfAttrs(set) & PLAIN);
  let atime = keep & ATIME_MS;
  if (clear & ATIME_MODE) atime = MS.RELATIME;
  if (set & ATIME_MODE) atime = msOfAttrs(set) & ATIME_MS;
  return MS.REMOUNT | MS.BIND | flags | (atime || MS.RELATIME);
}

/**
 * One bind remount of the mount at `path`. An `optional` one (a mount below
 * a tree's top, a path the spec names) may be missing, or lie below a
 * directory the container's root may not search (a user's /sys/kernel/debug):
 * then the container cannot reach it either.
 */
export function planRemount(p: ChildProgram, path: string, keep: number, set: number, clear: number, what: string, optional = false): void {
  p.call(`${what} (a bind remount: no mount_setattr)`, "mount", [0, p.str(path), 0, remountFlags(keep, set, clear), 0], optional ? { ignore: [Errno.ENOENT, Errno.EACCES] } : {});
}

/** The pending flags of a tree attached at `dest`: its top mount, then each below. */
export function planPendingFlags(p: ChildProgram, dest: string, pending: PendingFlags, what: string): void {
  planRemount(p, dest, pending.keep, pending.set, pending.clear, `set mount flags on ${what}`);
  const base = dest === "/" ? "" : dest;
  for (const b of pending.below) planRemount(p, `${base}/${b.rel}`, b.keep, pending.set, pending.clear, `set mount flags on ${what}/${b.rel}`, true);
}
