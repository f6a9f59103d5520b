// Unpacking one layer into a directory of its own, which overlayfs later
// stacks under the layers above it. An archive is not to be trusted: every
// path is taken relative to the layer's directory, one that climbs out
// (`..`) is refused, and no entry is written through a
// symlink (each parent is opened with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
// an absolute path is taken inside the layer too.
// Files are written through their own descriptor: content, then owner, then
// mode (chown clears setuid), then extended attributes and times; directory
// times last, once nothing more is added to them. Whiteouts become
// overlayfs's own: a deleted NAME a 0:0 character device, an opaque
// directory its overlay.opaque attribute.

import { requireFeature } from "../sys/kernel";
import { lstatSync, rmSync } from "node:fs";
import { join } from "node:path";
import { BunkerError } from "../errors";
import { AT, makedev, O, RESOLVE, S } from "../sys/constants";
import { cstr } from "../sys/fs";
import { Errno, errnoMessage } from "../sys/errno";
import { closeFd, trySys, writeAll } from "../sys/libc";
import { readTar, type TarEntry } from "./tar";
import { OPEN_HOW_LAYOUT } from "../sys/layouts";


export const WHITEOUT_PREFIX = ".wh.";
export const OPAQUE_MARKER = ".wh..wh..opq";
/** fuse-overlayfs's own mark of an opaque directory it made, where it cannot set an attribute. */
export const FUSE_OPAQUE_MARKER = ".wh..opq";

export interface UnpackOptions {
  /** Give entries their owners (root); otherwise they belong to the unpacking user. */
  chown: boolean;
  /** Make device nodes (root); otherwise they are skipped, with a warning. */
  devices: boolean;
  /** The attribute that marks an opaque directory: trusted.overlay.opaque, or user.overlay.opaque with overlayfs's userxattr. */
  opaqueXattr: string;
  /**
   * Plain files (bunker cp), not a layer: a .wh. name is a file like any
   * other, a directory in the way of another entry is an error rather than
   * removed, and runs of zero bytes become holes. opaqueXattr, when not
   * empty, marks a directory made over a whiteout (an overlay's upper
   * directory) opaque.
   */
  plain?: boolean;
}

export class LayerError extends BunkerError {
  override name = "LayerError";
}

/**
 * An entry's path as components inside the layer; one that leaves it is
 * refused. An absolute path is the layer's own (as docker and containerd
 * read it: umoci writes its root as "/").
 */
export function layerPath(path: string): string[] {
  if (path.includes("\0")) throw new LayerError(`layer entry "${path}" has a NUL byte`);
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p !== "..") parts.push(p);
    else if (parts.pop() === undefined) throw new LayerError(`layer entry "${path}" leaves the layer (..)`);
  }
  return parts;
}

function timespecs(mtime: number): BigInt64Array {
  const sec = BigInt(Math.floor(mtime));
  const nsec = BigInt(Math.round((mtime - Math.floor(mtime)) * 1e9));
  // atime, mtime: both the entry's modification time, as docker sets them.
  return new BigInt64Array([sec, nsec, sec, nsec]);
}

class Layer {
  readonly warnings = new Set<string>();
  private readonly dirTimes: { parts: string[]; mtime: number }[] = [];

  constructor(
    readonly root: number,
    readonly o: UnpackOptions,
  ) {}

  private fail(entry: string, what: string, r: number): never {
    if (r === -Errno.ELOOP || r === -Errno.EXDEV) throw new LayerError(`layer entry "${entry}": ${what} passes through a symbolic link`);
    if (r === -Errno.ENOTDIR) throw new LayerError(`layer entry "${entry}": ${what} passes through something that is not a directory`);
    throw new LayerError(`layer entry "${entry}": ${what}: ${errnoMessage(-r)}`);
  }

