// Keeping a container's namespaces alive: each /proc/PID/ns/TYPE file is
// bind-mounted onto DIR/TYPE (the walkthrough's trick), so the namespace
// outlives every process in it until unpinned.
//
// DIR is a path someone named, and bunker mounts and unmounts in it as root:
// it is opened once, without following a symlink in its last part, refused
// when other users could change what is in it, and everything after works on
// that descriptor. Files are created exclusively and never through a symlink,
// and only nsfs mounts are unmounted or joined, so another user's symlink or
// file in DIR can neither redirect a mount nor be removed.

import { AT, CLONE, MNT_DETACH, MS, O, S, STATX, STATX_ATTR_MOUNT_ROOT, UMOUNT_NOFOLLOW } from "../sys/constants";
import { STATX_LAYOUT as SX } from "../sys/layouts";
import { cstr, isNamespaceFd, pathOfFd, readLink, readText } from "../sys/fs";
import { errnoMessage, Errno } from "../sys/errno";
import { closeFd, trySys } from "../sys/libc";
import { BunkerError } from "../errors";
import { NS_ORDER, ownNamespaces } from "./namespaces";
import { currentStatus, readState, withLock, writeState } from "./store";


interface Stat {
  uid: number;
  mode: number;
  isDir: boolean;
  mountRoot: boolean;
}

function statAt(dirfd: number, path: string): Stat | number {
  const buf = new Uint8Array(SX.SIZE);
  const r = trySys("statx", dirfd, cstr(path), AT.SYMLINK_NOFOLLOW | (path === "" ? AT.EMPTY_PATH : 0), STATX.TYPE | STATX.MODE | STATX.UID, buf);
  if (r < 0) return -r;
  const dv = new DataView(buf.buffer);
  const mode = dv.getUint16(SX.mode, true);
  return { uid: dv.getUint32(SX.uid, true), mode: mode & 0o7777, isDir: (mode & S.IFMT) === S.IFDIR, mountRoot: (dv.getBigUint64(SX.attributes, true) & STATX_ATTR_MOUNT_ROOT) !== 0n };
}

/**
 * Opens DIR (creating it with `create`) for pinning, unpinning or joining:
 * refused if it is a symlink, not a directory, not owned by root or the
 * caller, writable by other users, or below a directory another user owns or
 * every user may write to without the sticky bit (they could swap DIR itself).
 */
export function openPinDir(dir: string, create: boolean): { fd: number; created: boolean } {
  let created = false;
  if (create) {
    const r = trySys("mkdirat", AT.FDCWD, cstr(dir), 0o755);
    if (r < 0 && r !== -Errno.EEXIST) throw new BunkerError(`create ${dir}: ${errnoMessage(-r)}`);
    created = r === 0;
  }
  const fd = trySys("openat", AT.FDCWD, cstr(dir), O.PATH | O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC, 0);
  if (fd === -Errno.ENOENT) throw new BunkerError(`no pinned namespaces in ${dir}`);
  if (fd === -Errno.ENOTDIR || fd === -Errno.ELOOP) throw new BunkerError(`${dir}: not a directory (a symlink is not followed here)`);
  if (fd < 0) throw new BunkerError(`open ${dir}: ${errnoMessage(-fd)}`);
  try {
    const uid = process.geteuid?.() ?? 0;
    const st = statAt(fd, "");
    if (typeof st === "number") throw new BunkerError(`stat ${dir}: ${errnoMessage(st)}`);
    if (st.uid !== 0 && st.uid !== uid) throw new BunkerError(`${dir} belongs to uid ${st.uid}: namespaces are pinned only in directories of root or your own`);
    if (st.mode & 0o022) throw new BunkerError(`${dir} is writable by other users (mode ${st.mode.toString(8)}): they could plant files where namespaces are pinned; use a directory only you can write to`);
    const real = pathOfFd(fd);
    if (real === null) throw new BunkerError(`find where ${dir} leads: /proc is not mounted`);
    const parts = real.split("/").filter(Boolean);
    for (let i = parts.length - 1; i >= 0; i--) {
      const above = `/${parts.slice(0, i).join("/")}`;
      const a = statAt(AT.FDCWD, above);
      if (typeof a === "number") throw new BunkerError(`stat ${above}: ${errnoMessage(a)}`);
      if (a.mode & 0o002 && !(a.mode & S.ISVTX)) throw new BunkerError(`${above}, above ${dir}, is writable by every user and not sticky: they could replace ${dir}; use another directory`);
      if (a.uid !== 0 && a.uid !== uid) throw new BunkerError(`${above}, above ${dir}, belongs to uid ${a.uid}, who could replace ${dir}: use a directory only root or you own the way to`);
    }
    return { fd, created };
  } catch (e) {
    closeFd(fd);
    if (created) trySys("unlinkat", AT.FDCWD, cstr(dir), AT.REMOVEDIR);
    throw e;
  }
}

