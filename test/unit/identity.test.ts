import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { buildMappings, disjoint, hostIdOf, isMapped, mapText, rangesOnly, singleMapping, withoutId } from "../../src/identity/idmap";
import { parseGroup, parsePasswd, resolveUser } from "../../src/identity/passwd";
import { resolveIdentity } from "../../src/identity/resolve";
import { parseSubids } from "../../src/identity/subid";

const helpersInstalled = ["newuidmap", "newgidmap"].every((h) => ["/usr/bin", "/bin"].some((d) => existsSync(`${d}/${h}`)));
if (!helpersInstalled) console.warn("skipping the identity case with helpers: newuidmap/newgidmap are not installed (uidmap package)");

describe("subordinate ID files", () => {
  const text = "# comment\nalice:100000:65536\n1000:300000:10\nbob:200000:65536\n\nalice:500000:5\n";
  test("by name or UID, several lines, in order", () => {
    expect(parseSubids(text, "alice", 1000, "/etc/subuid")).toEqual([
      { start: 100000, count: 65536 },
      { start: 300000, count: 10 },
      { start: 500000, count: 5 },
    ]);
    expect(parseSubids(text, "carol", 1002, "/etc/subuid")).toEqual([]);
  });
  test("a broken line of the caller's is an error naming the file and line", () => {
    expect(() => parseSubids("alice:x:10\n", "alice", 1000, "/etc/subuid")).toThrow('/etc/subuid line 1: invalid range "alice:x:10"');
    expect(() => parseSubids("alice:4294967290:100\n", "alice", 1000, "/etc/subuid")).toThrow("line 1");
  });
});

describe("ID mappings", () => {
  const sub = [{ start: 100000, count: 65536 }];
  test("the caller becomes 0 and the ranges fill 1 onwards (podman's default)", () => {
    expect(buildMappings(1000, 0, sub)).toEqual([
      { containerID: 0, hostID: 1000, size: 1 },
      { containerID: 1, hostID: 100000, size: 65536 },
    ]);
  });
  test("--map-uid N: the ranges fill the IDs around N", () => {
    expect(buildMappings(1000, 1100, sub)).toEqual([
      { containerID: 0, hostID: 100000, size: 1100 },
      { containerID: 1100, hostID: 1000, size: 1 },
      { containerID: 1101, hostID: 101100, size: 64436 },
    ]);
  });
  test("several ranges, the caller's own ID cut out, overlaps dropped: no ID used twice on either side", () => {
    const maps = buildMappings(1000, 5, [
      { start: 990, count: 20 },
      { start: 2000, count: 10 },
      { start: 2005, count: 10 },
    ]);
    const containerIds = maps.flatMap((m) => Array.from({ length: m.size }, (_, i) => m.containerID + i));
    const hostIds = maps.flatMap((m) => Array.from({ length: m.size }, (_, i) => m.hostID + i));
    expect(new Set(containerIds).size).toBe(containerIds.length);
    expect(new Set(hostIds).size).toBe(hostIds.length);
    expect(containerIds.length).toBe(1 + 19 + 15);
    expect(hostIdOf(maps, 5)).toBe(1000);
    expect(hostIdOf(maps, 0)).toBe(990);
    expect(hostIdOf(maps, 6)).toBe(995);
  });
  test("helpers", () => {
    expect(withoutId([{ start: 10, count: 5 }], 12)).toEqual([
      { start: 10, count: 2 },
      { start: 13, count: 2 },
    ]);
    expect(disjoint([{ start: 0, count: 10 }, { start: 5, count: 10 }])).toEqual([
      { start: 0, count: 10 },
      { start: 10, count: 5 },
    ]);
    expect(singleMapping(1000, 0)).toEqual([{ containerID: 0, hostID: 1000, size: 1 }]);
    expect(rangesOnly(sub)).toEqual([{ containerID: 0, hostID: 100000, size: 65536 }]);
    expect(isMapped(sub.map((r) => ({ containerID: 0, hostID: r.start, size: r.count })), 65535)).toBe(true);
    expect(mapText(singleMapping(7, 3))).toBe("3 7 1\n");
  });
});