  /** The directory `parts` as a descriptor (O_PATH unless `flags` say), made where missing; never through a symlink. */
  dir(parts: readonly string[], entry: string, flags: number = O.PATH): number {
    if (parts.length === 0 && flags === O.PATH) return this.root;
    const how = (f: number) => new BigUint64Array([BigInt(f | O.DIRECTORY | O.CLOEXEC), 0n, BigInt(RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS)]);
    const path = parts.length ? parts.join("/") : ".";
    let fd = trySys("openat2", this.root, cstr(path), how(flags), OPEN_HOW_LAYOUT.SIZE);
    if (fd !== -Errno.ENOENT) return fd >= 0 ? fd : this.fail(entry, parts.join("/"), fd);
    // Implicit directories: made as docker makes them, 0755 and root's.
    for (let i = 1; i <= parts.length; i++) {
      const r = trySys("mkdirat", this.root, cstr(parts.slice(0, i).join("/")), 0o755);
      if (r < 0 && r !== -Errno.EEXIST) this.fail(entry, parts.slice(0, i).join("/"), r);
    }
    fd = trySys("openat2", this.root, cstr(path), how(flags), OPEN_HOW_LAYOUT.SIZE);
    return fd >= 0 ? fd : this.fail(entry, parts.join("/"), fd);
  }

  /** Clears `name` in `parent` for a new entry; a directory stays for a directory. */
  private clear(parent: number, parts: readonly string[], keepDir: boolean): void {
    const name = cstr(parts.at(-1)!);
    if (keepDir) {
      const fd = trySys("openat", parent, name, O.PATH | O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC, 0);
      if (fd >= 0) {
        closeFd(fd);
        return;
      }
    }
    const r = trySys("unlinkat", parent, name, 0);
    if ((r === -Errno.EISDIR || r === -Errno.EPERM) && this.o.plain) throw new LayerError(`cannot overwrite the directory ${parts.join("/")} with a non-directory`);
    if (r === -Errno.EISDIR || r === -Errno.EPERM) {
      // A directory where something else goes (the archive names a path twice): away, with what is in it.
      const gone = trySys("unlinkat", parent, name, AT.REMOVEDIR);
      if (gone === -Errno.ENOTEMPTY) rmSync(join(`/proc/self/fd/${parent}`, parts.at(-1)!), { recursive: true, force: true });
    }
  }

  private owner(fd: number, name: Uint8Array | null, e: TarEntry): void {
    if (!this.o.chown) return;
    const r = name === null ? trySys("fchown", fd, e.uid, e.gid) : trySys("fchownat", fd, name, e.uid, e.gid, AT.SYMLINK_NOFOLLOW);
    if (r < 0) this.fail(e.path, `change its owner to ${e.uid}:${e.gid}`, r);
  }

  private xattrs(fd: number, e: TarEntry): void {
    for (const [name, value] of e.xattrs) {
      const r = trySys("fsetxattr", fd, cstr(name), value, value.length, 0);
      if (r < 0) this.warnings.add(`extended attribute ${name} not kept (${errnoMessage(-r)})`);
    }
  }

