// Reading the events log (events.ts): its rotated file, then the current
// one, then the current one as it grows and rotates. The files are the
// caller's own, but nothing in them is trusted: a symlink, a FIFO or someone
// else's file is refused (never followed, never waited on), a line that is
// not an event is passed over, and a line over LINE_MAX is skipped whole
// without being held in memory.

import { closeSync, fstatSync, openSync, readSync, watch, type FSWatcher } from "node:fs";
import { BunkerError } from "../errors";
import { O } from "../sys/constants";
import { inodeOf, kindOf, statFd } from "../sys/fs";
import { EVENT_TYPES, EVENTS_NAME, nowNanos, type EventRecord, type EventType } from "./events";

/** Our lines are a few hundred bytes (labels make them longer): anything past this is not one of ours. */
const LINE_MAX = 64 << 10;
const PIECE = 256 << 10;

/**
 * Opens a log file for reading: null when there is none. Opened as a path
 * first, so a FIFO or a device is never opened at all.
 */
export function openEventFile(path: string): number | null {
  const op = `read events ${path}`;
  let pathFd: number;
  try {
    pathFd = openSync(path, O.PATH | O.NOFOLLOW | O.CLOEXEC);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new BunkerError(`${op}: ${(e as Error).message}`);
  }
  try {
    const st = statFd(pathFd, op);
    if (st.type !== "file") throw new BunkerError(`${op}: it is ${kindOf(st.type)}, not a regular file`);
    if (st.uid !== (process.geteuid?.() ?? 0)) throw new BunkerError(`${op}: it belongs to uid ${st.uid}, not to you`);
    return openSync(`/proc/self/fd/${pathFd}`, O.RDONLY | O.NONBLOCK | O.NOCTTY | O.CLOEXEC);
  } finally {
    closeSync(pathFd);
  }
}

const ACTOR_ID = /^[\x20-\x7e]{1,512}$/;

/** An event from one line, or null when the line is none (cut short, hand-made, of another shape). */
export function parseEvent(line: string): EventRecord | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null) return null;
  const e = v as Record<string, unknown>;
  const actor = e.Actor as Record<string, unknown> | undefined;
  if (!EVENT_TYPES.includes(e.Type as EventType) || typeof e.Action !== "string" || typeof actor !== "object" || actor === null) return null;
  if (typeof actor.ID !== "string" || !ACTOR_ID.test(actor.ID)) return null;
  const attrs = actor.Attributes;
  if (typeof attrs !== "object" || attrs === null || Object.values(attrs).some((a) => typeof a !== "string")) return null;
  // The exact nanoseconds from the text: JSON.parse rounds them to a double.
  const nano = /"timeNano":(\d{1,19})\}$/.exec(line);
  if (!nano || typeof e.time !== "number") return null;
  const timeNano = BigInt(nano[1]!);
  // docker's field order, its older fields first (for containers and images).
  const old = e.Type === "container" || e.Type === "image" ? { status: e.Action, id: actor.ID, ...(typeof e.from === "string" ? { from: e.from } : {}) } : {};
  return { ...old, Type: e.Type as EventType, Action: e.Action, Actor: { ID: actor.ID, Attributes: attrs as Record<string, string> }, scope: "local", time: Number(timeNano / 1_000_000_000n), timeNano };
}

/** Reads whole lines of an open file from an offset on; what is left after the last newline waits for the next read. */
export class LineReader {
  /** Where the next read starts. */
  offset = 0;
  /** Inside a line over LINE_MAX: passed over up to its newline. */
  private skipping = false;
  private readonly buf = Buffer.alloc(PIECE);

  constructor(readonly fd: number) {}

  /** The events of the lines complete now. */
  read(): EventRecord[] {
    const out: EventRecord[] = [];
    for (;;) {
      const n = readSync(this.fd, this.buf, 0, PIECE, this.offset);
      if (n <= 0) return out;
      const piece = this.buf.subarray(0, n);
      let start = 0;
      for (let nl = piece.indexOf(0x0a); nl >= 0; nl = piece.indexOf(0x0a, start)) {
        if (!this.skipping && nl - start <= LINE_MAX) {
          const e = parseEvent(piece.subarray(start, nl).toString("utf8"));
          if (e) out.push(e);
        }
        this.skipping = false;
        start = nl + 1;
      }
      // A line without its newline yet: read again from its start, unless it is already too long to be ours.
      if (n - start > LINE_MAX) {
        this.skipping = true;
        start = n;
      }
      this.offset += start;
      if (start === 0 || n < PIECE) return out;
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}

/**
 * How often a follower looks at the log without being told of a change
 * (inotify on the directory tells it at once): polling alone every 250 ms
 * cost 0.25 % of a core while idle, the watch with this fallback about 0.1 %.
 */
const POLL_MS = 1000;

/** Resolves when the directory's events files change (as inotify tells), or after `ms`. */
function changeWatcher(dir: string): { next(ms: number): Promise<void>; close(): void } {
  let wake: (() => void) | null = null;
  // A change told while no one waited (the last one was being read): the next wait ends at once.
  let pending = false;
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(dir, { persistent: false }, (_what, name) => {
      if (typeof name !== "string" || !name.startsWith(EVENTS_NAME)) return;
      if (wake) wake();
      else pending = true;
    });
  } catch {
    // no inotify to be had (out of watches): polling alone, more often
  }
  const every = watcher ? POLL_MS : POLL_MS / 4;
  return {
    next: (ms) =>
      new Promise<void>((resolve) => {
        if (pending) {
          pending = false;
          return resolve();
        }
        const timer = setTimeout(() => {
          wake = null;
          resolve();
        }, Math.min(ms, every));
        wake = () => {
          clearTimeout(timer);
          wake = null;
          resolve();
        };
      }),
    close: () => watcher?.close(),
  };
}

export interface FollowOptions {
  /** Read what the log holds first (else start at its end). */
  history: boolean;
  /** Stop once this time (nanoseconds since the epoch) has passed; without it, never. */
  until?: bigint;
  show(batch: EventRecord[]): Promise<void>;
}

/**
 * Shows the events of the log in `dir`: with history, the rotated file and
 * the current one; then, unless `until` has passed, what is appended, across
 * rotations (the renamed file is read to its end before the new one).
 */
export async function followEvents(dir: string, o: FollowOptions): Promise<void> {
  const path = `${dir}/${EVENTS_NAME}`;
  const done = () => o.until !== undefined && nowNanos() > o.until;
  if (o.history) {
    const fd = openEventFile(`${path}.1`);
    if (fd !== null) {
      const r = new LineReader(fd);
      try {
        await o.show(r.read());
      } finally {
        r.close();
      }
    }
  }
  const open = (): LineReader | null => {
    const fd = openEventFile(path);
    return fd === null ? null : new LineReader(fd);
  };
  const changes = changeWatcher(dir);
  let current = open();
  try {
    if (current && !o.history) current.offset = fstatSync(current.fd).size;
    for (;;) {
      if (current) await o.show(current.read());
      if (done()) return;
      // Until a change, or the end of the window.
      await changes.next(o.until === undefined ? POLL_MS : Math.max(1, Number((o.until - nowNanos()) / 1_000_000n) + 1));
      const now = inodeOf(path);
      if (current && now !== inodeOf("", current.fd)) {
        // Rotated (or removed): the rest of the old file, then the new one from its start.
        await o.show(current.read());
        current.close();
        current = null;
      }
      if (!current && now !== null) current = open();
    }
  } finally {
    changes.close();
    current?.close();
  }
}
