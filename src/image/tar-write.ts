// Tar headers for the archives bunker writes (export, save): POSIX ustar,
// with a PAX extended header for what ustar cannot hold (a long path or link
// target, an ID or size past its octal fields, extended attributes). The
// reader in tar.ts reads all of it back. Pure: entries in, bytes out.

import type { EntryType, TarEntry } from "./tar";

const BLOCK = 512;
const encoder = new TextEncoder();

const FLAGS: Record<EntryType, string> = { file: "0", hardlink: "1", symlink: "2", char: "3", block: "4", dir: "5", fifo: "6" };

/** Two zero blocks: the end of an archive. */
export const TAR_END = new Uint8Array(2 * BLOCK);

/** The zero bytes that follow `size` bytes of content to the next block. */
export function tarPadding(size: number): Uint8Array {
  return new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);
}

/** Whether `n` fits an octal field of `len` bytes (its last one a NUL). */
const fitsOctal = (n: number, len: number) => Number.isInteger(n) && n >= 0 && n < 8 ** (len - 1);

function putText(h: Uint8Array, off: number, len: number, bytes: Uint8Array): void {
  h.set(bytes.subarray(0, len), off);
}

function putOctal(h: Uint8Array, off: number, len: number, n: number): void {
  putText(h, off, len, encoder.encode(`${(fitsOctal(n, len) ? n : 0).toString(8).padStart(len - 1, "0")}\0`));
}

/** One PAX record, "LEN key=value\n", LEN counting the whole record and its own digits. */
function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const body = encoder.encode(` ${key}=`);
  const rest = body.length + value.length + 1;
  let len = rest + String(rest).length;
  if (String(len).length !== String(rest).length) len = rest + String(len).length;
  const out = new Uint8Array(len);
  out.set(encoder.encode(String(len)));
  out.set(body, String(len).length);
  out.set(value, String(len).length + body.length);
  out[len - 1] = 0x0a;
  return out;
}

/** ustar's split of a long path: a prefix of at most 155 bytes and a name of at most 100, at a slash. */
function splitPath(path: Uint8Array): [Uint8Array, Uint8Array] | undefined {
  if (path.length <= 100) return [new Uint8Array(0), path];
  for (let i = Math.min(path.length - 1, 155); i > 0; i--) {
    if (path[i] !== 0x2f) continue;
    const name = path.subarray(i + 1);
    if (name.length === 0 || name.length > 100) return undefined;
    return [path.subarray(0, i), name];
  }
  return undefined;
}

function block(e: TarEntry, flag: string, name: Uint8Array, prefix: Uint8Array, link: Uint8Array, size: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  putText(h, 0, 100, name);
  putOctal(h, 100, 8, e.mode & 0o7777);
  putOctal(h, 108, 8, e.uid);
  putOctal(h, 116, 8, e.gid);
  putOctal(h, 124, 12, size);
  putOctal(h, 136, 12, Math.max(0, Math.floor(e.mtime)));
  h[156] = flag.charCodeAt(0);
  putText(h, 157, 100, link);
  putText(h, 257, 8, encoder.encode("ustar\x0000"));
  putOctal(h, 329, 8, e.devmajor);
  putOctal(h, 337, 8, e.devminor);
  putText(h, 345, 155, prefix);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  putText(h, 148, 8, encoder.encode(`${sum.toString(8).padStart(6, "0")}\0 `));
  return h;
}

/**
 * The header blocks of `e`: a PAX header first when ustar cannot say it all.
 * A directory's path ends in a slash, as tar writes them. Its content (for a
 * regular file, `e.size` bytes) and tarPadding(e.size) follow.
 */
export function tarHeader(e: TarEntry): Uint8Array {
  const pathText = e.type === "dir" && !e.path.endsWith("/") ? `${e.path}/` : e.path;
  const path = encoder.encode(pathText);
  const link = encoder.encode(e.linkname);
  const size = e.type === "file" ? e.size : 0;
  const records: Uint8Array[] = [];
  const split = splitPath(path);
  if (!split) records.push(paxRecord("path", path));
  if (link.length > 100) records.push(paxRecord("linkpath", link));
  if (!fitsOctal(e.uid, 8)) records.push(paxRecord("uid", encoder.encode(String(e.uid))));
  if (!fitsOctal(e.gid, 8)) records.push(paxRecord("gid", encoder.encode(String(e.gid))));
  if (!fitsOctal(size, 12)) records.push(paxRecord("size", encoder.encode(String(size))));
  for (const [k, v] of [...e.xattrs].sort(([a], [b]) => (a < b ? -1 : 1))) records.push(paxRecord(`SCHILY.xattr.${k}`, v));
  const [prefix, name] = split ?? [new Uint8Array(0), path.subarray(path.length - Math.min(path.length, 100))];
  const main = block(e, FLAGS[e.type], name, prefix, link.length > 100 ? link.subarray(0, 100) : link, size);
  if (records.length === 0) return main;
  const data = new Uint8Array(records.reduce((n, r) => n + r.length, 0));
  let off = 0;
  for (const r of records) {
    data.set(r, off);
    off += r.length;
  }
  const paxName = encoder.encode(`PaxHeaders/${pathText.replace(/\/$/, "").split("/").pop()!.slice(0, 80)}`);
  const paxHead = block({ ...e, mode: 0o644, uid: 0, gid: 0, devmajor: 0, devminor: 0 }, "x", paxName, new Uint8Array(0), new Uint8Array(0), data.length);
  const out = new Uint8Array(BLOCK + data.length + tarPadding(data.length).length + BLOCK);
  out.set(paxHead);
  out.set(data, BLOCK);
  out.set(main, out.length - BLOCK);
  return out;
}
