// Keeping a container's namespaces alive: each /proc/PID/ns/TYPE file is
// bind-mounted onto DIR/TYPE (the walkthrough's trick), so the namespace
// outlives every process in it until unpinned.

import { AT, MNT_DETACH, MS, O } from "../sys/constants";
import { errnoMessage, Errno } from "../sys/errno";
import { closeFd, trySys } from "../sys/libc";
import { listDir, makeDir, removePath } from "../sys/fs";
import { BunkerError } from "./errors";
import { NS_ORDER, ownNamespaces } from "./exec";

const cstr = (s: string) => new TextEncoder().encode(`${s}\0`);

/** Pins the namespaces `pid` has of its own into `dir`; returns the types pinned. */
export function pinNamespaces(pid: number, dir: string): string[] {
  const own = ownNamespaces(pid);
  const created = makeDir(dir, 0o755);
  const pinned: string[] = [];
  for (const [type, flag] of NS_ORDER) {
    if ((own & flag) === 0) continue;
    const target = `${dir}/${type}`;
    const fd = trySys("openat", AT.FDCWD, cstr(target), O.RDONLY | O.CREAT | O.CLOEXEC, 0o444);
    if (fd < 0) throw new BunkerError(`create ${target}: ${errnoMessage(-fd)}`);
    closeFd(fd);
    const r = trySys("mount", cstr(`/proc/${pid}/ns/${type}`), cstr(target), 0, MS.BIND, 0);
    if (r < 0) {
      removePath(target);
      for (const t of pinned) unpinOne(`${dir}/${t}`);
      if (created) removePath(dir, true);
      const hint = -r === Errno.EPERM ? ": pinning bind-mounts in the host's mount namespace, which needs root" : "";
      throw new BunkerError(`bind-mount /proc/${pid}/ns/${type} onto ${target}: ${errnoMessage(-r)}${hint}`);
    }
    pinned.push(type);
  }
  return pinned;
}

function unpinOne(path: string): void {
  const r = trySys("umount2", cstr(path), MNT_DETACH);
  if (r < 0 && r !== -Errno.EINVAL && r !== -Errno.ENOENT) throw new BunkerError(`unmount ${path}: ${errnoMessage(-r)}`);
  removePath(path);
}

/** Unmounts and removes DIR's namespace files, then DIR if that leaves it empty. */
export function unpinNamespaces(dir: string): string[] {
  const types = NS_ORDER.map(([t]) => t);
  const found = listDir(dir).filter((n) => types.includes(n));
  if (found.length === 0) throw new BunkerError(`no pinned namespaces in ${dir}`);
  for (const t of found) unpinOne(`${dir}/${t}`);
  if (listDir(dir).length === 0) removePath(dir, true);
  return found;
}
