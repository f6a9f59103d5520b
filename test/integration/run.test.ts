// `bunker run` as root, through the built executable, against a busybox rootfs.

import { describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { bunker, BUNKER, isRoot, onHostRoot, ROOT, until } from "../helpers/bunker";
import { busyboxAvailable, makeRootfs } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";
import { parseMountinfo, rootMount } from "../helpers/mountinfo";
import { OCI_MASKED_PATHS, OCI_MOUNT_FLAGS, OCI_READONLY_PATHS } from "../helpers/oci";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn(`skipping run integration tests: ${isRoot ? "busybox-static is not installed" : "they need root"}`);

const suite = containerSuite(ready);

const inBox = (cmd: string, extra: string[] = []) => bunker(["run", ...extra, "--rootfs", suite.fs.path, "--", "sh", "-c", cmd]);

/** The masked and read-only paths this kernel has: the container's /proc and /sys are of the same kernel. */
const maskedHere = () => OCI_MASKED_PATHS.filter((p) => existsSync(p));
const readonlyHere = () => OCI_READONLY_PATHS.filter((p) => existsSync(p));

/** The mount table of a detached container's process, read from the host: it does not depend on the container's /proc. */
function containerMounts(args: string[]) {
  const r = bunker(["run", "-d", "--network", "none", ...onHostRoot(args), "--", "sleep", "1000"]);
  expect([r.code, r.stderr]).toEqual([0, ""]);
  const id = r.stdout.trim();
  try {
    const pid = JSON.parse(bunker(["inspect", id]).stdout)[0].pid as number;
    return parseMountinfo(readFileSync(`/proc/${pid}/mountinfo`, "utf8"));
  } finally {
    bunker(["rm", "-f", id]);
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Starts bunker in the background and waits until the container prints "ready". */
async function startBackground(cmd: string, extra: string[] = []) {
  const proc = Bun.spawn([BUNKER, "run", ...extra, "--rootfs", suite.fs.path, "--", "sh", "-c", cmd], { stdout: "pipe", stderr: "pipe" });
  const reader = proc.stdout.getReader();
  let out = "";
  const deadline = Date.now() + 10_000;
  while (!out.includes("ready")) {
    const { value, done } = await reader.read();
    if (done || Date.now() > deadline) throw new Error(`container did not get ready: ${out}`);
    out += new TextDecoder().decode(value);
  }
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return out;
      out += new TextDecoder().decode(value);
    }
  })();
  return { proc, output: rest };
}

