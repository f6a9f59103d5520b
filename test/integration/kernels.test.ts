// An older kernel's lack of system calls, on this one: test/helpers/nosys.ts
// makes chosen calls fail with ENOSYS for bunker and all it starts, as a
// kernel that predates them does. Where bunker has an older way it takes it
// and the container is the same as on a full kernel (compared against a run
// without the filter); where it has none it refuses in one line naming the
// Linux version, exit 125, and leaves nothing behind.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunker, BUNKER, isRoot, requireBinary, ROOT } from "../helpers/bunker";
import { guardLeaks } from "../helpers/suite";
import { busyboxAvailable, giveRootfs, makeRootfs, type Rootfs } from "../helpers/rootfs";
import { createUser, publicBinary, removeUser, type TestUser } from "../helpers/users";

const helpers = existsSync("/usr/bin/newuidmap") && existsSync("/usr/bin/newgidmap");
const ready = isRoot && busyboxAvailable();
if (!ready) console.warn(`skipping old-kernel tests: ${!isRoot ? "a seccomp filter without no_new_privs and test users need root" : "busybox-static is missing"}`);
if (ready && !helpers) console.warn("skipping the rootless old-kernel tests: uidmap (newuidmap/newgidmap) is not installed");
const fuseReady = Bun.which("fuse-overlayfs") !== null && existsSync("/dev/fuse");
if (ready && helpers && !fuseReady) console.warn("skipping the old-kernel fuse-overlayfs test: fuse-overlayfs or /dev/fuse is missing");

const NOSYS = join(ROOT, "test/helpers/nosys.ts");
/** What Linux 5.10 (Debian 11) lacks of what bunker calls, and clone3 and the pidfd calls besides (5.2). */
const OLD = "close_range,mount_setattr,clone3,pidfd_open,pidfd_send_signal";

const guard = guardLeaks(ready);
let fs: Rootfs;
let vol: string;
let sub: TestUser;
let bin: { path: string; dir: string };
let fsSub: Rootfs;

beforeAll(() => {
  if (!ready) return;
  requireBinary();
  fs = makeRootfs();
  vol = join(fs.path, "..", "vol");
  mkdirSync(vol);
  writeFileSync(join(vol, "f"), "host\n");
  if (!helpers) return;
  sub = createUser("bunker-ci-sub", true);
  bin = publicBinary(BUNKER);
  fsSub = makeRootfs();
  giveRootfs(fsSub, sub);
});

afterAll(async () => {
  if (!ready) return;
  await guard.check(() => {
    fs.remove();
    if (!helpers) return;
    fsSub.remove();
    rmSync(bin.dir, { recursive: true, force: true });
    removeUser(sub);
  });
});

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

