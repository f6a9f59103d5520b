// Device nodes a container did not get from bunker: one shipped in an image,
// one in a volume, one in a host directory seen through the no-rootfs view.
// Two protections stand in the way, each shown on its own: nodev on the root
// filesystem and the host view (open says EACCES), and the device cgroup's
// allow-list (EPERM), which covers volumes too; --privileged lifts the latter.
// Runs on whatever cgroup layout the host has: the v1 devices controller
// here, the eBPF device program on pure cgroup v2 in the test VM (test/vm).
//
// The node is c 10:229 (/dev/fuse): outside the allow-list (docker even
// denies it by name), and opening it for reading only makes a FUSE
// connection that closing drops. /dev/kmsg would not do: with dmesg_restrict
// its open needs CAP_SYSLOG, another EPERM.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { bunker, BUNKER, isRoot, type Result } from "../helpers/bunker";
import { busyboxAvailable, makeRootfs, type Rootfs, giveRootfs } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";
import { createUser, publicBinary, removeUser, runAs, type TestUser } from "../helpers/users";

const mountinfo = readFileSync("/proc/self/mountinfo", "utf8");
const v2 = / \/sys\/fs\/cgroup [^ ]+ .* - cgroup2 /.test(mountinfo);
const v1Devices = new RegExp(` - cgroup cgroup [^ ]*\\bdevices\\b`).test(mountinfo);
const have = (p: string) => Bun.spawnSync(["sh", "-c", `command -v ${p}`], { stdout: "ignore" }).success;

const ready = isRoot && busyboxAvailable() && have("mknod") && have("script");
if (!ready) console.warn(`skipping device tests: ${!isRoot ? "they need root" : !busyboxAvailable() ? "busybox-static is not installed" : "mknod or script (util-linux) is missing"}`);
/** Whether the host gives containers a device cgroup: the v1 controller, or cgroup v2 for the eBPF program. */
const deviceCgroup = v2 || v1Devices;
if (ready && !deviceCgroup) console.warn("skipping the device cgroup tests: this host has neither a v1 devices controller nor cgroup v2");
console.info(`device tests on a ${v2 ? "pure cgroup v2" : "cgroup v1 (or hybrid)"} host`);
if (ready && !v1Devices) console.warn("skipping the v1 devices.list test: this host has no v1 devices controller");

const mknod = (path: string) => {
  const r = Bun.spawnSync(["mknod", "-m", "0600", path, "c", "10", "229"], { stderr: "pipe" });
  if (!r.success) throw new Error(`mknod ${path}: ${r.stderr.toString()}`);
};

/** "opened", or which refusal: EACCES (nodev), EPERM (the device cgroup); anything else verbatim. */
function outcome(r: Result): string {
  if (r.code === 0 && r.stdout === "opened\n") return "opened";
  if (/Permission denied/.test(r.stderr)) return "EACCES";
  if (/Operation not permitted/.test(r.stderr)) return "EPERM";
  return `exit ${r.code}: ${r.stdout}${r.stderr}`;
}

/** The shell opens `path` (and closes it at once): for reading, or reading and writing. */
const openCmd = (path: string, rw = false) => `: ${rw ? "<>" : "<"} ${path} && echo opened`;

