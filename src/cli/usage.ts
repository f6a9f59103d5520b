// Help text, rendered by citty from the same option definitions the parser uses.

import { writeOut } from "../output";
import { toCittyArgs, type OptionDefs } from "./options";

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
