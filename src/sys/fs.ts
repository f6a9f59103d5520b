// The few file-system look-ups bunker makes on the host, as system calls.
// (node:fs costs milliseconds of start-up to load, more than the calls themselves.)

import { AT, LOCK, NSFS_MAGIC, O, RAMFS_MAGIC, RESOLVE, S, STATX, TMPFS_MAGIC } from "./constants";
import { DIRENT64_LAYOUT as DIRENT, OPEN_HOW_LAYOUT, STATFS_LAYOUT, STATX_LAYOUT as SX } from "./layouts";
import { requireFeature } from "./kernel";
import { Errno, errnoMessage, SysError } from "./errno";
import { closeFd, readUpTo, sys, trySys } from "./libc";


export type FileType = "file" | "dir" | "symlink" | "char" | "block" | "fifo" | "socket";

const TYPES: Record<number, FileType> = {
  [S.IFREG]: "file",
  [S.IFDIR]: "dir",
  [S.IFLNK]: "symlink",
  [S.IFCHR]: "char",
  [S.IFBLK]: "block",
  [S.IFIFO]: "fifo",
  [S.IFSOCK]: "socket",
};

/** A NUL-terminated UTF-8 copy of `s`, for a system call's path or name. */
export const cstr = (s: string) => new TextEncoder().encode(`${s}\0`);

/** The type of what is at `path` (not following a final symlink unless `follow`), or null if nothing is. */
export function fileType(path: string, follow = false): FileType | null {
  const buf = new Uint8Array(SX.SIZE);
  const r = trySys("statx", AT.FDCWD, cstr(path), follow ? 0 : AT.SYMLINK_NOFOLLOW, STATX.TYPE, buf);
  if (r === -Errno.ENOENT || r === -Errno.ENOTDIR) return null;
  if (r < 0) throw new SysError(`stat ${path}`, -r);
  const mode = new DataView(buf.buffer).getUint16(SX.mode, true);
  return TYPES[mode & S.IFMT] ?? null;
}

export interface Owner {
  uid: number;
  mode: number;
}

/** Owner and permission bits of `path` (not following a final symlink). */
export function ownerOf(path: string): (Owner & { type: FileType | null }) | null {
  const buf = new Uint8Array(SX.SIZE);
  const r = trySys("statx", AT.FDCWD, cstr(path), AT.SYMLINK_NOFOLLOW, STATX.TYPE | STATX.MODE | STATX.UID, buf);
  if (r === -Errno.ENOENT) return null;
  if (r < 0) throw new SysError(`stat ${path}`, -r);
  const dv = new DataView(buf.buffer);
  const mode = dv.getUint16(SX.mode, true);
  return { uid: dv.getUint32(SX.uid, true), mode: mode & 0o7777, type: TYPES[mode & S.IFMT] ?? null };
}

/**
 * A directory only `uid` can write to: created 0700 if missing; refused if it
 * is a symlink, not a directory, someone else's, or writable by others.
 */
export function privateDir(path: string, uid: number): string {
  const r = trySys("mkdirat", AT.FDCWD, cstr(path), 0o700);
  if (r < 0 && r !== -Errno.EEXIST) throw new SysError(`create ${path}`, -r);
  const o = ownerOf(path);
  if (!o || o.type !== "dir") throw new Error(`${path} is not a directory`);
  if (o.uid !== uid) throw new Error(`${path} belongs to uid ${o.uid}, not ${uid}`);
  if (o.mode & 0o022) throw new Error(`${path} is writable by other users (mode ${o.mode.toString(8)})`);
  return path;
}


/** Whether `path` lives in memory (tmpfs or ramfs). */
export function inMemory(path: string): boolean {
  const buf = new BigInt64Array(STATFS_LAYOUT.SIZE / 8);
  if (trySys("statfs", cstr(path), buf) < 0) return false;
  const t = Number(buf[STATFS_LAYOUT.type / 8]!);
  return t === TMPFS_MAGIC || t === RAMFS_MAGIC;
}

/** statfs(2)'s f_flags (ST_RDONLY, ST_NOSUID, ...) of the mount `path` is on, or null when it cannot be asked. */
export function mountFlagsOf(path: string): number | null {
  const buf = new BigInt64Array(STATFS_LAYOUT.SIZE / 8);
  if (trySys("statfs", cstr(path), buf) < 0) return null;
  return Number(buf[STATFS_LAYOUT.flags / 8]!);
}

