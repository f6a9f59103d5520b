// A streaming tar reader for image layers: 512-byte headers, ustar's prefix,
// PAX extended headers (per entry and global: path, linkpath, size, uid, gid,
// mtime, SCHILY.xattr.*), GNU long names and link names, GNU sparse files
// (the old "S" entries, and PAX's formats 0.1 and 1.0), and base-256
// numbers. An entry's content is read in chunks as it streams; nothing holds
// a whole layer in memory. Pure: it reads bytes and says what they say.

import { BunkerError } from "../errors";

export type EntryType = "file" | "hardlink" | "symlink" | "char" | "block" | "dir" | "fifo";

export interface TarEntry {
  /** As the archive spells it (the caller makes it safe). */
  path: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch (PAX may give fractions). */
  mtime: number;
  /** A symlink's target, or a hard link's path in the archive. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes (SCHILY.xattr.NAME), raw bytes. */
  xattrs: Map<string, Uint8Array>;
  /**
   * A sparse file (GNU's): where its stored bytes go, [offset, length] in
   * order; the rest of its `size` bytes are holes. Its content is the
   * stored bytes, one piece after the other.
   */
  sparse?: [number, number][];
}

export class TarError extends BunkerError {
  override name = "TarError";
}

const BLOCK = 512;
const decoder = new TextDecoder();

const TYPES: Record<string, EntryType> = { "0": "file", "\0": "file", "7": "file", S: "file", "1": "hardlink", "2": "symlink", "3": "char", "4": "block", "5": "dir", "6": "fifo" };

/** A NUL-terminated field. */
function text(b: Uint8Array, off: number, len: number): string {
  const f = b.subarray(off, off + len);
  const end = f.indexOf(0);
  return decoder.decode(end >= 0 ? f.subarray(0, end) : f);
}

/** An octal number, or GNU's base-256 (the first byte's top bit set). */
export function tarNumber(b: Uint8Array, off: number, len: number): number {
  const f = b.subarray(off, off + len);
  if (f[0]! & 0x80) {
    if (f[0]! & 0x40) throw new TarError("a negative number in a tar header");
    let n = f[0]! & 0x3f;
    for (let i = 1; i < f.length; i++) {
      n = n * 256 + f[i]!;
      if (n > Number.MAX_SAFE_INTEGER) throw new TarError("a number too large in a tar header");
    }
    return n;
  }
  const s = text(b, off, len).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarError(`"${s}" is not an octal number in a tar header`);
  return parseInt(s, 8);
}

function checksumOk(h: Uint8Array): boolean {
  let want: number;
  try {
    want = tarNumber(h, 148, 8);
  } catch {
    // not even a number where the checksum goes
    return false;
  }
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === want;
}

/** PAX records: "LEN key=value\n", LEN counting the whole record in bytes. */
export function parsePax(data: Uint8Array): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let i = 0;
  while (i < data.length) {
    let sp = i;
    while (sp < data.length && data[sp] !== 0x20) sp++;
    const len = Number(decoder.decode(data.subarray(i, sp)));
    if (!Number.isInteger(len) || len <= sp - i || i + len > data.length) throw new TarError("a malformed PAX header");
    const record = data.subarray(sp + 1, i + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq < 0 || data[i + len - 1] !== 0x0a) throw new TarError("a malformed PAX record");
    out.set(decoder.decode(record.subarray(0, eq)), record.subarray(eq + 1));
    i += len;
  }
  return out;
}

/** Reads bytes from a stream, exactly as many as asked for. */
class ByteReader {
  private chunks: Uint8Array[] = [];
  private have = 0;
  private done = false;
  private readonly it: AsyncIterator<Uint8Array>;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.have < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else if (r.value.length) {
        this.chunks.push(r.value);
        this.have += r.value.length;
      }
    }
    return this.have >= n;
  }

  /** Exactly `n` bytes, or null at the end of the stream before any; short of them, an error. */
  async exactly(n: number): Promise<Uint8Array | null> {
    if (!(await this.fill(n))) {
      if (this.have === 0) return null;
      throw new TarError("the archive ends in the middle of an entry");
    }
    return this.take(n);
  }

  /** Up to `n` bytes (at least one), as they came. */
  async some(n: number): Promise<Uint8Array> {
    if (!(await this.fill(1))) throw new TarError("the archive ends in the middle of an entry");
    return this.take(Math.min(n, this.chunks[0]!.length));
  }

  private take(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.have -= n;
      return out;
    }
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - off);
      out.set(c.subarray(0, k), off);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.have -= n;
    return out;
  }

  async skip(n: number): Promise<void> {
    while (n > 0) n -= (await this.some(n)).length;
  }

  /** Skips up to `n` bytes: the stream may end first (an archive whose writer left off its last padding). */
  async skipPadding(n: number): Promise<void> {
    while (n > 0 && (await this.fill(1))) n -= this.take(Math.min(n, this.chunks[0]!.length)).length;
  }
}

