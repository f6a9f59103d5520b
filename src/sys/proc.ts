// Facts about processes from /proc.

import { readText } from "./fs";

/**
 * The process's start time (clock ticks since boot, /proc/PID/stat field 22):
 * with the pid, it names one process for good, since pids are reused.
 */
export function startTime(pid: number): number | null {
  let stat: string;
  try {
    stat = readText(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: count from the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const t = Number(fields[19]);
  return Number.isFinite(t) ? t : null;
}

/** Whether `pid` is still the process that started at `start` (and not a zombie). */
export function isAlive(pid: number, start: number): boolean {
  let stat: string;
  try {
    stat = readText(`/proc/${pid}/stat`);
  } catch {
    return false;
  }
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[0] !== "Z" && fields[0] !== "X" && Number(fields[19]) === start;
}
