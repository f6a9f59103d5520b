// Reading a file of an image before any container of it runs (its
// /etc/passwd and /etc/group, for --user): the topmost layer that has the
// path decides, and a whiteout there means the image has none. Each layer is
// read as a root of its own: no symlink in it leads out.

import { lstatSync } from "node:fs";
import { readInRoot } from "../sys/fs";

/** The file `path` of the image whose layers are `lower` (bottom first), or undefined. */
export function imageFile(lower: readonly string[], path: string): string | undefined {
  for (let i = lower.length - 1; i >= 0; i--) {
    let st;
    try {
      st = lstatSync(`${lower[i]}${path}`);
    } catch {
      // not in this layer: the one below may have it
      continue;
    }
    // overlayfs's whiteout: removed by this layer.
    if (st.isCharacterDevice() && st.rdev === 0) return undefined;
    return readInRoot(lower[i]!, path) ?? undefined;
  }
  return undefined;
}

/** Whether the image has a directory at `path` (its /etc, where bunker binds hostname and hosts). */
export function imageHasDir(lower: readonly string[], path: string): boolean {
  for (let i = lower.length - 1; i >= 0; i--) {
    try {
      const st = lstatSync(`${lower[i]}${path}`);
      return st.isDirectory();
    } catch {
      // not in this layer
    }
  }
  return false;
}
