// Named volumes, beside the image store:
//
//   ROOT/volumes/NAME/volume.json   its record: name, labels, options, when made
//   ROOT/volumes/NAME/_data         what containers see
//   ROOT/volumes/NAME/lock          shared by each run using it while it starts; `volume rm` takes it alone
//
// A volume is made whole in the store's tmp (a staging directory whose lock
// says it is being made) and renamed into place; it is removed by a rename
// into the store's tmp, then deleted there. A bunker killed at any instant
// leaves either no volume or a whole one, and a staging or gone-* directory
// that the next command clears. Nothing is followed through a symlink: the
// volumes directory must be the store owner's alone, and each volume in it a
// directory, so another user cannot point root's bunker at a path of theirs.

import { AT, RENAME_NOREPLACE } from "../sys/constants";
import { Errno, SysError } from "../sys/errno";
import { cstr, fileType, inodeOf, listDir, lockFile, makeDir, ownerOf, privateDir, readText, writeAtomic } from "../sys/fs";
import { trySys } from "../sys/libc";
import { BunkerError } from "../errors";
import { clearStaging, discardTree, openStore, stagingDir } from "../image/store";
import { VOLUME_NAME } from "../spec/volumes";
import type { VolumeUse } from "../spec/types";
import { basename, dirname } from "node:path";

/** What docker's `volume inspect` shows of a volume (Mountpoint and Driver are added when shown). */
export interface VolumeRecord {
  Name: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Options: Record<string, string>;
}

/** The label docker (23 and later) gives an anonymous volume: prune without --all removes only these. */
export const ANONYMOUS_LABEL = "com.docker.volume.anonymous";


/** ROOT/volumes, made if missing: the caller's alone (refused if it is a symlink, another's, or writable by others). */
export function volumesDir(): string {
  const root = openStore();
  const dir = `${root}/volumes`;
  try {
    return privateDir(dir, process.geteuid?.() ?? 0);
  } catch (e) {
    throw new BunkerError(`volume store ${dir}: ${(e as Error).message}`);
  }
}

/** Where volume `name` lives, checked: a directory of the store's owner holding a directory _data; null if there is none. */
export function volumePath(name: string): { dir: string; data: string } | null {
  if (!VOLUME_NAME.test(name)) return null;
  const dir = `${volumesDir()}/${name}`;
  const o = ownerOf(dir);
  if (!o) return null;
  const uid = process.geteuid?.() ?? 0;
  if (o.type !== "dir") throw new BunkerError(`volume ${name}: ${dir} is a ${o.type ?? "special file"}, not a directory: it was not made by bunker; remove it`);
  if (o.uid !== uid) throw new BunkerError(`volume ${name}: ${dir} belongs to uid ${o.uid}, not ${uid}: it was not made by bunker; remove it`);
  const data = `${dir}/_data`;
  const t = fileType(data);
  if (t !== "dir") throw new BunkerError(`volume ${name}: ${data} is ${t === null ? "missing" : `a ${t}, not a directory`}: it was not made by bunker; remove the volume`);
  return { dir, data };
}

/** The record of volume `name`, or null if there is no such volume. */
export function readVolume(name: string): VolumeRecord | null {
  const p = volumePath(name);
  if (!p) return null;
  try {
    return JSON.parse(readText(`${p.dir}/volume.json`, 1 << 20)) as VolumeRecord;
  } catch {
    // a record lost to a crash of the file system: the directory is the volume
    return { Name: name, CreatedAt: "", Labels: {}, Options: {} };
  }
}

/** Every volume's record, by name. */
export function listVolumes(): VolumeRecord[] {
  const dir = volumesDir();
  clearStaging(openStore());
  return listDir(dir)
    .filter((n) => VOLUME_NAME.test(n))
    .sort()
    .flatMap((n) => {
      try {
        const r = readVolume(n);
        return r ? [r] : [];
      } catch {
        // not a volume bunker made (volume inspect says why): not listed
        return [];
      }
    });
}

/** A new anonymous volume's name: 64 hex digits, as docker's. */
export function anonymousName(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(32)), (x) => x.toString(16).padStart(2, "0")).join("");
}

/** The time as docker writes CreatedAt: RFC 3339 with the zone. */
const now = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");

/**
 * Makes volume `name` unless it exists (then its record is returned as it
 * is, as docker's volume create does): made whole in the store's tmp, then
 * renamed into place, so no half-made volume is ever seen there.
 */
export function createVolume(name: string, labels: Record<string, string> = {}, options: Record<string, string> = {}): { record: VolumeRecord; created: boolean } {
  const existing = readVolume(name);
  if (existing) return { record: existing, created: false };
  const dir = volumesDir();
  const root = openStore();
  const record: VolumeRecord = { Name: name, CreatedAt: now(), Labels: labels, Options: options };
  const staging = stagingDir(root, "volume");
  try {
    writeAtomic(`${staging.path}/volume.json`, JSON.stringify(record), 0o600);
    makeDir(`${staging.path}/_data`, 0o755);
    const r = trySys("renameat2", AT.FDCWD, cstr(staging.path), AT.FDCWD, cstr(`${dir}/${name}`), RENAME_NOREPLACE);
    // Made meanwhile by another bunker: that one is the volume.
    if (r === -Errno.EEXIST || r === -Errno.ENOTEMPTY) return { record: readVolume(name) ?? record, created: false };
    if (r < 0) throw new BunkerError(`create volume ${name}: ${new SysError(`rename ${staging.path} to ${dir}/${name}`, -r).message}`);
    return { record, created: true };
  } catch (e) {
    if (e instanceof SysError) throw new BunkerError(`create volume ${name}: ${e.message}`);
    throw e;
  } finally {
    staging.release();
  }
}

/** The lock of volume `name`: shared by runs starting with it, taken alone by its removal. */
export function lockVolume(dir: string, shared: boolean, wait: boolean): { fd: number; release(): void } | null {
  return lockFile(`${dir}/lock`, wait, shared);
}

/** Whether the lock `held` is still the lock of the volume at `dir` (it was not removed, and made again, meanwhile). */
export function lockIsCurrent(dir: string, held: { fd: number }): boolean {
  const now = inodeOf(`${dir}/lock`);
  return now !== null && now === inodeOf("", held.fd);
}

/**
 * Removes the volume at `dir` (its caller holds its lock alone): renamed
 * into the store's tmp in one step, and deleted there; what the user cannot
 * delete (files of their subordinate IDs) goes with the next sweep.
 */
export function discardVolume(dir: string): void {
  discardTree(openStore(), dir);
}

/**
 * Removes the anonymous volumes of a container being removed (--rm, rm -v),
 * by their data directories as its state records them (the store they are
 * in may not be this command's: --storage is not passed on to the bunker
 * that finishes a detached container). They were made for it alone (its own
 * run may still hold their locks); one already gone is fine.
 */
export function removeAnonymousVolumes(uses: readonly VolumeUse[]): void {
  for (const u of uses) {
    if (!u.anonymous || u.name === undefined || !VOLUME_NAME.test(u.name)) continue;
    const dir = dirname(u.source);
    const volumes = dirname(dir);
    // Only what has the shape of a volume of a store: ROOT/volumes/NAME/_data, a real directory.
    if (u.source !== `${volumes}/${u.name}/_data` || basename(volumes) !== "volumes" || fileType(dir) !== "dir") continue;
    discardTree(dirname(volumes), dir);
  }
}