const pad = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK;

/** A sparse map too long to be a file's: refused before it fills memory. */
const SPARSE_MAX = 1 << 20;

/** Numbers taken two by two: [offset, length] pieces. */
function pairs(list: readonly (string | number)[], path: string): [number, number][] {
  if (list.length % 2 !== 0 || list.length / 2 > SPARSE_MAX) throw new TarError(`${path}: a malformed sparse map`);
  const out: [number, number][] = [];
  for (let i = 0; i < list.length; i += 2) {
    const [o, n] = [Number(list[i]), Number(list[i + 1])];
    if (!Number.isSafeInteger(o) || !Number.isSafeInteger(n) || o < 0 || n < 0) throw new TarError(`${path}: a malformed sparse map`);
    out.push([o, n]);
  }
  return out;
}

/** A sparse map must cover exactly the bytes stored, in order, inside the file. */
function checkSparse(map: readonly [number, number][], stored: number, size: number, path: string): void {
  let end = 0;
  let sum = 0;
  for (const [o, n] of map) {
    if (o < end || o + n > size) throw new TarError(`${path}: a sparse map whose pieces overlap or pass the file's end`);
    end = o + n;
    sum += n;
  }
  if (sum !== stored) throw new TarError(`${path}: a sparse map of ${sum} bytes for ${stored} stored`);
}

/** GNU's old sparse entry ("S"): four pieces in the header, more in extension blocks after it. */
async function oldGnuSparse(h: Uint8Array, r: ByteReader): Promise<{ map: [number, number][]; realSize: number }> {
  const map: [number, number][] = [];
  const take = (b: Uint8Array, off: number, count: number) => {
    for (let i = 0; i < count; i++) {
      const at = off + i * 24;
      if (b[at] === 0) return;
      map.push([tarNumber(b, at, 12), tarNumber(b, at + 12, 12)]);
    }
  };
  take(h, 386, 4);
  let extended = h[482] !== 0;
  while (extended) {
    const x = await r.exactly(BLOCK);
    if (x === null) throw new TarError("the archive ends in a sparse file's map");
    take(x, 0, 21);
    extended = x[504] !== 0;
    if (map.length > SPARSE_MAX) throw new TarError("a sparse map too long to be a file's");
  }
  return { map, realSize: tarNumber(h, 483, 12) };
}

/** PAX sparse format 1.0: the map leads the entry's data, as decimal lines, in whole blocks. */
async function paxSparseMap(r: ByteReader, stored: number, path: string): Promise<{ map: [number, number][]; bytes: number }> {
  const numbers: number[] = [];
  let want = -1;
  let text = "";
  let bytes = 0;
  while (want < 0 || numbers.length < want) {
    if (bytes >= stored) throw new TarError(`${path}: a sparse map longer than the entry`);
    const b = await r.exactly(BLOCK);
    if (b === null) throw new TarError("the archive ends in a sparse file's map");
    bytes += BLOCK;
    text += decoder.decode(b);
    for (let nl = text.indexOf("\n"); nl >= 0 && (want < 0 || numbers.length < want); nl = text.indexOf("\n")) {
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      if (!/^\d{1,15}$/.test(line)) throw new TarError(`${path}: a malformed sparse map`);
      if (want >= 0) numbers.push(Number(line));
      else if (Number(line) > SPARSE_MAX) throw new TarError(`${path}: a sparse map too long to be a file's`);
      else want = 2 * Number(line);
    }
  }
  return { map: pairs(numbers, path), bytes };
}

/**
 * The archive's entries, in order. Each entry's content must be read through
 * `content` (or is skipped) before the next entry is asked for.
 */
