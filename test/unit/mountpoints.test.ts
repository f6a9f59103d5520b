// Resolving mount targets inside a rootfs directory before clone, and which
// host mounts the sandbox without a rootfs detaches.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChildProgram } from "../../src/child/program";
import { mountPointsOf, planDetachHostMounts } from "../../src/rootfs/hostmounts";
import { hostLookup, resolveMountPoints } from "../../src/rootfs/mountpoints";

const root = mkdtempSync(join(tmpdir(), "bunker-mp-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

for (const d of ["etc", "run", "tmp", "var", "proc"]) mkdirSync(join(root, d));
writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
symlinkSync("/run", join(root, "var/run"));
symlinkSync("../../../../tmp/elsewhere", join(root, "etc/hosts"));
symlinkSync("loop-b", join(root, "loop-a"));
symlinkSync("loop-a", join(root, "loop-b"));
symlinkSync("/scratch/inside", join(root, "into-scratch"));

const resolve = (dests: string[]) => Object.fromEntries(resolveMountPoints(dests, hostLookup(root)));

describe("mount targets resolved inside the rootfs", () => {
  test("what exists is used as it is; what is missing is created, parents first", () => {
    expect(resolve(["/proc", "/data/x/y", "/etc/hostname"])).toEqual({
      "/proc": { path: "/proc", created: [] },
      "/data/x/y": { path: "/data/x/y", created: ["/data", "/data/x", "/data/x/y"] },
      "/etc/hostname": { path: "/etc/hostname", created: ["/etc/hostname"] },
    });
  });

  test("symlinks are followed inside the rootfs only: absolute ones from its root, .. never above it", () => {
    expect(resolve(["/var/run/docker.sock", "/etc/hosts"])).toEqual({
      "/var/run/docker.sock": { path: "/run/docker.sock", created: ["/run/docker.sock"] },
      "/etc/hosts": { path: "/tmp/elsewhere", created: ["/tmp/elsewhere"] },
    });
  });

  test("below an earlier mount (even through a symlink) the host cannot see: left as given, nothing recorded", () => {
    expect(resolve(["/scratch", "/scratch/a", "/into-scratch"])).toEqual({
      "/scratch": { path: "/scratch", created: ["/scratch"] },
      "/scratch/a": { path: "/scratch/a", created: [] },
      "/into-scratch": { path: "/into-scratch", created: [] },
    });
  });

  test("a symlink loop or a file in the way is left to the child, which fails there and says so", () => {
    expect(resolve(["/loop-a/x", "/etc/passwd/x"])).toEqual({
      "/loop-a/x": { path: "/loop-a/x", created: [] },
      "/etc/passwd/x": { path: "/etc/passwd/x", created: [] },
    });
  });

  test("a destination given twice keeps the first resolution", () => {
    expect(resolve(["/data", "/data"])).toEqual({ "/data": { path: "/data", created: ["/data"] } });
  });
});

describe("host mounts below the sandbox's own /tmp, /run and /dev", () => {
  test("mountinfo's mount points, with its octal escapes undone", () => {
    const text = [
      "22 1 0:21 / / rw - ext4 /dev/vda rw",
      "30 22 0:25 / /run rw - tmpfs tmpfs rw",
      "41 30 0:4 net:[4026532] /run/netns/a\\040b rw - nsfs nsfs rw",
      "",
    ].join("\n");
    expect(mountPointsOf(text)).toEqual(["/", "/run", "/run/netns/a b"]);
  });

  test("only the topmost mount of each subtree below the directory is detached, once per stacked mount", () => {
    const p = new ChildProgram();
    planDetachHostMounts(p, "/run", ["/", "/run", "/run/netns", "/run/netns/x", "/run/user/0", "/run/user/0", "/run/user/0/gvfs", "/runner", "/tmp/x"]);
    expect(p.steps.map((s) => [s.call, s.desc])).toEqual([
      ["umount2", "detach the host's /run/netns"],
      ["umount2", "detach the host's /run/user/0"],
      ["umount2", "detach the host's /run/user/0"],
    ]);
  });
});
