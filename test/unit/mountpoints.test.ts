// Resolving mount targets inside a rootfs directory before clone.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostLookup, resolveMountPoints, type Target } from "../../src/rootfs/mountpoints";

const root = mkdtempSync(join(tmpdir(), "bunker-mp-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

for (const d of ["etc", "run", "tmp", "var", "proc"]) mkdirSync(join(root, d));
writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
symlinkSync("/run", join(root, "var/run"));
symlinkSync("../../../../tmp/elsewhere", join(root, "etc/hosts"));
symlinkSync("loop-b", join(root, "loop-a"));
symlinkSync("loop-a", join(root, "loop-b"));
symlinkSync("/scratch/inside", join(root, "into-scratch"));

const resolve = (targets: Target[]) => Object.fromEntries(resolveMountPoints(targets, hostLookup(root)));
const dir = (dest: string): Target => ({ dest, dir: true });
const file = (dest: string): Target => ({ dest, dir: false });

describe("mount targets resolved inside the rootfs", () => {
  test("what exists is used as it is; what is missing is created, parents first", () => {
    expect(resolve([dir("/proc"), dir("/data/x/y"), file("/etc/hostname")])).toEqual({
      "/proc": { path: "/proc", created: [] },
      "/data/x/y": { path: "/data/x/y", created: ["/data", "/data/x", "/data/x/y"] },
      "/etc/hostname": { path: "/etc/hostname", created: ["/etc/hostname"] },
    });
  });

  test("symlinks are followed inside the rootfs only: absolute ones from its root, .. never above it", () => {
    expect(resolve([file("/var/run/docker.sock"), file("/etc/hosts")])).toEqual({
      "/var/run/docker.sock": { path: "/run/docker.sock", created: ["/run/docker.sock"] },
      "/etc/hosts": { path: "/tmp/elsewhere", created: ["/tmp/elsewhere"] },
    });
  });

  test("below an earlier mount (even through a symlink) the host cannot see: left as given, nothing recorded", () => {
    expect(resolve([dir("/scratch"), dir("/scratch/a"), dir("/into-scratch")])).toEqual({
      "/scratch": { path: "/scratch", created: ["/scratch"] },
      "/scratch/a": { path: "/scratch/a", created: [] },
      "/into-scratch": { path: "/into-scratch", created: [] },
    });
  });

  test("a symlink loop or a file in the way is left to the child, which fails there and says so", () => {
    expect(resolve([dir("/loop-a/x"), dir("/etc/passwd/x")])).toEqual({
      "/loop-a/x": { path: "/loop-a/x", created: [] },
      "/etc/passwd/x": { path: "/etc/passwd/x", created: [] },
    });
  });

  test("a destination given twice keeps the first resolution", () => {
    expect(resolve([dir("/data"), dir("/data")])).toEqual({ "/data": { path: "/data", created: ["/data"] } });
  });
});

