// Mount points bunker made in rootfs directories, and the containers using
// each rootfs: one record per rootfs directory (named by its device and
// inode) in the state directory, read and written under one lock.
//
// A record is written before the child creates anything, so a bunker killed
// at any instant leaves what the next command needs to undo it. What was made
// is removed only once no container uses that rootfs any more: removing a
// file or directory that is a mount point in another container's mount
// namespace would silently take that mount away from it. A container is in
// use while the bunker process responsible for it lives (the container dies
// with it), or while its mount namespace stays pinned (--pin).

import { fileType, identityOf, isNamespaceFile, listDir, lockFile, makeDir, readText, removeEmptyBeneath, removePath, writeAtomic } from "../sys/fs";
import { isAlive } from "../sys/proc";

export interface RootfsUser {
  /** The container. */
  id: string;
  /** The bunker process responsible for it, and that process's start time. */
  pid: number;
  start: number;
  /** --pin's directory: a pinned mount namespace keeps the container's mounts after it ends. */
  pin?: string;
}

interface RootfsRecord {
  root: string;
  /** The rootfs directory, as identityOf names it: a record of an earlier directory with the same inode is stale. */
  identity: string;
  users: RootfsUser[];
  /** Paths inside the rootfs that bunker created, in the order they were made. */
  created: string[];
}

/** A container's place in a record: what its end hands back. */
export interface RootfsClaim {
  record: string;
  root: string;
  id: string;
}

const pinned = (u: RootfsUser) => u.pin !== undefined && isNamespaceFile(`${u.pin}/mnt`);
const inUse = (u: RootfsUser) => isAlive(u.pid, u.start) || pinned(u);

function withRecords<T>(dir: string, fn: () => T): T {
  makeDir(dir);
  const lock = lockFile(`${dir}/lock`);
  try {
    return fn();
  } finally {
    lock?.release();
  }
}

function readRecord(path: string): RootfsRecord | null {
  try {
    const r = JSON.parse(readText(path)) as RootfsRecord;
    return Array.isArray(r.users) && Array.isArray(r.created) && typeof r.root === "string" && typeof r.identity === "string" ? r : null;
  } catch {
    // missing or damaged: treated as no claim, which keeps mount points rather than removing them
    return null;
  }
}

/** Removes what was made, deepest first, where it is still what bunker made (see removeEmptyBeneath). */
function undo(root: string, identity: string, created: readonly string[]): void {
  const depth = (p: string) => p.split("/").length;
  for (const path of [...created].sort((a, b) => depth(b) - depth(a))) removeEmptyBeneath(root, path, identity);
}

/**
 * Registers `user` as using the rootfs at `root` and records what `plan`
 * (called again under the lock) says the child will create. What a record lists
 * for containers that are all gone is undone first. No record is kept for a
 * container that creates nothing in a rootfs nobody else has created
 * anything in: then nothing can be removed from under it.
 */
export function claimRootfs(dir: string, root: string, user: RootfsUser, plan: () => string[]): RootfsClaim | undefined {
  const identity = identityOf(root);
  if (identity === null) {
    plan();
    return undefined;
  }
  const record = `${dir}/${identity.key}.json`;
  // The common case needs no lock: a rootfs that has every mount point, and no record of anyone
  // else's. Whatever a container mounts on existed before its creator's record was written, so with
  // no record after resolving (looked for again), nothing this container uses can be taken away.
  if (fileType(record) === null && plan().length === 0 && fileType(record) === null) return undefined;
  return withRecords(dir, () => {
    let r = readRecord(record);
    if (r && r.identity !== identity.id) r = null;
    if (r) {
      r.users = r.users.filter(inUse);
      if (r.users.length === 0) {
        undo(root, r.identity, r.created);
        r = null;
      }
    }
    const created = plan();
    if (!r && created.length === 0) {
      removePath(record);
      return undefined;
    }
    r ??= { root, identity: identity.id, users: [], created: [] };
    r.users.push(user);
    for (const c of created) if (!r.created.includes(c)) r.created.push(c);
    writeAtomic(record, JSON.stringify(r));
    return { record, root, id: user.id };
  });
}

/**
 * The container has ended: it no longer uses its rootfs, unless its mount
 * namespace is pinned (`pins`: directories it was pinned into since it
 * started). The last one out removes what bunker made there. Never throws:
 * a record left behind is undone by a later command.
 */
export function releaseRootfs(claim: RootfsClaim, pins: readonly string[] = []): void {
  try {
    withRecords(claim.record.slice(0, claim.record.lastIndexOf("/")), () => {
      const r = readRecord(claim.record);
      if (!r) return;
      const users: RootfsUser[] = [];
      for (const u of r.users) {
        if (u.id !== claim.id) {
          if (inUse(u)) users.push(u);
          continue;
        }
        const pin = [...(u.pin !== undefined ? [u.pin] : []), ...pins].find((d) => pinned({ ...u, pin: d }));
        if (pin !== undefined) users.push({ ...u, pin });
      }
      if (users.length > 0) {
        if (users.length !== r.users.length) writeAtomic(claim.record, JSON.stringify({ ...r, users }));
        return;
      }
      undo(claim.root, r.identity, r.created);
      removePath(claim.record);
    });
  } catch {
    // left for the next command
  }
}

/** What killed bunkers left: records whose containers are all gone are undone. */
export function pruneRootfsRecords(dir: string): void {
  const names = listDir(dir).filter((n) => n.endsWith(".json") || n.endsWith(".tmp"));
  if (names.length === 0) return;
  withRecords(dir, () => {
    for (const name of names) {
      const path = `${dir}/${name}`;
      const r = name.endsWith(".json") ? readRecord(path) : null;
      // Every write happens under the lock: a temporary file now is one a killed bunker left, and a
      // record that cannot be read (written atomically, so not a torn one) names nothing to undo.
      if (!r) {
        removePath(path);
        continue;
      }
      const users = r.users.filter(inUse);
      if (users.length > 0) {
        if (users.length !== r.users.length) writeAtomic(path, JSON.stringify({ ...r, users }));
        continue;
      }
      // undo acts on the recorded directory only: one moved, deleted or replaced since is left alone.
      undo(r.root, r.identity, r.created);
      removePath(path);
    }
  });
}
