// The layer tar reader against archives GNU tar writes in its gnu and posix
// (PAX) formats, and against hand-made headers for what tar will not write.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePax, readTar, tarNumber, type TarEntry } from "../../src/image/tar";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "bunker-tar-"));
  const src = join(dir, "src");
  mkdirSync(join(src, "d", "x".repeat(120)), { recursive: true });
  writeFileSync(join(src, "d", "file"), "hello\n");
  chmodSync(join(src, "d", "file"), 0o4755);
  linkSync(join(src, "d", "file"), join(src, "d", "hard"));
  symlinkSync("/etc/passwd", join(src, "d", "abs-link"));
  writeFileSync(join(src, "d", "x".repeat(120), "y".repeat(110)), "long\n");
  writeFileSync(join(src, "big"), new Uint8Array(3 * 65536 + 7).fill(0x61));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function entries(tar: Uint8Array, chunk = 4096): Promise<(TarEntry & { data: string })[]> {
  // Fed in small pieces: headers and contents cross chunk boundaries.
  async function* pieces() {
    for (let i = 0; i < tar.length; i += chunk) yield tar.subarray(i, i + chunk);
  }
  const out: (TarEntry & { data: string })[] = [];
  for await (const { entry, content } of readTar(pieces())) {
    let data = "";
    for await (const c of content()) data += new TextDecoder().decode(c);
    out.push({ ...entry, data });
  }
  return out;
}

function gnuTar(format: "gnu" | "posix", ...extra: string[]): Uint8Array {
  const r = Bun.spawnSync(["tar", "-C", join(dir, "src"), `--format=${format}`, "--owner=3000000", "--group=7", "--numeric-owner", ...extra, "-cf", "-", "d", "big"]);
  if (!r.success) throw new Error(r.stderr.toString());
  return new Uint8Array(r.stdout);
}

