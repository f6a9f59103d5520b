// bunker cp: files between a container and the host, with docker's path
// rules. The source side becomes a tar stream (image/archive.ts reading
// from a descriptor, never following a link out of its tree); the
// destination side chooses the directory and name by the rules, and the
// stream is unpacked beneath that directory's descriptor (image/unpack.ts:
// no entry leaves it, none is written through a symlink).

import { BunkerError } from "../errors";
import { containerIdOf, hostIdOf } from "../identity/idmap";
import { archiveOf } from "../image/archive";
import type { TarEntry } from "../image/tar";
import { unpackInto } from "../image/unpack";
import { AT, O } from "../sys/constants";
import { cstr, type FileType } from "../sys/fs";
import { errnoMessage } from "../sys/errno";
import { trySys, writeAll } from "../sys/libc";
import { CopyError, FdTree, LayerTree, components, type Found, type Tree } from "./cp-tree";
import { streamOf, transformed, type Rebase } from "./cp-stream";
import { currentStatus, processAlive, resolveContainer, type ContainerState } from "./store";

export interface CopyOptions {
  /** -a: keep the source's owners (else the receiving side's: the container's root, or the invoking user). */
  archive: boolean;
  /** -L: follow a symlink named as the source. */
  follow: boolean;
}

/** One side of a copy: a path in a container, a path on the host, or the standard stream ("-"). */
export type Side = { container: string; path: string } | { host: string } | "-";

const isRoot = () => (process.geteuid?.() ?? 0) === 0;

/** A container's files and how its IDs map to the host's. */
interface ContainerSide {
  tree: Tree;
  name: string;
  toContainer: (id: number, kind: "uid" | "gid") => number;
  toHost: (id: number, kind: "uid" | "gid") => number;
}

/**
 * The tree of container `ref`: a running one through its own root as its
 * processes see it (/proc/PID/root); a stopped one through its storage (its
 * --rootfs directory, its image's copy, or its layers merged).
 */
function openContainer(ref: string): ContainerSide {
  let s: ContainerState;
  try {
    s = resolveContainer(ref);
  } catch (e) {
    // Docker's cp fails with 1 for a container it cannot find.
    throw new CopyError((e as Error).message);
  }
  const name = s.name ?? s.id;
  const spec = s.spec;
  const what = `container ${name}`;
  if (spec.bunker.rootMode === "host") throw new CopyError(`${what} runs on the host's root (--host-root): it has no files of its own to copy`);
  const uids = spec.oci.linux?.uidMappings ?? [];
  const gids = spec.oci.linux?.gidMappings ?? [];
  const maps = (kind: "uid" | "gid") => (kind === "uid" ? uids : gids);
  // As the container sees a host ID: one none maps to is nobody, as the kernel shows it.
  const toContainer = (id: number, kind: "uid" | "gid") => (maps(kind).length ? (containerIdOf(maps(kind), id) ?? 65534) : id);
  const toHost = (id: number, kind: "uid" | "gid") => (maps(kind).length ? (hostIdOf(maps(kind), id) ?? hostIdOf(maps(kind), 0) ?? id) : id);
  const image = spec.bunker.rootMode === "image" ? spec.bunker.image : undefined;
  if (currentStatus(s) === "running" && s.pid !== undefined) {
    const fd = trySys("openat", AT.FDCWD, cstr(`/proc/${s.pid}/root`), O.PATH | O.DIRECTORY | O.CLOEXEC, 0);
    // The process must still be the container's once its root is held: a pid reused meanwhile is someone else's.
    if (fd < 0 || !processAlive(s)) throw new CopyError(`open the root of ${what} (/proc/${s.pid}/root): ${fd < 0 ? errnoMessage(-fd) : "the container stopped"}`);
    return { tree: FdTree.inRoot(fd, what), name, toContainer, toHost };
  }
  if (image && image.driver !== "copy") return { tree: new LayerTree([...image.lower, image.upper], what, isRoot()), name, toContainer, toHost };
  const dir = image ? image.merged : spec.oci.root.path;
  const fd = trySys("openat", AT.FDCWD, cstr(dir), O.PATH | O.DIRECTORY | O.CLOEXEC, 0);
  if (fd < 0) throw new CopyError(`open the root filesystem of ${what} (${dir}): ${errnoMessage(-fd)}`);
  return { tree: FdTree.inRoot(fd, what), name, toContainer, toHost };
}