/** Whether DIR/TYPE (by the directory's descriptor) is a namespace bind-mounted there. */
function isPinned(dirfd: number, type: string): boolean {
  const st = statAt(dirfd, type);
  if (typeof st === "number" || !st.mountRoot) return false;
  const fd = trySys("openat", dirfd, cstr(type), O.PATH | O.NOFOLLOW | O.CLOEXEC, 0);
  if (fd < 0) return false;
  try {
    return isNamespaceFd(fd);
  } finally {
    closeFd(fd);
  }
}

/** The identity ("net:[4026531840]", as /proc/PID/ns/net reads) of the namespace pinned at DIR/TYPE, or null. */
function pinnedId(dirfd: number, type: string): string | null {
  if (!isPinned(dirfd, type)) return null;
  const buf = new Uint8Array(SX.SIZE);
  if (trySys("statx", dirfd, cstr(type), AT.SYMLINK_NOFOLLOW, STATX.INO, buf) < 0) return null;
  return `${type}:[${new DataView(buf.buffer).getBigUint64(SX.ino, true)}]`;
}

/** The identities of the namespaces `pid` has of its own, by type: what its pins hold. */
export function namespaceIds(pid: number): Record<string, string> {
  const own = ownNamespaces(pid);
  const out: Record<string, string> = {};
  for (const [type, flag] of NS_ORDER) {
    const id = own & flag ? readLink(`/proc/${pid}/ns/${type}`) : null;
    if (id !== null) out[type] = id;
  }
  return out;
}

function unpinOne(dirfd: number, dir: string, type: string): void {
  // The descriptor's /proc link names the very directory checked; the last part is not followed.
  const r = trySys("umount2", cstr(`/proc/self/fd/${dirfd}/${type}`), MNT_DETACH | UMOUNT_NOFOLLOW);
  if (r < 0 && r !== -Errno.EINVAL && r !== -Errno.ENOENT) throw new BunkerError(`unmount ${dir}/${type}: ${errnoMessage(-r)}`);
  const u = trySys("unlinkat", dirfd, cstr(type), 0);
  if (u < 0 && u !== -Errno.ENOENT) throw new BunkerError(`remove ${dir}/${type}: ${errnoMessage(-u)}`);
}

/** The mount id of the mount an open file lies on (statx's STATX_MNT_ID). */
function mountId(fd: number): number | null {
  const buf = new Uint8Array(SX.SIZE);
  if (trySys("statx", fd, cstr(""), AT.EMPTY_PATH, STATX.MNT_ID, buf) < 0) return null;
  const dv = new DataView(buf.buffer);
  return dv.getUint32(SX.mask, true) & STATX.MNT_ID ? Number(dv.getBigUint64(SX.mntId, true)) : null;
}

interface MountEntry {
  parent: number;
  dev: string;
  root: string;
  point: string;
  shared: boolean;
}

