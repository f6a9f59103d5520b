// A pull's progress: on a terminal, one bar per layer redrawn in place (as
// docker and podman show it); elsewhere a plain line when a layer starts and
// when it is done; with -q, nothing.

import { formatBytes } from "../spec/resources";

export interface Progress {
  /** A layer of `total` bytes begins. */
  start(id: string, total: number): void;
  /** `n` more of its bytes arrived. */
  advance(id: string, n: number): void;
  /** It is done (`note`: "done", "already here"). */
  finish(id: string, note: string): void;
  /** Everything is drawn as it ends. */
  close(): void;
}

export const silentProgress: Progress = { start() {}, advance() {}, finish() {}, close() {} };

/** One line per event, for logs and pipes. */
export function lineProgress(write: (line: string) => void): Progress {
  return {
    start: (id, total) => write(`${id}: downloading ${formatBytes(total)}`),
    advance() {},
    finish: (id, note) => write(`${id}: ${note}`),
    close() {},
  };
}

const WIDTH = 30;

/** Bars redrawn in place on a terminal, at most ten times a second. */
export function barProgress(write: (text: string) => void): Progress {
  const rows: { id: string; total: number; done: number; note?: string }[] = [];
  let drawn = 0;
  let last = 0;
  const line = (r: (typeof rows)[number]) => {
    if (r.note) return `${r.id}: ${r.note}`;
    const frac = r.total > 0 ? Math.min(1, r.done / r.total) : 0;
    const full = Math.round(frac * WIDTH);
    const bar = `${"=".repeat(Math.max(0, full - 1))}${full > 0 && full < WIDTH ? ">" : full === WIDTH ? "=" : ""}${" ".repeat(WIDTH - full)}`;
    return `${r.id}: [${bar}] ${formatBytes(r.done)}/${formatBytes(r.total)}`;
  };
  const draw = (force: boolean) => {
    const now = Date.now();
    if (!force && now - last < 100) return;
    last = now;
    // Up to the first row, then each row over what was there.
    const up = drawn > 0 ? `\x1b[${drawn}A` : "";
    write(`${up}${rows.map((r) => `\r\x1b[2K${line(r)}\n`).join("")}`);
    drawn = rows.length;
  };
  const find = (id: string) => rows.find((r) => r.id === id);
  return {
    start(id, total) {
      rows.push({ id, total, done: 0 });
      draw(true);
    },
    advance(id, n) {
      const r = find(id);
      if (!r) return;
      r.done += n;
      draw(false);
    },
    finish(id, note) {
      const r = find(id) ?? rows[rows.push({ id, total: 0, done: 0 }) - 1]!;
      r.note = note;
      draw(true);
    },
    close() {
      draw(true);
    },
  };
}
