// Containers and the volumes they use: a run takes each of its volumes
// (made on first use) and holds it, shared, until the container's state
// records it; `volume rm` and `volume prune` take a volume alone and refuse
// one that a container's state names or a starting run holds.

import { fileType, listDir, lockFile, removePath, writeAtomic } from "../sys/fs";
import { BunkerError } from "../errors";
import { imageHasDir } from "../image/files";
import type { VolumeUse } from "../spec/types";
import { currentStatus, listStates, resolveContainer, type ContainerState } from "./store";
import { ANONYMOUS_LABEL, anonymousName, createVolume, discardVolume, lockIsCurrent, lockVolume, volumePath } from "./volume-store";

/** A volume a run holds: its data directory, and whether the run made it for itself. */
export interface HeldVolume {
  name: string;
  data: string;
  anonymous: boolean;
}

/**
 * Volume `name` (a new anonymous one when ""), made if missing, held with
 * its lock shared for as long as this process lives (the lock is closed on
 * exec: the container never holds it), so that no `volume rm` removes it
 * before the container's state names it.
 */
export function takeVolume(name: string): HeldVolume {
  const anonymous = name === "";
  const chosen = anonymous ? anonymousName() : name;
  for (let tries = 0; tries < 100; tries++) {
    createVolume(chosen, anonymous ? { [ANONYMOUS_LABEL]: "" } : {});
    const p = volumePath(chosen);
    if (!p) continue;
    const held = lockVolume(p.dir, true, true)!;
    // Removed (and perhaps made again) while this run waited for the lock: take the one there now.
    if (!lockIsCurrent(p.dir, held)) {
      held.release();
      continue;
    }
    return { name: chosen, data: p.data, anonymous };
  }
  throw new BunkerError(`volume ${chosen}: removed again each time it was made: is a volume prune running in a loop?`);
}

/**
 * Fills a volume that is empty at first use with what the image's `layers`
 * have at `destination`, owners and modes kept (as docker and podman do).
 * `copy` is the store's copier (userns-helper.ts's copyTrees: through the
 * helper for a user with ranges). The copy never follows a symlink: the
 * image's path is walked without them, and the files are made beneath the
 * volume without them. A marker says a copy is under way: one a killed
 * bunker left is emptied and made again.
 */
export async function fillVolume(v: HeldVolume, layers: readonly string[], destination: string, copy: (layers: readonly string[], dest: string, under: string) => Promise<void>): Promise<void> {
  const dir = v.data.slice(0, -"/_data".length);
  const marker = `${dir}/copying`;
  const held = lockFile(`${dir}/copy.lock`)!;
  try {
    if (fileType(marker) !== null) {
      // A copy cut short: what it made goes the way a removed volume goes, and the copy starts again.
      for (const e of listDir(v.data)) discardVolume(`${v.data}/${e}`);
    } else {
      let entries: string[];
      try {
        entries = listDir(v.data);
      } catch {
        // a container made it unreadable to the user: not empty, as far as anyone can tell
        return;
      }
      if (entries.length > 0) return;
    }
    if (!imageHasDir(layers, destination)) {
      removePath(marker);
      return;
    }
    // A running container could change the volume while the copy goes on: what it holds is its own, left as it is.
    if (fileType(marker) === null && listStates().some((s) => currentStatus(s) !== "stopped" && s.spec.bunker.volumes?.some((u) => u.name === v.name))) return;
    writeAtomic(marker, destination, 0o600);
    await copy(layers, v.data, destination);
    removePath(marker);
  } catch (e) {
    throw new BunkerError(`volume ${v.name}: copy the image's ${destination} into it: ${(e as Error).message.replace(/^bunker: /, "")}`);
  } finally {
    held.release();
  }
}

/** Containers (by name, else id) whose state names volume `name`. */
export function usersOfVolume(name: string, states: readonly ContainerState[] = listStates()): string[] {
  return states.filter((s) => s.spec.bunker.volumes?.some((v) => v.name === name)).map((s) => s.name ?? s.id);
}

/** Names of the volumes containers use. */
export function volumesInUse(states: readonly ContainerState[] = listStates()): Set<string> {
  return new Set(states.flatMap((s) => (s.spec.bunker.volumes ?? []).flatMap((v) => (v.name !== undefined ? [v.name] : []))));
}

/**
 * Removes volume `name`: refused while a container uses it (kept or
 * running; `force` does not change that, as docker's does not) or a run is
 * starting with it. A volume that does not exist is an error unless `force`.
 */
export function removeVolume(name: string, force: boolean): void {
  const p = volumePath(name);
  if (!p) {
    if (force) return;
    throw new BunkerError(`remove volume ${name}: no such volume`);
  }
  const inUse = (users: string[]) => new BunkerError(`remove volume ${name}: volume is in use by container${users.length === 1 ? "" : "s"} ${users.join(", ")}: remove ${users.length === 1 ? "it" : "them"} first`);
  // Named first: a foreground run holds the lock for as long as its container runs.
  const users = usersOfVolume(name);
  if (users.length) throw inUse(users);
  const held = lockVolume(p.dir, false, false);
  if (!held) throw new BunkerError(`remove volume ${name}: volume is in use by a container being started`);
  try {
    if (!lockIsCurrent(p.dir, held)) throw new BunkerError(`remove volume ${name}: it was removed and made again meanwhile: try again`);
    const now = usersOfVolume(name);
    if (now.length) throw inUse(now);
    discardVolume(p.dir);
  } finally {
    held.release();
  }
}

/**
 * --volumes-from CONTAINER[:ro|rw]: what that container bound (-v, --mount,
 * its own --volumes-from, and its image's volumes; not its tmpfs), at the
 * same paths, read-only as it had them unless the mode says otherwise; the
 * paths in `covered` (the run's own mounts) are left out. Its volumes are
 * held as a run's own are.
 */
export function volumesFrom(refs: readonly { ref: string; mode?: "ro" | "rw" }[], covered: readonly string[]): VolumeUse[] {
  const out: VolumeUse[] = [];
  const taken = new Set(covered);
  for (const { ref, mode } of refs) {
    const s = resolveContainer(ref);
    const uses: VolumeUse[] = [...(s.spec.bunker.volumes ?? []), ...(s.spec.bunker.image?.volumes ?? []).map((v) => ({ ...v, readonly: false }))];
    for (const u of uses) {
      if (taken.has(u.destination)) continue;
      taken.add(u.destination);
      const readonly = mode === undefined ? u.readonly : mode === "ro";
      // Not this container's own: the container it came from keeps it.
      if (u.name !== undefined) out.push({ destination: u.destination, source: takeVolume(u.name).data, readonly, name: u.name });
      else out.push({ destination: u.destination, source: u.source, readonly });
    }
  }
  return out;
}
