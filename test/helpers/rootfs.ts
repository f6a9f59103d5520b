// A busybox root filesystem, made at test time from Debian's busybox-static.

import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const BUSYBOX = "/bin/busybox";

export function busyboxAvailable(): boolean {
  if (!existsSync(BUSYBOX)) return false;
  // The dynamically linked busybox would need the host's libraries inside the rootfs.
  const r = Bun.spawnSync(["file", "-L", BUSYBOX], { stderr: "ignore" });
  return !r.success || !r.stdout.toString().includes("dynamically linked");
}

export interface Rootfs {
  path: string;
  remove(): void;
}

/**
 * A busybox rootfs in a directory of its own. Only root, or `owner` when
 * given (the whole tree becomes theirs), can reach it: a root container's
 * rootfs that other users can reach is one bunker warns about.
 */
export function makeRootfs(opts: { etc?: boolean; owner?: { uid: number; gid: number } } = {}): Rootfs {
  const base = mkdtempSync(join(tmpdir(), "bunker-test-"));
  chmodSync(base, 0o700);
  const root = join(base, "rootfs");
  for (const d of ["bin", "proc", "dev", "sys", "tmp", "root", "usr/bin"]) mkdirSync(join(root, d), { recursive: true });
  chmodSync(join(root, "tmp"), 0o1777);
  copyFileSync(BUSYBOX, join(root, "bin/busybox"));
  chmodSync(join(root, "bin/busybox"), 0o755);
  const list = Bun.spawnSync([BUSYBOX, "--list"]).stdout.toString().split("\n").filter(Boolean);
  for (const applet of list) {
    if (applet === "busybox") continue;
    try {
      symlinkSync("busybox", join(root, "bin", applet));
    } catch {
      // an applet listed twice
    }
  }
  if (opts.etc !== false) {
    mkdirSync(join(root, "etc"));
    writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n");
    writeFileSync(join(root, "etc/group"), "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n");
  }
  const fs = { path: root, remove: () => rmSync(base, { recursive: true, force: true }) };
  if (opts.owner) giveRootfs(fs, opts.owner);
  return fs;
}

/** Makes a rootfs (and the directory it lies in) `owner`'s, for a rootless user to run. */
export function giveRootfs(fs: Rootfs, owner: { uid: number; gid: number }): void {
  Bun.spawnSync(["chown", "-R", `${owner.uid}:${owner.gid}`, join(fs.path, "..")]);
}
