// The sandbox without a rootfs replaces the host's /tmp, /run, /dev, /proc
// and /sys with its own. Unmounting the host's directory takes every mount
// below it along only when that directory is itself a mount point; where it
// is not (a /run on the root filesystem with /run/netns or /run/user/UID
// mounted below it), those mounts would stay in the container's mount table,
// hidden under the new one but listed, so each is detached by its own path.

import type { ChildProgram } from "../child/program";
import { MNT_DETACH } from "../sys/constants";
import { Errno } from "../sys/errno";

/** "\040" and the like: mountinfo escapes space, tab, newline and backslash in octal. */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The mount points listed in a mountinfo text (field 5), in its order. */
export function mountPointsOf(mountinfo: string): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split("\n")) {
    const point = line.split(" ")[4];
    if (point !== undefined) out.push(unescape(point));
  }
  return out;
}

/**
 * Detaches the host's mounts below `dir`. Detaching one takes its subtree
 * along, so only the topmost of each subtree gets a step (one per mount
 * stacked on that path). In a user namespace the kernel refuses (EINVAL):
 * mounts copied into it are locked to their parents.
 */
export function planDetachHostMounts(p: ChildProgram, dir: string, hostMounts: readonly string[]): void {
  const prefix = `${dir.replace(/\/+$/, "")}/`;
  const below = hostMounts.filter((m) => m.startsWith(prefix));
  for (const m of below) {
    if (below.some((o) => m.startsWith(`${o}/`))) continue;
    p.call(`detach the host's ${m}`, "umount2", [p.str(m), MNT_DETACH], { ignore: [Errno.EINVAL, Errno.ENOENT, Errno.EPERM] });
  }
}
