// bunker run by unprivileged users, for real: one with subordinate ranges
// (maps through newuidmap/newgidmap), one without (a single ID, written directly).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNKER, isRoot, requireBinary } from "../helpers/bunker";
import { guardLeaks } from "../helpers/suite";
import { busyboxAvailable, makeRootfs, type Rootfs, giveRootfs } from "../helpers/rootfs";
import { createUser, publicBinary, removeUser, runAs, type TestUser } from "../helpers/users";

const helpers = existsSync("/usr/bin/newuidmap") && existsSync("/usr/bin/newgidmap");
const ready = isRoot && busyboxAvailable() && helpers && existsSync("/usr/bin/setpriv");
if (!ready) {
  console.warn(
    `skipping rootless tests: ${!isRoot ? "they need root to create test users" : !helpers ? "uidmap (newuidmap/newgidmap) is not installed" : "busybox-static or setpriv is missing"}`,
  );
}

let sub: TestUser;
let nosub: TestUser;
let bin: { path: string; dir: string };
let fsSub: Rootfs;
let fsNosub: Rootfs;
let volDir: string;

function chownTree(path: string, uid: number, gid: number): void {
  Bun.spawnSync(["chown", "-R", `${uid}:${gid}`, path]);
}

function rootfsFor(u: TestUser): Rootfs {
  const fs = makeRootfs();
  writeFileSync(join(fs.path, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n");
  writeFileSync(join(fs.path, "etc/group"), "root:x:0:\nalice:x:1000:\nwheel:x:10:alice\naudio:x:29:alice\ntty:x:5:\n");
  mkdirSync(join(fs.path, "home/alice"), { recursive: true });
  giveRootfs(fs, u);
  // alice (container 1000) owns her home: host ID subStart+999 with ranges.
  if (u.subStart !== undefined) chownSync(join(fs.path, "home/alice"), u.subStart + 999, u.subStart + 999);
  return fs;
}

// Before the file's own hooks: its snapshot comes first, its check before the users and files go.
const guard = guardLeaks(ready);

beforeAll(() => {
  if (!ready) return;
  requireBinary();
  sub = createUser("bunker-ci-sub", true);
  nosub = createUser("bunker-ci-nosub", false);
  bin = publicBinary(BUNKER);
  fsSub = rootfsFor(sub);
  fsNosub = rootfsFor(nosub);
  volDir = join(bin.dir, "vol");
  mkdirSync(volDir);
  writeFileSync(join(volDir, "f"), "host data\n");
  chownTree(volDir, sub.uid, sub.gid);
  chmodSync(volDir, 0o755);
});

afterAll(async () => {
  if (!ready) return;
  await guard.check(() => {
    fsSub.remove();
    fsNosub.remove();
    rmSync(bin.dir, { recursive: true, force: true });
    removeUser(sub);
    removeUser(nosub);
  });
});

const run = (u: TestUser, fs: Rootfs | null, args: string[], cmd: string, env: Record<string, string> = {}) =>
  runAs(u, [bin.path, "run", ...args, ...(fs ? ["--rootfs", fs.path] : ["--host-root"]), "--", "sh", "-c", cmd], env, bin.dir);

const MAPS = "cat /proc/self/uid_map /proc/self/gid_map | tr -s ' ' | sed 's/^ //'";

describe.skipIf(!ready)("rootless, with subordinate ranges", () => {
  test("the caller is container root, the ranges fill 1 onwards; id inside says root", () => {
    const r = run(sub, fsSub, [], `${MAPS}; id`);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `0 ${sub.uid} 1\n1 ${sub.subStart} 65536\n0 ${sub.gid} 1\n1 ${sub.subStart} 65536\nuid=0(root) gid=0(root) groups=0(root)\n`,
    );
  });

  test("--map-uid/--map-gid 1100: the caller is 1100, the ranges fill the IDs around it", () => {
    const r = run(sub, fsSub, ["--map-uid", "1100", "--map-gid", "1100"], `head -3 /proc/self/uid_map | tr -s ' ' | sed 's/^ //'; id -u; id -g`);
    expect(r.stdout).toBe(`0 ${sub.subStart} 1100\n1100 ${sub.uid} 1\n1101 ${sub.subStart! + 1100} 64436\n1100\n1100\n`);
  });

  test("--userns keep-id: the caller keeps its own IDs inside", () => {
    const r = run(sub, fsSub, ["--userns", "keep-id"], `grep -E "^ *${sub.uid} " /proc/self/uid_map | tr -s ' ' | sed 's/^ //'; id -u; id -g; echo $HOME`);
    // HOME is the home of the passwd entry keep-id adds (the caller's, as podman gives it).
    expect(r.stdout).toBe(`${sub.uid} ${sub.uid} 1\n${sub.uid}\n${sub.gid}\n/home/bunker-ci-sub\n`);
  });

  test("files made inside belong on the host to the caller (root) and to subordinate IDs (others)", () => {
    const r = run(sub, fsSub, [], "touch /by-root; su_file=/tmp/by-5; touch $su_file; chown 5:7 $su_file");
    expect(r.code).toBe(0);
    expect(statSync(join(fsSub.path, "by-root")).uid).toBe(sub.uid);
    const st = statSync(join(fsSub.path, "tmp/by-5"));
    expect([st.uid, st.gid]).toEqual([sub.subStart! + 4, sub.subStart! + 6]);
    const r2 = run(sub, fsSub, ["-u", "5"], "touch /tmp/made-by-5");
    expect(r2.code).toBe(0);
    expect(statSync(join(fsSub.path, "tmp/made-by-5")).uid).toBe(sub.subStart! + 4);
  });

  test("--user by name: IDs, groups from /etc/group, HOME, USER, LOGNAME, and the home as working directory", () => {
    const r = run(sub, fsSub, ["--user", "alice"], "id; echo $HOME $USER $LOGNAME; pwd");
    expect(r.stdout).toBe("uid=1000(alice) gid=1000(alice) groups=10(wheel),29(audio),1000(alice)\n/home/alice alice alice\n/home/alice\n");
  });

  test("--user by number with a group, and a UID not in passwd gets HOME=/", () => {
    let r = run(sub, fsSub, ["-u", "1000:29"], "id -u; id -g; echo $HOME");
    expect(r.stdout).toBe("1000\n29\n/home/alice\n");
    r = run(sub, fsSub, ["-u", "4242"], "id; echo $HOME; pwd");
    expect(r.stdout).toBe("uid=4242 gid=0(root) groups=0(root)\n/\n/\n");
  });

  test("an unknown user is a 125 error naming the container's passwd", () => {
    const r = run(sub, fsSub, ["-u", "mallory"], "true");
    expect(r.code).toBe(125);
    expect(r.stderr).toBe(`bunker: unknown user "mallory": not in ${fsSub.path}/etc/passwd\n`);
  });

  test("-w creates the working directory; the user then works in it", () => {
    const r = run(sub, fsSub, ["-w", "/work/deep/dir", "-u", "alice"], "pwd; ls -ld /work/deep/dir | cut -c1-10");
    expect(r.stdout).toBe("/work/deep/dir\ndrwxr-xr-x\n");
  });

  test("environment: -e over --env-file over defaults, KEY alone from the caller, nothing else leaks", () => {
    const envFile = join(bin.dir, "vars.env");
    writeFileSync(envFile, "FROM_FILE=file\nBOTH=file\n");
    chmodSync(envFile, 0o644);
    const r = run(sub, fsSub, ["--env-file", envFile, "-e", "BOTH=flag", "-e", "PASSED"], "tr '\\0' '\\n' < /proc/1/environ | sort", {
      PASSED: "through",
      SECRET: "must not leak",
      TERM: "dumb",
    });
    expect(r.stdout.trim().split("\n")).toEqual(
      [
        "BOTH=flag",
        "FROM_FILE=file",
        "HOME=/root",
        expect.stringMatching(/^HOSTNAME=[0-9a-f]{12}$/),
        "PASSED=through",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      ].sort((a, b) => (typeof a === "string" && typeof b === "string" ? a.localeCompare(b) : 0)),
    );
  });

  test("volumes: read-only unless rw; rw writes reach the host as the caller", () => {
    const r = run(sub, fsSub, ["-v", `${volDir}:/ro`, "-v", `${volDir}:/data/rw:rw`], "cat /ro/f; echo x > /ro/new 2>&1 || echo refused; echo y > /data/rw/new && echo wrote");
    expect(r.stdout).toBe("host data\nrefused\nwrote\n");
    expect(r.stderr).toContain("Read-only file system");
    expect(readFileSync(join(volDir, "new"), "utf8")).toBe("y\n");
    expect(statSync(join(volDir, "new")).uid).toBe(sub.uid);
  });

  test("a file volume, relative to the current directory; a missing host path is a 125 error", () => {
    let r = run(sub, fsSub, ["-v", "vol/f:/etc/motd"], "cat /etc/motd");
    expect(r.stdout).toBe("host data\n");
    r = run(sub, fsSub, ["-v", "./no-such-dir:/x"], "true");
    expect(r.code).toBe(125);
    expect(r.stderr).toBe("bunker: volume ./no-such-dir:/x: ./no-such-dir: no such file or directory\n");
  });

  test("--tmpfs mounts a private tmpfs with its options", () => {
    const r = run(sub, fsSub, ["--tmpfs", "/scratch:size=1m,mode=700"], "grep ' /scratch ' /proc/self/mountinfo | cut -d' ' -f5,9; stat -c %a /scratch; echo ok > /scratch/f && cat /scratch/f");
    expect(r.stdout).toBe("/scratch tmpfs\n700\nok\n");
  });

  test("device nodes are the host's, bound in; /proc and /sys are the container's own", () => {
    const r = run(sub, fsSub, [], "echo x > /dev/null && head -c 3 /dev/zero | wc -c; grep -E ' /(proc|sys|dev/null) ' /proc/self/mountinfo | cut -d' ' -f5,9 | sort");
    expect(r.stdout).toBe("3\n/dev/null devtmpfs\n/proc proc\n/proc/sys proc\n/sys sysfs\n");
  });

  test("--network host: the host's /sys bound read-only, its resolv.conf too", () => {
    const r = run(sub, fsSub, ["--network", "host"], "grep -E ' /sys | /etc/resolv.conf ' /proc/self/mountinfo | cut -d' ' -f5,6 | cut -c1-20; readlink /proc/self/ns/net");
    const lines = r.stdout.trim().split("\n");
    expect(lines.some((l) => l.startsWith("/sys ro,"))).toBe(true);
    if (existsSync("/etc/resolv.conf")) expect(lines.some((l) => l.startsWith("/etc/resolv.conf ro,"))).toBe(true);
    expect(lines.at(-1)).toBe(readlinkSync("/proc/self/ns/net"));
  });

  test("without --rootfs: the host read-only, private /tmp, own hostname", () => {
    const r = run(sub, null, ["--hostname", "rl"], "id -u; hostname; touch /usr/x 2>&1; ls -A /tmp | wc -l");
    expect(r.stdout).toBe("0\nrl\ntouch: /usr/x: Read-only file system\n0\n".replace("touch: /usr/x", "touch: cannot touch '/usr/x'"));
  });
});

describe.skipIf(!ready)("rootless containers that live on", () => {
  const b = (u: TestUser, args: string[]) => runAs(u, [bin.path, ...args], {}, bin.dir);

  test("run -d, ps, inspect, exec, stop, wait, rm round trip; state under the user's own directory", () => {
    const r = b(sub, ["run", "-d", "--name", "rl", "--rootfs", fsSub.path, "--", "sh", "-c", "exec sleep 1000"]);
    expect(r.stderr).toBe("");
    const id = r.stdout.trim();
    expect(existsSync(`/tmp/bunker-${sub.uid}/${id}/state.json`)).toBe(true);
    const ps = JSON.parse(b(sub, ["ps", "--json"]).stdout);
    expect(ps).toMatchObject([{ id, name: "rl", status: "running" }]);
    const ex = b(sub, ["exec", "rl", "sh", "-c", "id -u; ps -o pid,comm | sed -n 2p | tr -s ' '"]);
    expect(ex.stdout).toBe("0\n 1 sleep\n");
    expect(b(sub, ["stop", "-t", "0", "rl"]).code).toBe(0);
    expect(b(sub, ["wait", "rl"])).toMatchObject({ stdout: "137\n", code: 137 });
    expect(b(sub, ["rm", "rl"]).code).toBe(0);
    expect(existsSync(`/tmp/bunker-${sub.uid}/${id}`)).toBe(false);
    // Root's list does not show users' containers.
    expect(JSON.parse(runAs({ ...sub, uid: 0, gid: 0 }, [bin.path, "ps", "-a", "--json"]).stdout).some((e: { id: string }) => e.id === id)).toBe(false);
  });

  test("pinning needs root: the error says so", () => {
    const r = b(sub, ["run", "--rm", "--pin", `${volDir}/pins`, "--rootfs", fsSub.path, "--", "true"]);
    expect(r.code).toBe(125);
    expect(existsSync(`${volDir}/pins`)).toBe(false);
    expect(r.stderr).toMatch(/^bunker: bind-mount \/proc\/\d+\/ns\/\w+ onto .*: Operation not permitted: pinning bind-mounts in the host's mount namespace, which needs root\n$/);
  });
});

describe.skipIf(!ready)("rootless, without subordinate ranges", () => {
  test("one ID mapped directly, setgroups denied, and a notice on how to get more", () => {
    const r = run(nosub, fsNosub, [], `${MAPS}; cat /proc/self/setgroups; id -u; id -g`);
    expect(r.stdout).toBe(`0 ${nosub.uid} 1\n0 ${nosub.gid} 1\ndeny\n0\n0\n`);
    expect(r.stderr).toBe(
      `bunker warn: only one user and one group ID are mapped into the container; for more, add ranges for ${nosub.name} to /etc/subuid and /etc/subgid (for example ${nosub.name}:100000:65536)\n`,
    );
  });

  test("system info tells such a user what they lack, and the ranges another has", () => {
    const lacking = JSON.parse(runAs(nosub, [bin.path, "system", "info", "--json"]).stdout);
    expect(lacking.user).toMatchObject({ uid: nosub.uid, name: nosub.name, subuid: [], subgid: [] });
    expect(lacking.limits).toContainEqual(`more than one ID in a container: no ranges for ${nosub.name} in /etc/subuid and /etc/subgid (every file is then yours, root's inside)`);
    const ranged = JSON.parse(runAs(sub, [bin.path, "system", "info", "--json"]).stdout);
    expect(ranged.user.subuid).toEqual([`${sub.subStart}-${sub.subStart! + sub.subCount! - 1}`]);
    expect(ranged.limits.some((l: string) => l.startsWith("more than one ID"))).toBe(false);
  });

  test("--pid host and --ipc host are root's: refused for a user, who could not mount their /proc or /dev/mqueue; --uts host is not", () => {
    for (const t of ["pid", "ipc"]) {
      const r = run(sub, fsSub, [`--${t}`, "host"], "true");
      expect([r.code, r.stderr]).toEqual([125, `bunker: run: --${t} host is for root: a user's container cannot mount ${t === "pid" ? "/proc" : "/dev/mqueue"} for the host's namespace\n`]);
    }
    expect(run(sub, fsSub, ["--uts", "host"], "hostname").stdout).toBe(`${require("node:os").hostname()}\n`);
  });

  test("--map-uid 1100 maps the caller to 1100, the walkthrough's single mapping", () => {
    const r = run(nosub, fsNosub, ["--map-uid", "1100", "--map-gid", "1100"], `${MAPS}; id -u; id -g`);
    expect(r.stdout).toBe(`1100 ${nosub.uid} 1\n1100 ${nosub.gid} 1\n1100\n1100\n`);
  });

  test("a --user that is not mapped is refused before anything starts", () => {
    const r = run(nosub, fsNosub, ["-u", "alice"], "true");
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("bunker: user ID 1000 is not mapped in the container's user namespace (only one ID is mapped: see the notice above)\n");
  });

  test("files made inside belong to the caller on the host", () => {
    const r = run(nosub, fsNosub, [], "touch /mine");
    expect(r.code).toBe(0);
    expect(statSync(join(fsNosub.path, "mine")).uid).toBe(nosub.uid);
  });
});
