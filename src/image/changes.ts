// What a container changed in its image's root filesystem, as docker diff
// lists it: A (added), C (changed), D (deleted), read from its upper
// directory (overlayfs's whiteouts, or fuse-overlayfs's .wh. files, are
// deletions) against the image's layers. Names only: no file is opened, and
// nothing is followed through a symlink, in the upper directory or below.

import { lstatSync, readdirSync } from "node:fs";
import { AT, O, RESOLVE } from "../sys/constants";
import { cstr } from "../sys/fs";
import { Errno } from "../sys/errno";
import { closeFd, trySys } from "../sys/libc";
import { FUSE_OPAQUE_MARKER, OPAQUE_MARKER, WHITEOUT_PREFIX } from "./unpack";
import { OPEN_HOW_LAYOUT } from "../sys/layouts";

export interface Change {
  kind: "A" | "C" | "D";
  path: string;
}


/** Whether the image's layers (top first, as open directories) show something at `rel`. */
function inImage(layers: readonly number[], rel: string): boolean {
  for (const fd of layers) {
    const how = new BigUint64Array([BigInt(O.PATH | O.NOFOLLOW | O.CLOEXEC), 0n, BigInt(RESOLVE.NO_SYMLINKS | RESOLVE.BENEATH)]);
    const r = trySys("openat2", fd, cstr(rel), how, OPEN_HOW_LAYOUT.SIZE);
    // A symlink on the way: something of the image is there, if not this.
    if (r === -Errno.ELOOP) return true;
    if (r < 0) continue;
    try {
      const st = lstatSync(`/proc/self/fd/${r}`);
      // overlayfs's whiteout in a lower layer: the image itself removed it.
      return !(st.isCharacterDevice() && st.rdev === 0);
    } catch {
      // gone meanwhile: as if absent here
      continue;
    } finally {
      closeFd(r);
    }
  }
  return false;
}

/** The changes in `upper` over the image's `lower` layers (bottom first), sorted by path. */
export function changesOf(upper: string, lower: readonly string[]): Change[] {
  const layers: number[] = [];
  const out: Change[] = [];
  try {
    for (const l of [...lower].reverse()) {
      const fd = trySys("openat", AT.FDCWD, cstr(l), O.RDONLY | O.DIRECTORY | O.CLOEXEC, 0);
      if (fd >= 0) layers.push(fd);
    }
    // Each directory through a descriptor opened from its parent without following a link: a running
    // container swapping a name for a symlink cannot turn the walk to another tree.
    const walk = (dirFd: number, rel: string, added: boolean) => {
      let names: string[];
      try {
        names = readdirSync(`/proc/self/fd/${dirFd}`);
      } catch {
        // unreadable: nothing below it to tell
        return;
      }
      for (const name of names.sort()) {
        if (name === OPAQUE_MARKER || name === FUSE_OPAQUE_MARKER) continue;
        const path = `${rel}/${name}`;
        if (name.startsWith(WHITEOUT_PREFIX)) {
          out.push({ kind: "D", path: `${rel}/${name.slice(WHITEOUT_PREFIX.length)}` });
          continue;
        }
        let st;
        try {
          st = lstatSync(`/proc/self/fd/${dirFd}/${name}`);
        } catch {
          // removed meanwhile
          continue;
        }
        if (st.isCharacterDevice() && st.rdev === 0) {
          out.push({ kind: "D", path });
          continue;
        }
        const isNew = added || !inImage(layers, path.slice(1));
        out.push({ kind: isNew ? "A" : "C", path });
        if (!st.isDirectory()) continue;
        const fd = trySys("openat", dirFd, cstr(name), O.RDONLY | O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC, 0);
        if (fd < 0) continue;
        try {
          walk(fd, path, isNew);
        } finally {
          closeFd(fd);
        }
      }
    };
    const top = trySys("openat", AT.FDCWD, cstr(upper), O.RDONLY | O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC, 0);
    if (top < 0) return [];
    try {
      walk(top, "", false);
    } finally {
      closeFd(top);
    }
  } finally {
    for (const fd of layers) closeFd(fd);
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
