// The two ends of a `bunker cp`: reading a source into a tar stream, and
// unpacking a stream at a destination chosen by docker's path rules. The
// container's end runs in bunker itself, or, for a user whose containers map
// subordinate IDs, in the user namespace helper as the container's root
// (`bunker __userns cp REQUEST`), which may read and chown every file of it.

import { BunkerError } from "../errors";
import { archiveOf } from "../image/archive";
import type { TarEntry } from "../image/tar";
import { unpackInto } from "../image/unpack";
import { AT, O } from "../sys/constants";
import { cstr, type FileType } from "../sys/fs";
import { errnoMessage } from "../sys/errno";
import { trySys, writeAll } from "../sys/libc";
import { CopyError, FdTree, LayerTree, components, type Found, type Tree } from "./cp-tree";
import { streamOf, transformed, type Rebase } from "./cp-stream";

/** Where a container's files are: a directory to resolve in (its running root, its --rootfs, its image's copy), or its image's layers. */
export type Place = { dir: string } | { layers: string[]; opaqueXattr: string };

/** The name a source's root entry carries between bunker and its helper. */
export const CARRIED = "src";

export const isRoot = () => (process.geteuid?.() ?? 0) === 0;

/** The tree of `place`; `chown` whether directories made in an image's upper directory get the owners the view shows. */
export function openPlace(place: Place, what: string, chown: boolean): Tree {
  if ("layers" in place) return new LayerTree(place.layers, what, chown);
  const fd = trySys("openat", AT.FDCWD, cstr(place.dir), O.PATH | O.DIRECTORY | O.CLOEXEC, 0);
  if (fd < 0) throw new CopyError(`open the root of ${what} (${place.dir}): ${errnoMessage(-fd)}`);
  return FdTree.inRoot(fd, what);
}

/** The attribute that marks a directory opaque in the place's upper directory; none for a plain directory. */
export const opaqueOf = (place: Place) => ("layers" in place ? place.opaqueXattr : "");

/** What the path of a source says by itself: a trailing "/." copies a directory's content; its name in a stream ("." for content). */
export function sourceName(path: string): { name: string; contentOnly: boolean; trailing: boolean } {
  const contentOnly = /(^|\/)\.$/.test(path);
  const name = components(path).filter((p) => p !== "..").at(-1) ?? ".";
  return { name: contentOnly ? "." : name, contentOnly, trailing: path.endsWith("/") || contentOnly };
}

/** The source `path` of `tree`, a trailing "/" following a link. */
export function findSource(tree: Tree, path: string, follow: boolean): Found {
  const { trailing } = sourceName(path);
  const found = tree.find(path, follow || trailing);
  if (!found) throw new CopyError(`copy ${tree.shown(path)}: no such file or directory`);
  if (trailing && found.type !== "dir") throw new CopyError(`copy ${tree.shown(path)}: not a directory`);
  return found;
}

/** The tar stream of what `found` names, and its root entry's name in it ("" for a directory's own "./"). */
export function archived(found: Found, owner?: (id: number, kind: "uid" | "gid") => number): { stream: AsyncIterable<Uint8Array>; from: string } {
  const chunks = archiveOf({ layers: found.layers, view: "merged", ...(found.under !== undefined ? { under: found.under } : {}), ...(found.only !== undefined ? { only: found.only } : {}), ...(owner ? { owner } : {}) });
  return { stream: streamOf(chunks), from: found.only ?? "" };
}

/** Where a source of type `srcType` named `srcName` goes at `dest` of `tree`: a directory to unpack beneath, and the name it takes there. */
export function destination(tree: Tree, dest: string, srcType: FileType | "stream", srcName: string, contentOnly: boolean): { dir: number; name: string } {
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

/** What was counted of a copy: the bytes of file content, and the entries read from the source. */
export interface Count {
  bytes: number;
  entries: number;
}

/** A source found, then removed before it was read (a running container's doing): nothing was copied, and that is a failure. */
export function gone(count: Count, shown: string): void {
  if (count.entries === 0) throw new CopyError(`copy ${shown}: no such file or directory (it went away while being copied)`);
}

/**
 * Unpacks `stream`, renamed by `r` and passed through `fix`, beneath `dir`:
 * owners set when `chown`, device nodes made when `devices` (root on the
 * host only). A refused entry or a damaged archive fails the copy (status
 * 1); what was left out is a warning.
 */
export async function unpacked(what: string, stream: AsyncIterable<Uint8Array>, r: Rebase, fix: (e: TarEntry) => TarEntry, dir: number, o: { chown: boolean; devices: boolean; opaqueXattr?: string }, count: Count): Promise<void> {
  let warnings: string[];
  try {
    warnings = await unpackInto(transformed(stream, r, fix, count), dir, { opaqueXattr: "", ...o, plain: true });
  } catch (e) {
    if (!(e instanceof BunkerError) || e instanceof CopyError) throw e;
    throw new CopyError(`${what}: ${e.message.replace(/^layer entry/, "archive entry").replace("leaves the layer", "leaves the destination")}`, e.errno);
  }
  for (const w of warnings) process.stderr.write(`bunker: warning: ${what}: ${w.replace(" in the image", "")}\n`);
}

/** A request to the helper: the container's end of a copy, in its user namespace, where IDs are the container's own. */
export type HelperRequest =
  | { op: "out"; place: Place; what: string; path: string; follow: boolean; name: string }
  | { op: "in"; place: Place; what: string; dest: string; type: FileType | "stream"; name: string; contentOnly: boolean; archive: boolean };

/**
 * `bunker __userns cp REQUEST`: "out" writes the source as a tar stream, its
 * root entry called `name`, to stdout; "in" unpacks such a stream (or any
 * archive, for "stream") from stdin at the destination, owned by the
 * container's root unless -a keeps the archive's owners.
 */
export async function helperSide(req: HelperRequest): Promise<void> {
  const tree = openPlace(req.place, req.what, true);
  const count: Count = { bytes: 0, entries: 0 };
  try {
    if (req.op === "out") {
      const { stream, from } = archived(findSource(tree, req.path, req.follow));
      for await (const chunk of transformed(stream, { from, to: req.name }, (e) => e, count)) writeAll("write the archive", 1, chunk);
      gone(count, tree.shown(req.path));
      return;
    }
    const d = destination(tree, req.dest, req.type, req.name, req.contentOnly);
    const from = req.type === "stream" ? "" : CARRIED;
    const fix = (e: TarEntry): TarEntry => (req.archive ? e : { ...e, uid: 0, gid: 0 });
    await unpacked(`copy to ${tree.shown(req.dest)}`, Bun.stdin.stream() as unknown as AsyncIterable<Uint8Array>, { from, to: d.name }, fix, d.dir, { chown: true, devices: false, opaqueXattr: opaqueOf(req.place) }, count);
  } finally {
    tree.close();
  }
}
