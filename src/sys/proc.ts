// Facts about processes from /proc.

import { readText } from "./fs";

/** Fields of /proc/PID/stat from the state (field 3) on; null if the process is gone. */
function statFields(pid: number): string[] | null {
  let stat: string;
  try {
    stat = readText(`/proc/${pid}/stat`);
  } catch {
    // the process is gone
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: count from the last ")".
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/**
 * The process's start time (clock ticks since boot, /proc/PID/stat field 22):
 * with the pid, it names one process for good, since pids are reused.
 */
export function startTime(pid: number): number | null {
  const t = Number(statFields(pid)?.[19]);
  return Number.isFinite(t) ? t : null;
}

/** Whether `pid` is still the process that started at `start` (and not a zombie). */
export function isAlive(pid: number, start: number): boolean {
  const f = statFields(pid);
  return f !== null && f[0] !== "Z" && f[0] !== "X" && Number(f[19]) === start;
}

/** Where this process's command line and environment strings lie in its memory (stat fields 48-51). */
export function ownArgsArea(): { argStart: bigint; argEnd: bigint; envStart: bigint; envEnd: bigint } | null {
  const f = statFields(process.pid);
  const v = f?.slice(45, 49).map((x) => (/^\d+$/.test(x) ? BigInt(x) : null));
  if (!v || v.length !== 4 || v.some((x) => x === null)) return null;
  const [argStart, argEnd, envStart, envEnd] = v as bigint[];
  if (argEnd! <= argStart! || envEnd! < envStart!) return null;
  return { argStart: argStart!, argEnd: argEnd!, envStart: envStart!, envEnd: envEnd! };
}
