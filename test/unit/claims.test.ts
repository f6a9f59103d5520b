// The per-rootfs record of mount points bunker made and of the containers
// using that rootfs, on real directories (no root needed).

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { claimRootfs, pruneRootfsRecords, releaseRootfs } from "../../src/rootfs/claims";
import { identityOf } from "../../src/sys/fs";
import { startTime } from "../../src/sys/proc";

const base = mkdtempSync(join(tmpdir(), "bunker-claims-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const me = { pid: process.pid, start: startTime(process.pid)! };
/** A process that is gone: pid 1 with a start time it never had. */
const gone = { pid: 1, start: 1 };

let n = 0;
function setup() {
  const dir = join(base, `state-${++n}`);
  const root = join(base, `rootfs-${n}`);
  mkdirSync(join(root, "etc"), { recursive: true });
  return { dir, root };
}

/** What the child would create: an empty file, and a directory with its parent. */
function make(root: string): string[] {
  writeFileSync(join(root, "etc/hostname"), "");
  mkdirSync(join(root, "data/x"), { recursive: true });
  return ["/etc/hostname", "/data", "/data/x"];
}

const records = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".json"));

describe("rootfs records", () => {
  test("the last container out removes what was made; one that made nothing still counts as a user", () => {
    const { dir, root } = setup();
    const a = claimRootfs(dir, root, { id: "a", ...me }, () => make(root))!;
    const b = claimRootfs(dir, root, { id: "b", ...me }, () => [])!;
    expect(b).toBeDefined();
    const rec = JSON.parse(readFileSync(join(dir, records(dir)[0]!), "utf8"));
    expect(rec.users.map((u: { id: string }) => u.id)).toEqual(["a", "b"]);
    expect(rec.created).toEqual(["/etc/hostname", "/data", "/data/x"]);
    releaseRootfs(a);
    expect(existsSync(join(root, "etc/hostname"))).toBe(true);
    releaseRootfs(b);
    expect([existsSync(join(root, "etc/hostname")), existsSync(join(root, "data"))]).toEqual([false, false]);
    expect(records(dir)).toEqual([]);
  });

  test("only what is still empty is removed", () => {
    const { dir, root } = setup();
    const a = claimRootfs(dir, root, { id: "a", ...me }, () => make(root))!;
    writeFileSync(join(root, "etc/hostname"), "written since\n");
    writeFileSync(join(root, "data/kept"), "");
    releaseRootfs(a);
    expect(readFileSync(join(root, "etc/hostname"), "utf8")).toBe("written since\n");
    expect(readdirSync(join(root, "data"))).toEqual(["kept"]);
  });

  test("no record for a container that makes nothing where nothing is pending", () => {
    const { dir, root } = setup();
    expect(claimRootfs(dir, root, { id: "a", ...me }, () => [])).toBeUndefined();
    expect(existsSync(dir) ? records(dir) : []).toEqual([]);
  });

  test("a claim first undoes what containers that are all gone left", () => {
    const { dir, root } = setup();
    claimRootfs(dir, root, { id: "killed", ...gone }, () => make(root));
    const a = claimRootfs(dir, root, { id: "a", ...me }, () => [])!;
    expect(existsSync(join(root, "etc/hostname"))).toBe(false);
    expect(a).toBeUndefined();
  });

  test("pruning undoes records whose users are gone, drops unreadable ones and leftover temporary files", () => {
    const { dir, root } = setup();
    claimRootfs(dir, root, { id: "killed", ...gone }, () => make(root));
    writeFileSync(join(dir, "1-2-3.json"), "{}");
    writeFileSync(join(dir, "4-5-6.json.77.tmp"), "{");
    pruneRootfsRecords(dir);
    expect(existsSync(join(root, "etc/hostname"))).toBe(false);
    expect(readdirSync(dir)).toEqual(["lock"]);
  });

  test("a record of a directory that was replaced since is dropped without touching the new one", () => {
    const { dir, root } = setup();
    claimRootfs(dir, root, { id: "killed", ...gone }, () => make(root));
    const old = identityOf(root)!.id;
    // Filesystems stamp birth times at the kernel's clock tick: a directory made again at once, on
    // the inode just freed, can look like the one before. Replaced means told apart.
    const deadline = Date.now() + 5000;
    do {
      rmSync(root, { recursive: true });
      mkdirSync(join(root, "etc"), { recursive: true });
    } while (identityOf(root)!.id === old && Date.now() < deadline);
    expect(identityOf(root)!.id).not.toBe(old);
    writeFileSync(join(root, "etc/hostname"), "");
    pruneRootfsRecords(dir);
    expect(existsSync(join(root, "etc/hostname"))).toBe(true);
    expect(records(dir)).toEqual([]);
  });
});