/** Where a source named `srcName` of type `srcType` goes at `dest` of `tree`: a directory to unpack beneath, and the name it takes there. */
function destination(tree: Tree, dest: string, srcType: FileType | "stream", srcName: string, contentOnly: boolean): { dir: number; name: string } {
  const slash = dest.endsWith("/") || dest.endsWith("/.");
  const shown = tree.shown(dest);
  const type = tree.typeOf(dest);
  if (srcType === "stream") {
    if (type !== "dir") throw new CopyError(`copy to ${shown}: ${type === null ? "no such directory" : "not a directory"}: an archive from stdin is unpacked into a directory`);
    return { dir: tree.writableDir(dest), name: "" };
  }
  if (type === "dir") return { dir: tree.writableDir(dest), name: contentOnly ? "" : srcName };
  if (type !== null) {
    if (srcType === "dir") throw new CopyError(`copy to ${shown}: cannot copy a directory to a file`);
    if (slash) throw new CopyError(`copy to ${shown}: not a directory`);
  } else if (slash && srcType !== "dir") throw new CopyError(`copy to ${shown}: the destination directory must exist`);
  const parts = components(dest);
  const name = parts.pop();
  if (name === undefined || name === "..") throw new CopyError(`copy to ${shown}: not a directory`);
  const parent = (dest.startsWith("/") ? "/" : "") + parts.join("/") || ".";
  if (tree.typeOf(parent) !== "dir") throw new CopyError(`copy to ${shown}: no such directory ${parent}`);
  return { dir: tree.writableDir(parent), name };
}

/** The source `path` of `tree` as the rules read it: a trailing "/." copies a directory's content, a trailing "/" follows a link. */
function source(tree: Tree, path: string, follow: boolean): { found: Found; name: string; contentOnly: boolean } {
  const contentOnly = /(^|\/)\.$/.test(path);
  const trailing = path.endsWith("/") || contentOnly;
  const found = tree.find(path, follow || trailing);
  const shown = tree.shown(path);
  if (!found) throw new CopyError(`copy ${shown}: no such file or directory`);
  if (trailing && found.type !== "dir") throw new CopyError(`copy ${shown}: not a directory`);
  const name = components(path).filter((p) => p !== "..").at(-1) ?? ".";
  return { found, name: contentOnly ? "." : name, contentOnly };
}

/** The tar stream of what `found` names, its root entry called `name` ("." for a directory's own "./"). */
function archived(found: Found, owner?: (id: number, kind: "uid" | "gid") => number): { stream: AsyncIterable<Uint8Array>; from: string } {
  const chunks = archiveOf({ layers: found.layers, view: "merged", ...(found.under !== undefined ? { under: found.under } : {}), ...(found.only !== undefined ? { only: found.only } : {}), ...(owner ? { owner } : {}) });
  return { stream: streamOf(chunks), from: found.only ?? "" };
}

/** Modes a non-root receiver keeps: no setuid or setgid file of the container's making. */
const withoutSetid = (e: TarEntry): TarEntry => (e.type === "dir" ? e : { ...e, mode: e.mode & ~0o6000 });

