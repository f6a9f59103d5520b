// bunker rm [-f] ID...

import { BunkerError } from "../errors";
import { removeContainer, removeDamaged } from "../runtime/remove";
import { clearLeftovers, currentStatus, damagedError, isDamaged, resolveEntry, type ContainerState } from "../runtime/store";
import { UsageError, type OptionDefs } from "../options";
import { forEach } from "./each";
import { parseCommand } from "./usage";

const options: OptionDefs = {
  force: { type: "boolean", alias: ["f"], description: "Kill running containers first; remove damaged ones" },
  volumes: { type: "boolean", alias: ["v"], description: "Also remove the anonymous volumes made for them (-v PATH); named volumes stay" },
};

/** rm -v: the anonymous volumes the container was made with (not those --volumes-from lent it). */
async function removeOwnVolumes(s: ContainerState): Promise<void> {
  const uses = s.spec.bunker.volumes ?? [];
  if (uses.some((v) => v.anonymous)) (await import("../runtime/volume-store")).removeAnonymousVolumes(uses);
}

export async function rm(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, { name: "rm", description: "Remove containers' state", positional: "ID|NAME...", examples: ["bunker rm web", "bunker rm -f $(bunker ps -aq)"] });
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError("rm: no container given");
  const force = parsed.values.force === true;
  clearLeftovers();
  // One removal per container, however many references name it: a second would wait for the lock
  // the first holds, in this same process, for ever.
  const removals = new Map<string, Promise<void>>();
  let images = false;
  const code = await forEach(parsed.rest, resolveEntry, (entry, ref) => {
    if (!force) {
      if (isDamaged(entry)) return Promise.reject(damagedError(entry, ref));
      if (currentStatus(entry) !== "stopped") return Promise.reject(new BunkerError(`container ${entry.name ?? entry.id} is running: stop it first, or use rm -f`));
    }
    if (!isDamaged(entry) && (entry.spec.bunker.image || parsed.values.volumes)) images = true;
    let removal = removals.get(entry.id);
    if (!removal) {
      removal = isDamaged(entry) ? removeDamaged(entry) : removeContainer(entry, force).then(() => (parsed.values.volumes === true ? removeOwnVolumes(entry) : undefined));
      removals.set(entry.id, removal);
    }
    return removal;
  });
  // An image container's own directory may hold files of a user's other IDs: removed through the helper.
  if (images) await (await import("../runtime/userns-helper")).sweepLeftovers();
  return code;
}