  async add(e: TarEntry, content: () => AsyncGenerator<Uint8Array>): Promise<void> {
    const parts = layerPath(e.path);
    const base = parts.at(-1);
    if (base === undefined) {
      // The layer's own directory ("./"): its owner, mode and time.
      if (e.type === "dir") this.directory([], e);
      return;
    }
    const parentParts = parts.slice(0, -1);
    const layered = !this.o.plain;
    if (layered && base === OPAQUE_MARKER) return this.opaque(parentParts, e.path);
    const parent = this.dir(parentParts, e.path);
    try {
      const whiteout = layered && base.startsWith(WHITEOUT_PREFIX);
      const name = cstr(whiteout ? base.slice(WHITEOUT_PREFIX.length) : base);
      if (whiteout) {
        if (base === WHITEOUT_PREFIX) throw new LayerError(`layer entry "${e.path}" is a whiteout of nothing`);
        this.clear(parent, [...parentParts, base.slice(WHITEOUT_PREFIX.length)], false);
        const r = trySys("mknodat", parent, name, S.IFCHR, 0);
        if (r < 0) this.fail(e.path, "make its whiteout", r);
        return;
      }
      if (e.type === "dir") {
        // Plain files over an overlay's upper directory (opaqueXattr given): a directory where a whiteout hid a lower one hides it still.
        const hid = !layered && this.o.opaqueXattr !== "" && whiteoutAt(parent, base);
        this.clear(parent, parts, true);
        const r = trySys("mkdirat", parent, name, 0o700);
        if (r < 0 && r !== -Errno.EEXIST) this.fail(e.path, "make the directory", r);
        this.directory(parts, e);
        if (hid) this.opaque(parts, e.path);
        return;
      }
      this.clear(parent, parts, false);
      switch (e.type) {
        case "file":
          return await this.file(parent, name, e, content);
        case "symlink": {
          const r = trySys("symlinkat", cstr(e.linkname), parent, name);
          if (r < 0) this.fail(e.path, "make the symbolic link", r);
          this.owner(parent, name, e);
          trySys("utimensat", parent, name, timespecs(e.mtime), AT.SYMLINK_NOFOLLOW);
          return;
        }
        case "hardlink": {
          const target = layerPath(e.linkname);
          if (target.length === 0) throw new LayerError(`layer entry "${e.path}" links to the layer itself`);
          const tparent = this.dir(target.slice(0, -1), e.path);
          try {
            const r = trySys("linkat", tparent, cstr(target.at(-1)!), parent, name, 0);
            if (r < 0) this.fail(e.path, `link to ${e.linkname}`, r);
          } finally {
            if (tparent !== this.root) closeFd(tparent);
          }
          return;
        }
        case "char":
        case "block":
        case "fifo": {
          if (e.type !== "fifo" && !this.o.devices) {
            this.warnings.add("device nodes in the image are left out (only root may make them)");
            return;
          }
          const kind = e.type === "char" ? S.IFCHR : e.type === "block" ? S.IFBLK : S.IFIFO;
          const r = trySys("mknodat", parent, name, kind | (e.mode & 0o777), e.type === "fifo" ? 0n : makedev(e.devmajor, e.devminor));
          if (r < 0) this.fail(e.path, `make the ${e.type === "fifo" ? "FIFO" : "device node"}`, r);
          this.owner(parent, name, e);
          // A node's mode other than its permission bits (setuid on a FIFO) is set by path, not followed.
          trySys("utimensat", parent, name, timespecs(e.mtime), AT.SYMLINK_NOFOLLOW);
          return;
        }
      }
    } finally {
      if (parent !== this.root) closeFd(parent);
    }
  }

  private async file(parent: number, name: Uint8Array, e: TarEntry, content: () => AsyncGenerator<Uint8Array>): Promise<void> {
    const fd = trySys("openat", parent, name, O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.CLOEXEC, 0o600);
    if (fd < 0) this.fail(e.path, "create the file", fd);
    try {
      if (e.sparse) await this.sparse(fd, e, content);
      else if (this.o.plain) await this.holey(fd, e, content);
      else for await (const chunk of content()) writeAll(`write ${e.path}`, fd, chunk);
      this.owner(fd, null, e);
      const r = trySys("fchmod", fd, e.mode);
      if (r < 0) this.fail(e.path, "set its mode", r);
      this.xattrs(fd, e);
      trySys("utimensat", fd, null, timespecs(e.mtime), 0);
    } finally {
      closeFd(fd);
    }
  }

  /** A sparse file's pieces, each at its offset; what lies between stays a hole, and the size is the whole file's. */
  private async sparse(fd: number, e: TarEntry, content: () => AsyncGenerator<Uint8Array>): Promise<void> {
    const pieces = e.sparse!;
    let i = 0;
    let left = pieces[0]?.[1] ?? 0;
    const seek = () => {
      while (i < pieces.length && pieces[i]![1] === 0) i++;
      if (i >= pieces.length) return;
      left = pieces[i]![1];
      const r = trySys("lseek", fd, pieces[i]![0], 0 /* SEEK_SET */);
      if (r < 0) this.fail(e.path, "place a piece of it", r);
    };
    seek();
    for await (let chunk of content()) {
      while (chunk.length > 0) {
        const n = Math.min(left, chunk.length);
        if (n === 0) throw new LayerError(`${e.path}: more stored bytes than its sparse map places`);
        writeAll(`write ${e.path}`, fd, chunk.subarray(0, n));
        chunk = chunk.subarray(n);
        left -= n;
        if (left === 0) {
          i++;
          seek();
        }
      }
    }
    const r = trySys("ftruncate", fd, e.size);
    if (r < 0) this.fail(e.path, `make it ${e.size} bytes`, r);
  }

