// /sys/fs/cgroup inside the container: the cgroup filesystems mounted anew
// from within its cgroup namespace, so they show only its own subtree, and
// read-only. A pure v2 host gets one cgroup2 mount; v1 and hybrid hosts a
// tmpfs with one mount per hierarchy, named as on the host.

import type { ChildProgram } from "../child/program";
import { AT, MOUNT_ATTR, MS } from "../sys/constants";
import { Errno } from "../sys/errno";
import { MOUNT_ATTR_LAYOUT } from "../sys/layouts";
import { has } from "../sys/kernel";
import { planRemount } from "./remount";

export interface CgroupfsView {
  /** One cgroup2 mount at /sys/fs/cgroup itself. */
  unified: boolean;
  /** With !unified: mounts below /sys/fs/cgroup. */
  hierarchies: { dir: string; fsType: "cgroup" | "cgroup2"; data: string }[];
  /** Names that lead to a co-mounted hierarchy (cpu -> cpu,cpuacct). */
  links: { name: string; target: string }[];
}

const ROOT = "/sys/fs/cgroup";
const FLAGS = MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RELATIME;

export function planCgroupfs(p: ChildProgram, view: CgroupfsView): void {
  const ro = p.arena.words([MOUNT_ATTR.RDONLY, 0, 0, 0]);
  if (view.unified) {
    p.call(`mount cgroup2 on ${ROOT}`, "mount", [p.str("cgroup2"), p.str(ROOT), p.str("cgroup2"), FLAGS, 0]);
    readOnly(p, ROOT, ro, false);
    return;
  }
  p.call(`mount tmpfs on ${ROOT}`, "mount", [p.str("tmpfs"), p.str(ROOT), p.str("tmpfs"), FLAGS, p.str("mode=755")]);
  for (const h of view.hierarchies) {
    const dir = `${ROOT}/${h.dir}`;
    p.call(`create ${dir}`, "mkdirat", [AT.FDCWD, p.str(dir), 0o555], { ignore: [Errno.EEXIST] });
    p.call(`mount ${h.fsType} (${h.data || "unified"}) on ${dir}`, "mount", [p.str(h.fsType), p.str(dir), p.str(h.fsType), FLAGS, h.data ? p.str(h.data) : 0]);
  }
  for (const l of view.links) {
    p.call(`link ${ROOT}/${l.name} to ${l.target}`, "symlinkat", [p.str(l.target), AT.FDCWD, p.str(`${ROOT}/${l.name}`)], { ignore: [Errno.EEXIST] });
  }
  if (has("mountSetattr")) p.call(`make ${ROOT} read-only`, "mount_setattr", [AT.FDCWD, p.str(ROOT), AT.RECURSIVE, ro, MOUNT_ATTR_LAYOUT.SIZE]);
  else for (const dir of [ROOT, ...view.hierarchies.map((h) => `${ROOT}/${h.dir}`)]) readOnly(p, dir, ro, true);
}

/** Every mount here was made with FLAGS: a bind remount keeps them where mount_setattr is missing (before Linux 5.12). */
function readOnly(p: ChildProgram, dir: string, ro: number, each: boolean): void {
  if (has("mountSetattr")) p.call(`make ${dir} read-only`, "mount_setattr", [AT.FDCWD, p.str(dir), 0, ro, MOUNT_ATTR_LAYOUT.SIZE]);
  else planRemount(p, dir, FLAGS, MOUNT_ATTR.RDONLY, 0, `make ${dir} read-only`, each);
}
