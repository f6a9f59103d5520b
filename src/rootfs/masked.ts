// OCI masked and read-only paths, once /proc and /sys are mounted. Whether a
// path is a file or a directory is only known inside: each masked path gets
// both attempts, and the one that does not fit fails with ENOTDIR, ignored.

import type { ChildProgram } from "../child/program";
import { AT, MOUNT_ATTR, MS } from "../sys/constants";
import { Errno } from "../sys/errno";
import { MOUNT_ATTR_LAYOUT } from "../sys/layouts";

const MISSING = [Errno.ENOENT, Errno.ENOTDIR];

export function planMaskedPaths(p: ChildProgram, masked: readonly string[], readonly: readonly string[]): void {
  for (const path of masked) {
    p.call(`mask ${path} (a directory)`, "mount", [p.str("tmpfs"), p.str(path), p.str("tmpfs"), MS.RDONLY, 0], { ignore: MISSING });
    p.call(`mask ${path} (a file)`, "mount", [p.str("/dev/null"), p.str(path), 0, MS.BIND, 0], { ignore: MISSING });
  }
  const attr = p.arena.words([MOUNT_ATTR.RDONLY, 0, 0, 0]);
  for (const path of readonly) {
    p.call(`bind ${path} onto itself`, "mount", [p.str(path), p.str(path), 0, MS.BIND | MS.REC, 0], { ignore: [Errno.ENOENT] });
    p.call(`make ${path} read-only`, "mount_setattr", [AT.FDCWD, p.str(path), AT.RECURSIVE, attr, MOUNT_ATTR_LAYOUT.SIZE], { ignore: [Errno.ENOENT] });
  }
}
