// Directories as a tar stream: a container's root filesystem as it sees it
// (the image's layers and its own upper directory merged as overlayfs merges
// them: the topmost layer decides, a whiteout hides what is below, an opaque
// directory hides the lower directories' entries), or one layer as a layer
// tar (overlayfs's whiteouts written back as .wh. entries).
//
// The trees may be changing while they are read (a running container writes
// its upper directory): every step is taken from an open directory, one name
// at a time, never through a symlink, and a file is read through its own
// descriptor only once known to be a regular file, so no swap of a name for
// a link can lead the walk out of the tree.

import { fstatSync, lstatSync, readdirSync, readSync, type Stats } from "node:fs";
import { BunkerError } from "../errors";
import { AT, O } from "../sys/constants";
import { cstr } from "../sys/fs";
import { Errno, errnoMessage } from "../sys/errno";
import { closeFd, trySys } from "../sys/libc";
import type { TarEntry } from "./tar";
import { TAR_END, tarHeader, tarPadding } from "./tar-write";
import { FUSE_OPAQUE_MARKER, OPAQUE_MARKER, WHITEOUT_PREFIX } from "./unpack";

export interface ArchiveOptions {
  /** The trees, bottom first: one directory, or an image's layers with a container's upper directory last. */
  layers: readonly string[];
  /**
   * "merged": what a container sees of the stack. "layer": the one tree as
   * a layer, its whiteouts and opaque directories as .wh. entries.
   */
  view: "merged" | "layer";
  /** Only what is below this directory of the merged view (an image's volume). */
  under?: string;
  /** Only this one name of that directory, with what is below it, as the archive's first entry (a file or directory bunker cp copies). */
  only?: string;
  /** The owner an archive entry gets for a file's owner on the host: the ID a container sees (a user's own ID is their container's 0). */
  owner?: (id: number, kind: "uid" | "gid") => number;
}

const OPAQUE_XATTRS = ["trusted.overlay.opaque", "user.overlay.opaque", "user.fuseoverlayfs.opaque"];
/** Extended attributes an archive keeps: file capabilities and a user's own; overlayfs's are its bookkeeping. */
const keptXattr = (name: string) => name === "security.capability" || (name.startsWith("user.") && !name.startsWith("user.overlay.") && !name.startsWith("user.fuseoverlayfs."));

class ArchiveError extends BunkerError {
  override name = "ArchiveError";
}

const fail = (what: string, r: number): never => {
  throw new ArchiveError(`${what}: ${errnoMessage(-r).toLowerCase()}`, undefined, { errno: -r });
};

/** A directory below `parent` by one name, never through a symlink. */
export function openDir(parent: number, name: string, what: string): number {
  const fd = trySys("openat", parent, cstr(name), O.RDONLY | O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC, 0);
  return fd >= 0 ? fd : fail(`open ${what}`, fd);
}

const at = (dir: number, name: string) => `/proc/self/fd/${dir}/${name}`;

export function statAt(dir: number, name: string): Stats | null {
  try {
    return lstatSync(at(dir, name));
  } catch {
    // gone meanwhile (a running container removed it): not in the archive
    return null;
  }
}

export const isWhiteout = (st: Stats) => st.isCharacterDevice() && st.rdev === 0;

function xattrList(path: string): string[] {
  const buf = new Uint8Array(64 << 10);
  const n = trySys("llistxattr", cstr(path), buf, buf.length);
  if (n === -Errno.EOPNOTSUPP || n === -Errno.ENOENT) return [];
  if (n < 0) fail(`list the extended attributes of ${path}`, n);
  return new TextDecoder().decode(buf.subarray(0, n)).split("\0").filter(Boolean);
}

function xattrValue(path: string, name: string): Uint8Array | null {
  const buf = new Uint8Array(64 << 10);
  const n = trySys("lgetxattr", cstr(path), cstr(name), buf, buf.length);
  return n >= 0 ? buf.slice(0, n) : null;
}

/** Whether the open directory `fd` is opaque: an attribute says so, or fuse-overlayfs's marker file in it. */
export function isOpaque(fd: number): boolean {
  const marked = OPAQUE_XATTRS.some((x) => {
    const buf = new Uint8Array(8);
    const n = trySys("fgetxattr", fd, cstr(x), buf, buf.length);
    return n === 1 && buf[0] === 0x79;
  });
  return marked || statAt(fd, OPAQUE_MARKER) !== null || statAt(fd, FUSE_OPAQUE_MARKER) !== null;
}

