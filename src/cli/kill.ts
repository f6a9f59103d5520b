// bunker kill [-s SIGNAL] ID...

import { writeOut } from "../output";
import { BunkerError } from "../errors";
import { parseSignal, signalContainer } from "../runtime/lifecycle";
import { resolveContainer } from "../runtime/store";
import { UsageError, type OptionDefs } from "../options";
import { parseCommand } from "./usage";

const options: OptionDefs = {
  signal: { type: "string", alias: ["s"], valueHint: "SIGNAL", description: "Signal name or number (default KILL)" },
};

export async function kill(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, { name: "kill", description: "Send a signal to containers' first process", positional: "ID|NAME..." });
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError("kill: no container given");
  const sig = parseSignal((parsed.values.signal as string | undefined) ?? "KILL");
  const states = parsed.rest.map(resolveContainer);
  for (const s of states) if (!(await signalContainer(s, sig))) throw new BunkerError(`container ${s.name ?? s.id} is not running`);
  await writeOut(parsed.rest.map((r) => `${r}\n`).join(""));
  return 0;
}
