// Pinned namespaces: bunker mounts, unmounts and joins files in a directory
// someone named, as root. What another user could put there (symlinks, their
// own files and mounts) must be neither followed nor removed, and a command
// run in pinned namespaces gets the default confinement unless asked.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunker, isRoot, requireBinary } from "../helpers/bunker";
import { busyboxAvailable, makeRootfs, type Rootfs } from "../helpers/rootfs";
import { guardLeaks } from "../helpers/suite";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn("skipping the pinned-namespace suite: it needs root (pinning mounts in the host's namespace) and busybox-static");

let fs: Rootfs;
let base: string;
let id: string;

// Before the file's own hooks: its snapshot comes first, its check before the users and files go.
const guard = guardLeaks(ready);

beforeAll(() => {
  if (!ready) return;
  requireBinary();
  fs = makeRootfs();
  base = mkdtempSync("/var/tmp/bunker-pins-");
  chmodSync(base, 0o755);
  const r = bunker(["run", "-d", "--network", "none", "--hostname", "pinned", "--rootfs", fs.path, "--", "sleep", "1000"]);
  expect(r.code).toBe(0);
  id = r.stdout.trim();
});

afterAll(async () => {
  if (!ready) return;
  bunker(["rm", "-f", id]);
  await guard.check(() => {
    rmSync(base, { recursive: true, force: true });
    fs.remove();
  });
});

const mounts = () => readFileSync("/proc/self/mountinfo", "utf8");
/** A fresh directory below `base`, with `mode`. */
function dir(name: string, mode = 0o755): string {
  const d = join(base, name);
  mkdirSync(d);
  chmodSync(d, mode);
  return d;
}

describe("pin directories", () => {
  test.skipIf(!ready)("a directory other users can write to is refused for pin, unpin, --join-ns and exec --ns, and nothing is mounted", () => {
    const open = dir("open", 0o777);
    const m = mounts();
    const pin = bunker(["ns", "pin", id, open]);
    expect(pin.code).toBe(125);
    expect(pin.stderr).toBe(`bunker: ${open} is writable by other users (mode 777): they could plant files where namespaces are pinned; use a directory only you can write to\n`);
    expect(mounts()).toBe(m);
    for (const args of [["ns", "unpin", open], ["run", "--rm", "--join-ns", open, "--rootfs", fs.path, "--", "true"], ["exec", "--ns", open, "true"]]) {
      const r = bunker(args);
      expect([args, r.code, r.stderr]).toEqual([args, 125, expect.stringContaining("is writable by other users")]);
    }
    // Below a directory another user owns, who could rename it and put something else in its place.
    const theirs = dir("theirs", 0o755);
    Bun.spawnSync(["chown", "12345:12345", theirs]);
    const below = join(theirs, "pins");
    const r = bunker(["ns", "pin", id, below]);
    expect([r.code, r.stderr]).toEqual([125, `bunker: ${theirs}, above ${below}, belongs to uid 12345, who could replace ${below}: use a directory only root or you own the way to\n`]);
    expect(mounts()).toBe(m);
  });

  test.skipIf(!ready)("a symlink planted where a namespace file goes is not followed; a symlinked directory is not entered", () => {
    const d = dir("planted");
    const victim = join(base, "victim");
    writeFileSync(victim, "keep\n");
    symlinkSync(victim, join(d, "uts"));
    symlinkSync(join(base, "elsewhere"), join(d, "net"));
    const m = mounts();
    const r = bunker(["ns", "pin", id, d]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/^bunker: .*\/planted\/(net|uts) already exists\n$/);
    expect(mounts()).toBe(m);
    expect(readFileSync(victim, "utf8")).toBe("keep\n");
    expect(existsSync(join(base, "elsewhere"))).toBe(false);
    // Nothing of a half-done pin is left: the links are still links, no namespace file stayed.
    expect(lstatSync(join(d, "uts")).isSymbolicLink()).toBe(true);
    expect(existsSync(join(d, "user"))).toBe(false);

    const real = dir("real");
    const link = join(base, "link");
    symlinkSync(real, link);
    const viaLink = bunker(["ns", "pin", id, link]);
    expect(viaLink.code).toBe(125);
    expect(viaLink.stderr).toBe(`bunker: ${link}: not a directory (a symlink is not followed here)\n`);
    expect(mounts()).toBe(m);
  });

  test.skipIf(!ready)("unpin removes only namespace mounts: other files and mounts in the directory stay", () => {
    const d = dir("mixed");
    expect(bunker(["ns", "pin", id, d]).code).toBe(0);
    // Someone else's: a plain file and a bind mount with namespace names, and a file of their own.
    writeFileSync(join(d, "notes"), "mine\n");
    const other = join(base, "other-mount");
    writeFileSync(other, "other\n");
    const ipcWasPinned = existsSync(join(d, "ipc"));
    expect(ipcWasPinned).toBe(true);
    expect(Bun.spawnSync(["umount", join(d, "ipc")]).success).toBe(true);
    expect(Bun.spawnSync(["mount", "--bind", other, join(d, "ipc")]).success).toBe(true);
    try {
      const r = bunker(["ns", "unpin", d]);
      expect(r.code).toBe(0);
      expect(r.stdout).not.toContain("/ipc");
      expect(readFileSync(join(d, "ipc"), "utf8")).toBe("other\n");
      expect(readFileSync(join(d, "notes"), "utf8")).toBe("mine\n");
      expect(existsSync(join(d, "net"))).toBe(false);
      expect(existsSync(join(d, "cgroup"))).toBe(false);
    } finally {
      Bun.spawnSync(["umount", join(d, "ipc")]);
    }
    // Nothing pinned is left: a second unpin says so and touches nothing.
    const again = bunker(["ns", "unpin", d]);
    expect(again).toMatchObject({ code: 125, stderr: `bunker: no pinned namespaces in ${d}\n` });
    expect(readFileSync(join(d, "notes"), "utf8")).toBe("mine\n");
  });

  test.skipIf(!ready)("a FIFO where a namespace file should be is refused at once, not waited on", () => {
    const d = dir("fifo");
    expect(bunker(["ns", "pin", id, d]).code).toBe(0);
    try {
      expect(Bun.spawnSync(["umount", join(d, "uts")]).success).toBe(true);
      rmSync(join(d, "uts"));
      expect(Bun.spawnSync(["mkfifo", join(d, "uts")]).success).toBe(true);
      const r = bunker(["run", "--rm", "--network", "ns:" + join(d, "uts"), "--rootfs", fs.path, "--", "true"]);
      expect(r.code).toBe(125);
      expect(r.stderr).toContain("not a namespace file");
    } finally {
      bunker(["ns", "unpin", d]);
    }
  });
});

