// The tar writer: what ustar holds goes in its fields; a long path, a long
// link target, a large ID or size and extended attributes go in a PAX
// header. Read back by GNU tar (an independent reader) and by bunker's.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readTar, type TarEntry } from "../../src/image/tar";
import { TAR_END, tarHeader, tarPadding } from "../../src/image/tar-write";

const entry = (e: Partial<TarEntry> & { path: string }): TarEntry => ({ type: "file", mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1700000000, linkname: "", devmajor: 0, devminor: 0, xattrs: new Map(), ...e });

function archive(entries: { e: TarEntry; data?: string }[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const { e, data } of entries) {
    parts.push(tarHeader(e));
    if (data !== undefined) parts.push(new TextEncoder().encode(data), tarPadding(e.size));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

const deep = `${"d".repeat(60)}/${"e".repeat(60)}/${"f".repeat(60)}/name`;
const long = `x/${"y".repeat(150)}`;
const entries = [
  { e: entry({ path: "dir", type: "dir", mode: 0o755 }) },
  { e: entry({ path: "dir/file", size: 5, mode: 0o4755, uid: 1234, gid: 2345 }), data: "hello" },
  { e: entry({ path: deep, size: 3 }), data: "abc" },
  { e: entry({ path: long, size: 0, uid: 3_000_000, gid: 4_000_000 }), data: "" },
  { e: entry({ path: "link", type: "symlink", mode: 0o777, linkname: `/${"t".repeat(120)}` }) },
  { e: entry({ path: "hard", type: "hardlink", linkname: "dir/file" }) },
  { e: entry({ path: "null", type: "char", devmajor: 1, devminor: 3 }) },
  { e: entry({ path: "capped", size: 1, xattrs: new Map([["security.capability", new Uint8Array([1, 0, 0, 2])], ["user.note", new TextEncoder().encode("a=b")]]) }), data: "c" },
];

describe("tarHeader", () => {
  test("GNU tar reads every field back", () => {
    const dir = mkdtempSync("/tmp/bunker-tarw-");
    try {
      const path = join(dir, "a.tar");
      writeFileSync(path, archive(entries));
      const r = Bun.spawnSync(["tar", "--numeric-owner", "-tvf", path]);
      expect(r.stderr.toString()).toBe("");
      const lines = r.stdout.toString().trim().split("\n").map((l) => l.split(/\s+/)).map((f) => [f[0], f[1], f[2], ...f.slice(5)].join(" "));
      expect(lines).toEqual([
        "drwxr-xr-x 0/0 0 dir/",
        "-rwsr-xr-x 1234/2345 5 dir/file",
        `-rw-r--r-- 0/0 3 ${deep}`,
        `-rw-r--r-- 3000000/4000000 0 ${long}`,
        `lrwxrwxrwx 0/0 0 link -> /${"t".repeat(120)}`,
        "hrw-r--r-- 0/0 0 hard link to dir/file",
        "crw-r--r-- 0/0 1,3 null",
        "-rw-r--r-- 0/0 1 capped",
      ]);
      const content = Bun.spawnSync(["tar", "-xOf", path, "dir/file", deep]);
      expect(content.stdout.toString()).toBe("helloabc");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("bunker's reader gets the same entries, extended attributes included", async () => {
    const bytes = archive(entries);
    const got: TarEntry[] = [];
    async function* one() {
      yield bytes;
    }
    for await (const { entry: e } of readTar(one())) got.push(e);
    expect(got.map((e) => [e.path.replace(/\/$/, ""), e.type, e.uid, e.gid, e.size, e.linkname])).toEqual(entries.map(({ e }) => [e.path, e.type, e.uid, e.gid, e.size, e.linkname]));
    expect(got.at(-1)!.xattrs).toEqual(new Map([["security.capability", new Uint8Array([1, 0, 0, 2])], ["user.note", new TextEncoder().encode("a=b")]]));
  });
});
