// A small ustar writer for tests: archives with entries a real tar would not
// write (paths out of the layer, links through symlinks), PAX records, and
// whiteouts, byte for byte as a layer would carry them.

export interface TestEntry {
  path: string;
  type?: "0" | "1" | "2" | "3" | "4" | "5" | "6";
  data?: string | Uint8Array;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** PAX records (path, SCHILY.xattr.NAME, ...), in an "x" header before the entry. */
  pax?: Record<string, string>;
}

const enc = new TextEncoder();

function octal(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, "0") + "\0";
}

function header(name: string, type: string, size: number, e: TestEntry): Uint8Array {
  const h = new Uint8Array(512);
  const put = (off: number, s: string) => h.set(enc.encode(s).subarray(0, s.length), off);
  put(0, name.slice(0, 100));
  put(100, octal(e.mode ?? (type === "5" ? 0o755 : 0o644), 8));
  put(108, octal(e.uid ?? 0, 8));
  put(116, octal(e.gid ?? 0, 8));
  put(124, octal(size, 12));
  put(136, octal(e.mtime ?? 1700000000, 12));
  put(148, "        ");
  put(156, type);
  put(157, (e.linkname ?? "").slice(0, 100));
  put(257, "ustar\0");
  put(263, "00");
  put(329, octal(e.devmajor ?? 0, 8));
  put(337, octal(e.devminor ?? 0, 8));
  let sum = 0;
  for (const b of h) sum += b;
  put(148, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

function padded(data: Uint8Array): Uint8Array[] {
  const rest = (512 - (data.length % 512)) % 512;
  return [data, new Uint8Array(rest)];
}

function paxRecords(records: Record<string, string>): Uint8Array {
  let out = "";
  for (const [k, v] of Object.entries(records)) {
    const body = ` ${k}=${v}\n`;
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    out += `${len}${body}`;
  }
  return enc.encode(out);
}

/** The archive of `entries`, ended by two zero blocks. */
export function makeTar(entries: TestEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    if (e.pax) {
      const p = paxRecords(e.pax);
      parts.push(header("PaxHeader", "x", p.length, { path: "PaxHeader" }), ...padded(p));
    }
    const data = typeof e.data === "string" ? enc.encode(e.data) : (e.data ?? new Uint8Array(0));
    const type = e.type ?? "0";
    parts.push(header(e.path, type, type === "0" ? data.length : 0, e));
    if (type === "0") parts.push(...padded(data));
  }
  parts.push(new Uint8Array(1024));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** The archive as a stream of small pieces, as a download would give it. */
export async function* pieces(tar: Uint8Array, size = 700): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < tar.length; i += size) yield tar.subarray(i, i + size);
}

/**
 * GNU tar's verbose listing of an archive (a file's path, or its bytes):
 * "TYPE+MODE UID/GID PATH[ -> TARGET]" per entry.
 */
export function tarListing(archive: string | Uint8Array): string[] {
  const r = typeof archive === "string" ? Bun.spawnSync(["tar", "--numeric-owner", "-tvf", archive]) : Bun.spawnSync(["tar", "--numeric-owner", "-tvf", "-"], { stdin: archive });
  if (r.exitCode !== 0) throw new Error(`tar -t: ${r.stderr.toString()}`);
  return r.stdout
    .toString()
    .trim()
    .split("\n")
    .map((l) => l.split(/\s+/))
    .map((f) => [f[0], f[1], ...f.slice(5)].join(" "));
}
