// bunker kill [-s SIGNAL] ID...

import { writeOut } from "../output";
import { BunkerError } from "../runtime/errors";
import { parseSignal, signalContainer } from "../runtime/lifecycle";
import { resolveContainer } from "../runtime/store";
import { parseOptions, UsageError, type OptionDefs } from "./options";
import { printUsage } from "./usage";

const options: OptionDefs = {
  signal: { type: "string", alias: ["s"], valueHint: "SIGNAL", description: "Signal name or number (default KILL)" },
};

export async function kill(argv: string[]): Promise<number> {
  const parsed = parseOptions(argv, options, "kill");
  if (parsed.help) {
    await printUsage("kill", "Send a signal to containers' first process", options, "ID|NAME...");
    return 0;
  }
  if (parsed.rest.length === 0) throw new UsageError("kill: no container given");
  const sig = parseSignal((parsed.values.signal as string | undefined) ?? "KILL");
  const states = parsed.rest.map(resolveContainer);
  for (const s of states) if (!signalContainer(s, sig)) throw new BunkerError(`container ${s.name ?? s.id} is not running`);
  await writeOut(parsed.rest.map((r) => `${r}\n`).join(""));
  return 0;
}
