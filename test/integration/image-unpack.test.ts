// Unpacking layers: what each entry becomes on disk, whiteouts as overlayfs
// reads them, and archives that try to write outside the layer.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unpackLayer } from "../../src/image/unpack";
import { makeTar, pieces, type TestEntry } from "../helpers/tar";
import { isRoot } from "../helpers/bunker";

const ROOT = { chown: true, devices: true, opaqueXattr: "trusted.overlay.opaque" };
let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "bunker-unpack-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function unpack(entries: TestEntry[], o = ROOT): Promise<{ layer: string; warnings: string[] }> {
  const layer = join(dir, `layer${n++}`);
  mkdirSync(layer);
  const warnings = await unpackLayer(pieces(makeTar(entries)), layer, o);
  return { layer, warnings };
}

async function refusal(entries: TestEntry[]): Promise<string> {
  try {
    await unpack(entries);
  } catch (e) {
    return (e as Error).message;
  }
  return "accepted";
}

// security.capability, revision 2, effective, permitting CAP_NET_RAW (13).
const CAP_NET_RAW = String.fromCharCode(1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

describe.skipIf(!isRoot)("a layer's entries on disk, as root", () => {
  test("files, directories, links, FIFOs and devices keep owner, mode (setuid too), times and capabilities", async () => {
    const { layer, warnings } = await unpack([
      { path: "bin/", type: "5", mode: 0o750, uid: 1000, gid: 1001, mtime: 1600000000 },
      { path: "bin/ping", data: "ELF", mode: 0o4755, uid: 1000, gid: 1001, mtime: 1600000001, pax: { "SCHILY.xattr.security.capability": CAP_NET_RAW } },
      { path: "bin/same", type: "1", linkname: "bin/ping" },
      { path: "bin/abs", type: "2", linkname: "/etc/passwd", uid: 7, gid: 7 },
      { path: "deep/implicit/file", data: "x" },
      { path: "dev/null", type: "3", devmajor: 1, devminor: 3, mode: 0o666 },
      { path: "run/fifo", type: "6", mode: 0o600 },
    ]);
    expect(warnings).toEqual([]);
    const ping = lstatSync(join(layer, "bin/ping"));
    expect([ping.mode & 0o7777, ping.uid, ping.gid, ping.mtimeMs]).toEqual([0o4755, 1000, 1001, 1600000001000]);
    expect(readFileSync(join(layer, "bin/ping"), "utf8")).toBe("ELF");
    expect(Bun.spawnSync(["getcap", join(layer, "bin/ping")]).stdout.toString()).toContain("cap_net_raw");
    expect(lstatSync(join(layer, "bin/same")).ino).toBe(ping.ino);
    const abs = lstatSync(join(layer, "bin/abs"));
    expect([abs.isSymbolicLink(), readlinkSync(join(layer, "bin/abs")), abs.uid]).toEqual([true, "/etc/passwd", 7]);
    // A directory's time is set last: the entries added to it did not move it.
    const bin = lstatSync(join(layer, "bin"));
    expect([bin.mode & 0o7777, bin.uid, bin.mtimeMs]).toEqual([0o750, 1000, 1600000000000]);
    expect(lstatSync(join(layer, "deep/implicit")).mode & 0o7777).toBe(0o755);
    const dev = lstatSync(join(layer, "dev/null"));
    expect([dev.isCharacterDevice(), dev.rdev]).toEqual([true, statSync("/dev/null").rdev]);
    expect(lstatSync(join(layer, "run/fifo")).isFIFO()).toBe(true);
  });

  test("whiteouts and opaque directories read as overlayfs reads them: the lower layer's files are hidden", async () => {
    const lower = await unpack([
      { path: "etc/a", data: "a" },
      { path: "etc/b", data: "b" },
      { path: "opq/x", data: "x" },
    ]);
    const upper = await unpack([
      { path: "etc/.wh.a" },
      // The marker may come after the layer's own entry in the directory: it hides only the lower ones.
      { path: "opq/y", data: "y" },
      { path: "opq/.wh..wh..opq" },
    ]);
    expect(existsSync(join(upper.layer, "etc/.wh.a"))).toBe(false);
    expect(existsSync(join(upper.layer, "opq/.wh..wh..opq"))).toBe(false);
    const merged = join(dir, "merged");
    mkdirSync(merged);
    const m = Bun.spawnSync(["mount", "-t", "overlay", "overlay", "-o", `lowerdir=${upper.layer}:${lower.layer}`, merged]);
    expect(m.exitCode).toBe(0);
    try {
      expect(readdirSync(join(merged, "etc"))).toEqual(["b"]);
      expect(readdirSync(join(merged, "opq"))).toEqual(["y"]);
    } finally {
      Bun.spawnSync(["umount", merged]);
    }
  });

  test("an entry that names a path twice replaces what was there", async () => {
    const { layer } = await unpack([
      { path: "x/", type: "5" },
      { path: "x/inner", data: "1" },
      { path: "x", data: "now a file" },
      { path: "f", data: "old" },
      { path: "f", data: "new" },
    ]);
    expect(readFileSync(join(layer, "x"), "utf8")).toBe("now a file");
    expect(readFileSync(join(layer, "f"), "utf8")).toBe("new");
  });
});

describe("sparse files", () => {
  test("GNU tar's sparse entries become files with their holes: the same bytes, far fewer blocks", async () => {
    const src = join(dir, "sparse-src");
    mkdirSync(src);
    const made = Bun.spawnSync(["sh", "-c", `printf start | dd of="$0" bs=1 conv=notrunc status=none; printf middle | dd of="$0" bs=1 seek=33554432 conv=notrunc status=none; truncate -s 64M "$0"`, join(src, "holes")]);
    expect(made.exitCode).toBe(0);
    for (const format of ["gnu", "posix"]) {
      const tar = Bun.spawnSync(["tar", "-C", src, `--format=${format}`, "--sparse", "-cf", "-", "holes"]);
      const layer = join(dir, `sparse-${format}`);
      mkdirSync(layer);
      async function* chunks() {
        yield new Uint8Array(tar.stdout);
      }
      await unpackLayer(chunks(), layer, ROOT);
      const st = statSync(join(layer, "holes"));
      expect(st.size).toBe(64 << 20);
      // Two filesystem blocks of data, not 64 MiB of zeros.
      expect(st.blocks * 512).toBeLessThan(1 << 20);
      const data = readFileSync(join(layer, "holes"));
      expect(data.subarray(0, 5).toString()).toBe("start");
      expect(data.subarray(33554432, 33554438).toString()).toBe("middle");
      expect(data.subarray(5, 33554432).every((b) => b === 0)).toBe(true);
    }
  });
});

describe("archives that reach outside the layer are refused", () => {
  test("../ is refused; an absolute path is the layer's own", async () => {
    expect(await refusal([{ path: "../escaped", data: "x" }])).toBe('layer entry "../escaped" leaves the layer (..)');
    expect(await refusal([{ path: "a/../../escaped", data: "x" }])).toBe('layer entry "a/../../escaped" leaves the layer (..)');
    expect(existsSync(join(dir, "escaped"))).toBe(false);
    const { layer } = await unpack([{ path: "/", type: "5", mode: 0o755 }, { path: "/etc/inside", data: "x" }, { path: "/etc/link", type: "1", linkname: "/etc/inside" }]);
    expect(readFileSync(join(layer, "etc/inside"), "utf8")).toBe("x");
    expect(lstatSync(join(layer, "etc/link")).ino).toBe(lstatSync(join(layer, "etc/inside")).ino);
  });

  test("a symlink planted by an earlier entry is never written through, to a file or a link", async () => {
    const outside = join(dir, "outside");
    mkdirSync(outside);
    expect(await refusal([{ path: "s", type: "2", linkname: outside }, { path: "s/pwned", data: "x" }])).toBe(`layer entry "s/pwned": s passes through a symbolic link`);
    expect(await refusal([{ path: "r", type: "2", linkname: "../../.." }, { path: "r/tmp/pwned", data: "x" }])).toMatch(/passes through a symbolic link/);
    expect(await refusal([{ path: "s", type: "2", linkname: outside }, { path: "s/.wh..wh..opq" }])).toMatch(/passes through a symbolic link/);
    expect(await refusal([{ path: "h", type: "1", linkname: "../../etc/passwd" }])).toBe('layer entry "../../etc/passwd" leaves the layer (..)');
    expect(await refusal([{ path: "s", type: "2", linkname: "/etc" }, { path: "h", type: "1", linkname: "s/passwd" }])).toMatch(/passes through a symbolic link/);
    expect(readdirSync(outside)).toEqual([]);
  });

  test("a symlink replaced by a directory entry is removed, not followed", async () => {
    const outside = join(dir, "outside2");
    mkdirSync(outside);
    const { layer } = await unpack([
      { path: "d", type: "2", linkname: outside },
      { path: "d/", type: "5", mode: 0o700 },
      { path: "d/f", data: "in the layer" },
    ]);
    expect(lstatSync(join(layer, "d")).isDirectory()).toBe(true);
    expect(readFileSync(join(layer, "d/f"), "utf8")).toBe("in the layer");
    expect(readdirSync(outside)).toEqual([]);
  });
});
