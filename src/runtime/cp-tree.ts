// The two sides of `bunker cp` as trees of files it reads from and writes
// into. A container's side is hostile ground: its processes own everything
// below its root and may swap any name for a symlink at any moment. So every
// path is resolved by the kernel inside that root (openat2 RESOLVE_IN_ROOT:
// "..", absolute links and symlinks all stay in it), every later step starts
// from a descriptor it gave, never from a path string, and what is written
// below a directory is written beneath its descriptor without following any
// symlink (image/unpack.ts). A stopped container of an image has no mounted
// root: its layers are read merged, as overlayfs shows them, and it is
// written through its own upper directory.

import { requireFeature } from "../sys/kernel";
import { fstatSync, type Stats } from "node:fs";
import { BunkerError } from "../errors";
import { isOpaque, isWhiteout, openDir, statAt } from "../image/archive";
import { WHITEOUT_PREFIX } from "../image/unpack";
import { AT, O, RESOLVE } from "../sys/constants";
import { cstr, type FileType } from "../sys/fs";
import { Errno, errnoMessage } from "../sys/errno";
import { closeFd, trySys } from "../sys/libc";
import { OPEN_HOW_LAYOUT } from "../sys/layouts";

/** Links followed on the way to one path, as the kernel allows (MAXSYMLINKS). */
const MAX_LINKS = 40;

/** Where the archive of a found path comes from: image/archive.ts's options for it. */
export interface Found {
  type: FileType;
  /** The trees to merge (one, or an image's layers bottom first) and the directory in them. */
  layers: string[];
  under?: string;
  /** The one name in that directory (the path is not a directory, or is not followed). */
  only?: string;
}

export interface Tree {
  /** How errors name it: "container web", "the host". */
  readonly what: string;
  /** How a path in it is shown: "web:/etc/x" for a container's, as the user wrote it; the host's as it is. */
  shown(path: string): string;
  /** The file at `path`, its last component a symlink followed when `follow`; null when there is none. */
  find(path: string, follow: boolean): Found | null;
  /** The type at `path` (symlinks followed), null when nothing is there. */
  typeOf(path: string): FileType | null;
  /** The directory `path` (symlinks followed) as a descriptor to write beneath; it must be one. */
  writableDir(path: string): number;
  close(): void;
}

export class CopyError extends BunkerError {
  override name = "CopyError";
  constructor(message: string, errno?: number) {
    // Docker's cp fails with 1 when a path is missing or the copy fails.
    super(message, 1, errno === undefined ? {} : { errno });
  }
}

const typeOfStats = (st: Stats): FileType =>
  st.isDirectory() ? "dir" : st.isFile() ? "file" : st.isSymbolicLink() ? "symlink" : st.isFIFO() ? "fifo" : st.isCharacterDevice() ? "char" : st.isBlockDevice() ? "block" : "socket";

/** A path's components, "." dropped ("..", "/" kept for the resolver to judge). */
export const components = (path: string) => path.split("/").filter((p) => p !== "" && p !== ".");

/** The parent of `path` and its last name ("." for a path that names the root itself). */
function split(path: string): { parent: string; name: string } {
  const parts = components(path);
  const name = parts.pop();
  if (name === undefined || name === "..") return { parent: path.startsWith("/") ? "/" : ".", name: "." };
  return { parent: (path.startsWith("/") ? "/" : "") + parts.join("/") || ".", name };
}

/**
 * A tree under one directory descriptor: a running container's root
 * (/proc/PID/root, its volumes and tmpfs mounts included), a --rootfs
 * directory or an image's copy, resolved in that root; or the host's own
 * files (`resolve` 0, from the working directory).
 */
export class FdTree implements Tree {
  private readonly open = new Set<number>();

  constructor(
    private readonly root: number,
    private readonly resolve: number,
    readonly what: string,
  ) {}

  static inRoot(root: number, what: string): FdTree {
    requireFeature("openat2", `copying files of ${what}`);
    return new FdTree(root, RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS, what);
  }

  shown(path: string): string {
    return this.root === AT.FDCWD ? path : `${this.what.replace(/^container /, "")}:${path}`;
  }

  static host(): FdTree {
    return new FdTree(AT.FDCWD, 0, "the host");
  }

  /** An O_PATH descriptor of `path` (its last symlink followed or not), or -errno. */
  private openPath(path: string, follow: boolean, dir = false): number {
    // A container's paths start at its root, with or without a leading slash (docker's reading); the host's as given.
    if (this.root !== AT.FDCWD) path = path.replace(/^\/+/, "") || ".";
    const how = (flags: number) => new BigUint64Array([BigInt(flags | O.PATH | O.CLOEXEC | (dir ? O.DIRECTORY : 0)), 0n, BigInt(this.resolve)]);
    if (follow || split(path).name === ".") return trySys("openat2", this.root, cstr(path === "" ? "." : path), how(0), OPEN_HOW_LAYOUT.SIZE);
    const { parent, name } = split(path);
    const p = trySys("openat2", this.root, cstr(parent), how(O.DIRECTORY), OPEN_HOW_LAYOUT.SIZE);
    if (p < 0) return p;
    try {
      return trySys("openat", p, cstr(name), O.PATH | O.NOFOLLOW | O.CLOEXEC | (dir ? O.DIRECTORY : 0), 0);
    } finally {
      closeFd(p);
    }
  }

