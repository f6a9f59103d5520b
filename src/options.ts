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

/** A message's opening for `command`: the global options (command "") have none but bunker's own. */
const said = (command: string) => (command ? `${command}: ` : "");

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
      if (!found) throw new UsageError(`${said(command)}unknown flag --${name}`);
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
