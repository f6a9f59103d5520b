// Reading a detached container's log (log-writer.ts, native/logfile.h):
// its files oldest first (container.log.N ... container.log.1,
// container.log), each line one json-file record; and following the
// current file as it grows and rotates.

import { closeSync, fstatSync, openSync, readdirSync, readSync, statSync } from "node:fs";
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

/** A file read from `offset` on, whole lines only: the records and where the next read starts. */
export function readFrom(path: string, offset: number): { records: LogRecord[]; next: number; inode: number } | null {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    // rotated away, or the container is gone
    return null;
  }
  try {
    return readFd(fd, offset);
  } finally {
    closeSync(fd);
  }
}

/** An open log file read from `offset` on, whole lines only (its size and inode from the descriptor, which a rotation does not change). */
export function readFd(fd: number, offset: number): { records: LogRecord[]; next: number; inode: number } {
  const st = fstatSync(fd);
  const size = st.size;
  if (size < offset) offset = 0;
  const chunks: Buffer[] = [];
  let at = offset;
  const buf = Buffer.alloc(1 << 20);
  while (at < size) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, size - at), at);
    if (n <= 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
    at += n;
  }
  const data = Buffer.concat(chunks);
  const end = data.lastIndexOf(0x0a) + 1;
  return { records: parseRecords(data.subarray(0, end).toString("utf8")), next: offset + end, inode: st.ino };
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