function mountEntries(): Map<number, MountEntry> {
  const out = new Map<number, MountEntry>();
  for (const line of readText("/proc/self/mountinfo").split("\n")) {
    const f = line.split(" - ")[0]!.split(" ");
    if (f.length < 6) continue;
    out.set(Number(f[0]), { parent: Number(f[1]), dev: f[2]!, root: f[3]!, point: f[4]!, shared: f.slice(6).some((t) => /^shared:\d+$/.test(t)) });
  }
  return out;
}

/** Whether the mount with `id` propagates to peers (mountinfo's "shared:N" tag). */
function isShared(id: number): boolean {
  return mountEntries().get(id)?.shared === true;
}

/** Whether the mount with `id` is a directory bound onto itself (what privateMount makes). */
function isSelfBind(id: number): boolean {
  const all = mountEntries();
  const m = all.get(id);
  const parent = m && all.get(m.parent);
  if (!m || !parent || m.dev !== parent.dev || !m.point.startsWith(parent.point)) return false;
  const below = m.point.slice(parent.point === "/" ? 0 : parent.point.length);
  return `${parent.root === "/" ? "" : parent.root}${below}` === m.root;
}

/**
 * The kernel refuses to bind a mount namespace's file onto a mount that
 * propagates to other namespaces (a copy there could keep the namespace alive
 * through itself), and systemd makes every mount shared. As `ip netns` and
 * unshare's documentation do, DIR then becomes a private mount of its own
 * (a bind of itself); unpin removes it again. Returns DIR's descriptor, the
 * new mount's when one was made.
 */
function privateMount(dirfd: number, dir: string): { fd: number; made: boolean } {
  const id = mountId(dirfd);
  if (id === null || !isShared(id)) return { fd: dirfd, made: false };
  const self = cstr(`/proc/self/fd/${dirfd}`);
  const r = trySys("mount", self, self, 0, MS.BIND, 0);
  if (r < 0) throw new BunkerError(`bind-mount ${dir} onto itself (it is on a shared mount): ${errnoMessage(-r)}`);
  const { fd } = openPinDir(dir, false);
  const p = trySys("mount", 0, cstr(`/proc/self/fd/${fd}`), 0, MS.PRIVATE, 0);
  if (p < 0) {
    closeFd(fd);
    trySys("umount2", self, MNT_DETACH);
    throw new BunkerError(`make ${dir} a private mount: ${errnoMessage(-p)}`);
  }
  closeFd(dirfd);
  return { fd, made: true };
}

/** Pins the namespaces `pid` has of its own into `dir`; returns the types pinned. */
export function pinNamespaces(pid: number, dir: string): string[] {
  const own = ownNamespaces(pid);
  const opened = openPinDir(dir, true);
  const created = opened.created;
  let dirfd = opened.fd;
  const pinned: string[] = [];
  let ownMount = false;
  try {
    if (own & CLONE.NEWNS) ({ fd: dirfd, made: ownMount } = privateMount(dirfd, dir));
    for (const [type, flag] of NS_ORDER) {
      if ((own & flag) === 0) continue;
      const target = `${dir}/${type}`;
      const f = trySys("openat", dirfd, cstr(type), O.RDONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.CLOEXEC, 0o444);
      if (f === -Errno.EEXIST) throw new BunkerError(`${target} already exists${isPinned(dirfd, type) ? " and holds a pinned namespace: unpin it first (bunker ns unpin " + dir + ")" : ""}`);
      if (f < 0) throw new BunkerError(`create ${target}: ${errnoMessage(-f)}`);
      closeFd(f);
      // The target is reached through the directory's descriptor, and the file was just made there,
      // exclusively, in a directory no one else may write to. (move_mount from an open_tree copy
      // would spare the path, but kernels before 6.x refuse a mount namespace's file that way.)
      const r = trySys("mount", cstr(`/proc/${pid}/ns/${type}`), cstr(`/proc/self/fd/${dirfd}/${type}`), 0, MS.BIND, 0);
      if (r < 0) {
        trySys("unlinkat", dirfd, cstr(type), 0);
        const hint = -r === Errno.EPERM ? ": pinning bind-mounts in the host's mount namespace, which needs root" : "";
        throw new BunkerError(`bind-mount /proc/${pid}/ns/${type} onto ${target}: ${errnoMessage(-r)}${hint}`);
      }
      pinned.push(type);
    }
    return pinned;
  } catch (e) {
    for (const t of pinned) unpinOne(dirfd, dir, t);
    if (ownMount) trySys("umount2", cstr(`/proc/self/fd/${dirfd}`), MNT_DETACH);
    if (created) trySys("unlinkat", AT.FDCWD, cstr(dir), AT.REMOVEDIR);
    throw e;
  } finally {
    closeFd(dirfd);
  }
}

