// bunker kill [-s SIGNAL] ID...

import { BunkerError } from "../errors";
import { parseSignal, signalContainer } from "../runtime/lifecycle";
import { resolveContainer } from "../runtime/store";
import { holdRestarts } from "../runtime/restart";
import { SIGNALS } from "../sys/constants";
import { UsageError, type OptionDefs } from "../options";
import { forEach } from "./each";
import { parseCommand } from "./usage";

const options: OptionDefs = {
  signal: { type: "string", alias: ["s"], valueHint: "SIGNAL", description: "Signal name or number (default KILL)" },
};

export async function kill(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, { name: "kill", description: "Send a signal to containers' first process", positional: "ID|NAME...", examples: ["bunker kill web", "bunker kill -s HUP web"], operands: "running" });
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError("kill: no container given");
  const sig = parseSignal((parsed.values.signal as string | undefined) ?? "KILL");
  return forEach(parsed.rest, resolveContainer, async (s) => {
    // A signal that ends it (SIGKILL, its stop signal) keeps its restart policy from starting it again, as docker's kill.
    if (sig === SIGNALS.SIGKILL || sig === (s.spec.bunker.stopSignal ?? SIGNALS.SIGTERM)) holdRestarts(s.id);
    if (!(await signalContainer(s, sig))) throw new BunkerError(`container ${s.name ?? s.id} is not running`);
  });
}
