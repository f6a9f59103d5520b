// bunker pause ID... / bunker unpause ID...

import { setPaused } from "../runtime/cgroup";
import { resolveContainer } from "../runtime/store";
import { containerEvent } from "../runtime/events";
import { UsageError, type OptionDefs } from "../options";
import { forEach } from "./each";
import { parseCommand } from "./usage";

const options: OptionDefs = {};

async function freeze(argv: string[], paused: boolean): Promise<number> {
  const name = paused ? "pause" : "unpause";
  const parsed = await parseCommand(argv, options, {
    name,
    description: paused ? "Freeze every process of containers (cgroup freezer)" : "Let paused containers run again",
    positional: "ID|NAME...",
    examples: [`bunker ${name} web`],
    operands: "running",
  });
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError(`${name}: no container given`);
  return forEach(parsed.rest, resolveContainer, async (s) => {
    await setPaused(s, paused);
    containerEvent(paused ? "pause" : "unpause", s);
  });
}

export const pause = (argv: string[]) => freeze(argv, true);
export const unpause = (argv: string[]) => freeze(argv, false);
