// docker run's flags as an unprivileged user runs them: --device binds a
// node the user can open (and refuses one they cannot), --userns keep-id
// gives the user an entry in the container's passwd and group files.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNKER, isRoot, requireBinary } from "../helpers/bunker";
import { guardLeaks } from "../helpers/suite";
import { busyboxAvailable, giveRootfs, makeRootfs, type Rootfs } from "../helpers/rootfs";
import { createUser, publicBinary, removeUser, runAs, type TestUser } from "../helpers/users";

const helpers = existsSync("/usr/bin/newuidmap") && existsSync("/usr/bin/newgidmap");
const ready = isRoot && busyboxAvailable() && helpers && existsSync("/usr/bin/setpriv");
if (!ready) console.warn(`skipping the rootless run flag tests: ${!isRoot ? "they need root to create a test user" : "they need uidmap, busybox-static and setpriv"}`);

let user: TestUser;
let bin: { path: string; dir: string };
let fs: Rootfs;

const guard = guardLeaks(ready);

beforeAll(() => {
  if (!ready) return;
  requireBinary();
  user = createUser("bunker-ci-flags", true);
  bin = publicBinary(BUNKER);
  fs = makeRootfs();
  giveRootfs(fs, user);
});

afterAll(async () => {
  if (!ready) return;
  await guard.check(() => {
    fs.remove();
    rmSync(bin.dir, { recursive: true, force: true });
    removeUser(user);
  });
});

const run = (args: string[], cmd: string) => runAs(user, [bin.path, "run", "--rm", "--network", "none", ...args, "--rootfs", fs.path, "--", "sh", "-c", cmd], {}, bin.dir);

describe.skipIf(!ready)("run flags, rootless", () => {
  test("--device binds a node the user can open; one they cannot is refused, naming it", () => {
    const r = run(["--device", "/dev/null:/dev/mynull:rw"], "stat -c '%F %t:%T' /dev/mynull; echo x > /dev/mynull && echo wrote");
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "character special file 1:3\nwrote\n", ""]);
    // Control: without it there is no such node.
    expect(run([], "ls /dev/mynull 2>&1").stdout).toContain("No such file");
    // /dev/kmsg is root's to write: asking for rw (the default) is refused before anything runs.
    const refused = run(["--device", "/dev/kmsg"], "true");
    expect([refused.code, refused.stderr]).toEqual([125, "bunker: --device /dev/kmsg: you cannot open /dev/kmsg (Permission denied): a rootless container gets only the devices you can open\n"]);
    const rule = run(["--device-cgroup-rule", "c 1:3 rwm"], "true");
    expect([rule.code, rule.stderr]).toEqual([125, "bunker: run: --device-cgroup-rule: this container has no device rules to add to (a rootless one's devices are those you can open; as root, it needs a cgroup)\n"]);
  });

  test("--userns keep-id adds the user to the container's passwd and group, on files of its own; an entry the image has is kept", () => {
    const before = readFileSync(join(fs.path, "etc/passwd"), "utf8");
    const groupBefore = readFileSync(join(fs.path, "etc/group"), "utf8");
    const r = run(["--userns", "keep-id"], "whoami; id -un; id -gn; echo $HOME; tail -1 /etc/passwd; tail -1 /etc/group");
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toBe(`bunker-ci-flags\nbunker-ci-flags\nbunker-ci-flags\n/home/bunker-ci-flags\nbunker-ci-flags:*:${user.uid}:${user.gid}:bunker-ci-flags:/home/bunker-ci-flags:/bin/sh\nbunker-ci-flags:x:${user.gid}:\n`);
    // The rootfs's own files are untouched.
    expect(readFileSync(join(fs.path, "etc/passwd"), "utf8")).toBe(before);
    expect(readFileSync(join(fs.path, "etc/group"), "utf8")).toBe(groupBefore);
    // Control: where the image names the user's IDs, its entries stand.
    writeFileSync(join(fs.path, "etc/passwd"), `${before}builder:x:${user.uid}:${user.gid}:b:/work:/bin/sh\n`);
    writeFileSync(join(fs.path, "etc/group"), `${groupBefore}builders:x:${user.gid}:\n`);
    try {
      const own = run(["--userns", "keep-id"], "whoami; id -gn; echo $HOME; grep -c bunker-ci-flags /etc/passwd /etc/group");
      expect(own.stdout).toBe("builder\nbuilders\n/work\n/etc/passwd:0\n/etc/group:0\n");
    } finally {
      writeFileSync(join(fs.path, "etc/passwd"), before);
      writeFileSync(join(fs.path, "etc/group"), groupBefore);
    }
  });
});
