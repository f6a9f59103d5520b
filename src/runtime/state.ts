// Where bunker keeps per-container state: /run/bunker for root,
// $XDG_RUNTIME_DIR/bunker for a user (or /tmp/bunker-UID), private to the caller.

import { inMemory, makeDir, privateDir } from "../sys/fs";
import { BunkerError } from "../errors";

let cached: string | null = null;
let chosen: string | null = null;

/**
 * Another state directory for this command (runc's --root): a client keeps
 * its containers there, apart from bunker's own. Made if missing, and held to
 * the same rules (the caller's own, private).
 */
export function useStateDir(path: string): void {
  chosen = path;
  cached = null;
}

/** The missing parents of `path`, each made 0711 as runc makes them: passable, not listable. */
function makeParents(path: string): void {
  const parts = path.split("/").filter(Boolean);
  for (let i = 1; i < parts.length; i++) makeDir(`/${parts.slice(0, i).join("/")}`, 0o711);
}

/** Where the state directory is, without making it. */
export function stateDirPath(): string {
  const uid = process.geteuid?.() ?? 0;
  const xdg = process.env.XDG_RUNTIME_DIR;
  return chosen ?? (uid === 0 ? "/run/bunker" : xdg ? `${xdg}/bunker` : `/tmp/bunker-${uid}`);
}

export function stateDir(): string {
  if (cached) return cached;
  const uid = process.geteuid?.() ?? 0;
  const path = stateDirPath();
  try {
    // A client's --root may lie below directories not made yet (containerd's /run/containerd/runc/NAMESPACE).
    if (chosen !== null) makeParents(path);
    cached = privateDir(path, uid);
  } catch (e) {
    throw new BunkerError(`state directory ${path}: ${(e as Error).message}`);
  }
  return cached;
}

/**
 * A private directory in memory for short-lived files (the C compiler's
 * headers): the state directory when it is on tmpfs, else one in /dev/shm.
 * Undefined when neither can be had safely; callers then use the default.
 */
export function scratchDir(): string | undefined {
  const state = stateDir();
  if (inMemory(state)) return state;
  const uid = process.geteuid?.() ?? 0;
  if (!inMemory("/dev/shm")) return undefined;
  try {
    return privateDir(`/dev/shm/bunker-${uid}`, uid);
  } catch {
    // someone else's, or not ours to make: the state directory is used instead
    return undefined;
  }
}
