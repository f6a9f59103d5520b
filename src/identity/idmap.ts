// Which container IDs map to which host IDs. Pure arithmetic: the caller's
// own ID goes to one container ID, the subordinate ranges fill the others in
// order around it, so no container ID and no host ID is used twice.

import type { LinuxIDMapping } from "../spec/types";
import type { IdRange } from "./subid";

export type IdMapping = LinuxIDMapping;

/** Ranges with `id` cut out (a user's own ID must not be mapped twice). */
export function withoutId(ranges: readonly IdRange[], id: number): IdRange[] {
  const out: IdRange[] = [];
  for (const r of ranges) {
    if (id < r.start || id >= r.start + r.count) out.push(r);
    else {
      if (id > r.start) out.push({ start: r.start, count: id - r.start });
      if (id < r.start + r.count - 1) out.push({ start: id + 1, count: r.start + r.count - id - 1 });
    }
  }
  return out;
}

/** Ranges with overlaps between them removed, keeping the first claim. */
export function disjoint(ranges: readonly IdRange[]): IdRange[] {
  const taken: IdRange[] = [];
  const out: IdRange[] = [];
  for (const r of ranges) {
    let pieces: IdRange[] = [r];
    for (const t of taken) {
      pieces = pieces.flatMap((p) => {
        const end = p.start + p.count;
        const tEnd = t.start + t.count;
        if (tEnd <= p.start || t.start >= end) return [p];
        const parts: IdRange[] = [];
        if (t.start > p.start) parts.push({ start: p.start, count: t.start - p.start });
        if (tEnd < end) parts.push({ start: tEnd, count: end - tEnd });
        return parts;
      });
    }
    out.push(...pieces);
    taken.push(r);
  }
  return out;
}

/**
 * The caller's `hostId` becomes container ID `target`; the subordinate
 * `ranges` fill container IDs 0, 1, 2, ... skipping `target`.
 */
export function buildMappings(hostId: number, target: number, ranges: readonly IdRange[]): IdMapping[] {
  const maps: IdMapping[] = [{ containerID: target, hostID: hostId, size: 1 }];
  let next = 0;
  for (const r of disjoint(withoutId(ranges, hostId))) {
    let host = r.start;
    let left = r.count;
    while (left > 0) {
      if (next === target) next++;
      // Up to the caller's container ID, or the whole remainder past it.
      const room = next < target ? Math.min(left, target - next) : left;
      maps.push({ containerID: next, hostID: host, size: room });
      next += room;
      host += room;
      left -= room;
    }
  }
  return maps.sort((a, b) => a.containerID - b.containerID);
}

/** Mappings for a caller with no usable ranges: just the one ID. */
export function singleMapping(hostId: number, target: number): IdMapping[] {
  return [{ containerID: target, hostID: hostId, size: 1 }];
}

/** Root's private user namespace: container IDs from 0 onwards over root's ranges; root itself unmapped. */
export function rangesOnly(ranges: readonly IdRange[]): IdMapping[] {
  const maps: IdMapping[] = [];
  let next = 0;
  for (const r of disjoint(withoutId(ranges, 0))) {
    maps.push({ containerID: next, hostID: r.start, size: r.count });
    next += r.count;
  }
  return maps;
}

/** Whether container ID `id` is mapped. */
export function isMapped(maps: readonly IdMapping[], id: number): boolean {
  return maps.some((m) => id >= m.containerID && id < m.containerID + m.size);
}

/** The host ID behind container ID `id`, or undefined. */
export function hostIdOf(maps: readonly IdMapping[], id: number): number | undefined {
  const m = maps.find((m) => id >= m.containerID && id < m.containerID + m.size);
  return m ? m.hostID + (id - m.containerID) : undefined;
}

/** The container ID behind host ID `id`, or undefined where none maps to it. */
export function containerIdOf(maps: readonly IdMapping[], id: number): number | undefined {
  const m = maps.find((m) => id >= m.hostID && id < m.hostID + m.size);
  return m ? m.containerID + (id - m.hostID) : undefined;
}

/** The text of /proc/PID/uid_map (or gid_map). */
export function mapText(maps: readonly IdMapping[]): string {
  return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join("");
}

/** newuidmap/newgidmap arguments after the pid. */
export function helperArgs(maps: readonly IdMapping[]): string[] {
  return maps.flatMap((m) => [String(m.containerID), String(m.hostID), String(m.size)]);
}