/** The whole of a small file bunker keeps or the kernel provides (its state, /proc, /sys), as UTF-8. */
export function readText(path: string, max = 1 << 20): string {
  const fd = sys(`open ${path}`, "openat", AT.FDCWD, cstr(path), O.RDONLY | O.CLOEXEC, 0);
  try {
    return new TextDecoder().decode(readUpTo(`read ${path}`, fd, max));
  } finally {
    closeFd(fd);
  }
}

/**
 * A file bunker was asked to read cannot be used: `reason` says why, in words
 * that complete "bunker: <what the file is> <path>: ...".
 */
export class FileError extends SysError {
  constructor(
    op: string,
    errno: number,
    readonly reason: string = errnoMessage(errno).toLowerCase(),
  ) {
    super(op, errno);
    this.message = `${op}: ${reason}`;
  }
}

const KINDS: Record<FileType, string> = {
  file: "a regular file",
  dir: "a directory",
  symlink: "a symbolic link",
  char: "a character device",
  block: "a block device",
  fifo: "a FIFO",
  socket: "a socket",
};

/** "1 MiB", "64 KiB", "512 bytes". */
function sizeWords(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}


/** Type, size, owner and inode of what an open descriptor (an O_PATH one too) refers to. */
export function statFd(fd: number, op: string): { type: FileType | null; size: number; uid: number; ino: number } {
  const buf = new Uint8Array(SX.SIZE);
  const r = trySys("statx", fd, cstr(""), AT.EMPTY_PATH, STATX.TYPE | STATX.SIZE | STATX.UID | STATX.INO, buf);
  if (r < 0) throw new FileError(op, -r);
  const dv = new DataView(buf.buffer);
  return { type: TYPES[dv.getUint16(SX.mode, true) & S.IFMT] ?? null, size: Number(dv.getBigUint64(SX.size, true)), uid: dv.getUint32(SX.uid, true), ino: Number(dv.getBigUint64(SX.ino, true)) };
}

/** "a FIFO", "a symbolic link": what a file that should have been a regular one is. */
export const kindOf = (type: FileType | null): string => (type ? KINDS[type] : "of an unknown type");

const tooLarge = (op: string, max: number) => new FileError(op, Errno.EFBIG, `too large (over ${sizeWords(max)})`);

/**
 * Reads the file an O_PATH descriptor names: only a regular file, at most
 * `max` bytes. It is opened for reading only once known to be one (through
 * /proc/self/fd, which reopens that very inode): a FIFO or a device is never
 * opened, so it can neither block nor wake a driver.
 */
function readPathFd(pathFd: number, op: string, max: number): string {
  const { type, size } = statFd(pathFd, op);
  if (type !== "file") throw new FileError(op, Errno.EINVAL, `not a regular file${type ? ` (${KINDS[type]})` : ""}`);
  if (size > max) throw tooLarge(op, max);
  const fd = trySys("openat", AT.FDCWD, cstr(`/proc/self/fd/${pathFd}`), O.RDONLY | O.NONBLOCK | O.NOCTTY | O.CLOEXEC, 0);
  if (fd < 0) throw new FileError(op, -fd);
  try {
    // One byte more than allowed tells a file that grew since the check from one that fits.
    const data = readUpTo(op, fd, max + 1);
    if (data.length > max) throw tooLarge(op, max);
    return new TextDecoder().decode(data);
  } finally {
    closeFd(fd);
  }
}

/**
 * A file a user named (an env file, a seccomp profile): a regular file of at
 * most `max` bytes, read without ever blocking; anything else is a FileError.
 */
export function readRegularFile(path: string, max = 1 << 20): string {
  const op = `read ${path}`;
  const fd = trySys("openat", AT.FDCWD, cstr(path), O.PATH | O.CLOEXEC, 0);
  if (fd < 0) throw new FileError(op, -fd);
  try {
    return readPathFd(fd, op, max);
  } finally {
    closeFd(fd);
  }
}


