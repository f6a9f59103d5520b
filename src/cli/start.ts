// bunker start CONTAINER...: docker's start. Each stopped container (made by
// create, or ended) runs again, detached, with what it had: its root
// filesystem's changes, its volumes, its log. runc's start of a container an
// OCI client created is the OCI front end's (oci/route.ts tells them apart).

import { BunkerError } from "../errors";
import { startConnected, startStopped } from "../runtime/detach";
import { currentStatus, resolveContainer } from "../runtime/store";
import { UsageError, type OptionDefs } from "../options";
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from "../spec/detach-keys";
import { attachContainer, DETACH_KEYS_OPTION } from "./attach";
import { forEach } from "./each";
import { parseCommand } from "./usage";

const options: OptionDefs = {
  attach: { type: "boolean", alias: ["a"], description: "Attach to its output (and terminal) until it ends; its exit status is this command's" },
  interactive: { type: "boolean", alias: ["i"], description: "Attach your input too (a container created with -i)" },
  "detach-keys": DETACH_KEYS_OPTION,
};

export async function start(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, {
    name: "start",
    description: "Start stopped containers, detached",
    positional: "ID|NAME...",
    examples: ["bunker create --name db --rootfs ./alpine -- sleep 1d && bunker start db", "bunker start $(bunker ps -aq)"],
  });
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError("start: no container given");
  const v = parsed.values;
  if (v.attach || v.interactive) {
    if (parsed.rest.length !== 1) throw new UsageError("start: -a and -i attach to one container at a time");
    const keys = parseDetachKeys((v["detach-keys"] as string | undefined) ?? DEFAULT_DETACH_KEYS);
    return startAttached(parsed.rest[0]!, { noStdin: v.interactive !== true, sigProxy: true, keys });
  }
  return forEach(parsed.rest, resolveContainer, async (s) => {
    // As docker: one that runs already is left as it is.
    if (currentStatus(s) !== "stopped") return;
    if (s.oci) throw new BunkerError(`container ${s.name ?? s.id} was created by an OCI client: its client starts it`);
    await startStopped(s.id);
  });
}

/** start -a: attached before its first output (connected while it starts), until it ends or is detached from. */
async function startAttached(ref: string, o: { noStdin: boolean; sigProxy: boolean; keys: number[] }): Promise<number> {
  const s = resolveContainer(ref);
  if (currentStatus(s) !== "stopped") return attachContainer(ref, o);
  if (s.oci) throw new BunkerError(`container ${ref} was created by an OCI client: its client starts it`);
  return attachContainer(ref, o, await startConnected(s));
}