/**
 * Unmounts and removes DIR's pinned namespaces (nothing else in it), then DIR
 * if that leaves it empty. With `only` (a container's namespaceIds), only the
 * pins of those namespaces: DIR may hold another container's too.
 */
export function unpinNamespaces(dir: string, only?: Record<string, string>): string[] {
  const { fd: dirfd } = openPinDir(dir, false);
  let found: string[];
  let selfBind = false;
  try {
    found = pinnedTypesAt(dirfd).filter((t) => only === undefined || (only[t] !== undefined && pinnedId(dirfd, t) === only[t]));
    for (const t of found) unpinOne(dirfd, dir, t);
    const id = mountId(dirfd);
    selfBind = id !== null && isSelfBind(id);
  } finally {
    closeFd(dirfd);
  }
  // DIR made a private mount of its own for pinning (see privateMount) goes too: it shows the same
  // directory, so nothing is lost, and a mount someone made inside it keeps it busy (and in place).
  if (selfBind && pinnedTypes(dir).length === 0) trySys("umount2", cstr(dir), UMOUNT_NOFOLLOW);
  if (found.length === 0) throw new BunkerError(`no pinned namespaces in ${dir}`);
  // rmdir removes only an empty directory: whatever else is in DIR keeps it.
  trySys("unlinkat", AT.FDCWD, cstr(dir), AT.REMOVEDIR);
  return found;
}

/** The namespace types pinned in the directory open as `dirfd`. */
export function pinnedTypesAt(dirfd: number): string[] {
  return NS_ORDER.map(([t]) => t).filter((t) => isPinned(dirfd, t));
}

/** The namespace types pinned in DIR (checked as openPinDir does). */
export function pinnedTypes(dir: string): string[] {
  const { fd } = openPinDir(dir, false);
  try {
    return pinnedTypesAt(fd);
  } finally {
    closeFd(fd);
  }
}

/**
 * bunker ns pin: the pin is recorded in the container's state (read afresh
 * under its lock) before it is made, so a bunker killed in between leaves a
 * record the container's end and the next commands see; a pin that fails
 * takes its record back.
 */
export function pinContainer(id: string, dir: string): string[] {
  const before = withLock(id, () => {
    const s = readState(id);
    if (!s || currentStatus(s) !== "running" || s.pid === undefined) throw new BunkerError(`container ${s?.name ?? id} is not running`);
    const had = (s.pinned ?? []).includes(dir);
    writeState({ ...s, pinned: had ? s.pinned : [...(s.pinned ?? []), dir], namespaceIds: s.namespaceIds ?? namespaceIds(s.pid) });
    return { pid: s.pid, had };
  });
  try {
    return pinNamespaces(before.pid, dir);
  } catch (e) {
    if (!before.had) {
      withLock(id, () => {
        const s = readState(id);
        if (s) writeState({ ...s, pinned: (s.pinned ?? []).filter((d) => d !== dir) });
      });
    }
    throw e;
  }
}
