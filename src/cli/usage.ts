// Help text, rendered by citty from the same option definitions the parser uses.

import { writeOut } from "../output";
import { parseOptions, toCittyArgs, type OptionDefs, type Parsed } from "../options";

export async function printUsage(
  name: string,
  description: string,
  options: OptionDefs,
  positional: string,
  examples: readonly string[] = [],
): Promise<void> {
  // citty decides on colours when it loads; none unless stdout is a terminal.
  const { isatty } = await import("node:tty");
  if (!isatty(1)) process.env.NO_COLOR = "1";
  const { defineCommand, renderUsage } = await import("citty");
  const title = name ? `bunker ${name}` : "bunker";
  const cmd = defineCommand({ meta: { name: title, description }, args: toCittyArgs(options) });
  let text = await renderUsage(cmd);
  text = text.replace(/^(.*USAGE.*)$/m, (line) => `${line.replace(/\s+$/, "")} ${positional}`);
  const lines = [text];
  if (examples.length) lines.push("", "EXAMPLES", "", ...examples.map((e) => `  ${e}`));
  await writeOut(`${lines.join("\n")}\n`);
}

export interface CommandHelp {
  name: string;
  description: string;
  positional: string;
  examples?: readonly string[];
}

/**
 * The start of every command: parse its options, and answer --help. Returns
 * null when help was printed (the command is done).
 */
export async function parseCommand(argv: readonly string[], options: OptionDefs, help: CommandHelp): Promise<Parsed | null> {
  const parsed = parseOptions(argv, options, help.name);
  if (!parsed.help) return parsed;
  await printUsage(help.name, help.description, options, help.positional, help.examples ?? []);
  return null;
}