  private kept(fd: number): number {
    this.open.add(fd);
    return fd;
  }

  private failed(path: string, op: string, r: number): never {
    throw new CopyError(`${op} ${path} in ${this.what}: ${errnoMessage(-r)}`, -r);
  }

  /** The path with every symlink of its last component followed (inside the root), one link at a time. */
  private followed(path: string): string {
    for (let hops = 0; ; hops++) {
      const { parent, name } = split(path);
      if (name === ".") return path;
      const fd = this.openPath(path, false);
      if (fd < 0) return path;
      try {
        if (!fstatSync(fd).isSymbolicLink()) return path;
        if (hops >= MAX_LINKS) this.failed(path, "follow", -Errno.ELOOP);
        const buf = new Uint8Array(4096);
        const n = trySys("readlinkat", fd, cstr(""), buf, buf.length);
        if (n < 0) this.failed(path, "read the link", n);
        const target = new TextDecoder().decode(buf.subarray(0, n));
        path = target.startsWith("/") ? target : `${parent}/${target}`;
      } finally {
        closeFd(fd);
      }
    }
  }

  find(path: string, follow: boolean): Found | null {
    const at = follow ? this.followed(path) : path;
    const fd = this.openPath(at, false);
    if (fd === -Errno.ENOENT || fd === -Errno.ENOTDIR) return null;
    if (fd < 0) this.failed(path, "look up", fd);
    let type: FileType;
    try {
      type = typeOfStats(fstatSync(fd));
      if (type === "dir") return { type, layers: [`/proc/self/fd/${this.kept(fd)}/.`] };
    } catch (e) {
      closeFd(fd);
      throw e;
    }
    closeFd(fd);
    const { parent, name } = split(at);
    const p = this.openPath(parent, true, true);
    if (p < 0) this.failed(path, "look up", p);
    return { type, layers: [`/proc/self/fd/${this.kept(p)}/.`], only: name };
  }

  typeOf(path: string): FileType | null {
    const fd = this.openPath(path, true);
    if (fd === -Errno.ENOENT || fd === -Errno.ENOTDIR) return null;
    if (fd < 0) this.failed(path, "look up", fd);
    try {
      return typeOfStats(fstatSync(fd));
    } finally {
      closeFd(fd);
    }
  }

  writableDir(path: string): number {
    const fd = this.openPath(path, true, true);
    if (fd < 0) this.failed(path, "open the directory", fd);
    return this.kept(fd);
  }

  close(): void {
    for (const fd of this.open) closeFd(fd);
    this.open.clear();
  }
}

/** One directory of the merged view: its directory in each layer that shows it, top first. */
interface MergedDir {
  name: string;
  dirs: number[];
}

/**
 * A stopped container of an image: `layers` bottom first, its own upper
 * directory last. Read as overlayfs merges them (the topmost layer decides a
 * name, whiteouts hide, opaque directories stop the merge); written into the
 * upper directory, each directory on the way made there as the view shows it.
 */
export class LayerTree implements Tree {
  private readonly open = new Set<number>();
  private readonly tops: number[];

  constructor(
    private readonly layers: readonly string[],
    readonly what: string,
    private readonly chown: boolean,
  ) {
    this.tops = [...layers].reverse().map((l) => this.kept(openDir(AT.FDCWD, l, l)));
  }

  private kept(fd: number): number {
    this.open.add(fd);
    return fd;
  }

  shown(path: string): string {
    return `${this.what.replace(/^container /, "")}:${path}`;
  }

  /** `name` in the merged directory `dir`: a directory (its layers' directories) or the top entry; null when hidden or missing. */
  private child(dir: MergedDir, name: string): { sub?: MergedDir; st: Stats } | null {
    const dirs: number[] = [];
    let first: Stats | undefined;
    for (const d of dir.dirs) {
      const st = statAt(d, name);
      if (!st) {
        if (statAt(d, `${WHITEOUT_PREFIX}${name}`)) break;
        continue;
      }
      if (isWhiteout(st)) break;
      if (!st.isDirectory()) {
        if (dirs.length === 0) return { st };
        break;
      }
      first ??= st;
      const fd = this.kept(openDir(d, name, name));
      dirs.push(fd);
      if (isOpaque(fd)) break;
    }
    return first ? { sub: { name, dirs }, st: first } : null;
  }

