// The ways a container of an image gets its root filesystem: the kernel's
// overlayfs (the default where it works), fuse-overlayfs (a user whose
// kernel refuses overlayfs in a user namespace) and a copy of the layers
// (the last resort). Each is asked for here with --storage-driver and must
// give the container the same view of its image and its own changes.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunker, BUNKER, isRoot, until } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";
import { createUser, publicBinary, removeUser, runAs, type TestUser } from "../helpers/users";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn("skipping the root filesystem driver tests: they need root and busybox-static");

let dir: string;
let store: string;
let tarball: string;

const suite = containerSuite(ready);
const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", BUNKER_STORAGE: store, ...extra });
const b = (args: string[], extra: Record<string, string> = {}) => bunker(args, { env: env(extra) });
// What a container does to its image, then shows of it.
const CHANGE = "echo changed > /etc/motd; rm /etc/gone; rm -r /srv/old; mkdir /srv/old; echo new > /srv/old/new; mkdir /srv/mine; chown 1000:1000 /srv/mine";
const SHOW = "cat /etc/motd; ls /etc/gone /srv/old/one 2>&1 | sed 's/.*: //'; ls /srv/old; stat -c '%u:%g' /srv/mine /srv/owned";
const SHOWN = "changed\nNo such file or directory\nNo such file or directory\nnew\n1000:1000\n1234:1234\n";

function driverOf(name: string, as: (args: string[]) => { stdout: string } = b): string {
  return JSON.parse(as(["inspect", name]).stdout)[0].spec.bunker.image.driver;
}

beforeAll(() => {
  if (!ready) return;
  dir = mkdtempSync("/var/tmp/bunker-drivers-");
  chmodSync(dir, 0o755);
  store = join(dir, "store");
  const src = join(dir, "src");
  expect(Bun.spawnSync(["cp", "-a", `${suite.fs.path}/.`, src]).exitCode).toBe(0);
  writeFileSync(join(src, "etc", "motd"), "before\n");
  writeFileSync(join(src, "etc", "gone"), "gone\n");
  mkdirSync(join(src, "srv", "old"), { recursive: true });
  writeFileSync(join(src, "srv", "old", "one"), "one\n");
  writeFileSync(join(src, "srv", "owned"), "owned\n");
  Bun.spawnSync(["chown", "1234:1234", join(src, "srv", "owned")]);
  mkdirSync(join(src, "var", "db"), { recursive: true });
  writeFileSync(join(src, "var", "db", "seed"), "seeded\n");
  Bun.spawnSync(["chown", "-R", "999:999", join(src, "var", "db")]);
  chmodSync(join(src, "var", "db"), 0o700);
  tarball = join(dir, "image.tar");
  expect(Bun.spawnSync(["tar", "-C", src, "--numeric-owner", "-cf", tarball, "."]).exitCode).toBe(0);
  chmodSync(tarball, 0o644);
  expect(b(["import", tarball, "drv"]).code).toBe(0);
  expect(b(["import", "-c", "VOLUME /var/db /empty/new", tarball, "drv-vol"]).code).toBe(0);
});

// An image's volumes, seen from inside: the database directory's owner, mode and seed, and a new volume.
// One mount there, nodev: a device node the image put there opens only in the container's /dev.
const VOLUMES = "stat -c '%u:%g %a' /var/db; cat /var/db/seed; echo written > /var/db/new; ls -d /empty/new; grep ' /var/db ' /proc/self/mountinfo | grep -c nodev";