/** A directory's names, and those .wh.NAME files mark as removed (the markers themselves are not entries). */
function listing(dir: number): { names: string[]; whiteouts: Set<string> } {
  const names: string[] = [];
  const whiteouts = new Set<string>();
  for (const n of readdirSync(`/proc/self/fd/${dir}`)) {
    if (n === OPAQUE_MARKER || n === FUSE_OPAQUE_MARKER) continue;
    if (n.startsWith(WHITEOUT_PREFIX)) whiteouts.add(n.slice(WHITEOUT_PREFIX.length));
    else names.push(n);
  }
  return { names: names.sort(), whiteouts };
}

/** Writes the trees of `o` as one tar archive with `write`. */
export function writeArchive(o: ArchiveOptions, write: (bytes: Uint8Array) => void): void {
  for (const chunk of archiveOf(o)) write(chunk);
}

/** The trees of `o` as one tar archive, chunk by chunk (each chunk the caller's to keep). */
export function* archiveOf(o: ArchiveOptions): Generator<Uint8Array> {
  const owner = o.owner ?? ((id: number) => id);
  // Hard links: the first path of each (tree, device, inode) with several links.
  const linked = new Map<string, string>();
  const buf = new Uint8Array(256 << 10);

  const entryOf = (path: string, st: Stats, layer: number, dir: number, name: string): TarEntry | null => {
    const base = { path, mode: st.mode & 0o7777, uid: owner(st.uid, "uid"), gid: owner(st.gid, "gid"), size: 0, mtime: Math.floor(st.mtimeMs / 1000), linkname: "", devmajor: 0, devminor: 0, xattrs: new Map<string, Uint8Array>() };
    if (!st.isSymbolicLink()) {
      for (const x of xattrList(at(dir, name))) {
        if (!keptXattr(x)) continue;
        const v = xattrValue(at(dir, name), x);
        if (v) base.xattrs.set(x, v);
      }
    }
    if (!st.isDirectory() && st.nlink > 1) {
      const key = `${layer}:${st.dev}:${st.ino}`;
      const first = linked.get(key);
      if (first !== undefined) return { ...base, type: "hardlink", linkname: first };
      linked.set(key, path);
    }
    if (st.isDirectory()) return { ...base, type: "dir" };
    if (st.isFile()) return { ...base, type: "file", size: st.size };
    if (st.isSymbolicLink()) {
      const target = new Uint8Array(4096);
      const n = trySys("readlinkat", dir, cstr(name), target, target.length);
      if (n < 0) return null;
      return { ...base, type: "symlink", linkname: new TextDecoder().decode(target.subarray(0, n)) };
    }
    if (st.isFIFO()) return { ...base, type: "fifo" };
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      const rdev = BigInt(st.rdev);
      const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
      const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
      return { ...base, type: st.isCharacterDevice() ? "char" : "block", devmajor: major, devminor: minor };
    }
    // A socket: tar has no such entry.
    return null;
  };

  const emit = function* (e: TarEntry, dir: number, name: string): Generator<Uint8Array> {
    if (e.type !== "file") {
      yield tarHeader(e);
      return;
    }
    // Read through its own descriptor, checked to be a regular file: a name swapped for a FIFO or a link is not followed.
    const fd = trySys("openat", dir, cstr(name), O.RDONLY | O.NOFOLLOW | O.NONBLOCK | O.NOCTTY | O.CLOEXEC, 0);
    if (fd < 0) {
      if (fd === -Errno.ENOENT) return;
      fail(`read ${e.path}`, fd);
    }
    try {
      if (!fstatSync(fd).isFile()) return;
      yield tarHeader(e);
      // Exactly the size the header says: a file that grew is cut there, one that shrank is filled with zeros.
      let left = e.size;
      while (left > 0) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, left), null);
        if (n <= 0) break;
        yield buf.slice(0, n);
        left -= n;
      }
      if (left > 0) yield new Uint8Array(left);
      yield tarPadding(e.size);
    } finally {
      closeFd(fd);
    }
  };

  /**
   * A merged directory: `dirs` are its directories in the layers that have
   * it, top first. A name's topmost layer decides; a whiteout (overlayfs's
   * 0:0 device, or fuse-overlayfs's .wh.NAME where it cannot make one) hides
   * it below; a directory merges with the lower ones down to an opaque one.
   */
  const merged = function* (prefix: string, dirs: { fd: number; layer: number }[]): Generator<Uint8Array> {
    const listed = dirs.map((d) => ({ ...d, ...listing(d.fd) }));
    const all = new Set<string>();
    for (const d of listed) for (const n of d.names) all.add(n);
    for (const name of [...all].sort()) {
      if (prefix === "" && o.only !== undefined && name !== o.only) continue;
      const path = `${prefix}${name}`;
      const below: { fd: number; layer: number; st: Stats }[] = [];
      let top: { fd: number; layer: number; st: Stats } | undefined;
      try {
        for (const d of listed) {
          const st = d.names.includes(name) ? statAt(d.fd, name) : null;
          if (!st) {
            if (d.whiteouts.has(name)) break;
            continue;
          }
          if (isWhiteout(st)) break;
          if (!st.isDirectory()) {
            if (below.length === 0) top = { fd: d.fd, layer: d.layer, st };
            break;
          }
          const fd = openDir(d.fd, name, path);
          below.push({ fd, layer: d.layer, st });
          if (isOpaque(fd)) break;
        }
        if (top) {
          const e = entryOf(path, top.st, top.layer, top.fd, name);
          if (e) yield* emit(e, top.fd, name);
          continue;
        }
        if (below.length === 0) continue;
        const e = entryOf(path, below[0]!.st, below[0]!.layer, listed.find((d) => d.layer === below[0]!.layer)!.fd, name);
        if (e) yield tarHeader(e);
        yield* merged(`${path}/`, below);
      } finally {
        for (const d of below) closeFd(d.fd);
      }
    }
  };

  /** One layer's directory, its whiteouts written as .wh. entries. */
  const layer = function* (prefix: string, dir: number): Generator<Uint8Array> {
    for (const name of readdirSync(`/proc/self/fd/${dir}`).sort()) {
      const path = `${prefix}${name}`;
      const st = statAt(dir, name);
      if (!st) continue;
      if (isWhiteout(st)) {
        yield tarHeader({ path: `${prefix}${WHITEOUT_PREFIX}${name}`, type: "file", mode: 0o644, uid: 0, gid: 0, size: 0, mtime: Math.floor(st.mtimeMs / 1000), linkname: "", devmajor: 0, devminor: 0, xattrs: new Map() });
        continue;
      }
      const e = entryOf(path, st, 0, dir, name);
      if (!e) continue;
      if (e.type !== "dir") {
        yield* emit(e, dir, name);
        continue;
      }
      yield tarHeader(e);
      const fd = openDir(dir, name, path);
      try {
        if (isOpaque(fd)) yield tarHeader({ ...e, path: `${path}/${OPAQUE_MARKER}`, type: "file", mode: 0o644, size: 0, xattrs: new Map() });
        yield* layer(`${path}/`, fd);
      } finally {
        closeFd(fd);
      }
    }
  };

  const roots: number[] = [];
  try {
    for (const l of o.layers) roots.push(openDir(AT.FDCWD, l, l));
    if (o.view === "layer") {
      if (roots.length !== 1) throw new ArchiveError("a layer archive is made of one tree");
      yield* layer("", roots[0]!);
    } else {
      const top = roots.map((fd, layer) => ({ fd, layer })).reverse();
      const start = o.under === undefined ? { dirs: top, opened: [] } : descend(top, o.under);
      try {
        const first = start.dirs[0];
        if (first) {
          // The directory itself, as "./": its owner and mode go to what it is unpacked into.
          const st = fstatSync(first.fd);
          if (o.only === undefined) yield tarHeader({ path: "./", type: "dir", mode: st.mode & 0o7777, uid: owner(st.uid, "uid"), gid: owner(st.gid, "gid"), size: 0, mtime: Math.floor(st.mtimeMs / 1000), linkname: "", devmajor: 0, devminor: 0, xattrs: new Map() });
          yield* merged("", start.dirs);
        }
      } finally {
        for (const fd of start.opened) closeFd(fd);
      }
    }
    yield TAR_END;
  } finally {
    for (const fd of roots) closeFd(fd);
  }
}

/**
 * The directories of `path` in the layers `top` (top first) that the merged
 * view shows: down to the first opaque one; a whiteout or a non-directory on
 * the way hides what is below it. None when the view has no such directory.
 */
function descend(top: { fd: number; layer: number }[], path: string): { dirs: { fd: number; layer: number }[]; opened: number[] } {
  const opened: number[] = [];
  let dirs = top;
  for (const name of path.split("/").filter((p) => p !== "" && p !== ".")) {
    if (name === "..") throw new ArchiveError(`${path}: ".." is not a path inside the image`);
    const next: { fd: number; layer: number }[] = [];
    for (const d of dirs) {
      const st = statAt(d.fd, name);
      if (!st) {
        if (statAt(d.fd, `${WHITEOUT_PREFIX}${name}`)) break;
        continue;
      }
      if (isWhiteout(st) || !st.isDirectory()) break;
      const fd = openDir(d.fd, name, path);
      opened.push(fd);
      next.push({ fd, layer: d.layer });
      if (isOpaque(fd)) break;
    }
    dirs = next;
    if (dirs.length === 0) break;
  }
  return { dirs, opened };
}
