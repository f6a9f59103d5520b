// A root container writes its rootfs as the host's root: a setuid-root
// program it leaves there runs as root for any local user who can reach the
// file. bunker cannot stop the container making one (package managers do it
// on every install), so it warns when the rootfs is reachable by every user.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { bunker, isRoot, requireBinary } from "../helpers/bunker";
import { busyboxAvailable, makeRootfs, type Rootfs } from "../helpers/rootfs";
import { guardLeaks } from "../helpers/suite";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn("skipping the setuid exposure suite: it needs root and busybox-static");

let fs: Rootfs;
let open: string;

// Before the file's own hooks: its snapshot comes first, its check before the users and files go.
const guard = guardLeaks(ready);

beforeAll(() => {
  if (!ready) return;
  requireBinary();
  fs = makeRootfs();
  // A copy of the rootfs where every user can reach it, as under /tmp or a 0755 home.
  open = mkdtempSync("/var/tmp/bunker-open-");
  chmodSync(open, 0o755);
  Bun.spawnSync(["cp", "-a", fs.path, join(open, "rootfs")]);
});

afterAll(async () => {
  if (!ready) return;
  await guard.check(() => {
    rmSync(open, { recursive: true, force: true });
    fs.remove();
  });
});

const warning = (path: string) =>
  `bunker warn: rootfs ${path} can be reached by other users of this host: a setuid or file-capability program the container writes there would give them root's privileges (keep the rootfs below a directory only root may enter, e.g. chmod 700 on a parent, or use --read-only)\n`;

describe("a root container's rootfs that other users can reach", () => {
  test.skipIf(!ready)("is named in a warning, and what the warning is about really happens", () => {
    const rootfs = join(open, "rootfs");
    const r = bunker(["run", "--rm", "--network", "none", "--rootfs", rootfs, "--", "sh", "-c", "cp /bin/busybox /suid-sh && chmod 4755 /suid-sh"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(warning(rootfs));
    // On the host: a setuid-root file that every user can reach and run.
    const st = statSync(join(rootfs, "suid-sh"));
    expect([st.uid, st.mode & 0o7777]).toEqual([0, 0o4755]);
    rmSync(join(rootfs, "suid-sh"));
  });

  test.skipIf(!ready)("a directory another user owns on the way counts: that user can reach the rootfs", () => {
    const theirs = mkdtempSync("/var/tmp/bunker-theirs-");
    try {
      Bun.spawnSync(["cp", "-a", fs.path, join(theirs, "rootfs")]);
      chmodSync(theirs, 0o700);
      Bun.spawnSync(["chown", "12345:12345", theirs]);
      const rootfs = join(theirs, "rootfs");
      expect(bunker(["run", "--rm", "--network", "none", "--rootfs", rootfs, "--", "true"]).stderr).toBe(warning(rootfs));
    } finally {
      rmSync(theirs, { recursive: true, force: true });
    }
  });

  test.skipIf(!ready)("no warning when a parent keeps other users out, or with --read-only", () => {
    const quiet = (args: string[], rootfs: string) => bunker(["run", "--rm", "--network", "none", ...args, "--rootfs", rootfs, "--", "true"]);
    // makeRootfs keeps its rootfs below a 0750 directory of the test users' group.
    expect(quiet([], fs.path)).toMatchObject({ code: 0, stderr: "" });
    const rootfs = join(open, "rootfs");
    expect(quiet(["--read-only"], rootfs)).toMatchObject({ code: 0, stderr: "" });
  });
});
