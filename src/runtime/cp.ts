// bunker cp: files between a container and the host, with docker's path
// rules. The source end becomes a tar stream (image/archive.ts reading from a
// descriptor, never following a link out of its tree); the destination end
// chooses the directory and name by the rules, and the stream is unpacked
// beneath that directory's descriptor (image/unpack.ts: no entry leaves it,
// none is written through a symlink). See cp-side.ts for the two ends.

import { closeSync, openSync, readSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { containerIdOf, hostIdOf } from "../identity/idmap";
import type { TarEntry } from "../image/tar";
import { readTar } from "../image/tar";
import { AT, O } from "../sys/constants";
import { cstr, type FileType } from "../sys/fs";
import { errnoMessage } from "../sys/errno";
import { closeFd, trySys, writeAll } from "../sys/libc";
import { CopyError, FdTree } from "./cp-tree";
import { transformed } from "./cp-stream";
import { CARRIED, archived, destination, opaqueOf, findSource, gone, isRoot, openPlace, sourceName, unpacked, type Count, type HelperRequest, type Place } from "./cp-side";
import { ContainerGone, currentStatus, processAlive, readState, resolveContainer, withLockAsync, type ContainerState } from "./store";
import { copyInUserns } from "./userns-helper";

export interface CopyOptions {
  /** -a: keep the source's owners (else the receiving side's: the container's root, or the invoking user). */
  archive: boolean;
  /** -L: follow a symlink named as the source. */
  follow: boolean;
}

/** One side of a copy: a path in a container, a path on the host, or the standard stream ("-"). */
export type Side = { container: string; path: string } | { host: string } | "-";

/** A container as cp reaches it: where its files are, how its IDs map to the host's, and whether the helper must do its end. */
interface Target {
  what: string;
  place: Place;
  /** The container's mapping, for its end run in the user namespace helper (a user with subordinate ranges). */
  helper?: NonNullable<Parameters<typeof copyInUserns>[0]>;
  toContainer: (id: number, kind: "uid" | "gid") => number;
  toHost: (id: number, kind: "uid" | "gid") => number;
  /** A stopped container's id: writes into it take its lock. */
  stopped?: string;
}

/**
 * Container `ref` as cp reaches it: a running one through its own root as
 * its processes see it (/proc/PID/root: its volumes and tmpfs mounts too); a
 * stopped one through its storage (its --rootfs directory, its image's copy,
 * or its image's layers merged with its own upper directory).
 */
function target(ref: string): Target {
  let s: ContainerState;
  try {
    s = resolveContainer(ref);
  } catch (e) {
    // Docker's cp fails with 1 for a container it cannot find.
    throw new CopyError((e as Error).message);
  }
  const spec = s.spec;
  const what = `container ${s.name ?? s.id}`;
  if (spec.bunker.rootMode === "host") throw new CopyError(`${what} runs on the host's root (--host-root): it has no files of its own to copy`);
  const uids = spec.oci.linux?.uidMappings ?? [];
  const gids = spec.oci.linux?.gidMappings ?? [];
  const maps = (kind: "uid" | "gid") => (kind === "uid" ? uids : gids);
  const helper = !isRoot() && spec.bunker.userns?.writer === "helpers" ? { uid: uids, gid: gids, setup: spec.bunker.userns, setgroups: spec.bunker.setgroups } : undefined;
  const ids = {
    // As the container sees a host ID: one none maps to is nobody, as the kernel shows it.
    toContainer: (id: number, kind: "uid" | "gid") => (maps(kind).length ? (containerIdOf(maps(kind), id) ?? 65534) : id),
    toHost: (id: number, kind: "uid" | "gid") => (maps(kind).length ? (hostIdOf(maps(kind), id) ?? hostIdOf(maps(kind), 0) ?? id) : id),
    ...(helper ? { helper } : {}),
  };
  const image = spec.bunker.rootMode === "image" ? spec.bunker.image : undefined;
  const status = currentStatus(s);
  // Its root filesystem is being made (overlayfs mounted over its own directory): neither side to write.
  if (status === "created") throw new CopyError(`${what} is starting: copy once it runs, or once it has stopped`);
  if (status === "running" && s.pid !== undefined) {
    const root = `/proc/${s.pid}/root`;
    const fd = trySys("openat", AT.FDCWD, cstr(root), O.PATH | O.DIRECTORY | O.CLOEXEC, 0);
    // The process must still be the container's once its root is open: a pid reused meanwhile is someone else's.
    if (fd < 0 || !processAlive(s)) {
      if (fd >= 0) closeFd(fd);
      throw new CopyError(`open the root of ${what} (${root}): ${fd < 0 ? errnoMessage(-fd) : "the container stopped"}`);
    }
    // Kept open for this command's life, and named through it: never /proc/PID again, whose pid may be another's by then.
    return { what, place: { dir: `/proc/self/fd/${fd}` }, ...ids };
  }
  if (image && image.driver !== "copy") return { what, place: { layers: [...image.lower, image.upper], opaqueXattr: image.userxattr ? "user.overlay.opaque" : "trusted.overlay.opaque" }, ...ids, stopped: s.id };
  return { what, place: { dir: image ? image.merged : spec.oci.root.path }, ...ids, stopped: s.id };
}

/** A file of bunker's own in the temporary directory, already unlinked: the helper's stream, read back. */
function scratch(): number {
  const path = join(tmpdir(), `.bunker-cp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  const fd = openSync(path, "wx+", 0o600);
  unlinkSync(path);
  return fd;
}

async function* readBack(fd: number): AsyncGenerator<Uint8Array> {
  const buf = new Uint8Array(1 << 20);
  for (let at = 0; ; ) {
    const n = readSync(fd, buf, 0, buf.length, at);
    if (n <= 0) return;
    at += n;
    yield buf.slice(0, n);
  }
}

/** The type of the first entry of the stream in `fd`, the source's own. */
async function firstType(fd: number): Promise<FileType | null> {
  for await (const { entry } of readTar(readBack(fd))) return entry.type === "dir" ? "dir" : entry.type === "symlink" ? "symlink" : "file";
  return null;
}

/**
 * Runs the container's end in the helper. A running container's root is
 * opened here and handed over as the helper's descriptor 3: from its own
 * user namespace the helper may not pass /proc's check on the container.
 */
async function helped(t: Target, req: HelperRequest, input?: AsyncIterable<Uint8Array>, out?: number): Promise<void> {
  if (!("dir" in t.place) || !t.place.dir.startsWith("/proc/")) return copyInUserns(t.helper!, JSON.stringify(req), input, out);
  const fd = trySys("openat", AT.FDCWD, cstr(t.place.dir), O.PATH | O.DIRECTORY | O.CLOEXEC, 0);
  if (fd < 0) throw new CopyError(`open the root of ${t.what} (${t.place.dir}): ${errnoMessage(-fd)}`);
  try {
    await copyInUserns(t.helper!, JSON.stringify({ ...req, place: { dir: "/proc/self/fd/3" } }), input, out, fd);
  } finally {
    closeFd(fd);
  }
}

/** Copies out of a container: to the host's `dest`, or as a tar stream to stdout. */
async function copyOut(src: { container: string; path: string }, dest: { host: string } | "-", o: CopyOptions, count: Count): Promise<void> {
  const t = target(src.container);
  const { name, contentOnly } = sourceName(src.path);
  const shown = `${src.container}:${src.path}`;
  if (t.helper) {
    const req = (to: string): HelperRequest => ({ op: "out", place: t.place, what: t.what, path: src.path, follow: o.follow, name: to });
    if (dest === "-") return helped(t, req(name), undefined, 1);
    const fd = scratch();
    try {
      await helped(t, req(CARRIED), undefined, fd);
      const type = contentOnly ? "dir" : await firstType(fd);
      if (type === null) throw new CopyError(`copy ${shown}: no such file or directory (it went away while being copied)`);
      await toHost(readBack(fd), CARRIED, type, name, contentOnly, dest.host, o, count);
    } finally {
      closeSync(fd);
    }
    return;
  }
  const tree = openPlace(t.place, t.what, isRoot());
  try {
    const found = findSource(tree, src.path, o.follow);
    const { stream, from } = archived(found, t.toContainer);
    if (dest === "-") {
      for await (const chunk of transformed(stream, { from, to: name }, (e) => e, count)) writeAll("write the archive", 1, chunk);
    } else await toHost(stream, from, found.type, name, contentOnly, dest.host, o, count);
    gone(count, tree.shown(src.path));
  } finally {
    tree.close();
  }
}

/** Unpacks a container's stream at the host's `dest`: the invoking user's files; with -a, as root, the container's owners and setuid files. */
async function toHost(stream: AsyncIterable<Uint8Array>, from: string, type: FileType, name: string, contentOnly: boolean, dest: string, o: CopyOptions, count: Count): Promise<void> {
  const host = FdTree.host();
  try {
    const d = destination(host, dest, type, name, contentOnly);
    const keep = isRoot() && o.archive;
    const fix = (e: TarEntry) => (keep ? e : withoutPrivileges(e));
    // A device node of the container's making, on the host, opens what the container's device rules kept from it: only with -a, as root.
    await unpacked(`copy to ${dest}`, stream, { from, to: d.name }, fix, d.dir, { chown: keep, devices: keep }, count);
  } finally {
    host.close();
  }
}

/**
 * What a receiver keeps unless root asked for the source's own (-a): no
 * setuid or setgid file, and no file capabilities, of the container's making.
 */
function withoutPrivileges(e: TarEntry): TarEntry {
  const xattrs = new Map([...e.xattrs].filter(([k]) => k !== "security.capability"));
  return e.type === "dir" ? { ...e, xattrs } : { ...e, mode: e.mode & ~0o6000, xattrs };
}

/**
 * Copies into a container: the host's `src`, or a tar stream from stdin. A
 * stopped one is held under its lock meanwhile: a start (its overlayfs over
 * the directory written) waits for the copy.
 */
async function copyIn(src: { host: string } | "-", dest: { container: string; path: string }, o: CopyOptions, count: Count): Promise<void> {
  const t = target(dest.container);
  if (!t.stopped) return copyInto(t, src, dest, o, count);
  const id = t.stopped;
  try {
    await withLockAsync(id, async () => {
      const now = readState(id);
      if (!now || currentStatus(now) !== "stopped") throw new CopyError(`${t.what} started meanwhile: copy again`);
      await copyInto(t, src, dest, o, count);
    });
  } catch (e) {
    if (e instanceof ContainerGone) throw new CopyError(`${t.what} was removed meanwhile`);
    throw e;
  }
}

async function copyInto(t: Target, src: { host: string } | "-", dest: { container: string; path: string }, o: CopyOptions, count: Count): Promise<void> {
  const host = FdTree.host();
  try {
    let stream: AsyncIterable<Uint8Array>;
    let from = "";
    let type: FileType | "stream" = "stream";
    let named = { name: "", contentOnly: false };
    if (src === "-") stream = Bun.stdin.stream() as unknown as AsyncIterable<Uint8Array>;
    else {
      const found = findSource(host, src.host, o.follow);
      // Through the helper the IDs are the container's: a host file's owner as the container sees it.
      ({ stream, from } = archived(found, t.helper ? t.toContainer : undefined));
      type = found.type;
      named = sourceName(src.host);
    }
    if (t.helper) {
      // The helper reads the source named as it carries it; a stream from stdin as it is.
      const carried = src === "-" ? stream : transformed(stream, { from, to: CARRIED }, (e) => e, count);
      await helped(t, { op: "in", place: t.place, what: t.what, dest: dest.path, type, name: named.name, contentOnly: named.contentOnly, archive: o.archive }, carried);
      if (src !== "-") gone(count, src.host);
      return;
    }
    const tree = openPlace(t.place, t.what, isRoot());
    try {
      const d = destination(tree, dest.path, type, named.name, named.contentOnly);
      // With -a the source's numeric owners are taken as the container's IDs (docker's meaning); without, its root's.
      const fix = (e: TarEntry): TarEntry => (o.archive ? { ...e, uid: t.toHost(e.uid, "uid"), gid: t.toHost(e.gid, "gid") } : { ...e, uid: t.toHost(0, "uid"), gid: t.toHost(0, "gid") });
      await unpacked(`copy to ${tree.shown(dest.path)}`, stream, { from, to: d.name }, fix, d.dir, { chown: isRoot(), devices: isRoot(), opaqueXattr: opaqueOf(t.place) }, count);
      if (src !== "-") gone(count, src.host);
    } finally {
      tree.close();
    }
  } finally {
    host.close();
  }
}

/** Copies `src` to `dest` (one side a container's, the other the host's or "-"); resolves to the bytes of file content copied. */
export async function copy(src: Side, dest: Side, o: CopyOptions): Promise<number> {
  const count: Count = { bytes: 0, entries: 0 };
  if (src !== "-" && "container" in src) {
    if (dest !== "-" && "container" in dest) throw new CopyError("copying between containers is not supported: copy to the host first");
    await copyOut(src, dest, o, count);
  } else {
    if (dest === "-" || !("container" in dest)) throw new CopyError("one of SRC and DEST must name a container path (CONTAINER:PATH)");
    await copyIn(src, dest, o, count);
  }
  return count.bytes;
}

/** docker's CONTAINER:PATH: a colon before any slash; a path with a slash before its colon is the host's ("./a:b"). */
export function parseSide(arg: string): Side {
  if (arg === "-") return "-";
  const colon = arg.indexOf(":");
  const slash = arg.indexOf("/");
  if (colon > 0 && (slash < 0 || colon < slash)) return { container: arg.slice(0, colon), path: arg.slice(colon + 1) || "/" };
  return { host: arg };
}
