// bunker rm [-f] ID...

import { writeOut } from "../output";
import { BunkerError } from "../errors";
import { removeContainer, removeDamaged } from "../runtime/remove";
import { clearLeftovers, currentStatus, damagedError, isDamaged, resolveEntry } from "../runtime/store";
import { UsageError, type OptionDefs } from "../options";
import { parseCommand } from "./usage";

const options: OptionDefs = {
  force: { type: "boolean", alias: ["f"], description: "Kill running containers first; remove damaged ones" },
};

export async function rm(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, { name: "rm", description: "Remove containers' state", positional: "ID|NAME..." });
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError("rm: no container given");
  const force = parsed.values.force === true;
  clearLeftovers();
  const entries = parsed.rest.map((ref) => ({ ref, entry: resolveEntry(ref) }));
  if (!force) {
    for (const { ref, entry } of entries) {
      if (isDamaged(entry)) throw damagedError(entry, ref);
      if (currentStatus(entry) !== "stopped") throw new BunkerError(`container ${entry.name ?? entry.id} is running: stop it first, or use rm -f`);
    }
  }
  // One removal per container, however many references name it: a second would wait for the lock
  // the first holds, in this same process, for ever.
  const byId = new Map<string, (typeof entries)[number]["entry"]>();
  for (const { entry } of entries) byId.set(entry.id, entry);
  const ids = [...byId.keys()];
  const results = await Promise.allSettled(
    ids.map((id) => {
      const entry = byId.get(id)!;
      return isDamaged(entry) ? removeDamaged(entry) : removeContainer(entry, force);
    }),
  );
  const removed = new Set(ids.filter((_, i) => results[i]!.status === "fulfilled"));
  await writeOut(entries.filter(({ entry }) => removed.has(entry.id)).map(({ ref }) => `${ref}\n`).join(""));
  // An image container's own directory may hold files of a user's other IDs: removed through the helper.
  if ([...byId.values()].some((e) => !isDamaged(e) && e.spec.bunker.image)) await (await import("../runtime/userns-helper")).sweepLeftovers();
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  return 0;
}
