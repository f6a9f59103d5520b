// Helper records: one file per user-mode helper (helpers/<id>.json under the
// state directory), written before the helper starts and again once its pid
// is known. A container's own directory can be gone (--rm) by the time a
// later bunker looks for a helper a killed bunker left; this one stays until
// the helper is stopped.

import { listDir, makeDir, readText, removePath, writeAtomic } from "../sys/fs";
import type { HelperName } from "./helpers";

export interface HelperRecord {
  id: string;
  name: HelperName;
  /** Where pasta writes its pid: known before it runs. */
  pidFile?: string;
  pid?: number;
  pidStart?: number;
}

const path = (dir: string, id: string) => `${dir}/${id}.json`;

export function writeHelperRecord(dir: string, r: HelperRecord): void {
  makeDir(dir.slice(0, dir.lastIndexOf("/")));
  makeDir(dir);
  writeAtomic(path(dir, r.id), JSON.stringify(r));
}

export function listHelperRecords(dir: string): HelperRecord[] {
  const out: HelperRecord[] = [];
  for (const f of listDir(dir)) {
    if (!/^[0-9a-f]{12}\.json$/.test(f)) continue;
    try {
      const r = JSON.parse(readText(`${dir}/${f}`)) as HelperRecord;
      if (typeof r?.id === "string" && (r.name === "pasta" || r.name === "slirp4netns")) out.push(r);
    } catch {
      // written atomically: a file that does not parse is not ours
    }
  }
  return out;
}

export function removeHelperRecord(dir: string, r: HelperRecord): void {
  if (r.pidFile) removePath(r.pidFile);
  removePath(path(dir, r.id));
}
