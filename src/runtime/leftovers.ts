// Temporary names that say who made them. A container directory is built as
// `.new-ID-PID-START` and renamed into place; one being removed is first
// renamed to `.gone-ID-PID-START`. A bunker killed at any instant leaves at
// most one of these (and files that writeAtomic had not renamed yet), which
// the next command removes once their maker (pid and start time) is gone.

import { SysError } from "../sys/errno";
import { fileType, listDir, removePath } from "../sys/fs";
import { isAlive, startTime } from "../sys/proc";

const ENOTEMPTY = 39;

export type TempKind = "new" | "gone";

let own: string | undefined;

/** This process, as a pid and start time: a pid alone is reused. */
function ownTag(): string {
  own ??= `${process.pid}-${startTime(process.pid) ?? 0}`;
  return own;
}

export function tempName(kind: TempKind, id: string): string {
  return `.${kind}-${id}-${ownTag()}`;
}

export interface TempEntry {
  kind: TempKind;
  id: string;
  pid: number;
  start: number;
}

export function parseTempName(name: string): TempEntry | null {
  const m = name.match(/^\.(new|gone)-([0-9a-f]{12})-(\d+)-(\d+)$/);
  if (!m) return null;
  return { kind: m[1] as TempKind, id: m[2]!, pid: Number(m[3]), start: Number(m[4]) };
}

/** Whether the process that made `t` has gone, so nobody will finish (or still use) it. */
export const abandonedTemp = (t: TempEntry) => !isAlive(t.pid, t.start);

/**
 * Removes a directory and what is in it, never following a symlink (only
 * the link goes); what cannot be removed stays for a later try.
 */
export function removeTree(dir: string, depth = 0): void {
  for (const f of listDir(dir)) {
    const path = `${dir}/${f}`;
    try {
      if (depth < 16 && fileType(path) === "dir") removeTree(path, depth + 1);
      else removePath(path);
    } catch {
      // the rmdir below fails and leaves the directory for a later try
    }
  }
  try {
    removePath(dir, true);
  } catch (e) {
    if (!(e instanceof SysError && e.errno === ENOTEMPTY)) throw e;
  }
}

/** writeAtomic's temporary files (`NAME.PID.tmp`). */
export const isTempFile = (name: string) => /\.\d+\.tmp$/.test(name);

/**
 * Removes writeAtomic's temporary files in `dir`. Call holding the lock every
 * writer of `dir` holds: then any such file is one whose writer was killed
 * between creating and renaming it.
 */
export function clearTempFiles(dir: string): void {
  for (const f of listDir(dir)) if (isTempFile(f)) removePath(`${dir}/${f}`);
}
