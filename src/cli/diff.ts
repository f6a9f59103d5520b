// bunker diff CONTAINER: what a container of an image changed in its root
// filesystem, as docker diff lists it (A added, C changed, D deleted).

import { BunkerError } from "../errors";
import { jsonText, writeOut } from "../output";
import { resolveContainer } from "../runtime/store";
import { containerChanges } from "../runtime/userns-helper";
import type { Change } from "../image/changes";
import { UsageError, type OptionDefs } from "../options";
import { parseCommand } from "./usage";

const options: OptionDefs = {
  json: { type: "boolean", description: "JSON: [{kind, path}]" },
};

/**
 * The changes less the mount points bunker made for the container's own
 * mounts (/proc, /dev, /etc/hosts, volumes, ...), and a directory marked
 * changed only because one was made in it: docker keeps those in a layer of
 * their own, and lists none of them.
 */
export function withoutMountPoints(changes: readonly Change[], points: readonly string[]): Change[] {
  const own = new Set(points);
  const kept = changes.filter((c) => !(c.kind === "A" && [...own].some((p) => c.path === p || c.path.startsWith(`${p}/`))));
  const dropped = changes.filter((c) => !kept.includes(c));
  return kept.filter((c) => {
    if (c.kind !== "C") return true;
    const inside = (x: Change) => x.path.startsWith(`${c.path}/`);
    // Changed only by holding mount points: nothing of the container's own inside it.
    return !(dropped.some(inside) && !kept.some(inside));
  });
}

export async function diff(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, { name: "diff", description: "List what a container changed in its image's files: A added, C changed, D deleted", positional: "CONTAINER", examples: ["bunker diff web"] });
  if (!parsed) return 0;
  const [ref, extra] = parsed.rest;
  if (ref === undefined) throw new UsageError("diff: no container given");
  if (extra !== undefined) throw new UsageError(`diff: unexpected argument "${extra}"`);
  const s = resolveContainer(ref);
  const name = s.name ?? s.id;
  const image = s.spec.bunker.image;
  if (s.spec.bunker.rootMode !== "image" || !image) throw new BunkerError(`diff: container ${name} runs on ${s.spec.bunker.rootMode === "host" ? "the host's root" : "a directory (--rootfs)"}, not an image: there is nothing to compare it with`);
  if (image.driver === "copy") throw new BunkerError(`diff: container ${name}'s root is a copy of its image (--storage-driver copy): its changes are not kept apart`);
  const changes = withoutMountPoints(await containerChanges(image.upper, image.lower), [...s.spec.oci.mounts.map((m) => m.destination), "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"]);
  await writeOut(parsed.values.json ? `${jsonText(changes, 2)}\n` : changes.map((c) => `${c.kind} ${c.path}\n`).join(""));
  return 0;
}