/**
 * A small file inside `root`, resolved as if `root` were / (symlinks, "..",
 * absolute paths all stay inside it); null when it does not exist. Like
 * readRegularFile, only a regular file of at most `max` bytes.
 */
export function readInRoot(root: string, path: string, max = 1 << 20): string | null {
  const op = `read ${path} in ${root}`;
  requireFeature("openat2", `reading ${path} inside ${root}`);
  const dir = sys(`open ${root}`, "openat", AT.FDCWD, cstr(root), O.PATH | O.DIRECTORY | O.CLOEXEC, 0);
  try {
    const how = new BigUint64Array([BigInt(O.PATH | O.CLOEXEC), 0n, BigInt(RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS)]);
    const fd = trySys("openat2", dir, cstr(path), how, OPEN_HOW_LAYOUT.SIZE);
    if (fd === -Errno.ENOENT || fd === -Errno.ENOTDIR) return null;
    if (fd < 0) throw new FileError(op, -fd);
    try {
      return readPathFd(fd, op, max);
    } finally {
      closeFd(fd);
    }
  } finally {
    closeFd(dir);
  }
}


/**
 * Opens a namespace file (/proc/PID/ns/TYPE, or a bind mount of one) for
 * setns. Checked to be on nsfs before it is opened for real, so that a FIFO
 * or a device in its place is refused, never opened.
 */
export function openNamespace(path: string): number {
  const op = `open ${path}`;
  const pathFd = trySys("openat", AT.FDCWD, cstr(path), O.PATH | O.CLOEXEC, 0);
  if (pathFd < 0) throw new FileError(op, -pathFd);
  try {
    const buf = new BigInt64Array(STATFS_LAYOUT.SIZE / 8);
    const r = trySys("fstatfs", pathFd, buf);
    if (r < 0) throw new FileError(op, -r);
    if (Number(buf[STATFS_LAYOUT.type / 8]!) !== NSFS_MAGIC) {
      const { type } = statFd(pathFd, op);
      throw new FileError(op, Errno.EINVAL, `not a namespace file${type ? ` (${KINDS[type]})` : ""}`);
    }
    const fd = trySys("openat", AT.FDCWD, cstr(`/proc/self/fd/${pathFd}`), O.RDONLY | O.CLOEXEC, 0);
    if (fd < 0) throw new FileError(op, -fd);
    return fd;
  } finally {
    closeFd(pathFd);
  }
}

/** Whether `path` (following symlinks) is a namespace file: a pin's file, or /proc/PID/ns/TYPE. */
export function isNamespaceFile(path: string): boolean {
  const buf = new BigInt64Array(STATFS_LAYOUT.SIZE / 8);
  return trySys("statfs", cstr(path), buf) === 0 && Number(buf[STATFS_LAYOUT.type / 8]!) === NSFS_MAGIC;
}

/** Whether an open descriptor (an O_PATH one too) is a namespace file. */
export function isNamespaceFd(fd: number): boolean {
  const buf = new BigInt64Array(STATFS_LAYOUT.SIZE / 8);
  return trySys("fstatfs", fd, buf) === 0 && Number(buf[STATFS_LAYOUT.type / 8]!) === NSFS_MAGIC;
}

/** The path an open descriptor leads to now, every symlink resolved (its /proc/self/fd link); null if unknown. */
export function pathOfFd(fd: number): string | null {
  const buf = new Uint8Array(4096);
  const n = trySys("readlinkat", AT.FDCWD, cstr(`/proc/self/fd/${fd}`), buf, buf.length);
  return n < 0 ? null : new TextDecoder().decode(buf.subarray(0, n));
}


/**
 * Removes `path` inside `root` if it is an empty regular file or an empty
 * directory. No symlink is followed on the way (a rootfs is not to be
 * trusted), and a mount point of this mount namespace is busy and stays.
 * Returns whether it was removed.
 */
