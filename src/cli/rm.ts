// bunker rm [-f] ID...

import { writeOut } from "../output";
import { BunkerError } from "../runtime/errors";
import { signalContainer, waitStopped } from "../runtime/lifecycle";
import { currentStatus, readState, removeState, resolveContainer, supervisorAlive, withLock } from "../runtime/store";
import { UsageError, type OptionDefs } from "./options";
import { parseCommand } from "./usage";

const options: OptionDefs = {
  force: { type: "boolean", alias: ["f"], description: "Kill running containers first" },
};

export async function rm(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, { name: "rm", description: "Remove containers' state", positional: "ID|NAME..." });
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError("rm: no container given");
  const states = parsed.rest.map(resolveContainer);
  for (const s of states) {
    if (currentStatus(s) === "running" || (s.status === "created" && supervisorAlive(s))) {
      if (!parsed.values.force) throw new BunkerError(`container ${s.name ?? s.id} is running: stop it first, or use rm -f`);
      signalContainer(s, 9);
      await waitStopped(s.id, 10_000);
    }
  }
  for (const s of states) {
    // A --rm container's own bunker may have removed it meanwhile.
    if (readState(s.id) === null) continue;
    withLock(s.id, () => removeState(s));
  }
  await writeOut(parsed.rest.map((r) => `${r}\n`).join(""));
  return 0;
}