describe("reading layer archives", () => {
  for (const format of ["gnu", "posix"] as const) {
    test(`GNU tar's ${format} format: long names, hard and symbolic links, setuid modes, large IDs, content across chunks`, async () => {
      const list = await entries(gnuTar(format), 1000);
      const by = (p: string) => list.find((e) => e.path.replace(/\/$/, "") === p)!;
      expect(by("d").type).toBe("dir");
      const file = by("d/file");
      expect([file.type, file.mode, file.uid, file.gid, file.data]).toEqual(["file", 0o4755, 3000000, 7, "hello\n"]);
      expect([by("d/hard").type, by("d/hard").linkname, by("d/hard").size]).toEqual(["hardlink", "d/file", 0]);
      expect([by("d/abs-link").type, by("d/abs-link").linkname]).toEqual(["symlink", "/etc/passwd"]);
      expect(by(`d/${"x".repeat(120)}/${"y".repeat(110)}`).data).toBe("long\n");
      expect(by("big").data).toBe("a".repeat(3 * 65536 + 7));
      expect(file.mtime).toBeGreaterThan(1.7e9);
    });
  }

  test("sparse files, as GNU tar writes them (old gnu \"S\" entries with extension blocks, PAX 0.1 and 1.0): where each stored piece goes, and the whole size", async () => {
    // Pieces of data at 0, 1 MiB, ... with holes between: more pieces than an "S" header holds (4), so extension blocks follow it.
    const sparse = join(dir, "sparse-src");
    mkdirSync(sparse, { recursive: true });
    const path = join(sparse, "holes");
    const fd = Bun.spawnSync(["sh", "-c", `for i in 0 1 2 3 4 5 6; do printf "piece$i" | dd of="$0" bs=1 seek=$((i * 1048576)) conv=notrunc status=none; done; truncate -s 8M "$0"`, path]);
    expect(fd.exitCode).toBe(0);
    for (const [format, extra] of [["gnu", []], ["posix", ["--sparse-version=0.1"]], ["posix", ["--sparse-version=1.0"]]] as const) {
      const r = Bun.spawnSync(["tar", "-C", sparse, `--format=${format}`, "--sparse", ...extra, "-cf", "-", "holes"]);
      expect(r.exitCode).toBe(0);
      const [e] = await entries(new Uint8Array(r.stdout), 700);
      expect([e!.path, e!.type, e!.size]).toEqual(["holes", "file", 8 << 20]);
      // GNU tar stores each run of data by whole filesystem blocks (and may add the file's end as an empty piece).
      expect(e!.sparse!.filter(([, n]) => n > 0)).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => [i * 1048576, 4096]));
      expect(e!.data).toBe([0, 1, 2, 3, 4, 5, 6].map((i) => `piece${i}`.padEnd(4096, "\0")).join(""));
    }
    // A map that places more or fewer bytes than stored is refused.
    const bad = Bun.spawnSync(["tar", "-C", sparse, "--format=posix", "--sparse", "--sparse-version=0.1", "-cf", "-", "holes"]);
    const bytes = new Uint8Array(bad.stdout);
    const at = Buffer.from(bytes).indexOf("GNU.sparse.map=0,4096");
    expect(at).toBeGreaterThan(0);
    bytes[at + "GNU.sparse.map=0,409".length] = "7".charCodeAt(0);
    await expect(entries(bytes)).rejects.toThrow("holes: a sparse map of 28673 bytes for 28672 stored");
  });

  test("extended attributes come from PAX SCHILY.xattr records", async () => {
    const pax = new TextEncoder().encode("30 SCHILY.xattr.user.test=yes\n");
    expect(pax.length).toBe(30);
    const fields = parsePax(pax);
    expect(new TextDecoder().decode(fields.get("SCHILY.xattr.user.test"))).toBe("yes");
    expect(() => parsePax(new TextEncoder().encode("99 a=b\n"))).toThrow(/malformed PAX/);
  });

  test("numbers: octal, with spaces or NULs, and GNU's base-256", () => {
    const b = new Uint8Array(12);
    b.set(new TextEncoder().encode("0000644 \0"));
    expect(tarNumber(b, 0, 12)).toBe(0o644);
    const big = new Uint8Array(8);
    big[0] = 0x80;
    big[5] = 0x2d;
    big[6] = 0xc6;
    big[7] = 0xc0;
    expect(tarNumber(big, 0, 8)).toBe(3000000);
  });

  test("a device node entry carries its numbers; a damaged header or a cut archive is an error, not a short layer", async () => {
    const dev = Bun.spawnSync(["tar", "--format=posix", "-cf", "-", "/dev/null"], { stderr: "ignore" });
    const [n] = await entries(new Uint8Array(dev.stdout));
    expect([n!.type, n!.devmajor, n!.devminor]).toEqual(["char", 1, 3]);
    const tar = gnuTar("gnu");
    const damaged = tar.slice();
    damaged[10] = damaged[10]! ^ 0xff;
    await expect(entries(damaged)).rejects.toThrow(/bad checksum/);
    await expect(entries(tar.subarray(0, 512 + 3))).rejects.toThrow(/ends in the middle of an entry/);
    // A writer that left off the last entry's padding (and the end blocks): the entries are whole, the archive is read.
    const one = new Uint8Array(512 + 5);
    const h = new TextEncoder();
    one.set(h.encode("f"), 0);
    one.set(h.encode("0000644\0"), 100);
    one.set(h.encode("0000000\0"), 108);
    one.set(h.encode("0000000\0"), 116);
    one.set(h.encode("00000000005\0"), 124);
    one.set(h.encode("00000000000\0"), 136);
    one.set(h.encode("        0"), 148);
    one.set(h.encode("ustar\0" + "00"), 257);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += one[i]!;
    one.set(h.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
    one.set(h.encode("hello"), 512);
    expect((await entries(one)).map((e) => [e.path, e.data])).toEqual([["f", "hello"]]);
    await expect(entries(one.subarray(0, 512 + 3))).rejects.toThrow(/ends in the middle of an entry/);
    // Nothing at all is no archive; two zero blocks alone are an empty one.
    await expect(entries(new Uint8Array(0))).rejects.toThrow(/the archive is empty/);
    expect(await entries(new Uint8Array(1024))).toEqual([]);
    // Two zero blocks end it; what follows is not read.
    const ended = new Uint8Array(tar.length + 2048);
    ended.set(tar);
    expect((await entries(ended)).length).toBe((await entries(tar)).length);
  });
});