export function removeEmptyBeneath(root: string, path: string, identity: string): boolean {
  const parts = path.split("/").filter(Boolean);
  const name = parts.pop();
  if (name === undefined || name === "..") return false;
  const rootFd = trySys("openat", AT.FDCWD, cstr(root), O.PATH | O.DIRECTORY | O.CLOEXEC, 0);
  if (rootFd < 0) return false;
  let dir = rootFd;
  try {
    // The very directory the record is about: its path may lead elsewhere by now (a symlink put in its place).
    if (identityOf("", rootFd)?.id !== identity) return false;
    if (parts.length > 0) {
      const how = new BigUint64Array([BigInt(O.PATH | O.DIRECTORY | O.CLOEXEC), 0n, BigInt(RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS)]);
      dir = trySys("openat2", rootFd, cstr(parts.join("/")), how, OPEN_HOW_LAYOUT.SIZE);
      if (dir < 0) return false;
    }
    const buf = new Uint8Array(SX.SIZE);
    if (trySys("statx", dir, cstr(name), AT.SYMLINK_NOFOLLOW, STATX.TYPE | STATX.SIZE, buf) < 0) return false;
    const dv = new DataView(buf.buffer);
    const type = TYPES[dv.getUint16(SX.mode, true) & S.IFMT];
    // rmdir refuses a directory with anything in it: the emptiness check and the removal are one step.
    if (type === "dir") return trySys("unlinkat", dir, cstr(name), AT.REMOVEDIR) === 0;
    if (type === "file" && dv.getBigUint64(SX.size, true) === 0n) return trySys("unlinkat", dir, cstr(name), 0) === 0;
    return false;
  } finally {
    if (dir !== rootFd) closeFd(dir);
    closeFd(rootFd);
  }
}

/** The first of `dirs` holding an executable `name`. */
export function findExecutable(name: string, dirs: readonly string[]): string | undefined {
  for (const d of dirs) {
    if (d === "") continue;
    const path = `${d.replace(/\/+$/, "")}/${name}`;
    if (trySys("faccessat", AT.FDCWD, cstr(path), 1 /* X_OK */, 0) === 0 && fileType(path, true) === "file") return path;
  }
  return undefined;
}

