// OCI masked and read-only paths, once /proc and /sys are mounted. Whether a
// path is a file or a directory is only known inside: each masked path gets
// both attempts, and the one that does not fit fails with ENOTDIR, ignored.

import type { ChildProgram } from "../child/program";
import { AT, MOUNT_ATTR, MS } from "../sys/constants";
import { Errno } from "../sys/errno";
import { MOUNT_ATTR_LAYOUT } from "../sys/layouts";
import { planRemount } from "./remount";

const MISSING = [Errno.ENOENT, Errno.ENOTDIR];

/**
 * `remount`, where mount_setattr is missing (before Linux 5.12): the MS flags
 * of the mount a path lies on, for a bind remount of the path alone. That
 * bind is then not recursive: a mount below a read-only path (none in the
 * container's own /proc and /sys) is left out rather than left writable.
 */
export function planMaskedPaths(p: ChildProgram, masked: readonly string[], readonly: readonly string[], remount?: (path: string) => number): void {
  for (const path of masked) {
    p.call(`mask ${path} (a directory)`, "mount", [p.str("tmpfs"), p.str(path), p.str("tmpfs"), MS.RDONLY, 0], { ignore: MISSING });
    p.call(`mask ${path} (a file)`, "mount", [p.str("/dev/null"), p.str(path), 0, MS.BIND, 0], { ignore: MISSING });
  }
  const attr = p.arena.words([MOUNT_ATTR.RDONLY, 0, 0, 0]);
  for (const path of readonly) {
    p.call(`bind ${path} onto itself`, "mount", [p.str(path), p.str(path), 0, MS.BIND | (remount ? 0 : MS.REC), 0], { ignore: [Errno.ENOENT] });
    if (remount) planRemount(p, path, remount(path), MOUNT_ATTR.RDONLY, 0, `make ${path} read-only`, true);
    else p.call(`make ${path} read-only`, "mount_setattr", [AT.FDCWD, p.str(path), AT.RECURSIVE, attr, MOUNT_ATTR_LAYOUT.SIZE], { ignore: [Errno.ENOENT] });
  }
}