  /**
   * The merged directories down to `path`, and its last entry: symlinks
   * followed inside the view (all but the last unless `follow`); null when
   * something on the way is missing or not a directory.
   */
  private walk(path: string, follow: boolean): { stack: MergedDir[]; last: { name: string; st: Stats } | null } | null {
    const root: MergedDir = { name: "", dirs: this.tops };
    let stack: MergedDir[] = [root];
    const queue = components(path);
    let hops = 0;
    let last: { name: string; st: Stats } | null = null;
    while (queue.length) {
      const name = queue.shift()!;
      last = null;
      if (name === "..") {
        if (stack.length > 1) stack.pop();
        continue;
      }
      const found = this.child(stack.at(-1)!, name);
      if (!found) return null;
      if (found.st.isSymbolicLink() && (queue.length > 0 || follow)) {
        if (++hops > MAX_LINKS) throw new CopyError(`follow ${path} in ${this.what}: ${errnoMessage(Errno.ELOOP)}`, Errno.ELOOP);
        const holder = stack.at(-1)!.dirs.find((d) => statAt(d, name)?.isSymbolicLink());
        const buf = new Uint8Array(4096);
        const n = holder === undefined ? -Errno.ENOENT : trySys("readlinkat", holder, cstr(name), buf, buf.length);
        if (n < 0) throw new CopyError(`read the link ${path} in ${this.what}: ${errnoMessage(-n)}`, -n);
        const target = new TextDecoder().decode(buf.subarray(0, n));
        if (target.startsWith("/")) stack = [root];
        queue.unshift(...target.split("/").filter((p) => p !== "" && p !== "."));
        continue;
      }
      if (found.sub) {
        stack.push(found.sub);
        last = { name, st: found.st };
        continue;
      }
      if (queue.length > 0) return null;
      last = { name, st: found.st };
    }
    return { stack, last };
  }

  private pathOf(stack: readonly MergedDir[]): string {
    return stack
      .slice(1)
      .map((d) => d.name)
      .join("/");
  }

  find(path: string, follow: boolean): Found | null {
    const w = this.walk(path, follow);
    if (!w) return null;
    if (!w.last || w.last.st.isDirectory()) return { type: "dir", layers: [...this.layers], under: this.pathOf(w.stack) };
    return { type: typeOfStats(w.last.st), layers: [...this.layers], under: this.pathOf(w.stack), only: w.last.name };
  }

  typeOf(path: string): FileType | null {
    const w = this.walk(path, true);
    if (!w) return null;
    return !w.last || w.last.st.isDirectory() ? "dir" : typeOfStats(w.last.st);
  }

  writableDir(path: string): number {
    const w = this.walk(path, true);
    if (!w || (w.last && !w.last.st.isDirectory())) throw new CopyError(`open the directory ${path} in ${this.what}: ${errnoMessage(Errno.ENOTDIR)}`, Errno.ENOTDIR);
    const upper = this.tops[0]!;
    const how = new BigUint64Array([BigInt(O.PATH | O.DIRECTORY | O.CLOEXEC), 0n, BigInt(RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS)]);
    // Each directory on the way, made in the upper directory where only a lower layer has it, with the owner and mode the view shows.
    for (let i = 1; i < w.stack.length; i++) {
      const rel = this.pathOf(w.stack.slice(0, i + 1));
      const fd = trySys("openat2", upper, cstr(rel), how, OPEN_HOW_LAYOUT.SIZE);
      if (fd >= 0) {
        closeFd(fd);
        continue;
      }
      const st = fstatSync(w.stack[i]!.dirs[0]!);
      const r = trySys("mkdirat", upper, cstr(rel), st.mode & 0o7777);
      if (r < 0) throw new CopyError(`make the directory /${rel} in ${this.what}: ${errnoMessage(-r)}`, -r);
      const made = trySys("openat2", upper, cstr(rel), new BigUint64Array([BigInt(O.RDONLY | O.DIRECTORY | O.CLOEXEC), 0n, BigInt(RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS)]), OPEN_HOW_LAYOUT.SIZE);
      if (made < 0) throw new CopyError(`open the directory /${rel} in ${this.what}: ${errnoMessage(-made)}`, -made);
      try {
        if (this.chown) trySys("fchown", made, st.uid, st.gid);
        trySys("fchmod", made, st.mode & 0o7777);
      } finally {
        closeFd(made);
      }
    }
    const rel = this.pathOf(w.stack) || ".";
    const fd = trySys("openat2", upper, cstr(rel), how, OPEN_HOW_LAYOUT.SIZE);
    if (fd < 0) throw new CopyError(`open the directory /${rel} in ${this.what}: ${errnoMessage(-fd)}`, -fd);
    return this.kept(fd);
  }

  close(): void {
    for (const fd of this.open) closeFd(fd);
    this.open.clear();
  }
}
