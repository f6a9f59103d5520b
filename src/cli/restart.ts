// bunker restart [-t SECONDS] CONTAINER...: stop (as `stop` does) and start again.

import { BunkerError } from "../errors";
import { startStopped } from "../runtime/detach";
import { resolveContainer } from "../runtime/store";
import { UsageError, type OptionDefs } from "../options";
import { forEach } from "./each";
import { containerEvent } from "../runtime/events";
import { stopContainer } from "./stop";
import { parseCommand } from "./usage";

const options: OptionDefs = {
  time: { type: "string", alias: ["t"], valueHint: "SECONDS", description: "Grace time before SIGKILL (default the container's --stop-timeout, or 10)" },
};

export async function restart(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, {
    name: "restart",
    description: "Stop containers (their stop signal, then SIGKILL after the grace time) and start them again, detached",
    positional: "ID|NAME...",
    examples: ["bunker restart web", "bunker restart -t 2 web db"],
  });
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError("restart: no container given");
  const t = parsed.values.time as string | undefined;
  if (t !== undefined && !/^\d+(\.\d+)?$/.test(t)) throw new UsageError(`restart: -t ${t}: not a number of seconds`);
  return forEach(parsed.rest, resolveContainer, async (s) => {
    if (s.oci) throw new BunkerError(`container ${s.name ?? s.id} was created by an OCI client: its client restarts it`);
    if (s.autoRemove) throw new BunkerError(`container ${s.name ?? s.id} was run with --rm: it is removed when it stops, and cannot be started again`);
    await stopContainer(s, t !== undefined ? Number(t) : undefined);
    await startStopped(s.id);
    containerEvent("restart", s);
  });
}
