// bunker start CONTAINER...: docker's start. Each stopped container (made by
// create, or ended) runs again, detached, with what it had: its root
// filesystem's changes, its volumes, its log. runc's start of a container an
// OCI client created is the OCI front end's (oci/route.ts tells them apart).

import { BunkerError } from "../errors";
import { startStopped } from "../runtime/detach";
import { currentStatus, resolveContainer } from "../runtime/store";
import { UsageError, type OptionDefs } from "../options";
import { forEach } from "./each";
import { parseCommand } from "./usage";

const options: OptionDefs = {};

export async function start(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, {
    name: "start",
    description: "Start stopped containers, detached",
    positional: "ID|NAME...",
    examples: ["bunker create --name db --rootfs ./alpine -- sleep 1d && bunker start db", "bunker start $(bunker ps -aq)"],
  });
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError("start: no container given");
  return forEach(parsed.rest, resolveContainer, async (s) => {
    // As docker: one that runs already is left as it is.
    if (currentStatus(s) !== "stopped") return;
    if (s.oci) throw new BunkerError(`container ${s.name ?? s.id} was created by an OCI client: its client starts it`);
    await startStopped(s.id);
  });
}