/** The control: the node opens on the host (the kernel has the driver); otherwise why not. */
function nodeOnHost(): string | null {
  const dir = mkdtempSync("/var/tmp/bunker-devcheck-");
  try {
    mknod(join(dir, "fuse"));
    const r = Bun.spawnSync(["sh", "-c", openCmd(join(dir, "fuse"))], { stdout: "pipe", stderr: "pipe" });
    const got = outcome({ code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() });
    return got === "opened" ? null : `c 10:229 does not open even on the host (${got.trim()}): is fuse missing from this kernel?`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const nodeProblem = ready ? nodeOnHost() : null;
if (nodeProblem) console.warn(`skipping the tests that open a foreign device node: ${nodeProblem}`);
const nodeReady = ready && nodeProblem === null;

/** A directory the no-rootfs view shows (it has its own /tmp, /run and /dev). */
let hostDir = "";
let volDir = "";

const suite = containerSuite(ready, () => {
  for (const d of [hostDir, volDir]) if (d) rmSync(d, { recursive: true, force: true });
});

/** Opens `path` in a new container: with the suite's rootfs unless the flags say --no-rootfs. */
function probe(flags: string[], path: string, rw = false): string {
  const noRootfs = flags.includes("--no-rootfs");
  const rest = flags.filter((f) => f !== "--no-rootfs");
  return outcome(bunker(["run", "--rm", "--network", "none", ...rest, ...(noRootfs ? ["--host-root"] : ["--rootfs", suite.fs.path]), "--", "sh", "-c", openCmd(path, rw)]));
}

beforeAll(() => {
  if (!ready) return;
  mknod(join(suite.fs.path, "fuse"));
  hostDir = mkdtempSync("/var/tmp/bunker-devtest-");
  chmodSync(hostDir, 0o755);
  mknod(join(hostDir, "fuse"));
  volDir = mkdtempSync("/var/tmp/bunker-devvol-");
  mknod(join(volDir, "fuse"));
});

describe.skipIf(!nodeReady)("device nodes, as root", () => {
  test("a node in the root filesystem is refused by nodev, also where the device cgroup would let it through", () => {
    expect(probe([], "/fuse")).toBe("EACCES");
    expect(probe([], "/fuse", true)).toBe("EACCES");
    // No device cgroup at all, or one that allows everything: nodev alone.
    expect(probe(["--cgroups=disabled"], "/fuse")).toBe("EACCES");
    expect(probe(["--privileged"], "/fuse")).toBe("EACCES");
  });

  test("in the no-rootfs view, a node under a host directory is refused, read-only or read-write, by nodev", () => {
    const node = join(hostDir, "fuse");
    expect(probe(["--no-rootfs"], node)).toBe("EACCES");
    expect(probe(["--no-rootfs"], node, true)).toBe("EACCES");
    expect(probe(["--no-rootfs", "--cgroups=disabled"], node, true)).toBe("EACCES");
    expect(probe(["--no-rootfs", "--privileged"], node, true)).toBe("EACCES");
  });

  test.skipIf(!deviceCgroup)("a node in a volume (not nodev, as docker's) is refused by the device cgroup; --privileged reaches it", () => {
    const vol = ["-v", `${volDir}:/vol:rw`];
    expect(probe(vol, "/vol/fuse")).toBe("EPERM");
    expect(probe(vol, "/vol/fuse", true)).toBe("EPERM");
    expect(probe([...vol, "--privileged"], "/vol/fuse", true)).toBe("opened");
    // The control: without a cgroup the same node opens (only nodev protects then, and volumes are not nodev).
    expect(probe([...vol, "--cgroups=disabled"], "/vol/fuse", true)).toBe("opened");
  });

  test.skipIf(!deviceCgroup)("a process bunker exec starts is held to the same allow-list", () => {
    const d = bunker(["run", "-d", "--network", "none", "-v", `${volDir}:/vol:rw`, "--rootfs", suite.fs.path, "--", "sleep", "30"]);
    expect(d.code).toBe(0);
    const id = d.stdout.trim();
    try {
      expect(outcome(bunker(["exec", id, "sh", "-c", openCmd("/vol/fuse")]))).toBe("EPERM");
      expect(outcome(bunker(["exec", id, "sh", "-c", openCmd("/dev/null", true)]))).toBe("opened");
    } finally {
      bunker(["rm", "-f", id]);
    }
  });
});

describe.skipIf(!ready)("the container's own devices, as root", () => {
  test("they still work: null, zero, full, random, urandom, ptmx; with -t its tty and pty", () => {
    const r = bunker([
      "run", "--rm", "--network", "none", "--rootfs", suite.fs.path, "--", "sh", "-c",
      "for d in null zero full random urandom ptmx; do : <> /dev/$d && echo $d; done; head -c 8 /dev/urandom | wc -c; head -c 8 /dev/zero | wc -c",
    ]);
    expect(r).toMatchObject({ code: 0, stdout: "null\nzero\nfull\nrandom\nurandom\nptmx\n8\n8\n", stderr: "" });
    // -t needs a terminal: script gives bunker one.
    const inner = `${BUNKER} run -t --rm --network none --rootfs ${suite.fs.path} -- sh -c '${openCmd("/dev/tty", true).replace("opened", "tty")}; ${openCmd("$(tty)", true).replace("opened", "pty")}'`;
    const t = Bun.spawnSync(["script", "-qec", inner, "/dev/null"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    expect(t.stdout.toString().replaceAll("\r", "")).toBe("tty\npty\n");
  });

  test.skipIf(!v1Devices)("v1: devices.list inside is the allow-list; with --privileged, everything", () => {
    const list = (flags: string[]) => bunker(["run", "--rm", "--network", "none", ...flags, "--rootfs", suite.fs.path, "--", "cat", "/sys/fs/cgroup/devices/devices.list"]).stdout;
    expect(list([])).toBe(
      ["c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm", ""].join("\n"),
    );
    expect(list(["--privileged"])).toBe("a *:* rwm\n");
  });
});

/** Rootless: no device cgroup (a user reaches no device it could not open on the host anyway), but nodev holds. */
const rootlessReady = nodeReady && have("setpriv");
if (nodeReady && !rootlessReady) console.warn("skipping rootless device tests: setpriv is missing");
describe.skipIf(!rootlessReady)("device nodes, rootless", () => {
  let user: TestUser;
  let bin: { path: string; dir: string };
  let fs: Rootfs;
  let dir: string;

  beforeAll(() => {
    user = createUser("bunker-ci-dev", false);
    bin = publicBinary(BUNKER);
    fs = makeRootfs();
    mknod(join(fs.path, "fuse"));
    giveRootfs(fs, user);
    dir = mkdtempSync("/var/tmp/bunker-devuser-");
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, "d"));
    mknod(join(dir, "d", "fuse"));
    for (const p of [join(dir, "d"), join(dir, "d", "fuse")]) chownSync(p, user.uid, user.gid);
  });

  afterAll(() => {
    fs?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
    Bun.spawnSync(["rm", "-rf", bin.dir]);
    removeUser(user);
  });

  test("a node the user owns opens on the host, but not in its root filesystem or its no-rootfs view", () => {
    const node = join(dir, "d", "fuse");
    expect(outcome(runAs(user, ["sh", "-c", openCmd(node, true)]))).toBe("opened");
    const inRoot = runAs(user, [bin.path, "run", "--rm", "--network", "none", "--rootfs", fs.path, "--", "sh", "-c", openCmd("/fuse", true)], {}, bin.dir);
    expect(outcome(inRoot)).toBe("EACCES");
    const inView = runAs(user, [bin.path, "run", "--host-root", "--rm", "--network", "none", "--", "sh", "-c", openCmd(node, true)], {}, bin.dir);
    expect(outcome(inView)).toBe("EACCES");
  });
});