/** bunker with `deny` failing as ENOSYS ("" for none), as root or as `user`; `extra` descriptors passed open as 3, 4, ... */
function under(deny: string, args: string[], o: { user?: TestUser; extra?: number[]; env?: Record<string, string> } = {}): Out {
  const exe = o.user ? bin.path : BUNKER;
  const cmd = [process.execPath, NOSYS, "--deny", deny, ...(o.user ? ["--user", `${o.user.uid}:${o.user.gid}`] : []), "--", exe, ...args];
  const r = Bun.spawnSync(cmd, {
    env: { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", ...(o.user ? {} : { HOME: "/root" }), ...o.env },
    cwd: o.user ? bin.dir : undefined,
    stdio: ["ignore", "pipe", "pipe", ...(o.extra ?? [])],
    timeout: 120_000,
    killSignal: "SIGKILL",
  });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** The options of the container's mounts at these places, from its mountinfo: "dest opts". */
const MOUNTS = `awk '$5 == "/" || $5 == "/v" || $5 == "/proc/sys" || $5 == "/sys/fs/cgroup" || $5 == "/sys/fs/cgroup/unified" { print $5, $6 }' /proc/self/mountinfo`;

/** A mount's per-mount options as a list (none when the mount was not listed). */
const flags = (opts: string | undefined) => (opts ?? "").split(",");

function stateDirs(): string[] {
  return existsSync("/run/bunker") ? readdirSync("/run/bunker").sort() : [];
}

describe.skipIf(!ready)("old kernels, as root", () => {
  test("the filter takes a call away: a container without openat2 (Linux 5.6) is refused in one line, 125, nothing made", () => {
    const before = stateDirs();
    const r = under("openat2", ["run", "--rm", "--network", "none", "--rootfs", fs.path, "--", "true"]);
    expect(r.stderr).toMatch(/^bunker: a container needs Linux 5\.6 or later \(openat2; this kernel is [^)\n]+\)\n$/);
    expect(r.code).toBe(125);
    expect(stateDirs()).toEqual(before);
    // Detached, and a stopped container started again: the same line, and the stopped one stays as it was.
    const d = under("openat2", ["run", "-d", "--network", "none", "--rootfs", fs.path, "--", "true"]);
    expect([d.code, d.stdout, d.stderr]).toEqual([125, "", r.stderr]);
    expect(stateDirs()).toEqual(before);
    const made = under("", ["create", "--name", "old-start", "--network", "none", "--rootfs", fs.path, "--", "true"]);
    expect([made.code, made.stderr]).toEqual([0, ""]);
    try {
      // docker's start fails with 1.
      const s = under("openat2", ["start", "old-start"]);
      expect([s.code, s.stderr]).toEqual([1, r.stderr]);
      const [st] = JSON.parse(under("", ["inspect", "old-start"]).stdout) as { status: string; error?: string }[];
      expect([st!.status, st!.error]).toEqual(["created", r.stderr.slice("bunker: ".length, -1)]);
    } finally {
      under("", ["rm", "-f", "old-start"]);
    }
    // The control: the same run through the helper with nothing taken away.
    const ok = under("", ["run", "--rm", "--network", "none", "--rootfs", fs.path, "--", "echo", "ran"]);
    expect(ok.stderr).toBe("");
    expect(ok.stdout).toBe("ran\n");
  });

  test("without openat2: an image is refused before any of its layer is read, and the store keeps nothing", () => {
    const store = join(fs.path, "..", "store");
    const tar = join(fs.path, "..", "layer.tar");
    expect(Bun.spawnSync(["tar", "-C", fs.path, "-cf", tar, "."]).exitCode).toBe(0);
    try {
      const r = under("openat2", ["import", tar, "old-kernel"], { env: { BUNKER_STORAGE: store } });
      expect([r.code, r.stdout, r.stderr]).toEqual([125, "", expect.stringMatching(/^bunker: unpacking an image layer needs Linux 5\.6 or later \(openat2; this kernel is [^)\n]+\)\n$/)]);
      for (const d of ["layers", "blobs/sha256", "images"]) if (existsSync(join(store, d))) expect([d, readdirSync(join(store, d))]).toEqual([d, []]);
      // The control: the same import with openat2.
      const ok = under("", ["import", tar, "old-kernel"], { env: { BUNKER_STORAGE: store } });
      expect([ok.code, ok.stderr]).toEqual([0, ""]);
      expect(readdirSync(join(store, "layers")).length).toBe(1);
    } finally {
      rmSync(store, { recursive: true, force: true });
      rmSync(tar, { force: true });
    }
  });

  test("without the new mount API (Linux 5.2): refused naming it", () => {
    const r = under("fsopen,fsmount,open_tree,move_mount", ["run", "--rm", "--network", "none", "--rootfs", fs.path, "--", "true"]);
    expect(r.stderr).toMatch(/^bunker: a container needs Linux 5\.2 or later \(the new mount API \(fsopen, open_tree, move_mount\); this kernel is [^\n]+\)\n$/);
    expect(r.code).toBe(125);
  });

  test("without close_range, mount_setattr, clone3 and pidfds: the container runs, its mounts' flags as on a full kernel", () => {
    const args = ["run", "--rm", "--network", "none", "--read-only", "-v", `${vol}:/v:ro`, "--rootfs", fs.path, "--", "sh", "-c", `${MOUNTS}; echo x > /f; echo x > /v/f; cat /v/f`];
    const old = under(OLD, args);
    const full = under("", args);
    expect(full.code).toBe(0);
    expect(old.stdout).toBe(full.stdout);
    expect(old.stderr).toBe(full.stderr);
    expect(old.code).toBe(0);
    const opts = Object.fromEntries(old.stdout.trim().split("\n").filter((l) => l.startsWith("/")).map((l) => l.split(" ") as [string, string]));
    // Beside what the host's mount under them has (nosuid where /tmp is a tmpfs, ...).
    expect(flags(opts["/"])).toEqual(expect.arrayContaining(["ro", "nodev"]));
    expect(flags(opts["/v"])).toEqual(expect.arrayContaining(["ro"]));
    expect(flags(opts["/proc/sys"])).toEqual(expect.arrayContaining(["ro", "nosuid", "nodev", "noexec"]));
    expect(flags(opts["/sys/fs/cgroup"])).toEqual(expect.arrayContaining(["ro", "nosuid", "nodev", "noexec"]));
    expect(old.stdout).toContain("host\n");
    expect(old.stderr).toContain("Read-only file system");
  });

  test("without mount_setattr: the host's view (--host-root) read-only to its last mount, as on a full kernel", () => {
    const args = ["run", "--rm", "--network", "none", "--host-root", "--", "sh", "-c", "awk '{ print $5, $6 }' /proc/self/mountinfo; touch /usr/.bunker-old-kernel"];
    const old = under(OLD, args);
    const full = under("", args);
    expect(old.stdout).toBe(full.stdout);
    const top = new Map(old.stdout.trim().split("\n").map((l) => l.split(" ") as [string, string]));
    expect(flags(top.get("/"))).toEqual(expect.arrayContaining(["ro", "nodev"]));
    expect(old.stderr).toContain("Read-only file system");
    expect(old.code).toBe(1);
  });

  test("without mount_setattr: an id-mapped mount (Linux 5.12) is refused naming it, nothing made", () => {
    const b = join(fs.path, "..", "bundle");
    mkdirSync(b);
    expect(under("", ["spec", "--bundle", b]).code).toBe(0);
    const c = JSON.parse(readFileSync(join(b, "config.json"), "utf8"));
    c.root = { path: fs.path, readonly: false };
    c.process.terminal = false;
    c.process.args = ["true"];
    c.mounts.push({ destination: "/mnt", type: "bind", source: vol, options: ["rbind", "rw"], uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }], gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }] });
    writeFileSync(join(b, "config.json"), JSON.stringify(c));
    const before = stateDirs();
    const r = under("mount_setattr", ["--root", "/run/bunker", "run", "--bundle", b, "old-kernel-idmap"]);
    expect(r.stderr).toMatch(/^bunker: the id-mapped mount on \/mnt needs Linux 5\.12 or later \(mount_setattr; this kernel is [^)\n]+\)\n$/);
    // runc's status for a failure, as the OCI front end gives it.
    expect(r.code).toBe(1);
    // No state kept (the store's directory of names may be made on a fresh host's first run), no container.
    expect(stateDirs().filter((d) => !before.includes(d) && d !== "names")).toEqual([]);
    expect(existsSync("/run/bunker/names/old-kernel-idmap")).toBe(false);
    expect(under("", ["--root", "/run/bunker", "state", "old-kernel-idmap"]).code).not.toBe(0);
  });

  test("without close_range: descriptors bunker's caller left open do not reach the container", () => {
    const files = [0, 1, 2].map(() => openSync(join(vol, "f"), "r"));
    try {
      const r = under(OLD, ["run", "--rm", "--network", "none", "--rootfs", fs.path, "--", "ls", "/proc/self/fd"], { extra: files });
      expect(r.stderr).toBe("");
      // 3 is ls's own, of the directory it lists.
      expect(r.stdout.trim().split(/\s+/)).toEqual(["0", "1", "2", "3"]);
    } finally {
      for (const f of files) closeSync(f);
    }
  });

  test("without close_range: --init's PID 1 holds no descriptor of bunker's, native init or its copy of bunker, and run -d returns", () => {
    for (const env of [{}, { BUNKER_NATIVE: "compile" }] as Record<string, string>[]) {
      const name = `old-init-${"BUNKER_NATIVE" in env ? "copy" : "native"}`;
      const r = under(OLD, ["run", "-d", "--init", "--name", name, "--network", "none", "--rootfs", fs.path, "--", "sleep", "30"], { env });
      try {
        expect([env, r.code, r.stderr]).toEqual([env, 0, ""]);
        // The container's PID 1 on the host: init.
        const pid = (JSON.parse(bunker(["inspect", name]).stdout) as { pid: number }[])[0]!.pid;
        expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(/^NSpid:\s+\d+\s+1$/m);
        expect([env, readdirSync(`/proc/${pid}/fd`)]).toEqual([env, []]);
      } finally {
        bunker(["rm", "-f", name]);
      }
    }
  });

  test("without mount_setattr: --ipc container:ID keeps that container's /dev/shm read-only when it is", () => {
    const shm = join(fs.path, "..", "shm");
    mkdirSync(shm, { recursive: true });
    const opts = `awk '$5 == "/dev/shm" { print $6 }' /proc/self/mountinfo; touch /dev/shm/x 2>/dev/null && echo wrote || echo refused`;
    try {
      for (const [mode, want] of [["ro", "refused"], ["rw", "wrote"]] as const) {
        const a = under("", ["run", "-d", "--name", `shm-${mode}`, "--ipc", "shareable", "-v", `${shm}:/dev/shm:${mode}`, "--network", "none", "--rootfs", fs.path, "--", "sleep", "30"]);
        expect([a.code, a.stderr]).toEqual([0, ""]);
        const r = under(OLD, ["run", "--rm", "--ipc", `container:shm-${mode}`, "--network", "none", "--rootfs", fs.path, "--", "sh", "-c", opts]);
        expect(r.stderr).toBe("");
        const [line, wrote] = r.stdout.trim().split("\n");
        expect([mode, flags(line).includes("ro"), flags(line).includes("nosuid"), flags(line).includes("nodev"), flags(line).includes("noexec"), wrote]).toEqual([mode, mode === "ro", true, true, true, want]);
        bunker(["rm", "-f", `shm-${mode}`]);
      }
    } finally {
      for (const mode of ["ro", "rw"]) bunker(["rm", "-f", `shm-${mode}`]);
      rmSync(shm, { recursive: true, force: true });
    }
  });

  test("without pidfds (Linux 5.3; setns on one, 5.8): exec joins through the namespace files", () => {
    const d = under(OLD, ["run", "-d", "--network", "none", "--hostname", "old-box", "--rootfs", fs.path, "--", "sleep", "60"]);
    expect(d.stderr).toBe("");
    const id = d.stdout.trim();
    try {
      const e = under(OLD, ["exec", id, "sh", "-c", "hostname; tr '\\0' ' ' < /proc/1/cmdline; echo"]);
      expect(e.stderr).toBe("");
      expect(e.stdout).toBe("old-box\nsleep 60 \n");
    } finally {
      expect(under(OLD, ["rm", "-f", id]).code).toBe(0);
    }
  });
});