/** Copies `src` to `dest` (one side a container's); resolves to the bytes of file content copied. */
export async function copy(src: Side, dest: Side, o: CopyOptions): Promise<number> {
  const count = { bytes: 0, entries: 0 };
  if (src !== "-" && "container" in src) {
    const c = openContainer(src.container);
    try {
      const s = source(c.tree, src.path, o.follow);
      const { stream, from } = archived(s.found, c.toContainer);
      if (dest === "-") {
        for await (const chunk of transformed(stream, { from, to: s.name }, (e) => e, count)) writeAll("write the archive", 1, chunk);
        gone(count, c.tree.shown(src.path));
        return count.bytes;
      }
      if (!("host" in dest)) throw new CopyError("copying between containers is not supported: copy to the host first");
      const host = FdTree.host();
      try {
        const d = destination(host, dest.host, s.found.type, s.name, s.contentOnly);
        const root = isRoot();
        // The invoking user's files, as docker makes them; with -a, as root, the container's owners, and its setuid files.
        const fix = (e: TarEntry) => (root && o.archive ? e : withoutSetid(e));
        await unpacked(`copy to ${dest.host}`, transformed(stream, { from, to: d.name }, fix, count), d.dir, root && o.archive);
        gone(count, c.tree.shown(src.path));
      } finally {
        host.close();
      }
      return count.bytes;
    } finally {
      c.tree.close();
    }
  }
  if (dest === "-" || !("container" in dest)) throw new CopyError("one of SRC and DEST must name a container path (CONTAINER:PATH)");
  const c = openContainer(dest.container);
  try {
    if (src === "-") {
      const d = destination(c.tree, dest.path, "stream", "", false);
      await into(c, dest.path, d.dir, Bun.stdin.stream() as unknown as AsyncIterable<Uint8Array>, { from: "", to: "" }, o, count);
      return count.bytes;
    }
    const host = FdTree.host();
    try {
      const s = source(host, src.host, o.follow);
      const { stream, from } = archived(s.found);
      const d = destination(c.tree, dest.path, s.found.type, s.name, s.contentOnly);
      await into(c, dest.path, d.dir, stream, { from, to: d.name }, o, count);
      gone(count, src.host);
      return count.bytes;
    } finally {
      host.close();
    }
  } finally {
    c.tree.close();
  }
}

/** A source found, then removed before it was read (a running container's doing): nothing was copied, and that is a failure. */
function gone(count: { entries: number }, shown: string): void {
  if (count.entries === 0) throw new CopyError(`copy ${shown}: no such file or directory (it went away while being copied)`);
}

/** Unpacks `stream` into the container's directory `d.dir`, owned by the container's root unless -a keeps the source's owners. */
async function into(c: ContainerSide, where: string, dir: number, stream: AsyncIterable<Uint8Array>, r: Rebase, o: CopyOptions, count: { bytes: number; entries: number }): Promise<void> {
  const root = isRoot();
  // The source's numeric owners are the container's IDs with -a (docker's meaning), else its root's.
  const fix = (e: TarEntry): TarEntry => (o.archive ? { ...e, uid: c.toHost(e.uid, "uid"), gid: c.toHost(e.gid, "gid") } : { ...e, uid: c.toHost(0, "uid"), gid: c.toHost(0, "gid") });
  await unpacked(`copy to ${c.tree.shown(where)}`, transformed(stream, r, fix, count), dir, root);
}

/**
 * Unpacks `stream` beneath `dir`: owners set when `chown`, devices made only
 * by root. A refused entry or a damaged archive fails the copy (status 1),
 * said of the copy; what was left out is a warning.
 */
async function unpacked(what: string, stream: AsyncIterable<Uint8Array>, dir: number, chown: boolean): Promise<void> {
  let warnings: string[];
  try {
    warnings = await unpackInto(stream, dir, { chown, devices: isRoot(), opaqueXattr: "", plain: true });
  } catch (e) {
    if (!(e instanceof BunkerError) || e instanceof CopyError) throw e;
    throw new CopyError(`${what}: ${e.message.replace(/^layer entry/, "archive entry").replace("leaves the layer", "leaves the destination")}`, e.errno);
  }
  for (const w of warnings) process.stderr.write(`bunker: warning: ${what}: ${w.replace(" in the image", "")}\n`);
}

/** docker's CONTAINER:PATH: a colon before any slash; a path with a slash before its colon is the host's ("./a:b"). */
export function parseSide(arg: string): Side {
  if (arg === "-") return "-";
  const colon = arg.indexOf(":");
  const slash = arg.indexOf("/");
  if (colon > 0 && (slash < 0 || colon < slash)) return { container: arg.slice(0, colon), path: arg.slice(colon + 1) || "/" };
  return { host: arg };
}