  /** Content whose blocks of zeros are skipped, not written: a sparse file stays sparse, and takes no more room than its data. */
  private async holey(fd: number, e: TarEntry, content: () => AsyncGenerator<Uint8Array>): Promise<void> {
    const HOLE = 4096;
    let off = 0;
    for await (const chunk of content()) {
      for (let at = 0; at < chunk.length; at += HOLE) {
        const piece = chunk.subarray(at, at + HOLE);
        if (piece.length === HOLE && isZero(piece)) {
          off += HOLE;
          continue;
        }
        const r = trySys("lseek", fd, off, 0 /* SEEK_SET */);
        if (r < 0) this.fail(e.path, "place a piece of it", r);
        writeAll(`write ${e.path}`, fd, piece);
        off += piece.length;
      }
    }
    const r = trySys("ftruncate", fd, off);
    if (r < 0) this.fail(e.path, `make it ${off} bytes`, r);
  }

  private directory(parts: string[], e: TarEntry): void {
    const fd = this.dir(parts, e.path, O.RDONLY);
    try {
      this.owner(fd, null, e);
      const r = trySys("fchmod", fd, e.mode);
      if (r < 0) this.fail(e.path, "set its mode", r);
      this.xattrs(fd, e);
    } finally {
      closeFd(fd);
    }
    this.dirTimes.push({ parts, mtime: e.mtime });
  }

  private opaque(parts: string[], entry: string): void {
    const fd = this.dir(parts, entry, O.RDONLY);
    try {
      const y = new TextEncoder().encode("y");
      const r = trySys("fsetxattr", fd, cstr(this.o.opaqueXattr), y, 1, 0);
      if (r < 0) this.fail(entry, `mark the directory opaque (${this.o.opaqueXattr})`, r);
    } finally {
      closeFd(fd);
    }
  }

  /** Directory times, deepest first: adding entries changed them. One a later entry replaced has none to set. */
  finish(): void {
    const how = new BigUint64Array([BigInt(O.RDONLY | O.DIRECTORY | O.CLOEXEC), 0n, BigInt(RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS)]);
    for (const d of [...this.dirTimes].sort((a, b) => b.parts.length - a.parts.length)) {
      const fd = trySys("openat2", this.root, cstr(d.parts.join("/") || "."), how, OPEN_HOW_LAYOUT.SIZE);
      if (fd < 0) continue;
      trySys("utimensat", fd, null, timespecs(d.mtime), 0);
      closeFd(fd);
    }
  }
}

/** Whether `name` in the directory `dir` is overlayfs's whiteout (a 0:0 character device). */
function whiteoutAt(dir: number, name: string): boolean {
  try {
    const st = lstatSync(`/proc/self/fd/${dir}/${name}`);
    return st.isCharacterDevice() && st.rdev === 0;
  } catch {
    // nothing there
    return false;
  }
}

function isZero(b: Uint8Array): boolean {
  // Eight bytes at a time where the chunk is aligned for it (a 4 KiB piece of a read buffer is).
  const whole = b.byteOffset % 8 === 0 ? b.length >> 3 : 0;
  const words = new BigUint64Array(b.buffer, b.byteOffset, whole);
  for (const w of words) if (w !== 0n) return false;
  for (let i = whole << 3; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * Unpacks the uncompressed layer `source` into the empty directory `dir`.
 * Returns the warnings to show once (attributes not kept, devices left out).
 */
export async function unpackLayer(source: AsyncIterable<Uint8Array>, dir: string, o: UnpackOptions): Promise<string[]> {
  const root = trySys("openat", AT.FDCWD, cstr(dir), O.PATH | O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC, 0);
  if (root < 0) throw new LayerError(`open the layer directory ${dir}: ${errnoMessage(-root)}`);
  try {
    return await unpackInto(source, root, o);
  } finally {
    closeFd(root);
  }
}

/** Unpacks `source` below the open directory `root` (the caller's to close), nothing of it outside. */
export async function unpackInto(source: AsyncIterable<Uint8Array>, root: number, o: UnpackOptions): Promise<string[]> {
  requireFeature("openat2", "unpacking an image layer");
  const layer = new Layer(root, o);
  for await (const { entry, content } of readTar(source)) await layer.add(entry, content);
  layer.finish();
  return [...layer.warnings];
}
