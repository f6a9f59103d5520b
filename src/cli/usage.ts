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
  const { defineCommand, renderUsage } = await import("citty");
  const cmd = defineCommand({ meta: { name: `bunker ${name}`, description }, args: toCittyArgs(options) });
  let text = await renderUsage(cmd);
  text = text.replace(/^(.*USAGE.*bunker \S+.*?)$/m, (line) => `${line.replace(/\s+$/, "")} ${positional}`);
  const lines = [text];
  if (examples.length) lines.push("", "EXAMPLES", "", ...examples.map((e) => `  ${e}`));
  await writeOut(`${lines.join("\n")}\n`);
}