describe("pins of two containers in one directory", () => {
  test.skipIf(!ready)("a start whose pin fails there leaves the other container's pins alone; ns pin records only pins it made", () => {
    const d = dir("two");
    expect(bunker(["ns", "pin", id, d]).code).toBe(0);
    const pinnedOf = () => JSON.parse(bunker(["inspect", id]).stdout)[0].pinned as string[];
    expect(pinnedOf()).toContain(d);
    try {
      const r = bunker(["run", "--rm", "--network", "none", "--pin", d, "--rootfs", fs.path, "--", "true"]);
      expect(r.code).toBe(125);
      expect(r.stderr).toMatch(/already exists and holds a pinned namespace/);
      // The first container's namespaces are still pinned there.
      expect(bunker(["exec", "--ns", d, "/bin/busybox", "hostname"]).stdout).toBe("pinned\n");
      // A second pin into the same place fails, and the record keeps the first one only once.
      expect(bunker(["ns", "pin", id, d]).code).toBe(125);
      expect(pinnedOf().filter((p) => p === d)).toEqual([d]);
      const open = dir("two-open", 0o777);
      expect(bunker(["ns", "pin", id, open]).code).toBe(125);
      expect(pinnedOf()).not.toContain(open);
    } finally {
      bunker(["ns", "unpin", d]);
    }
  });
});

describe("pins on a shared mount", () => {
  // systemd makes every mount shared, and the kernel will not bind a mount namespace's file onto
  // a mount that propagates: the directory becomes a private mount of its own, and unpin removes it.
  test.skipIf(!ready)("the mount namespace is pinned below a shared mount too, and unpin leaves no mount", () => {
    const shared = dir("shared");
    const m = mounts();
    expect(Bun.spawnSync(["mount", "--bind", shared, shared]).success).toBe(true);
    try {
      expect(Bun.spawnSync(["mount", "--make-shared", shared]).success).toBe(true);
      const d = join(shared, "pins");
      const r = bunker(["ns", "pin", id, d]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`${d}/mnt\n`);
      expect(bunker(["exec", "--ns", d, "/bin/busybox", "hostname"]).stdout).toBe("pinned\n");
      expect(bunker(["ns", "unpin", d]).code).toBe(0);
      expect(existsSync(d)).toBe(false);
    } finally {
      Bun.spawnSync(["umount", shared]);
    }
    expect(mounts()).toBe(m);
  });
});

describe("exec --ns", () => {
  test.skipIf(!ready)("runs with docker's default capabilities, no_new_privs and the seccomp filter; --privileged lifts them", () => {
    const d = dir("confined");
    expect(bunker(["ns", "pin", id, d]).code).toBe(0);
    try {
      const status = (args: string[]) => bunker(["exec", ...args, "--ns", d, "/bin/busybox", "grep", "-E", "^(CapEff|NoNewPrivs|Seccomp):", "/proc/self/status"]);
      const confined = status([]);
      expect(confined.stderr).toBe("");
      expect(confined.stdout).toBe("CapEff:\t00000000a80425fb\nNoNewPrivs:\t1\nSeccomp:\t2\n");
      const free = status(["--privileged"]);
      // Every capability this host lets root hold: the test's own bounding set.
      const bounding = /^CapBnd:\s*(\w+)$/m.exec(readFileSync("/proc/self/status", "utf8"))![1];
      expect(free.stdout).toBe(`CapEff:\t${bounding}\nNoNewPrivs:\t1\nSeccomp:\t0\n`);
      // The filter is what refuses: mount of a path that does not exist says ENOENT unfiltered, EPERM filtered.
      const mount = (args: string[]) => bunker(["exec", ...args, "--ns", d, "/bin/busybox", "sh", "-c", "mount -t tmpfs x /no/such/dir 2>&1"]).stdout;
      expect(mount([])).toMatch(/permission denied/i);
      expect(mount(["--privileged"])).toContain("No such file or directory");
      // Outside --ns, --privileged is refused.
      expect(bunker(["exec", "--privileged", id, "true"]).code).toBe(125);
    } finally {
      bunker(["ns", "unpin", d]);
    }
  });
});
