// --mount's docker syntax, -v's volume names and anonymous volumes, parsed
// without the host.

import { describe, expect, test } from "bun:test";
import { csvFields, parseMountFlag } from "../../src/spec/mount-flag";
import { checkVolumeName, parseVolume, volumeMount } from "../../src/spec/volumes";

describe("--mount", () => {
  test("a bind is read-write unless readonly is said; every spelling of source and target", () => {
    expect(parseMountFlag("type=bind,source=/h,target=/c")).toEqual({ volume: { source: "/h", destination: "/c", readonly: false, recursive: true, flags: [], explicit: true } });
    expect(parseMountFlag("type=bind,src=/h,dst=/c,readonly")).toEqual({ volume: { source: "/h", destination: "/c", readonly: true, recursive: true, flags: [], explicit: true } });
    expect(parseMountFlag("type=bind,src=/h,destination=/c,ro=false,bind-propagation=rshared,bind-nonrecursive")).toEqual({
      volume: { source: "/h", destination: "/c", readonly: false, recursive: false, flags: [], explicit: true, propagation: "rshared" },
    });
    expect(volumeMount((parseMountFlag("type=bind,src=/h,dst=/c,bind-propagation=shared") as { volume: never }).volume)).toEqual({ destination: "/c", type: "bind", source: "/h", options: ["rbind", "rw", "shared"] });
  });

  test("a volume (the default type): by name, or anonymous without a source; volume-nocopy", () => {
    expect(parseMountFlag("src=data,dst=/d")).toEqual({ volume: { source: "data", destination: "/d", readonly: false, recursive: true, flags: [], explicit: true, kind: "volume" } });
    expect(parseMountFlag("type=volume,target=/d,volume-nocopy,readonly=1")).toEqual({ volume: { source: "", destination: "/d", readonly: true, recursive: true, flags: [], explicit: true, kind: "volume", nocopy: true } });
  });

  test("a tmpfs with its size (units as docker reads them) and mode", () => {
    expect(parseMountFlag("type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1777")).toEqual({ tmpfs: { destination: "/t", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "size=67108864", "mode=1777"] } });
    expect(parseMountFlag("type=tmpfs,dst=/t,ro")).toEqual({ tmpfs: { destination: "/t", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "ro"] } });
  });

  test("CSV quoting, as Go's encoding/csv reads it", () => {
    expect(csvFields('type=bind,"src=/a,b",dst=/c')).toEqual(["type=bind", "src=/a,b", "dst=/c"]);
    expect(csvFields('"src=say ""hi""",x')).toEqual(['src=say "hi"', "x"]);
    expect(parseMountFlag('type=bind,"source=/with,comma",target=/c')).toMatchObject({ volume: { source: "/with,comma" } });
    expect(() => csvFields('src=/a,dst=/x,"bad')).toThrow('parse error on line 1, column 19: extraneous or missing " in quoted-field');
    expect(() => csvFields('src=/a"b')).toThrow('bare " in non-quoted-field');
    expect(() => csvFields('type=bind,"src=/a" x,dst=/x')).toThrow('parse error on line 1, column 18: extraneous or missing " in quoted-field');
  });

  test("errors in docker's words, after the value", () => {
    const cases: [string, string][] = [
      ["foo", "invalid field 'foo' must be a key=value pair"],
      ["type=bind,src=/a,dst=/x,bogus=1", "unexpected key 'bogus' in 'bogus=1'"],
      ["type=bind,src=/a", "target is required"],
      ["type=bind,src=/a,dst=/x,volume-nocopy", "cannot mix 'volume-*' options with mount type 'bind'"],
      ["type=volume,dst=/x,bind-propagation=shared", "cannot mix 'bind-*' options with mount type 'volume'"],
      ["type=bind,src=/a,dst=/x,tmpfs-size=1m", "cannot mix 'tmpfs-*' options with mount type 'bind'"],
      ["type=bind,src=/a,dst=/x,readonly=maybe", "invalid value for readonly: maybe"],
      ["type=tmpfs,dst=/x,tmpfs-size=1x", "invalid value for tmpfs-size: 1x"],
      ["type=tmpfs,dst=/x,tmpfs-mode=999", "invalid value for tmpfs-mode: 999"],
      ["type=tmpfs,src=a,dst=/x", "source is not allowed for a tmpfs mount"],
      ["type=bind,dst=/x", "source is required for a bind mount"],
      ["type=nfs,dst=/x", 'invalid mount type "nfs": bunker mounts bind, volume and tmpfs'],
      ["type=bind,src=/a,dst=rel", 'target: container path "rel" must be absolute'],
      ["type=bind,src=/a,dst=/", "target: cannot mount over the container's /"],
      ["type=volume,src=../x,dst=/x", 'source: "../x" includes invalid characters for a local volume name'],
      ["type=volume,src=a/b,dst=/x", 'source: "a/b" includes invalid characters'],
    ];
    for (const [value, why] of cases) expect(() => parseMountFlag(value)).toThrow(`--mount ${value}: ${why}`);
  });
});

describe("-v and volume names", () => {
  test("a name is a volume, read-write unless ro; a path alone is an anonymous volume; a path with a slash or dot is the host's", () => {
    expect(parseVolume("data:/d")).toEqual({ source: "data", destination: "/d", readonly: false, recursive: true, flags: [], kind: "volume" });
    expect(parseVolume("data:/d:ro,nocopy")).toEqual({ source: "data", destination: "/d", readonly: true, recursive: true, flags: [], explicit: true, kind: "volume", nocopy: true });
    expect(parseVolume("/d")).toEqual({ source: "", destination: "/d", readonly: false, recursive: true, flags: [], kind: "volume" });
    expect(parseVolume("./data:/d").kind).toBeUndefined();
    expect(parseVolume("~/data:/d").readonly).toBe(true);
    expect(() => parseVolume("/h:/d:nocopy")).toThrow('unknown option "nocopy"');
  });

  test("names with a slash, dots alone, a NUL or a leading symbol are refused", () => {
    for (const bad of ["..", ".", "a\0b", "_x", "x", "a b", "-rf"]) expect(() => checkVolumeName(bad, "volume create")).toThrow("includes invalid characters for a local volume name");
    expect(() => checkVolumeName("a\0b")).toThrow('"a\\0b" includes');
    for (const good of ["db", "pg-data_1.2", "A1"]) expect(() => checkVolumeName(good)).not.toThrow();
    expect(() => parseVolume("a\0b:/d")).toThrow("includes invalid characters");
  });
});