describe.skipIf(!ready)("bunker run --rootfs", () => {
  test("sets the hostname inside and leaves the host's alone", () => {
    const host = hostname();
    const r = inBox("hostname; cat /etc/hostname", ["--hostname", "box"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("box\nbox\n");
    expect(hostname()).toBe(host);
  });

  test("defaults the hostname to a 12-digit container id and leaves the domain name empty", () => {
    const r = inBox("hostname; cat /proc/sys/kernel/domainname");
    const [name, domain] = r.stdout.split("\n");
    expect(name).toMatch(/^[0-9a-f]{12}$/);
    expect(domain).toBe("");
  });

  test("writes /etc/hosts for the container's name without touching the rootfs file", () => {
    writeFileSync(join(suite.fs.path, "etc/hosts"), "# rootfs copy\n");
    const r = inBox("cat /etc/hosts", ["--hostname", "box", "--network", "none"]);
    expect(r.stdout).toContain("127.0.0.1\tlocalhost");
    expect(r.stdout).toContain("127.0.1.1\tbox");
    expect(readFileSync(join(suite.fs.path, "etc/hosts"), "utf8")).toBe("# rootfs copy\n");
  });

  test("the command is PID 1 and ps sees only the container", () => {
    const r = inBox("echo $$; ps -o pid,comm; true");
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toBe("1");
    const procs = lines.slice(2).map((l) => l.trim().split(/\s+/)[1]);
    expect(lines[1]).toMatch(/PID\s+COMMAND/);
    expect(procs).toEqual(["sh", "ps"]);
  });

  test("after pivot_root no host mount is visible: the container's table is its own, each mount once", () => {
    const r = inBox("cat /proc/self/mountinfo");
    expect(r.code).toBe(0);
    const lines = parseMountinfo(r.stdout);
    // The root, bound from the rootfs directory; the cgroup hierarchies depend on the host's, each rooted in the container's cgroup namespace.
    const root = rootMount(lines);
    expect(root?.root).toBe(suite.fs.path);
    for (const l of lines.filter((x) => x.point.startsWith("/sys/fs/cgroup/"))) expect([l.point, l.fstype, l.root]).toEqual([l.point, l.fstype === "cgroup2" ? "cgroup2" : "cgroup", "/"]);
    const points = lines.filter((l) => !l.point.startsWith("/sys/fs/cgroup/")).map((l) => `${l.point} ${l.fstype}`);
    const expected = [
      `/ ${root?.fstype}`,
      "/proc proc",
      "/sys sysfs",
      "/dev tmpfs",
      "/dev/pts devpts",
      "/dev/shm tmpfs",
      "/dev/mqueue mqueue",
      "/sys/fs/cgroup tmpfs",
      // Masked directories get a tmpfs, masked files the container's /dev/null (on its /dev tmpfs); read-only paths are binds of its /proc.
      ...maskedHere().map((p) => `${p} tmpfs`),
      ...readonlyHere().map((p) => `${p} proc`),
      "/etc/hostname tmpfs",
      "/etc/hosts tmpfs",
      "/etc/resolv.conf tmpfs",
    ];
    expect(points.sort()).toEqual(expected.sort());
  });

  test("each mount carries the flags docker gives it; noexec and read-only hold", () => {
    const r = inBox("cat /proc/self/mountinfo; echo ---; cp /bin/busybox /dev/shm/bb && /dev/shm/bb true; echo shm-exec=$?; echo box > /proc/sys/kernel/domainname; echo proc-sys=$?", ["--network", "none"]);
    const [table, effects] = r.stdout.split("---\n");
    const lines = parseMountinfo(table!);
    const flags = (point: string) => lines.find((l) => l.point === point)?.flags ?? [`nothing mounted at ${point}`];
    for (const [point, want] of Object.entries(OCI_MOUNT_FLAGS)) expect([point, want.filter((f) => !flags(point).includes(f))]).toEqual([point, []]);
    // The rootfs is nodev (a device node shipped in it never opens: see test/security/devices.test.ts), and writable.
    expect(flags("/")).toEqual(expect.arrayContaining(["rw", "nodev"]));
    // A masked directory is a read-only tmpfs; a masked file, the container's /dev/null.
    for (const p of maskedHere()) expect([p, lines.some((l) => l.point === p && (l.flags.includes("ro") || l.root === "/null"))]).toEqual([p, true]);
    for (const p of readonlyHere()) expect([p, flags(p).includes("ro")]).toEqual([p, true]);
    // The effects: a program copied into /dev/shm does not run (126 from the shell); /proc/sys refuses a
    // write that root could otherwise make (the domain name of the container's own UTS namespace).
    expect(effects).toBe("shm-exec=126\nproc-sys=1\n");
    expect(r.stderr).toContain("/dev/shm/bb: Permission denied");
    expect(r.stderr).toContain("Read-only file system");
  });

  test("the old root is unreachable", () => {
    const marker = join(ROOT, `.bunker-old-root-${process.pid}`);
    writeFileSync(marker, "host");
    try {
      const r = inBox(`test -e ${marker} && echo reachable; ls -1 /; echo ---; ls -1 /proc/1/root/; echo ---; ls -1 /..`);
      expect(r.stdout).not.toContain("reachable");
      const rootfsTop = readdirSync(suite.fs.path).sort();
      for (const listing of r.stdout.split("---\n")) expect(listing.trim().split("\n").sort()).toEqual(rootfsTop);
    } finally {
      rmSync(marker);
    }
  });

  test("/dev holds exactly the expected nodes and links", () => {
    const r = inBox("ls -1a /dev; for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$d; done; for l in ptmx fd stdin stdout stderr; do readlink /dev/$l; done");
    const lines = r.stdout.trim().split("\n");
    const listing = lines.slice(0, lines.findIndex((l) => l.startsWith("/dev/")));
    expect(listing.sort()).toEqual(
      [".", "..", "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom", "zero"].sort(),
    );
    expect(r.stdout).toContain("/dev/null character special file 1:3 666");
    expect(r.stdout).toContain("/dev/zero character special file 1:5 666");
    expect(r.stdout).toContain("/dev/full character special file 1:7 666");
    expect(r.stdout).toContain("/dev/random character special file 1:8 666");
    expect(r.stdout).toContain("/dev/urandom character special file 1:9 666");
    expect(r.stdout).toContain("/dev/tty character special file 5:0 666");
    expect(r.stdout).toContain("pts/ptmx\n/proc/self/fd\n/proc/self/fd/0\n/proc/self/fd/1\n/proc/self/fd/2\n");
  });

  test("devpts is a new instance and /dev/shm and /dev/null work", () => {
    const r = inBox("grep -E ' /dev/(pts|shm) ' /proc/self/mountinfo; echo data > /dev/shm/x && cat /dev/shm/x; echo gone > /dev/null; head -c 4 /dev/zero | wc -c");
    expect(r.stdout).toMatch(/ \/dev\/pts .* - devpts devpts rw,.*ptmxmode=666/);
    expect(r.stdout).toMatch(/ \/dev\/shm .* - tmpfs shm /);
    expect(r.stdout).toContain("data\n4\n");
  });

  test("/sys is read-only", () => {
    const r = inBox("grep ' /sys ' /proc/self/mountinfo; touch /sys/x 2>&1; echo rc=$?");
    expect(r.stdout).toMatch(/ \/sys ro,/);
    expect(r.stdout).toContain("Read-only file system");
    expect(r.stdout).toContain("rc=1");
  });

  test("the environment is clean: PATH, HOME and HOSTNAME only (no TERM without a terminal, the caller's least of all)", () => {
    const r = bunker(["run", "--hostname", "envbox", "--rootfs", suite.fs.path, "--", "env"], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TERM: "xterm-test", SECRET: "leak" },
    });
    expect(r.stdout.trim().split("\n").sort()).toEqual(["HOME=/root", "HOSTNAME=envbox", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"].sort());
  });

  test("the container starts with only stdin, stdout and stderr open", () => {
    const r = inBox("ls /proc/$$/fd; true");
    expect(r.stdout.trim().split(/\s+/)).toEqual(["0", "1", "2"]);
  });

  test("a descriptor bunker's caller left open (not close-on-exec) does not reach the container", () => {
    const file = join(suite.fs.path, "..", "inherited");
    writeFileSync(file, "host data\n");
    const fd = openSync(file, "r");
    try {
      const r = Bun.spawnSync([BUNKER, "run", "--rm", "--network", "none", "--rootfs", suite.fs.path, "--", "sh", "-c", "ls /proc/$$/fd; (cat <&3) 2>/dev/null || echo no-fd-3"], { stdio: ["ignore", "pipe", "pipe", fd] });
      expect([r.exitCode, r.stdout.toString(), r.stderr.toString()]).toEqual([0, "0\n1\n2\nno-fd-3\n", ""]);
    } finally {
      closeSync(fd);
    }
  });

  test("starts with no signal ignored, blocked or caught, even when bunker's caller ignored some", () => {
    const r = Bun.spawnSync(["sh", "-c", `trap '' PIPE USR1 HUP; exec ${BUNKER} run --rootfs ${suite.fs.path} -- grep -E '^Sig(Ign|Blk|Cgt)' /proc/self/status`]);
    expect(r.stdout.toString()).toBe("SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n");
  });

  test("--rootfs / pivots into a copy of the host's tree, writable", () => {
    // A directory of this test's own on the host: written from inside, read back outside.
    const dir = mkdtempSync("/var/tmp/bunker-rootfs-slash-");
    try {
      const r = bunker(["run", "--rootfs", "/", "--hostname", "hostroot", "--", "sh", "-c", `hostname; test -e /etc/os-release && echo host-files; cut -d' ' -f5 /proc/self/mountinfo | grep -cx /; echo inside > ${dir}/written && echo wrote`]);
      expect([r.code, r.stderr, r.stdout]).toEqual([0, "", "hostroot\nhost-files\n1\nwrote\n"]);
      expect(readFileSync(join(dir, "written"), "utf8")).toBe("inside\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("--log-level debug shows the child program and the timings", () => {
    const r = bunker(["run", "--log-level", "debug", "--rootfs", suite.fs.path, "--", "true"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("pivot_root(");
    expect(r.stderr).toContain("# mount proc on /proc");
    expect(r.stderr).toMatch(/timings: main \+[\d.]+ms .* exited \+/);
    // The build carries the interpreter compiled for this architecture: no compiler runs.
    expect(r.stderr).toContain("bunker debug: child interpreter: prebuilt object\n");
  });

  test("run and exec work with the interpreter compiled at run time instead (BUNKER_NATIVE=compile)", () => {
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", BUNKER_NATIVE: "compile" };
    const r = bunker(["run", "--rm", "--log-level", "debug", "--rootfs", suite.fs.path, "--", "sh", "-c", "echo ran; exit 3"], { env });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("ran\n");
    expect(r.stderr).toContain("bunker debug: child interpreter: compiled at run time (BUNKER_NATIVE=compile)\n");
    const d = bunker(["run", "-d", "--rootfs", suite.fs.path, "--", "sleep", "1000"]);
    expect(d.code).toBe(0);
    const id = d.stdout.trim();
    try {
      const e = bunker(["--log-level", "debug", "exec", id, "sh", "-c", "echo inside; exit 4"], { env });
      expect([e.code, e.stdout]).toEqual([4, "inside\n"]);
      expect(e.stderr).toContain("bunker debug: child interpreter: compiled at run time (BUNKER_NATIVE=compile)\n");
    } finally {
      bunker(["rm", "-f", id]);
    }
  });

  test("with -i, stdin is the caller's; without it, /dev/null (as docker); stdout is the caller's", () => {
    const r = bunker(["run", "-i", "--rootfs", suite.fs.path, "--", "sh", "-c", "read line; echo got:$line"], { stdin: "hello\n" });
    expect(r.stdout).toBe("got:hello\n");
    const without = bunker(["run", "--rootfs", suite.fs.path, "--", "sh", "-c", "read line; echo got:$line; readlink /proc/self/fd/0"], { stdin: "hello\n" });
    expect(without.stdout).toBe("got:\n/dev/null\n");
  });

  test("a new network namespace has only lo, and it is up", () => {
    const r = inBox("ls /sys/class/net; cat /sys/class/net/lo/flags; readlink /proc/self/ns/net", ["--network", "none"]);
    const [ifs, flags, ns] = r.stdout.trim().split("\n");
    expect(ifs).toBe("lo");
    expect(Number(flags) & 1).toBe(1);
    expect(ns).not.toBe(readlinkSync("/proc/self/ns/net"));
  });

  test("--network host keeps the host's network namespace", () => {
    const r = inBox("readlink /proc/self/ns/net", ["--network", "host"]);
    expect(r.stdout.trim()).toBe(readlinkSync("/proc/self/ns/net"));
  });

  test("every namespace is new; with --network host every one but the network namespace", () => {
    const types = ["mnt", "uts", "ipc", "pid", "cgroup", "net"];
    const host = types.map((t) => `${t} ${readlinkSync(`/proc/self/ns/${t}`)}`);
    const inside = (extra: string[]) => {
      const r = inBox(`for t in ${types.join(" ")}; do echo $t $(readlink /proc/self/ns/$t); done`, extra);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      const lines = r.stdout.trim().split("\n");
      expect(lines.map((l) => l.split(" ")[0])).toEqual(types);
      return lines;
    };
    const own = inside(["--network", "none"]);
    expect(own.filter((l) => host.includes(l))).toEqual([]);
    const shared = inside(["--network", "host"]);
    expect(shared.filter((l) => host.includes(l))).toEqual([host[5]!]);
  });

  test("a hostile rootfs whose /dev and /proc are symlinks out of it cannot make bunker mount on the host", () => {
    const bad = makeRootfs();
    try {
      rmSync(join(bad.path, "dev"), { recursive: true });
      rmSync(join(bad.path, "proc"), { recursive: true });
      symlinkSync("/etc", join(bad.path, "dev"));
      symlinkSync("../../../../../../", join(bad.path, "proc"));
      const hostMounts = readFileSync("/proc/self/mountinfo", "utf8");
      const r = bunker(["run", "--rm", "--network", "none", "--rootfs", bad.path, "--", "/bin/sh", "-c", "ls /etc"]);
      // It runs, and the links lead where they lead inside: the container's devices are in its own /etc.
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(r.stdout.split("\n")).toEqual(expect.arrayContaining(["null", "pts", "shm", "tty", "zero"]));
      // The whole table, read from the host (the container's /proc leads to its root): proc lies over
      // the root, where /proc leads; /dev's tmpfs and devpts on /etc; sysfs on /sys, and over it the
      // read-only /proc/sys, which leads there too; nothing else at those places.
      const table = containerMounts(["--rootfs", bad.path]);
      const root = rootMount(table);
      expect(root?.root).toBe(bad.path);
      const places = table.filter((l) => l !== root).filter((l) => ["/", "/proc", "/dev", "/sys", "/etc", "/dev/pts", "/etc/pts"].includes(l.point)).map((l) => `${l.point} ${l.fstype}`);
      expect(places.sort()).toEqual(["/ proc", "/etc tmpfs", "/etc/pts devpts", "/sys proc", "/sys sysfs"]);
      expect(readFileSync("/proc/self/mountinfo", "utf8")).toBe(hostMounts);
      expect(existsSync("/etc/null")).toBe(false);
    } finally {
      bad.remove();
    }
  });
});

describe.skipIf(!ready)("volumes, environment and working directory as root", () => {
  test("a volume whose container path is a symlink out of the rootfs lands inside the container", () => {
    const bad = makeRootfs();
    const src = mkdtempSync("/tmp/bunker-vol-");
    try {
      writeFileSync(join(src, "marker"), "from host");
      symlinkSync("../../../../../../etc/bunker-escape", join(bad.path, "data"));
      mkdirSync(join(bad.path, "etc/bunker-escape"));
      const before = readFileSync("/proc/self/mountinfo", "utf8");
      const r = bunker(["run", "-v", `${src}:/data`, "--rootfs", bad.path, "--", "cat", "/etc/bunker-escape/marker"]);
      expect(r.stdout).toBe("from host");
      expect(existsSync("/etc/bunker-escape")).toBe(false);
      expect(readFileSync("/proc/self/mountinfo", "utf8")).toBe(before);
    } finally {
      bad.remove();
      rmSync(src, { recursive: true });
    }
  });

  test("symlinks through .. in a hostile rootfs never make bunker create or mount anything on the host", () => {
    const bad = makeRootfs();
    const src = mkdtempSync("/tmp/bunker-vol-");
    const probe = `bunker-escape-${process.pid}`;
    try {
      writeFileSync(join(src, "file"), "x");
      // A file volume, the hostname file and a directory volume, each a symlink climbing out.
      symlinkSync(`../../../../../../tmp/${probe}-file`, join(bad.path, "vol-file"));
      symlinkSync(`../../../../../../tmp/${probe}-hostname`, join(bad.path, "etc/hostname"));
      symlinkSync(`../../../../../../tmp/${probe}-dir`, join(bad.path, "vol-dir"));
      mkdirSync(join(bad.path, `tmp/${probe}-dir`), { recursive: true });
      const before = readFileSync("/proc/self/mountinfo", "utf8");
      const r = bunker(["run", "-v", `${join(src, "file")}:/vol-file`, "-v", `${src}:/vol-dir`, "--rootfs", bad.path, "--", "ls", `/tmp`]);
      expect(r.stderr).toBe("");
      for (const suffix of ["file", "hostname", "dir"]) {
        expect(existsSync(`/tmp/${probe}-${suffix}`)).toBe(false);
        expect(r.stdout).toContain(`${probe}-${suffix}`);
      }
      expect(readFileSync("/proc/self/mountinfo", "utf8")).toBe(before);
    } finally {
      bad.remove();
      rmSync(src, { recursive: true });
      for (const suffix of ["file", "hostname", "dir"]) rmSync(`/tmp/${probe}-${suffix}`, { recursive: true, force: true });
    }
  });

  test("volumes are read-only by default and writable with rw; targets are created", () => {
    const src = mkdtempSync("/tmp/bunker-vol-");
    try {
      const r = bunker(["run", "-v", `${src}:/a/b/ro`, "-v", `${src}:/rw:rw`, "--rootfs", suite.fs.path, "--", "sh", "-c", "touch /a/b/ro/x 2>&1; touch /rw/y && echo ok"]);
      expect(r.stdout).toContain("Read-only file system");
      expect(r.stdout).toContain("ok");
      expect(existsSync(join(src, "y"))).toBe(true);
      expect(existsSync(join(src, "x"))).toBe(false);
    } finally {
      rmSync(src, { recursive: true });
    }
  });

  test("a missing env file is a 125 error naming it; -e wins over it", () => {
    let r = bunker(["run", "--env-file", "/no/such.env", "--rootfs", suite.fs.path, "--", "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe("bunker: env file /no/such.env: no such file or directory\n");
    const f = join(suite.fs.path, "..", "vars.env");
    writeFileSync(f, "A=file\nB=file\n");
    r = bunker(["run", "--env-file", f, "-e", "B=flag", "--rootfs", suite.fs.path, "--", "sh", "-c", "echo $A $B"]);
    expect(r.stdout).toBe("file flag\n");
  });

  test("an empty path option is a 125 error saying so, never the current directory", () => {
    // Run from an empty directory: were "" taken as the current directory, nothing of value is there.
    const cwd = mkdtempSync("/tmp/bunker-empty-");
    try {
      const cases: [string[], string][] = [
        [["--rootfs", ""], "bunker: --rootfs: the path is empty\n"],
        [["--rootfs", suite.fs.path, "-w", ""], "bunker: -w/--workdir: the path is empty\n"],
        [["--rootfs", suite.fs.path, "--env-file", ""], "bunker: --env-file: the path is empty\n"],
        [["--rootfs", suite.fs.path, "--pin", ""], "bunker: --pin: the path is empty\n"],
        [["--rootfs", suite.fs.path, "--join-ns", ""], "bunker: --join-ns: the path is empty\n"],
        [["--rootfs", suite.fs.path, "-v", ":/data"], 'bunker: volume ":/data": the host path is empty\n'],
        [["--rootfs", suite.fs.path, "-v", `${cwd}:`], `bunker: volume "${cwd}:": the container path is empty\n`],
        [["--rootfs", suite.fs.path, "-v", ""], 'bunker: invalid volume "": it is empty: use HOST:CONTAINER[:OPTIONS]\n'],
        [["--rootfs", suite.fs.path, "--tmpfs", ""], 'bunker: tmpfs "": the container path is empty\n'],
        [["--rootfs", suite.fs.path, "--security-opt", "seccomp="], "bunker: --security-opt seccomp=: the profile path is empty (give a file, or seccomp=unconfined)\n"],
        [["--rootfs", suite.fs.path, "--network", "ns:"], 'bunker: network mode "ns:": the namespace path is empty\n'],
      ];
      for (const [flags, err] of cases) {
        const r = bunker(["run", "--rm", ...onHostRoot(flags), "--", "true"], { cwd });
        expect([flags, r.code, r.stderr]).toEqual([flags, 125, err]);
      }
      expect(readdirSync(cwd)).toEqual([]);
      for (const [args, err] of [
        [["exec", "--ns", "", "true"], "bunker: --ns: the path is empty\n"],
        [["exec", "-w", "", "x", "true"], "bunker: -w/--workdir: the path is empty\n"],
        [["ns", "pin", "x", ""], "bunker: ns pin: the directory path is empty\n"],
        [["ns", "unpin", ""], "bunker: ns unpin: the directory path is empty\n"],
      ] as [string[], string][]) {
        const r = bunker(args, { cwd });
        expect([args, r.code, r.stderr]).toEqual([args, 125, err]);
      }
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  test("an env file or seccomp profile that is not a regular file, or too large, is a 125 error naming it", () => {
    const dir = mkdtempSync("/tmp/bunker-files-");
    try {
      const big = join(dir, "big");
      // Valid JSON and a valid env file, had they been read whole: only the size is wrong.
      writeFileSync(big, `{"defaultAction":"SCMP_ACT_ALLOW"${" ".repeat(1 << 20)}}`);
      const cases: [string[], string][] = [
        [["--env-file", dir], `bunker: env file ${dir}: not a regular file (a directory)\n`],
        [["--env-file", "/dev/null"], "bunker: env file /dev/null: not a regular file (a character device)\n"],
        [["--security-opt", `seccomp=${dir}`], `bunker: seccomp profile ${dir}: not a regular file (a directory)\n`],
        [["--security-opt", `seccomp=${big}`], `bunker: seccomp profile ${big}: too large (over 1 MiB)\n`],
      ];
      for (const [flags, err] of cases) {
        const r = bunker(["run", "--rm", "--network", "none", ...flags, "--rootfs", suite.fs.path, "--", "true"]);
        expect([flags, r.code, r.stderr]).toEqual([flags, 125, err]);
      }
      // Control: the same profile within the limit is read and applied.
      writeFileSync(big, `{"defaultAction":"SCMP_ACT_ALLOW"${" ".repeat(1000)}}`);
      const r = bunker(["run", "--rm", "--network", "none", "--security-opt", `seccomp=${big}`, "--rootfs", suite.fs.path, "--", "true"]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a namespace path that is not a namespace file is refused before the container starts", () => {
    const dir = mkdtempSync("/tmp/bunker-ns-");
    try {
      writeFileSync(join(dir, "net"), "");
      // A pin directory's files count only when a namespace is mounted on them.
      let r = bunker(["run", "--rm", "--join-ns", dir, "--rootfs", suite.fs.path, "--", "true"]);
      expect([r.code, r.stderr]).toEqual([125, `bunker: --join-ns ${dir}: no pinned net, ipc or uts namespace there\n`]);
      r = bunker(["run", "--rm", "--network", `ns:${dir}`, "--rootfs", suite.fs.path, "--", "true"]);
      expect([r.code, r.stderr]).toEqual([125, `bunker: open the network namespace ${dir}: not a namespace file (a directory)\n`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("bad volume and tmpfs values are 125 errors", () => {
    let r = bunker(["run", "-v", "/tmp:/t:ro:x", "--rootfs", suite.fs.path, "--", "true"]);
    expect([r.code, r.stderr]).toEqual([125, 'bunker: invalid volume "/tmp:/t:ro:x": use HOST:CONTAINER[:OPTIONS], NAME:CONTAINER[:OPTIONS] or CONTAINER\n']);
    r = bunker(["run", "--tmpfs", "/t:bogus", "--rootfs", suite.fs.path, "--", "true"]);
    expect([r.code, r.stderr]).toEqual([125, 'bunker: tmpfs /t:bogus: unknown option "bogus"\n']);
    r = bunker(["run", "-w", "relative", "--rootfs", suite.fs.path, "--", "true"]);
    expect([r.code, r.stderr]).toEqual([125, 'bunker: working directory "relative" must be absolute\n']);
  });
});

describe.skipIf(!ready)("exit status", () => {
  test.each([0, 1, 42, 255])("the command's own status %i", (n) => {
    expect(inBox(`exit ${n}`).code).toBe(n);
  });

  test("127 when the command is not on PATH", () => {
    const r = bunker(["run", "--rootfs", suite.fs.path, "--", "nope"]);
    expect(r.code).toBe(127);
    expect(r.stderr).toBe('bunker: exec "nope": not found in PATH\n');
  });

  test("127 for a missing absolute path", () => {
    const r = bunker(["run", "--rootfs", suite.fs.path, "--", "/no/such"]);
    expect(r.code).toBe(127);
    expect(r.stderr).toBe('bunker: exec "/no/such": no such file or directory\n');
  });

  test("126 when the command is not executable", () => {
    writeFileSync(join(suite.fs.path, "bin/notexec"), "#!/bin/sh\necho hi\n", { mode: 0o644 });
    const r = bunker(["run", "--rootfs", suite.fs.path, "--", "notexec"]);
    expect(r.code).toBe(126);
    expect(r.stderr).toBe('bunker: exec "notexec": permission denied\n');
  });

  test("125 when the rootfs is missing or not a directory", () => {
    let r = bunker(["run", "--rootfs", "/no/such/rootfs", "--", "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe("bunker: rootfs /no/such/rootfs: no such file or directory\n");
    r = bunker(["run", "--rootfs", join(suite.fs.path, "etc/passwd"), "--", "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe(`bunker: rootfs ${join(suite.fs.path, "etc/passwd")}: not a directory\n`);
  });

  test("125 with the failing step named when setup fails", () => {
    // A rootfs whose /proc is a file: the mount point cannot be used.
    const bad = makeRootfs();
    try {
      rmSync(join(bad.path, "proc"), { recursive: true });
      writeFileSync(join(bad.path, "proc"), "not a directory");
      const r = bunker(["run", "--rootfs", bad.path, "--", "true"]);
      expect(r.code).toBe(125);
      expect(r.stderr).toBe("bunker: mount proc on /proc: Not a directory\n");
    } finally {
      bad.remove();
    }
  });

  test("128+9 when the container's process is killed", async () => {
    const { proc } = await startBackground("echo ready; exec sleep 1000");
    const [child] = childrenOf(proc.pid);
    expect(child).toBeGreaterThan(0);
    process.kill(child!, "SIGKILL");
    expect(await proc.exited).toBe(137);
  });
});

describe.skipIf(!ready)("signals", () => {
  test.each(["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGQUIT"] as const)("%s reaching bunker is forwarded to the container", async (sig) => {
    const name = sig.slice(3);
    const { proc, output } = await startBackground(`trap 'echo got-${name}; exit 7' ${name}; echo ready; while :; do sleep 0.05; done`);
    process.kill(proc.pid, sig);
    expect(await proc.exited).toBe(7);
    expect(await output).toContain(`got-${name}`);
  });

  test("SIGWINCH is forwarded", async () => {
    const { proc, output } = await startBackground("trap 'echo got-WINCH; exit 9' WINCH; echo ready; while :; do sleep 0.05; done");
    process.kill(proc.pid, "SIGWINCH");
    expect(await proc.exited).toBe(9);
    expect(await output).toContain("got-WINCH");
  });

  test.each([[[]], [["-u", "1000"]]])("when bunker is killed with SIGKILL the container dies with it %p", async (extra: string[]) => {
    // As another user: the kernel forgets the parent-death signal at each change of user, and it is asked for again.
    const { proc } = await startBackground("echo ready; exec sleep 1000", extra);
    const [child] = childrenOf(proc.pid);
    expect(child).toBeGreaterThan(0);
    const gone = () => !existsSync(`/proc/${child}`) || readFileSync(`/proc/${child}/stat`, "utf8").includes(") Z ");
    try {
      process.kill(proc.pid, "SIGKILL");
      await proc.exited;
      await until(gone, 5000, "the container process to die");
    } finally {
      if (!gone()) process.kill(child!, "SIGKILL");
    }
    // What the killed bunker had set up (cgroups, lease, veth) is undone by the next command, as a user would run one.
    expect(bunker(["ps", "-a"]).code).toBe(0);
  });
});

describe.skipIf(!ready)("bunker run without --rootfs", () => {
  test("sees the host's files read-only", () => {
    const probe = `/usr/bunker-ro-test-${process.pid}`;
    try {
      const r = bunker(["run", "--host-root", "--", "sh", "-c", `test -e /etc/os-release && echo host-etc; touch ${probe} 2>&1; echo rc=$?`]);
      expect(r.stdout).toContain("host-etc");
      expect(r.stdout).toContain("Read-only file system");
      expect(r.stdout).toContain("rc=1");
      expect(existsSync(probe)).toBe(false);
    } finally {
      rmSync(probe, { force: true });
    }
  });

  test("has a private /tmp and /run", () => {
    const hostFile = `/tmp/bunker-host-only-${process.pid}`;
    writeFileSync(hostFile, "x");
    try {
      const r = bunker(["run", "--host-root", "--", "sh", "-c", `test -e ${hostFile} && echo visible; echo box > /tmp/inside && cat /tmp/inside; ls -A /run | wc -l`]);
      expect(r.stdout).toBe("box\n0\n");
      expect(existsSync("/tmp/inside")).toBe(false);
    } finally {
      rmSync(hostFile);
    }
  });

  test("has its own /proc, /dev and hostname, and keeps the caller's working directory", () => {
    const dir = "/usr/share";
    const r = bunker(["run", "--host-root", "--hostname", "sandbox", "--", "sh", "-c", "echo $$; hostname; pwd; ls /dev | tr '\\n' ' '"], { cwd: dir });
    const [pid, name, cwd, dev] = r.stdout.split("\n");
    expect(pid).toBe("1");
    expect(name).toBe("sandbox");
    expect(cwd).toBe(dir);
    expect(dev!.trim().split(" ")).toEqual(["fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom", "zero"]);
  });

  test("a working directory hidden by the private /tmp falls back to / with a warning", () => {
    const dir = mkdtempSync("/tmp/bunker-cwd-");
    try {
      const r = bunker(["run", "--host-root", "--", "pwd"], { cwd: dir });
      expect(r.stdout).toBe("/\n");
      expect(r.stderr).toContain(`working directory ${dir} is under the sandbox's private /tmp: starting in /`);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  test("no host mount below /proc, /dev, /tmp or /run remains", () => {
    // Host mounts below /run and /tmp, where neither need be a mount point itself (then unmounting it would not take them along).
    const below = [`/run/bunker-test-below-${process.pid}`, `/tmp/bunker-test-below-${process.pid}`];
    try {
      for (const d of below) {
        mkdirSync(d);
        const m = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "bunker-test", d], { stderr: "pipe" });
        expect([d, m.exitCode, m.stderr.toString()]).toEqual([d, 0, ""]);
      }
      const r = bunker(["run", "--host-root", "--network", "none", "--", "cat", "/proc/self/mountinfo"]);
      expect(r.code).toBe(0);
      const points = parseMountinfo(r.stdout).map((l) => l.point);
      const replaced = points.filter((p) => /^\/(proc|dev|tmp|run|sys)(\/|$)/.test(p) && !p.startsWith("/sys/fs/cgroup"));
      const expected = ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/tmp", "/run", ...maskedHere(), ...readonlyHere()];
      expect(replaced.sort()).toEqual(expected.sort());
      expect(points.filter((p) => p === "/").length).toBe(1);
    } finally {
      for (const d of below) {
        Bun.spawnSync(["umount", d], { stderr: "ignore" });
        rmSync(d, { recursive: true, force: true });
      }
    }
  });
});

describe.skipIf(!ready)("command line", () => {
  test("unknown flags, a missing command and bad hostnames are 125 errors", () => {
    const cases: [string[], string][] = [
      [["run", "--host-root", "--bogus", "--", "true"], "bunker: run: unknown flag --bogus\n"],
      [["run"], "bunker: run: give an image, or --rootfs DIR or --host-root and a command: bunker run [OPTIONS] IMAGE [COMMAND [ARG...]]\n"],
      [["run", "--hostname", "", "true"], "bunker: invalid hostname: it is empty\n"],
      [["run", "--hostname", "x".repeat(65), "true"], `bunker: invalid hostname "${"x".repeat(65)}": 65 bytes, the kernel allows at most 64\n`],
      [["run", "--network", "bridge 0", "true"], 'bunker: unknown network mode "bridge 0": use one of private, none, host, bridge, slirp4netns, pasta, container:ID, ns:PATH or a network\'s name\n'],
      [["run", "--network", "bridge0", "--host-root", "--", "true"], "bunker: --network bridge0: no such network\n"],
      [["frobnicate"], 'bunker: unknown command "frobnicate": see bunker --help\n'],
    ];
    for (const [args, err] of cases) {
      const r = bunker(args);
      expect(r.stderr).toBe(err);
      expect(r.code).toBe(125);
    }
  });

  test("options stop at the command, so its own flags reach it", () => {
    const r = bunker(["run", "--rootfs", suite.fs.path, "sh", "-c", "echo $0 $1", "a", "--help"]);
    expect(r.stdout).toBe("a --help\n");
  });

  test("--version prints version, target and commit", () => {
    const r = bunker(["--version"]);
    expect(r.stdout).toMatch(new RegExp(`^bunker \\d+\\.\\d+\\.\\d+ \\(linux-${process.arch}, commit [0-9a-f]{7,}(-dirty)?\\)\\n$`));
  });
});
