// bunker inspect ID|NAME...

import { writeOut } from "../output";
import { currentStatus, resolveContainer } from "../runtime/store";
import { UsageError, type OptionDefs } from "./options";
import { parseCommand } from "./usage";

const options: OptionDefs = {};

export async function inspect(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, { name: "inspect", description: "Show containers' state as JSON", positional: "ID|NAME..." });
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError("inspect: no container given");
  const out = parsed.rest.map((ref) => {
    const s = resolveContainer(ref);
    const status = currentStatus(s);
    const running = status === "running";
    return {
      ...s,
      status: running && s.paused ? "paused" : status,
      paused: running && s.paused === true,
      oomKilled: s.oomKilled === true,
      ...(!running ? { pid: undefined, pidStart: undefined, namespaces: undefined } : {}),
    };
  });
  await writeOut(`${JSON.stringify(out, null, 2)}\n`);
  return 0;
}