export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<{ entry: TarEntry; content: () => AsyncGenerator<Uint8Array> }> {
  const r = new ByteReader(source);
  const global = new Map<string, Uint8Array>();
  let pax = new Map<string, Uint8Array>();
  let longName: string | undefined;
  let longLink: string | undefined;
  for (let first = true; ; first = false) {
    const h = await r.exactly(BLOCK);
    // Not even an end of archive: nothing was given (an empty file is no layer).
    if (h === null && first) throw new TarError("the archive is empty");
    // Two zero blocks end the archive; some writers stop after one, or at the stream's end.
    if (h === null || h.every((b) => b === 0)) return;
    if (!checksumOk(h)) throw new TarError("a tar header with a bad checksum (not a tar archive, or a damaged one)");
    const flag = String.fromCharCode(h[156]!);
    const size = tarNumber(h, 124, 12);
    if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
      if (size > 16 << 20) throw new TarError(`an extended header of ${size} bytes`);
      const data = (await r.exactly(size)) ?? new Uint8Array(0);
      await r.skip(pad(size));
      if (flag === "x") pax = parsePax(data);
      else if (flag === "g") for (const [k, v] of parsePax(data)) global.set(k, v);
      else if (flag === "L") longName = text(data, 0, data.length);
      else longLink = text(data, 0, data.length);
      continue;
    }
    const type = TYPES[flag];
    if (type === undefined) throw new TarError(`an entry of unknown type "${flag}"`);
    const fields = new Map([...global, ...pax]);
    const str = (k: string) => (fields.has(k) ? decoder.decode(fields.get(k)) : undefined);
    const num = (k: string) => {
      const v = str(k);
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new TarError(`PAX ${k}="${v}" is not a number`);
      return n;
    };
    const magic = text(h, 257, 6);
    const prefix = magic === "ustar" ? text(h, 345, 155) : "";
    const name = text(h, 0, 100);
    const path = str("GNU.sparse.name") ?? str("path") ?? longName ?? (prefix ? `${prefix}/${name}` : name);
    const xattrs = new Map<string, Uint8Array>();
    for (const [k, v] of fields) if (k.startsWith("SCHILY.xattr.")) xattrs.set(k.slice("SCHILY.xattr.".length), v);
    // The bytes the archive holds for the entry (a sparse file's map first, in PAX's format 1.0), and for a sparse file where they go.
    const total = type === "file" ? (num("size") ?? size) : size;
    let stored = total;
    let sparse: [number, number][] | undefined;
    let realSize: number | undefined;
    if (flag === "S") {
      ({ map: sparse, realSize } = await oldGnuSparse(h, r));
    } else if (fields.has("GNU.sparse.major") || fields.has("GNU.sparse.map") || fields.has("GNU.sparse.offset")) {
      const major = str("GNU.sparse.major");
      realSize = num("GNU.sparse.realsize") ?? num("GNU.sparse.size");
      if (major === "1") {
        const read = await paxSparseMap(r, stored, path);
        sparse = read.map;
        stored -= read.bytes;
      } else if (fields.has("GNU.sparse.map")) sparse = pairs(str("GNU.sparse.map")!.split(","), path);
      else throw new TarError(`${path}: GNU's sparse format 0.0, which bunker does not read (GNU tar writes 1.0 with --format=posix)`);
      if (realSize === undefined) throw new TarError(`${path}: a sparse file without its size`);
    }
    if (sparse) checkSparse(sparse, stored, realSize!, path);
    const entry: TarEntry = {
      path,
      type,
      mode: tarNumber(h, 100, 8) & 0o7777,
      uid: num("uid") ?? tarNumber(h, 108, 8),
      gid: num("gid") ?? tarNumber(h, 116, 8),
      size: type !== "file" ? 0 : (realSize ?? stored),
      mtime: num("mtime") ?? tarNumber(h, 136, 12),
      linkname: str("linkpath") ?? longLink ?? text(h, 157, 100),
      devmajor: magic === "ustar" ? tarNumber(h, 329, 8) : 0,
      devminor: magic === "ustar" ? tarNumber(h, 337, 8) : 0,
      xattrs,
      ...(sparse ? { sparse } : {}),
    };
    pax = new Map();
    longName = undefined;
    longLink = undefined;
    // A hard link or a directory may still declare a size: its bytes are skipped.
    let left = stored;
    async function* content(): AsyncGenerator<Uint8Array> {
      while (left > 0) {
        const c = await r.some(left);
        left -= c.length;
        yield c;
      }
    }
    yield { entry, content };
    if (left > 0) await r.skip(left);
    // Padding carries nothing: some writers (umoci 0.4) end the stream without the last entry's.
    await r.skipPadding(pad(total));
  }
}
