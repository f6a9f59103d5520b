// Reading a detached container's log (log-writer.ts, native/logfile.h):
// its files oldest first (container.log.N ... container.log.1,
// container.log), each line one json-file record; and following the
// current file as it grows and rotates.

import { fstatSync, openSync, readdirSync, readSync } from "node:fs";
import { basename, dirname } from "node:path";

export const LOG_NAME = "container.log";

export interface LogRecord {
  log: string;
  stream: "stdout" | "stderr";
  time: string;
}

/** The records of a text of json-file lines; a line that is not one (cut short by a crash) is skipped. */
export function parseRecords(text: string): LogRecord[] {
  const out: LogRecord[] = [];
  const lines = text.split("\n").filter((l) => l !== "");
  // All at once where every line is whole (one parse, not one per line); line by line where one is not.
  try {
    const all = JSON.parse(`[${lines.join(",")}]`) as LogRecord[];
    if (all.every((r) => typeof r.log === "string" && (r.stream === "stdout" || r.stream === "stderr") && typeof r.time === "string")) return all;
  } catch {
    // a line that is no record: each is looked at below
  }
  for (const line of lines) {
    if (line === "") continue;
    try {
      const r = JSON.parse(line) as LogRecord;
      if (typeof r.log === "string" && (r.stream === "stdout" || r.stream === "stderr") && typeof r.time === "string") out.push(r);
    } catch {
      // a line a killed writer left unfinished
    }
  }
  return out;
}

/** The log's files, oldest first. */
export function logFiles(path: string): string[] {
  const dir = dirname(path);
  const name = basename(path);
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    // the container is gone
    return [];
  }
  const rotated = entries
    .map((e) => (e.startsWith(`${name}.`) ? Number(e.slice(name.length + 1)) : NaN))
    .filter((n) => Number.isInteger(n) && n > 0)
    .sort((a, b) => b - a)
    .map((n) => `${path}.${n}`);
  return [...rotated, ...(entries.includes(name) ? [path] : [])];
}

/** Nanoseconds since the epoch of an RFC 3339 time (as a bigint: nanoseconds do not fit a double). */
export function timeNanos(time: string): bigint {
  const m = /^(.*?)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(time);
  if (!m) return -1n;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return -1n;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? "").padEnd(9, "0"));
}

/** Bytes read at once: a log of any size is read in pieces of this. */
const PIECE = 8 << 20;

/**
 * The records of an open log file from `offset` on, whole lines only, in
 * pieces of at most 8 MiB; its size and inode come from the descriptor, which
 * a rotation does not change. `next` is where reading stopped.
 */
export function* readFd(fd: number, offset: number): Generator<{ records: LogRecord[]; next: number; inode: number }> {
  const st = fstatSync(fd);
  const size = st.size;
  let at = size < offset ? 0 : offset;
  const buf = Buffer.alloc(PIECE);
  while (at < size) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, size - at), at);
    if (n <= 0) return;
    const end = buf.subarray(0, n).lastIndexOf(0x0a) + 1;
    // A line longer than a piece cannot be a record of ours (those stay under 100 KiB): it is passed over.
    const used = end > 0 ? end : n === PIECE ? n : 0;
    if (used === 0) return;
    yield { records: end > 0 ? parseRecords(buf.subarray(0, end).toString("utf8")) : [], next: at + used, inode: st.ino };
    at += used;
  }
}

/** The log's files, oldest first, each opened now: renames after this do not change what is read. */
export function openLogFiles(path: string): { fd: number; inode: number }[] {
  const out: { fd: number; inode: number }[] = [];
  for (const f of logFiles(path)) {
    try {
      const fd = openSync(f, "r");
      out.push({ fd, inode: fstatSync(fd).ino });
    } catch {
      // rotated away between listing and opening
    }
  }
  return out;
}
