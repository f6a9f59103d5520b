// What `bunker cp` carries from one side to the other: a tar stream (what
// docker's cp writes for `-` and reads from it), its entries renamed from
// the source's name to the one they get at the destination, and their owners
// and modes made what the receiving side may have.

import { readTar, type TarEntry } from "../image/tar";
import { TAR_END, tarHeader, tarPadding } from "../image/tar-write";
import { components } from "./cp-tree";

export interface Rebase {
  /** The source's name in the stream ("" when its entries are its content). */
  from: string;
  /** Its name where it goes: "" to unpack its content into the directory itself. */
  to: string;
}

/** An entry's path under the new name, or null when it is the source's own directory and only its content goes. */
function rebased(path: string, r: Rebase): string | null {
  const parts = components(path);
  const from = components(r.from);
  const to = components(r.to);
  const inside = from.every((p, i) => parts[i] === p) ? parts.slice(from.length) : parts;
  const out = [...to, ...inside];
  return out.length ? out.join("/") : null;
}

/** A sparse file's content with its holes filled in, for a writer that knows no sparse maps. */
async function* filled(e: TarEntry, content: () => AsyncGenerator<Uint8Array>): AsyncGenerator<Uint8Array> {
  const zeros = new Uint8Array(1 << 16);
  const gap = function* (n: number) {
    for (; n > 0; n -= zeros.length) yield zeros.subarray(0, Math.min(n, zeros.length));
  };
  let at = 0;
  let piece = 0;
  let left = 0;
  for await (let chunk of content()) {
    while (chunk.length > 0) {
      while (left === 0 && piece < e.sparse!.length) {
        const [off, len] = e.sparse![piece++]!;
        yield* gap(off - at);
        at = off;
        left = len;
      }
      const n = Math.min(left, chunk.length);
      if (n === 0) return;
      yield chunk.subarray(0, n);
      chunk = chunk.subarray(n);
      at += n;
      left -= n;
    }
  }
  yield* gap(e.size - at);
}

/**
 * The tar stream `source` with each entry renamed by `r` and passed through
 * `fix` (which may drop it, or change its owner or mode). A hard link's
 * target is renamed with it; one to a dropped entry is dropped too.
 */
export async function* transformed(source: AsyncIterable<Uint8Array>, r: Rebase, fix: (e: TarEntry) => TarEntry | null, count?: { bytes: number; entries: number }): AsyncGenerator<Uint8Array> {
  for await (const { entry, content } of readTar(source)) {
    if (count) count.entries++;
    const path = rebased(entry.path, r);
    if (path === null) continue;
    let e: TarEntry | null = { ...entry, path };
    if (e.type === "hardlink") {
      const target = rebased(e.linkname, r);
      if (target === null) continue;
      e = { ...e, linkname: target };
    }
    e = fix(e);
    if (!e) continue;
    const { sparse, ...plain } = e;
    yield tarHeader(plain);
    if (plain.type !== "file") continue;
    let sent = 0;
    for await (const chunk of sparse ? filled(e, content) : content()) {
      const piece = chunk.subarray(0, Math.max(0, plain.size - sent));
      sent += piece.length;
      if (piece.length) yield piece;
    }
    if (sent < plain.size) yield new Uint8Array(plain.size - sent);
    if (count) count.bytes += plain.size;
    yield tarPadding(plain.size);
  }
  yield TAR_END;
}

/** The chunks of a generator made by bunker itself, as a stream. */
export async function* streamOf(chunks: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* chunks;
}