afterAll(() => {
  if (ready) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!ready)("root", () => {
  test("overlay by default; copy when asked: the same view of the image and the container's changes, kept until rm", () => {
    const o = b(["run", "--name", "drv-overlay", "--network", "none", "drv", "sh", "-c", `${CHANGE}; ${SHOW}`]);
    expect([o.code, o.stdout, o.stderr]).toEqual([0, SHOWN, ""]);
    expect(driverOf("drv-overlay")).toBe("overlay");
    const c = b(["--storage-driver", "copy", "run", "--name", "drv-copy", "--network", "none", "drv", "sh", "-c", `${CHANGE}; ${SHOW}`]);
    expect([c.code, c.stdout, c.stderr]).toEqual([0, SHOWN, ""]);
    expect(driverOf("drv-copy")).toBe("copy");
    // The image's own files are untouched by either.
    const fresh = b(["run", "--rm", "--network", "none", "drv", "sh", "-c", "cat /etc/motd /etc/gone /srv/old/one"]);
    expect(fresh.stdout).toBe("before\ngone\none\n");
    // Exported, both are what their container saw.
    for (const name of ["drv-overlay", "drv-copy"]) {
      const listed = Bun.spawnSync(["sh", "-c", `"$0" export "$1" | tar --numeric-owner -tvf - | awk '{print $2, $6}' | grep -E ' (etc/motd|etc/gone|srv/.*)$' | sort`, BUNKER, name], { env: env() });
      expect(listed.stdout.toString()).toBe("0/0 etc/motd\n0/0 srv/\n0/0 srv/old/\n0/0 srv/old/new\n1000/1000 srv/mine/\n1234/1234 srv/owned\n");
    }
    // diff: what the overlay container changed, without the mount points bunker made; a copy keeps no changes apart.
    expect(b(["diff", "drv-overlay"]).stdout).toBe("C /etc\nD /etc/gone\nC /etc/motd\nC /srv\nA /srv/mine\nC /srv/old\nA /srv/old/new\n");
    expect(b(["diff", "drv-copy"])).toMatchObject({ code: 125, stderr: "bunker: diff: container drv-copy's root is a copy of its image (--storage-driver copy): its changes are not kept apart\n" });
    const copy = readdirSync(join(store, "containers"));
    expect(copy.length).toBe(2);
    expect(b(["rm", "drv-overlay", "drv-copy"]).code).toBe(0);
    expect(readdirSync(join(store, "containers"))).toEqual([]);
  });

  test("an image's volumes start with what the image has there, owners kept, apart from the container's root; a mount the run asks for takes one's place", () => {
    for (const driver of ["overlay", "copy"]) {
      const r = b(["--storage-driver", driver, "run", "--name", `drv-vol-${driver}`, "--network", "none", "drv-vol", "sh", "-c", VOLUMES]);
      expect([r.code, r.stdout, r.stderr]).toEqual([0, "999:999 700\nseeded\n/empty/new\n1\n", ""]);
      const [s] = JSON.parse(b(["inspect", `drv-vol-${driver}`]).stdout);
      expect(s.spec.bunker.image.volumes.map((v: { destination: string }) => v.destination)).toEqual(["/empty/new", "/var/db"]);
      // What it wrote there is in its volume, not in its root filesystem's changes, nor in the image.
      const exported = Bun.spawnSync(["sh", "-c", `"$0" export "$1" | tar -tf - | grep '^var/db/'`, BUNKER, `drv-vol-${driver}`], { env: env() });
      expect(exported.stdout.toString()).toBe("var/db/\nvar/db/seed\n");
      expect(b(["run", "--rm", "--network", "none", "drv-vol", "ls", "/var/db"]).stdout).toBe("seed\n");
      expect(b(["rm", `drv-vol-${driver}`]).code).toBe(0);
    }
    expect(readdirSync(join(store, "containers"))).toEqual([]);
    // -v at a volume's path: the host's directory, and no volume of the image there.
    const host = join(dir, "hostdb");
    mkdirSync(host);
    writeFileSync(join(host, "mine"), "host\n");
    const covered = b(["run", "--rm", "--network", "none", "-v", `${host}:/var/db`, "drv-vol", "sh", "-c", "ls /var/db; grep -c ' /var/db ' /proc/self/mountinfo"]);
    expect([covered.code, covered.stdout]).toEqual([0, "mine\n1\n"]);
  });

  test("$BUNKER_STORAGE_DRIVER asks as the flag does; a driver that cannot work here, or none bunker knows, is refused with the reason", () => {
    const viaEnv = b(["run", "--rm", "--network", "none", "drv", "cat", "/etc/motd"], { BUNKER_STORAGE_DRIVER: "copy" });
    expect([viaEnv.code, viaEnv.stdout]).toEqual([0, "before\n"]);
    const fuse = b(["--storage-driver", "fuse-overlayfs", "run", "--rm", "--network", "none", "drv", "true"]);
    expect([fuse.code, fuse.stderr]).toEqual([125, "bunker: --storage-driver fuse-overlayfs: fuse-overlayfs is for users: root's containers use overlay or copy\n"]);
    const bogus = b(["run", "--rm", "--network", "none", "drv", "true"], { BUNKER_STORAGE_DRIVER: "zfs" });
    expect([bogus.code, bogus.stderr]).toEqual([125, "bunker: --storage-driver zfs: use overlay, fuse-overlayfs, copy\n"]);
    expect(readdirSync(join(store, "containers"))).toEqual([]);
  });
});

describe.skipIf(!ready)("rootless", () => {
  let u: TestUser | undefined;
  let bin: { path: string; dir: string } | undefined;
  let home: string;
  // fuse-overlayfs opens /dev/fuse as the user: where the host keeps it root's alone, it is opened up for these tests only.
  let fuseMode: number | undefined;
  const as = (args: string[], extra: Record<string, string> = {}) => runAs(u!, [bin!.path, ...args], { HOME: home, ...extra });
  beforeAll(() => {
    if (!ready) return;
    u = createUser("bunker-ci-drv", true);
    bin = publicBinary(BUNKER);
    home = `/var/tmp/bunker-drv-home-${u.uid}`;
    mkdirSync(home, { recursive: true });
    Bun.spawnSync(["chown", `${u.uid}:${u.gid}`, home]);
    expect(as(["import", tarball, "drv"]).code).toBe(0);
    if (existsSync("/dev/fuse") && (statSync("/dev/fuse").mode & 0o006) !== 0o006) {
      fuseMode = statSync("/dev/fuse").mode & 0o777;
      chmodSync("/dev/fuse", 0o666);
    }
  });
  afterAll(() => {
    if (fuseMode !== undefined) chmodSync("/dev/fuse", fuseMode);
    if (bin) rmSync(bin.dir, { recursive: true, force: true });
    if (u) {
      rmSync(home, { recursive: true, force: true });
      removeUser(u);
    }
  });

  test("copy, and an image's volumes, keep every file's owner through the user's ranges", () => {
    const r = as(["--storage-driver", "copy", "run", "--rm", "--network", "none", "drv", "sh", "-c", `${CHANGE}; ${SHOW}`]);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, SHOWN, ""]);
    expect(as(["import", "-c", "VOLUME /var/db /empty/new", tarball, "drv-vol"]).code).toBe(0);
    const v = as(["run", "--rm", "--network", "none", "drv-vol", "sh", "-c", VOLUMES]);
    expect([v.code, v.stdout, v.stderr]).toEqual([0, "999:999 700\nseeded\n/empty/new\n1\n", ""]);
    expect(readdirSync(join(home, ".local/share/bunker/containers"))).toEqual([]);
  });

  test.skipIf(!Bun.which("fuse-overlayfs") || !existsSync("/dev/fuse"))("fuse-overlayfs: the container's root is served from outside its PID namespace, and the server ends with it", async () => {
    const r = as(["--storage-driver", "fuse-overlayfs", "run", "-d", "--name", "drv-fuse", "--network", "none", "drv", "sh", "-c", `${CHANGE}; { ${SHOW}; } > /shown; sleep 100 & ps -o comm > /procs.part; mv /procs.part /procs; wait`]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(driverOf("drv-fuse", as)).toBe("fuse-overlayfs");
    const state = JSON.parse(as(["inspect", "drv-fuse"]).stdout)[0];
    const server = state.rootfsHelper.pid as number;
    expect(Bun.spawnSync(["ps", "-o", "comm=", "-p", String(server)]).stdout.toString().trim()).toBe("fuse-overlayfs");
    await until(() => as(["exec", "drv-fuse", "cat", "/procs"]).code === 0, 10_000, "the container to list its processes");
    expect(as(["exec", "drv-fuse", "cat", "/shown"]).stdout).toBe(SHOWN);
    // Inside, no fuse-overlayfs: it is not in the container's PID namespace.
    const procs = as(["exec", "drv-fuse", "cat", "/procs"]).stdout;
    expect(procs).toContain("sh");
    expect(procs).not.toContain("fuse");
    // Its changes, exported as the container sees them.
    const listed = runAs(u!, ["sh", "-c", `"$0" export drv-fuse | tar --numeric-owner -tvf - | awk '{print $2, $6}' | grep -E ' (etc/motd|etc/gone|srv/.*)$' | sort`, bin!.path], { HOME: home });
    expect(listed.stdout).toBe("0/0 etc/motd\n0/0 srv/\n0/0 srv/old/\n0/0 srv/old/new\n1000/1000 srv/mine/\n1234/1234 srv/owned\n");
    // diff reads fuse-overlayfs's upper directory (its .wh. files too) through the user's namespace.
    expect(as(["diff", "drv-fuse"]).stdout).toBe("C /etc\nD /etc/gone\nC /etc/motd\nA /procs\nA /shown\nC /srv\nA /srv/mine\nC /srv/old\nA /srv/old/new\n");
    expect(as(["stop", "-t", "0", "drv-fuse"]).code).toBe(0);
    // The server goes with the container's mount namespace.
    await until(() => Bun.spawnSync(["ps", "-o", "stat=", "-p", String(server)]).stdout.toString().trim().replace(/^Z.*/, "") === "", 5000, "fuse-overlayfs to end");
    expect(as(["rm", "drv-fuse"]).code).toBe(0);
    expect(readdirSync(join(home, ".local/share/bunker/containers"))).toEqual([]);
  });
});