describe("--user lookup", () => {
  const passwd = "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n";
  const group = "root:x:0:\nalice:x:1000:\nwheel:x:10:alice,bob\naudio:x:29:alice\nstaff:x:50:\n";
  const where = { passwd: "/r/etc/passwd", group: "/r/etc/group" };
  test("by name: UID, primary group, groups that list the user, home", () => {
    expect(resolveUser("alice", passwd, group, where)).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 10, 29], home: "/home/alice", name: "alice" });
  });
  test("by number, with a group by name or number", () => {
    expect(resolveUser("1000:staff", passwd, group, where)).toMatchObject({ uid: 1000, gid: 50, additionalGids: [50, 10, 29] });
    expect(resolveUser("0:7", passwd, group, where)).toMatchObject({ uid: 0, gid: 7, home: "/root" });
  });
  test("a numeric UID not in passwd: group 0 and HOME=/", () => {
    expect(resolveUser("4242", passwd, group, where)).toEqual({ uid: 4242, gid: 0, additionalGids: [0], home: "/" });
    expect(resolveUser("4242", undefined, undefined, where).home).toBe("/");
  });
  test("unknown names are errors naming the file searched", () => {
    expect(() => resolveUser("mallory", passwd, group, where)).toThrow('unknown user "mallory": not in /r/etc/passwd');
    expect(() => resolveUser("alice:nogroup", passwd, group, where)).toThrow('unknown group "nogroup": not in /r/etc/group');
    expect(() => resolveUser(":5", passwd, group, where)).toThrow("no user before the colon");
  });
  test("parsers skip comments and malformed lines", () => {
    expect(parsePasswd("#x\nbad\nu:x:1:2:g:/h:/s\n")).toEqual([{ name: "u", uid: 1, gid: 2, gecos: "g", home: "/h", shell: "/s" }]);
    expect(parseGroup("g:x:3:a,b\nbroken\n")).toEqual([{ name: "g", gid: 3, members: ["a", "b"] }]);
  });
});

describe("identity decisions", () => {
  const base = { uid: 1000, gid: 1000, path: "", name: "alice" };
  const subids = { uid: [{ start: 100000, count: 65536 }], gid: [{ start: 100000, count: 65536 }] };
  test("root without --userns: no user namespace; container root with its groups, never the caller's", () => {
    const id = resolveIdentity({ ...base, uid: 0, gid: 0, userns: "auto", rootfs: "/nonexistent-rootfs" });
    expect(id).toEqual({ user: { uid: 0, gid: 0, additionalGids: [0] } });
  });
  test.skipIf(!helpersInstalled)("ranges and helpers: newuidmap and newgidmap write podman-style maps", () => {
    const id = resolveIdentity({ ...base, userns: "auto", subids, helperDirs: ["/usr/bin", "/bin"] });
    expect(id.userns?.setup.writer).toBe("helpers");
    expect(id.userns!.uid[1]).toEqual({ containerID: 1, hostID: 100000, size: 65536 });
    expect(id.userns!.setgroups).toBe(true);
    expect(id.notice).toBeUndefined();
  });
  test("no helpers: one ID, written directly, with a notice naming the package", () => {
    const id = resolveIdentity({ ...base, userns: "auto", subids, helperDirs: [] });
    expect(id.userns).toEqual({ uid: singleMapping(1000, 0), gid: singleMapping(1000, 0), setup: { writer: "direct" }, setgroups: false });
    expect(id.notice).toBe("only one user and one group ID are mapped into the container; for more, newuidmap and newgidmap were not found: install the uidmap package");
  });
  test("no ranges: the notice names the files to edit", () => {
    const id = resolveIdentity({ ...base, userns: "auto", subids: { uid: [], gid: [] }, helperDirs: [] });
    expect(id.notice).toContain("add ranges for alice to /etc/subuid and /etc/subgid");
    expect(id.notice).toContain("install the uidmap package");
  });
  test("keep-id and --map-uid set who the command runs as; an unmapped --user is refused", () => {
    const keep = resolveIdentity({ ...base, userns: "keep-id", subids: { uid: [], gid: [] }, helperDirs: [], rootfs: "/nonexistent-rootfs" });
    expect(keep.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000] });
    expect(keep.userns?.uid).toEqual(singleMapping(1000, 1000));
    const m = resolveIdentity({ ...base, userns: "auto", mapUid: 1100, mapGid: 1100, subids: { uid: [], gid: [] }, helperDirs: [], rootfs: "/nonexistent-rootfs" });
    expect(m.user).toMatchObject({ uid: 1100, gid: 1100 });
    expect(() => resolveIdentity({ ...base, userns: "auto", user: "5", subids: { uid: [], gid: [] }, helperDirs: [], rootfs: "/nonexistent-rootfs" })).toThrow(
      "user ID 5 is not mapped in the container's user namespace",
    );
  });
  test("--map-uid without a user namespace, keep-id as root, host mode unprivileged: errors", () => {
    expect(() => resolveIdentity({ ...base, uid: 0, userns: "auto", mapUid: 5 })).toThrow("--map-uid and --map-gid need a user namespace");
    expect(() => resolveIdentity({ ...base, userns: "host" })).toThrow("--userns host needs root");
    expect(() => resolveIdentity({ ...base, uid: 0, userns: "keep-id", subids })).toThrow("keep-id is for unprivileged callers");
    expect(() => resolveIdentity({ ...base, uid: 0, userns: "private", subids: { uid: [], gid: [] } })).toThrow("needs ranges for root");
  });
});