/** An absolute, normalised path (no "." or ".." parts); symlinks are left alone. */
export function absolute(path: string, cwd = process.cwd()): string {
  const parts: string[] = [];
  for (const part of (path.startsWith("/") ? path : `${cwd}/${path}`).split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

/** Writes `text` to `path` through a temporary file and a rename, so readers see all or nothing. */
export function writeAtomic(path: string, text: string, mode = 0o600): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = sys(`create ${tmp}`, "openat", AT.FDCWD, cstr(tmp), O.WRONLY | O.CREAT | O.TRUNC | O.CLOEXEC, mode);
  try {
    const data = new TextEncoder().encode(text);
    let off = 0;
    while (off < data.length) {
      const n = trySys("write", fd, data.subarray(off), data.length - off);
      if (n < 0) throw new SysError(`write ${tmp}`, -n);
      off += n;
    }
  } finally {
    closeFd(fd);
  }
  sys(`rename ${tmp} to ${path}`, "renameat2", AT.FDCWD, cstr(tmp), AT.FDCWD, cstr(path), 0);
}

/**
 * Writes `text` to an existing file in a single write: cgroup and /proc
 * files take one value per write and report a bad one as that write's error.
 */
export function writeValue(path: string, text: string): void {
  const fd = sys(`open ${path}`, "openat", AT.FDCWD, cstr(path), O.WRONLY | O.CLOEXEC, 0);
  try {
    const data = new TextEncoder().encode(text);
    const n = trySys("write", fd, data, data.length);
    if (n < 0) throw new SysError(`write ${path}`, -n);
  } finally {
    closeFd(fd);
  }
}

/** mkdir; false when it already existed. */
export function makeDir(path: string, mode = 0o700): boolean {
  const r = trySys("mkdirat", AT.FDCWD, cstr(path), mode);
  if (r === -Errno.EEXIST) return false;
  if (r < 0) throw new SysError(`create ${path}`, -r);
  return true;
}

/** unlink (or rmdir with `dir`); a missing path is fine. */
export function removePath(path: string, dir = false): void {
  const r = trySys("unlinkat", AT.FDCWD, cstr(path), dir ? AT.REMOVEDIR : 0);
  if (r < 0 && r !== -Errno.ENOENT) throw new SysError(`remove ${path}`, -r);
}

/** Names in a directory (not . and ..); empty when it does not exist, or is removed while it is read. */
export function listDir(path: string): string[] {
  const fd = trySys("openat", AT.FDCWD, cstr(path), O.RDONLY | O.DIRECTORY | O.CLOEXEC, 0);
  if (fd === -Errno.ENOENT) return [];
  if (fd < 0) throw new SysError(`open ${path}`, -fd);
  const names: string[] = [];
  const buf = new Uint8Array(32768);
  const dv = new DataView(buf.buffer);
  const dec = new TextDecoder();
  try {
    for (;;) {
      const n = trySys("getdents64", fd, buf, buf.length);
      // A directory removed after it was opened reads as ENOENT: it is gone, as if not found.
      if (n === -Errno.ENOENT) return [];
      if (n < 0) throw new SysError(`read ${path}`, -n);
      if (n === 0) break;
      for (let off = 0; off < n; ) {
        const reclen = dv.getUint16(off + DIRENT.reclen, true);
        let end = off + DIRENT.name;
        while (buf[end] !== 0) end++;
        const name = dec.decode(buf.subarray(off + DIRENT.name, end));
        if (name !== "." && name !== "..") names.push(name);
        off += reclen;
      }
    }
  } finally {
    closeFd(fd);
  }
  return names;
}

/** The target of a symlink, or null if `path` is not one. */
export function readLink(path: string): string | null {
  const buf = new Uint8Array(4096);
  const n = trySys("readlinkat", AT.FDCWD, cstr(path), buf, buf.length);
  if (n < 0) return null;
  return new TextDecoder().decode(buf.subarray(0, n));
}

/** symlink; false when `path` already exists. */
export function makeLink(target: string, path: string): boolean {
  const r = trySys("symlinkat", cstr(target), AT.FDCWD, cstr(path));
  if (r === -Errno.EEXIST) return false;
  if (r < 0) throw new SysError(`create ${path}`, -r);
  return true;
}


/** An exclusive flock on `path` (created if missing), or a shared one; released by closing. */
export function lockFile(path: string, wait = true, shared = false): { fd: number; release(): void } | null {
  const fd = sys(`open ${path}`, "openat", AT.FDCWD, cstr(path), O.RDONLY | O.CREAT | O.CLOEXEC, 0o600);
  for (;;) {
    const r = trySys("flock", fd, (shared ? LOCK.SH : LOCK.EX) | (wait ? 0 : LOCK.NB));
    if (r === 0) return { fd, release: () => closeFd(fd) };
    if (r === -Errno.EINTR) continue;
    closeFd(fd);
    if (r === -Errno.EAGAIN) return null;
    throw new SysError(`lock ${path}`, -r);
  }
}


/**
 * What names a file across time (following links): its device and inode as
 * `key`, and in `id` its birth time as well where the filesystem keeps one,
 * since a deleted file's inode number is soon given to a new one.
 */
export function identityOf(path: string, fd: number = AT.FDCWD): { key: string; id: string } | null {
  const buf = new Uint8Array(SX.SIZE);
  if (trySys("statx", fd, cstr(path), path === "" ? AT.EMPTY_PATH : 0, STATX.INO | STATX.BTIME, buf) < 0) return null;
  const dv = new DataView(buf.buffer);
  const key = `${dv.getUint32(SX.devMajor, true)}-${dv.getUint32(SX.devMinor, true)}-${dv.getBigUint64(SX.ino, true)}`;
  const born = (dv.getUint32(SX.mask, true) & STATX.BTIME) !== 0 ? `@${dv.getBigInt64(SX.btimeSec, true)}.${dv.getUint32(SX.btimeNsec, true)}` : "";
  return { key, id: `${key}${born}` };
}

/** Device and inode of `path` (following links; "" with `fd`: the open file), as "major:minor:ino"; null if it does not exist. */
export function inodeOf(path: string, fd: number = AT.FDCWD): string | null {
  const buf = new Uint8Array(SX.SIZE);
  const r = trySys("statx", fd, cstr(path), path === "" ? AT.EMPTY_PATH : 0, STATX.INO, buf);
  if (r < 0) return null;
  const dv = new DataView(buf.buffer);
  const ino = dv.getBigUint64(SX.ino, true);
  const devMajor = dv.getUint32(SX.devMajor, true);
  const devMinor = dv.getUint32(SX.devMinor, true);
  return `${devMajor}:${devMinor}:${ino}`;
}
