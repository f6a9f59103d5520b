// bunker inspect ID|NAME...

import { jsonText, writeOut } from "../output";
import { currentStatus, isDamaged, killedWithSupervisor, resolveEntry } from "../runtime/store";
import { UsageError, type OptionDefs } from "../options";
import { parseCommand } from "./usage";

const options: OptionDefs = {};

export async function inspect(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, { name: "inspect", description: "Show containers' state as JSON", positional: "ID|NAME..." });
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError("inspect: no container given");
  const out = parsed.rest.map((ref) => {
    const s = resolveEntry(ref);
    // All that is known of a damaged one: its id, its names, and what is wrong with its state.
    if (isDamaged(s)) return { id: s.id, name: s.names[0] ?? null, status: "damaged", damaged: true, problem: s.problem };
    const status = currentStatus(s);
    const running = status === "running";
    return {
      ...s,
      status: running && s.paused ? "paused" : status,
      paused: running && s.paused === true,
      oomKilled: s.oomKilled === true,
      killedWithSupervisor: killedWithSupervisor(s),
      ...(status === "stopped" ? { pid: undefined, pidStart: undefined, namespaces: undefined } : {}),
    };
  });
  await writeOut(`${jsonText(out, 2)}\n`);
  return 0;
}
