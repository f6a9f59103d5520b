// A command's flags, runc style, and its --help.

import { parseOptions, UsageError, type OptionDefs, type Parsed } from "../options";

/** --help of an OCI command: its usage line, on stdout, and status 0. */
export class HelpRequest extends Error {}

/** A command's flags, runc style. */
export function parseOci(argv: readonly string[], defs: OptionDefs, usage: string): Parsed {
  const parsed = parseOptions(argv, defs, usage.split(" ")[0]!);
  if (parsed.help) throw new HelpRequest(`usage: bunker ${usage}\n${Object.entries(defs).filter(([, d]) => d.description).map(([k, d]) => `  --${k}${d.valueHint ? ` ${d.valueHint}` : ""}  ${d.description}\n`).join("")}`);
  return parsed;
}

/** The one container id a command takes (its only argument). */
export function oneId(rest: string[], usage: string): string {
  if (rest.length !== 1) throw new UsageError(`${usage.split(" ")[0]}: expects exactly one container id: bunker ${usage}`);
  return rest[0]!;
}

/** --preserve-fds N: how many descriptors from 3 on pass to the process (0 without the flag). */
export function preserveFds(v: unknown): number {
  if (v === undefined) return 0;
  const n = Number(v);
  if (!/^\d+$/.test(String(v)) || n > 1 << 20) throw new UsageError(`--preserve-fds: "${v}" is not a number of descriptors`);
  return n;
}
