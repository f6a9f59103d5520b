// Signals by name (KILL, SIGKILL, kill) or number, as kill, stop and an
// image's StopSignal give them.

import { SpecError } from "./validate";

const NAMES: Record<string, number> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12,
  PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22,
  URG: 23, XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, PWR: 30, SYS: 31,
};

/** A signal by name (KILL, SIGKILL, kill) or number. */
export function parseSignal(s: string): number {
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n >= 1 && n <= 64) return n;
  } else {
    const name = s.toUpperCase().replace(/^SIG/, "");
    const m = name.match(/^RTMIN(?:\+(\d+))?$/);
    if (m) return 34 + Number(m[1] ?? 0);
    if (NAMES[name] !== undefined) return NAMES[name]!;
  }
  throw new SpecError(`unknown signal "${s}"`);
}

/** A signal's name as people write it: SIGTERM, SIGRTMIN+3, or its number. */
export function signalName(n: number): string {
  const name = Object.keys(NAMES).find((k) => NAMES[k] === n);
  if (name) return `SIG${name}`;
  return n >= 34 && n <= 64 ? `SIGRTMIN${n > 34 ? `+${n - 34}` : ""}` : String(n);
}
