// A command's flags, runc style, and its --help.

import { parseOptions, type OptionDefs, type Parsed } from "../options";

/** --help of an OCI command: its usage line, on stdout, and status 0. */
export class HelpRequest extends Error {}

/** A command's flags, runc style. */
export function parseOci(argv: readonly string[], defs: OptionDefs, usage: string): Parsed {
  const parsed = parseOptions(argv, defs, usage.split(" ")[0]!);
  if (parsed.help) throw new HelpRequest(`usage: bunker ${usage}\n${Object.entries(defs).filter(([, d]) => d.description).map(([k, d]) => `  --${k}${d.valueHint ? ` ${d.valueHint}` : ""}  ${d.description}\n`).join("")}`);
  return parsed;
}
