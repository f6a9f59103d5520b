// A strict option parser for commands that run another command: options stop
// at the first word that is not one (or at "--"), so `bunker run IMG sh -c x`
// leaves "-c" to sh. Unknown options are errors, repeatable ones collect.

import type { ArgsDef } from "citty";
import { BunkerError } from "./errors";

export interface OptionDef {
  type: "string" | "boolean";
  alias?: string[];
  description: string;
  valueHint?: string;
  multiple?: boolean;
  /** The fixed values a shell offers for it (it may take others: container:ID). */
  values?: readonly string[];
}

export type OptionDefs = Record<string, OptionDef>;

export class UsageError extends BunkerError {
  override name = "UsageError";
}

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  rest: string[];
  help: boolean;
}

function lookup(defs: OptionDefs, name: string): [string, OptionDef] | undefined {
  if (defs[name]) return [name, defs[name]];
  for (const [key, def] of Object.entries(defs)) if (def.alias?.includes(name)) return [key, def];
  return undefined;
}

/** Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known word closest to `word` (a mistyped flag or command), if one is
 * close enough to be what was meant: a word it begins, or one a few edits away.
 */
export function closest(word: string, known: readonly string[]): string | undefined {
  const starts = known.filter((k) => k.startsWith(word) && word.length >= 3);
  if (starts.length === 1) return starts[0];
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.min(3, Math.floor(word.length / 3)));
  for (const k of known) {
    const d = distance(word, k);
    if (d <= bestDistance && (best === undefined || d < bestDistance)) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/** ": did you mean X?" when one is close, else "". */
export const suggestion = (word: string, known: readonly string[], prefix = ""): string => {
  const c = closest(word, known);
  return c !== undefined ? `: did you mean ${prefix}${c}?` : "";
};

/** A message's opening for `command`: the global options (command "") have none but bunker's own. */
const said = (command: string) => (command ? `${command}: ` : "");

/** Every long name the definitions know, aliases too. */
function longNames(defs: OptionDefs): string[] {
  return Object.entries(defs).flatMap(([k, d]) => [k, ...(d.alias ?? []).filter((a) => a.length > 1)]);
}

export function parseOptions(argv: readonly string[], defs: OptionDefs, command: string): Parsed {
  const values: Parsed["values"] = {};
  let help = false;
  const set = (key: string, def: OptionDef, v: string | boolean) => {
    if (def.multiple) ((values[key] as string[] | undefined) ?? (values[key] = [])).push(v as string) as unknown;
    else values[key] = v;
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      i++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") break;
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      const found = lookup(defs, name);
      if (!found) throw new UsageError(`${said(command)}unknown flag --${name}${suggestion(name, longNames(defs), "--")}`);
      const [key, def] = found;
      if (def.type === "boolean") {
        if (eq >= 0) {
          const v = arg.slice(eq + 1);
          if (v !== "true" && v !== "false") throw new UsageError(`${said(command)}--${name} takes true or false, not "${v}"`);
          set(key, def, v === "true");
        } else set(key, def, true);
        continue;
      }
      let v: string;
      if (eq >= 0) v = arg.slice(eq + 1);
      else {
        if (i + 1 >= argv.length) throw new UsageError(`${said(command)}flag --${name} needs a value`);
        v = argv[++i]!;
      }
      set(key, def, v);
      continue;
    }
    // Short options: -d, -it (clustered booleans), -e VALUE, -eVALUE.
    for (let j = 1; j < arg.length; j++) {
      const name = arg[j]!;
      const found = lookup(defs, name);
      if (!found) throw new UsageError(`${said(command)}unknown flag -${name}`);
      const [key, def] = found;
      if (def.type === "boolean") {
        set(key, def, true);
        continue;
      }
      let v = arg.slice(j + 1);
      if (v === "") {
        if (i + 1 >= argv.length) throw new UsageError(`${said(command)}flag -${name} needs a value`);
        v = argv[++i]!;
      }
      set(key, def, v);
      break;
    }
  }
  return { values, rest: argv.slice(i), help };
}

/** Refuses an empty value of an option naming a file or directory: "" would quietly mean the current directory. */
export function requirePaths(values: Parsed["values"], flags: Record<string, string>): void {
  for (const [key, flag] of Object.entries(flags)) {
    const v = values[key];
    if (v === "" || (Array.isArray(v) && v.includes(""))) throw new UsageError(`${flag}: the path is empty`);
  }
}

/** The same definitions in citty's shape, for its usage renderer. */
export function toCittyArgs(defs: OptionDefs): ArgsDef {
  const out: ArgsDef = {};
  for (const [name, d] of Object.entries(defs)) {
    // citty renders every alias with one dash: pass it the short ones, name the long ones.
    const short = d.alias?.filter((a) => a.length === 1);
    const long = d.alias?.filter((a) => a.length > 1).map((a) => `--${a}`) ?? [];
    const description = long.length ? `${d.description} (also ${long.join(", ")})` : d.description;
    out[name] =
      d.type === "boolean"
        ? { type: "boolean", description, alias: short }
        : { type: "string", description, alias: short, valueHint: d.valueHint };
  }
  return out;
}
