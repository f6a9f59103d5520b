// Where bunker keeps per-container state: /run/bunker for root,
// $XDG_RUNTIME_DIR/bunker for a user (or /tmp/bunker-UID), private to the caller.

import { inMemory, privateDir } from "../sys/fs";
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

export function stateDir(): string {
  if (cached) return cached;
  const uid = process.geteuid?.() ?? 0;
  const xdg = process.env.XDG_RUNTIME_DIR;
  const path = chosen ?? (uid === 0 ? "/run/bunker" : xdg ? `${xdg}/bunker` : `/tmp/bunker-${uid}`);
  try {
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
    return undefined;
  }
}
