// A detached container's log, as bunker's own process writes it where the
// supervisor cannot become the native waiter (native/logfile.h, which does
// the same in a few kilobytes): docker's json-file records of what the
// container writes to stdout and stderr, a line each (pieces of 16 KiB for a
// longer one), in container.log beside its state, rotated at its size cap.

import { closeSync, openSync, renameSync, writeSync } from "node:fs";
import { Errno } from "../sys/errno";
import { trySys } from "../sys/libc";
import { F_SETFL, O, WALL, WNOHANG } from "../sys/constants";
import { LOG_NAME } from "./log-reader";

/**
 * What a detached container's supervisor holds for its output: the pipes'
 * read ends (with a terminal, `out` is its master once received, and `err`
 * -1), the container's directory (-1: no log, --log-driver none), the caps;
 * for its waiter, the attach socket and the write end of its stdin (-i).
 */
export interface LogPipes {
  out: number;
  err: number;
  /** Their write ends, the container's stdout and stderr: closed once it has them (then -1). */
  outWrite: number;
  errWrite: number;
  /** An open descriptor of the directory the log is written in, or -1 for none. */
  dir: number;
  maxSize: number;
  maxFiles: number;
  /** The listening attach socket (attach.ts), or -1. */
  sock: number;
  /** The write end of the container's stdin (-i), or -1; `inRead` is its read end, the container's, closed once it has it. */
  input: number;
  inRead: number;
  /** `out` is a terminal's master. */
  tty: boolean;
}

const LINE_MAX = 16384;

class LogFile {
  private fd: number;
  private size: number;

  constructor(
    private readonly dir: string,
    private readonly maxSize: number,
    private readonly maxFiles: number,
  ) {
    this.fd = openSync(`${dir}/${LOG_NAME}`, "a", 0o600);
    this.size = 0;
  }

  write(record: string): void {
    const bytes = Buffer.from(record);
    if (this.maxSize > 0 && this.size > 0 && this.size + bytes.length > this.maxSize) this.rotate();
    for (let off = 0; off < bytes.length; ) off += writeSync(this.fd, bytes, off);
    this.size += bytes.length;
  }

  private rotate(): void {
    closeSync(this.fd);
    for (let n = this.maxFiles - 1; n >= 1; n--) {
      try {
        renameSync(`${this.dir}/${LOG_NAME}${n - 1 ? `.${n - 1}` : ""}`, `${this.dir}/${LOG_NAME}.${n}`);
      } catch {
        // no such file yet
      }
    }
    this.fd = openSync(`${this.dir}/${LOG_NAME}`, "w", 0o600);
    this.size = 0;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** One record, as docker's json-file writes it. */
export const logRecord = (log: string, stream: "stdout" | "stderr", time: string): string => `${JSON.stringify({ log, stream, time })}\n`;

/** RFC 3339 with nanoseconds, in UTC. */
export function logTime(ms = performance.timeOrigin + performance.now()): string {
  const iso = new Date(Math.floor(ms)).toISOString();
  const nanos = Math.floor((ms % 1) * 1e6);
  return `${iso.slice(0, 23)}${String(nanos).padStart(6, "0")}Z`;
}

/**
 * Writes the log of the container process `pid` (this process's child)
 * from its pipes until it has ended and they are done, then reaps it:
 * resolves to its wait status.
 */
export async function pumpLog(pid: number, p: LogPipes): Promise<number> {
  const file = p.dir >= 0 ? new LogFile(`/proc/self/fd/${p.dir}`, p.maxSize, p.maxFiles) : null;
  const streams = [
    { fd: p.out, name: "stdout" as const, line: [] as Uint8Array[], len: 0 },
    { fd: p.err, name: "stderr" as const, line: [] as Uint8Array[], len: 0 },
  ];
  for (const s of streams) trySys("fcntl", s.fd, F_SETFL, O.NONBLOCK);
  const buf = new Uint8Array(65536);
  const decoder = new TextDecoder();
  const emit = (s: (typeof streams)[number], time: string) => {
    file?.write(logRecord(decoder.decode(Buffer.concat(s.line)), s.name, time));
    s.line = [];
    s.len = 0;
  };
  const status = new Int32Array(1);
  let ended: number | undefined;
  let quietSince = 0;
  try {
    for (;;) {
      let got = false;
      const time = logTime();
      for (const s of streams) {
        if (s.fd < 0) continue;
        const n = trySys("read", s.fd, buf, buf.length);
        if (n === -Errno.EAGAIN || n === -Errno.EINTR) continue;
        if (n <= 0) {
          // Its end (the supervisor closes the descriptor).
          if (s.len > 0) emit(s, time);
          s.fd = -1;
          continue;
        }
        got = true;
        let start = 0;
        for (let i = 0; i < n; i++) {
          if (buf[i] !== 0x0a && s.len + (i - start) + 1 < LINE_MAX) continue;
          s.line.push(buf.slice(start, i + 1));
          s.len += i + 1 - start;
          start = i + 1;
          emit(s, time);
        }
        if (start < n) {
          s.line.push(buf.slice(start, n));
          s.len += n - start;
        }
      }
      if (ended === undefined && trySys("wait4", pid, status, WNOHANG | WALL, 0) === pid) {
        ended = status[0]!;
        quietSince = Date.now();
      }
      if (got) quietSince = Date.now();
      // Ended, and its pipes at their end (or silent for a second: a process that kept them open is not waited for).
      if (ended !== undefined && (streams.every((s) => s.fd < 0) || Date.now() - quietSince > 1000)) break;
      if (!got) await Bun.sleep(ended === undefined ? 20 : 5);
    }
    for (const s of streams) if (s.len > 0) emit(s, logTime());
    return ended;
  } finally {
    file?.close();
  }
}