describe.skipIf(!ready || !helpers)("old kernels, rootless", () => {
  test("without openat2: the same one-line refusal", () => {
    const r = under("openat2", ["run", "--rm", "--network", "none", "--rootfs", fsSub.path, "--", "true"], { user: sub });
    expect(r.stderr).toMatch(/^bunker: a container needs Linux 5\.6 or later \(openat2; this kernel is [^)\n]+\)\n$/);
    expect(r.code).toBe(125);
  });

  test("without close_range, mount_setattr, clone3 and pidfds: the container runs with its ranges, read-only as asked", () => {
    const args = ["run", "--rm", "--network", "none", "--read-only", "--rootfs", fsSub.path, "--", "sh", "-c", `${MOUNTS}; wc -l < /proc/self/uid_map; echo x > /f`];
    const old = under(OLD, args, { user: sub });
    const full = under("", args, { user: sub });
    expect(old.stdout).toBe(full.stdout);
    expect(old.stderr).toBe(full.stderr);
    expect(old.code).toBe(1);
    expect(flags(old.stdout.match(/^\/ (\S+)$/m)?.[1])).toEqual(expect.arrayContaining(["ro", "nodev"]));
    expect(flags(old.stdout.match(/^\/proc\/sys (\S+)$/m)?.[1])).toEqual(expect.arrayContaining(["ro", "nosuid", "nodev", "noexec"]));
    expect(old.stdout).toContain("\n2\n");
    expect(old.stderr).toContain("Read-only file system");
  });

  test("without pidfds: a user's exec joins their container through its namespace files", () => {
    const d = under(OLD, ["run", "-d", "--network", "none", "--hostname", "users-box", "--rootfs", fsSub.path, "--", "sleep", "60"], { user: sub });
    expect(d.stderr).toBe("");
    const id = d.stdout.trim();
    try {
      const e = under(OLD, ["exec", id, "sh", "-c", "hostname; id -u"], { user: sub });
      expect(e.stderr).toBe("");
      expect(e.stdout).toBe("users-box\n0\n");
    } finally {
      expect(under(OLD, ["rm", "-f", id], { user: sub }).code).toBe(0);
    }
  });

  test.skipIf(!fuseReady)("without pidfds: fuse-overlayfs serves a user's image, joined to the container through its namespace files", () => {
    const home = `/var/tmp/bunker-old-kernel-home-${sub.uid}`;
    mkdirSync(home, { recursive: true });
    Bun.spawnSync(["chown", `${sub.uid}:${sub.gid}`, home]);
    const tarball = join(bin.dir, "image.tar");
    expect(Bun.spawnSync(["tar", "-C", fsSub.path, "--owner=0", "--group=0", "--numeric-owner", "-cf", tarball, "."]).exitCode).toBe(0);
    chmodSync(tarball, 0o644);
    // fuse-overlayfs opens /dev/fuse as the user: where the host keeps it root's alone, it is opened up for this test only.
    const mode = statSync("/dev/fuse").mode & 0o777;
    chmodSync("/dev/fuse", 0o666);
    try {
      const env = { HOME: home };
      const imported = under("", ["import", tarball, "old-kernel-img"], { user: sub, env });
      expect([imported.code, imported.stderr]).toEqual([0, ""]);
      const r = under(OLD, ["--storage-driver", "fuse-overlayfs", "run", "--rm", "--network", "none", "old-kernel-img", "sh", "-c", "echo changed > /etc/motd; cat /etc/motd; grep -c fuse /proc/self/mountinfo"], { user: sub, env });
      expect([r.code, r.stdout, r.stderr]).toEqual([0, "changed\n1\n", ""]);
    } finally {
      chmodSync("/dev/fuse", mode);
      rmSync(home, { recursive: true, force: true });
    }
  });

  test("without mount_setattr: the host's view read-only, its locked flags kept", () => {
    const args = ["run", "--rm", "--network", "none", "--host-root", "--", "sh", "-c", "awk '{ print $5, $6 }' /proc/self/mountinfo; touch /usr/.bunker-old-kernel"];
    const old = under(OLD, args, { user: sub });
    const full = under("", args, { user: sub });
    // A host mount covered by another at the same place (kept, locked, in a user namespace) cannot be
    // reached by its path, so a remount leaves it as it was: what counts is the top one at each place.
    const tops = (out: string) => [...new Map(out.trim().split("\n").map((l) => l.split(" ") as [string, string])).entries()].sort().map((e) => e.join(" "));
    expect(tops(old.stdout)).toEqual(tops(full.stdout));
    const top = new Map(old.stdout.trim().split("\n").map((l) => l.split(" ") as [string, string]));
    expect(flags(top.get("/"))).toEqual(expect.arrayContaining(["ro", "nodev"]));
    expect(old.code).toBe(1);
  });
});
