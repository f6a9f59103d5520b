// bunker logs [-f] [--tail N] [--since T] [--until T] [-t] CONTAINER

import { closeSync as closeFd, fstatSync } from "node:fs";
import { BunkerError } from "../errors";
import { writeErr, writeOut } from "../output";
import { openLogFiles, readFd, timeNanos, type LogRecord } from "../runtime/log-reader";
import { currentStatus, readState, resolveContainer, supervisorAlive } from "../runtime/store";
import { UsageError, type OptionDefs } from "../options";
import { parseCommand } from "./usage";
import { durationNanos } from "../spec/duration";

const options: OptionDefs = {
  follow: { type: "boolean", alias: ["f"], description: "Keep printing what the container writes, until it stops" },
  tail: { type: "string", valueHint: "N", description: "Only the last N lines (default all)" },
  since: { type: "string", valueHint: "TIME", description: "Only lines from TIME on: 2026-11-30T10:00:00Z, a Unix time, or a duration before now (10m, 1h30m)" },
  until: { type: "string", valueHint: "TIME", description: "Only lines before TIME (same forms)" },
  timestamps: { type: "boolean", alias: ["t"], description: "Each line with the time it was written" },
};

/** --since and --until, as docker reads them, in nanoseconds since the epoch. */
export function parseLogTime(value: string, flag: string, now = BigInt(Date.now()) * 1_000_000n): bigint {
  if (/^\d+(\.\d{1,9})?$/.test(value)) {
    const [s, f = ""] = value.split(".");
    return BigInt(s!) * 1_000_000_000n + BigInt(f.padEnd(9, "0"));
  }
  const ago = durationNanos(value);
  if (ago !== null) return now - ago;
  const withZone = /(Z|[+-]\d\d:\d\d)$/.test(value) ? value : `${value}Z`;
  const t = timeNanos(/T/.test(withZone) ? withZone : `${withZone.replace(/Z$/, "")}T00:00:00Z`);
  if (t < 0n) throw new UsageError(`${flag} ${value}: not a time (use 2026-11-30T10:00:00Z, a Unix time, or a duration such as 10m)`);
  return t;
}

export async function logs(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, {
    name: "logs",
    description: "Print what a detached container wrote to stdout and stderr (each to the same stream here)",
    positional: "CONTAINER",
    operands: "running",
    examples: ["bunker logs -f web", "bunker logs --since 10m --tail 100 -t web"],
  });
  if (!parsed) return 0;
  const [ref, extra] = parsed.rest;
  if (ref === undefined) throw new UsageError("logs: no container given");
  if (extra !== undefined) throw new UsageError(`logs: unexpected argument "${extra}"`);
  const v = parsed.values;
  const tailText = v.tail as string | undefined;
  if (tailText !== undefined && tailText !== "all" && !/^\d+$/.test(tailText)) throw new UsageError(`logs: --tail ${tailText}: a number of lines, or all`);
  const tail = tailText === undefined || tailText === "all" ? undefined : Number(tailText);
  const since = v.since !== undefined ? parseLogTime(v.since as string, "--since") : undefined;
  const until = v.until !== undefined ? parseLogTime(v.until as string, "--until") : undefined;
  const s = resolveContainer(ref);
  if (!s.logPath) {
    const why = s.spec.bunker.log?.driver === "none" ? "it was run with --log-driver none" : "it was not run detached (-d): its output went where bunker's did";
    throw new BunkerError(`logs ${ref}: container ${s.name ?? s.id} has no log: ${why}`);
  }
  const stamps = v.timestamps === true;
  const show = async (records: LogRecord[]) => {
    let out = "";
    let err = "";
    for (const r of records) {
      if (since !== undefined || until !== undefined) {
        const t = timeNanos(r.time);
        if (since !== undefined && t < since) continue;
        if (until !== undefined && t >= until) continue;
      }
      const line = stamps ? `${r.time} ${r.log}` : r.log;
      if (r.stream === "stdout") {
        if (err) await writeErr(err);
        err = "";
        out += line;
      } else {
        if (out) await writeOut(out);
        out = "";
        err += line;
      }
    }
    if (out) await writeOut(out);
    if (err) await writeErr(err);
  };
  // What is there now: shown as it is read, or with --tail the last lines kept as it is read.
  let last: LogRecord[] = [];
  // Where reading stopped: the file (by inode, which a rotation keeps) and the offset in it.
  let at = { inode: -1, offset: 0 };
  const files = openLogFiles(s.logPath);
  try {
    for (const f of files) {
      at = { inode: fstatSync(f.fd).ino, offset: 0 };
      for (const r of readFd(f.fd, 0)) {
        if (tail === undefined) await show(r.records);
        else if (tail > 0) last = [...last, ...r.records].slice(-tail);
        at = { inode: r.inode, offset: r.next };
      }
    }
  } finally {
    for (const f of files) closeFd(f.fd);
  }
  if (tail !== undefined) await show(last);
  if (!v.follow) return 0;
  // Then what comes, across rotations, until the container has stopped and its log has nothing more.
  for (;;) {
    const state = readState(s.id);
    // Until its end is recorded, or its supervisor (which writes the log to the last byte first) is gone.
    const running = state !== null && state.status !== "stopped" && (currentStatus(state) !== "stopped" || supervisorAlive(state));
    let got = false;
    // The rest of the file reading stopped in (renamed since, maybe), then every newer one, oldest first.
    const open = openLogFiles(s.logPath);
    try {
      const from = open.findIndex((f) => f.inode === at.inode);
      for (const [i, f] of open.entries()) {
        if (from >= 0 && i < from) continue;
        if (i !== from) at = { inode: f.inode, offset: 0 };
        for (const r of readFd(f.fd, at.offset)) {
          if (r.records.length) got = true;
          await show(r.records);
          at = { inode: r.inode, offset: r.next };
        }
      }
    } finally {
      for (const f of open) closeFd(f.fd);
    }
    if (!running) return 0;
    if (!got) await Bun.sleep(50);
  }
}
