// Container escapes found in runc, crun and docker over the years, one test
// per class, each run as root and rootless. Each would fail if the protection
// it names were removed.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { dlopen, FFIType as T, ptr } from "bun:ffi";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNKER, isRoot, requireBinary } from "../helpers/bunker";
import { busyboxAvailable, makeRootfs, type Rootfs, giveRootfs } from "../helpers/rootfs";
import { hostBunCopy } from "../helpers/hostbun";
import { guardLeaks } from "../helpers/suite";
import { SYSCALL_TABLE } from "../../src/sys/syscall-table";
import { createUser, publicBinary, removeUser, runAs, type TestUser } from "../helpers/users";

const ready = isRoot && busyboxAvailable() && existsSync("/usr/bin/newuidmap") && existsSync("/usr/bin/setpriv");
if (!ready) console.warn("skipping the escape suite: it needs root (to make a test user), busybox-static, uidmap and setpriv");

interface Mode {
  name: string;
  run(args: string[]): { code: number; stdout: string; stderr: string };
  /** Runs any command as this mode's user, in the directory bunker is run from. */
  runCommand(cmd: string[]): { code: number; stdout: string; stderr: string };
  fs: Rootfs;
}

let user: TestUser;
let bin: { path: string; dir: string };
// Outside /tmp, which a run without --rootfs replaces with its own: a copy of
// Bun that containers with the host's view can run.
let hostDir: string;
let hostBun: string;
const modes: Mode[] = [];

// Before the file's own hooks: its snapshot comes first, its check before the users and files go.
const guard = guardLeaks(ready);

beforeAll(() => {
  if (!ready) return;
  requireBinary();
  user = createUser("bunker-ci-escape", true);
  bin = publicBinary(BUNKER);
  ({ dir: hostDir, bun: hostBun } = hostBunCopy("bunker-escape"));
  const rootFs = makeRootfs();
  const userFs = makeRootfs();
  giveRootfs(userFs, user);
  const root = { ...user, uid: 0, gid: 0 };
  modes.push(
    { name: "root", fs: rootFs, run: (args) => runAs(root, [bin.path, ...args], {}, bin.dir), runCommand: (cmd) => runAs(root, cmd, {}, bin.dir) },
    { name: "rootless", fs: userFs, run: (args) => runAs(user, [bin.path, ...args], {}, bin.dir), runCommand: (cmd) => runAs(user, cmd, {}, bin.dir) },
  );
});

afterAll(async () => {
  if (!ready) return;
  await guard.check(() => {
    for (const m of modes) m.fs.remove();
    rmSync(bin.dir, { recursive: true, force: true });
    rmSync(hostDir, { recursive: true, force: true });
    removeUser(user);
  });
});

const each = (name: string, fn: (m: Mode) => void | Promise<void>) => {
  for (const mode of ["root", "rootless"]) {
    test.skipIf(!ready)(`${name} (${mode})`, () => fn(modes.find((m) => m.name === mode)!));
  }
};

const sh = (m: Mode, cmd: string, args: string[] = []) => m.run(["run", "--rm", ...args, "--rootfs", m.fs.path, "--", "sh", "-c", cmd]);

describe("escapes", () => {
  // CVE-2019-5736 (runc): a process in the container opened /proc/PID/exe of
  // the runtime as it entered the container and overwrote the runtime binary on
  // the host. Here every process that is still a copy of bunker (the child
  // before execve, the --init PID 1, exec's helper) is made non-dumpable.
  each("the runtime's executable cannot be reached through /proc/PID/exe", (m) => {
    const r = sh(m, "readlink /proc/1/exe || echo no-link; cat /proc/1/exe > /dev/null 2>&1 || echo no-read", ["--init"]);
    expect(r.stdout).toBe("no-link\nno-read\n");
  });

  // CVE-2024-21626 (runc "Leaky Vessels"): a descriptor of the host's cgroup
  // directory leaked into the container and, used as the working directory
  // through /proc/self/fd/N, opened the host filesystem. Here the container
  // starts with fds 0-2 only, and in its own root.
  each("no host descriptor leaks into the container, and its working directory is its own", (m) => {
    // PID 1 is the shell; ls and readlink are its children, no pipe is open.
    const r = sh(m, "ls /proc/1/fd; readlink /proc/1/cwd; true");
    expect(r.stdout).toBe("0\n1\n2\n/\n");
  });

  // CVE-2021-30465 (runc) and the older symlinked-volume escapes: a mount
  // target that is a symlink out of the rootfs made the runtime mount onto a
  // host path. Here mounts happen after pivot_root, with the host detached.
  each("a volume target that is a symlink out of the rootfs stays inside", (m) => {
    const src = join(m.fs.path, "..", "volsrc");
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "marker"), "x");
    Bun.spawnSync(["chown", "-R", `${m.name === "root" ? 0 : user.uid}`, src]);
    rmSync(join(m.fs.path, "escape"), { force: true });
    symlinkSync("../../../../../../../etc/bunker-escape-target", join(m.fs.path, "escape"));
    mkdirSync(join(m.fs.path, "etc/bunker-escape-target"), { recursive: true });
    const mounts = readFileSync("/proc/self/mountinfo", "utf8");
    const r = m.run(["run", "--rm", "-v", `${src}:/escape`, "--rootfs", m.fs.path, "--", "ls", "/etc/bunker-escape-target"]);
    expect(r.stdout).toBe("marker\n");
    expect(existsSync("/etc/bunker-escape-target")).toBe(false);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).toBe(mounts);
    rmSync(join(m.fs.path, "escape"));
  });

  // CVE-2019-16884 / CVE-2019-19921 (runc): a malicious image's /proc was a
  // symlink, so the runtime mounted procfs (or wrote to proc files) somewhere
  // it did not mean to. /dev and /sys are the same trap. Here every mount point
  // resolves inside the container, after pivot_root: the host sees no mount.
  for (const [dir, target] of [["proc", "/"], ["dev", "/etc"], ["sys", "../../../../.."]] as const) {
    each(`a rootfs whose /${dir} is a symlink to ${target} cannot redirect a mount onto the host`, (m) => {
      const bad = makeRootfs();
      try {
        rmSync(join(bad.path, dir), { recursive: true });
        symlinkSync(target, join(bad.path, dir));
        if (m.name === "rootless") giveRootfs(bad, user);
        const mounts = readFileSync("/proc/self/mountinfo", "utf8");
        m.run(["run", "--rm", "--rootfs", bad.path, "--", "true"]);
        expect(readFileSync("/proc/self/mountinfo", "utf8")).toBe(mounts);
      } finally {
        bad.remove();
      }
    });
  }

  // Kernel information leaks (kcore, keys, timer_list, ...) and knobs (sysrq,
  // /proc/sys): the OCI masked and read-only paths.
  each("masked paths are empty, /proc/sys and sysrq-trigger cannot be written", (m) => {
    const r = sh(m, "cat /proc/keys /proc/timer_list 2>/dev/null | wc -c; ls -A /sys/firmware | wc -l; (echo 1 > /proc/sys/kernel/hostname) 2>/dev/null || echo sys-ro; (echo h > /proc/sysrq-trigger) 2>/dev/null || echo sysrq-refused");
    expect(r.stdout).toBe("0\n0\nsys-ro\nsysrq-refused\n");
  });

  // Namespace and mount escapes by system call: unshare, setns and mount to
  // undo the isolation (refused by the filter and by the missing CAP_SYS_ADMIN).
  each("unshare, nsenter and mount are refused", (m) => {
    const r = sh(m, "unshare -m true 2>/dev/null || echo unshare-refused; nsenter -t 1 -m true 2>/dev/null || echo setns-refused; mount -t tmpfs t /mnt 2>/dev/null || echo mount-refused");
    expect(r.stdout).toBe("unshare-refused\nsetns-refused\nmount-refused\n");
  });

  // The kernel attack surface behind many escapes (keyring bugs such as
  // CVE-2016-0728, eBPF verifier bugs, ptrace of a process entering the
  // container, nested user namespaces reaching unprivileged-root code): the
  // default filter answers EPERM before the kernel looks at the arguments. The
  // same calls with seccomp=unconfined get the kernel's own answers, so it is
  // the filter that refuses. Bun calls them raw, with the host's view
  // (no --rootfs) so that its libc is there.
  each("keyctl, add_key, bpf, ptrace and user-namespace unshare are refused by the filter itself", (m) => {
    const nr = (name: string) => SYSCALL_TABLE[name]![process.arch === "arm64" ? 1 : 0];
    const probe = `
      const { dlopen, FFIType: T, read } = require("bun:ffi");
      const c = dlopen("libc.so.6", { syscall: { args: [T.i64, T.i64, T.i64, T.i64], returns: T.i64 }, __errno_location: { args: [], returns: T.ptr } }).symbols;
      const calls = { keyctl: [${nr("keyctl")}, 0, 0], add_key: [${nr("add_key")}, 0, 0], bpf: [${nr("bpf")}, 0, 0], ptrace: [${nr("ptrace")}, 16, 999999], unshare: [${nr("unshare")}, 0x10000000, 0] };
      const out = [];
      for (const [name, [nr, a, b]] of Object.entries(calls)) {
        const r = Number(c.syscall(nr, a, b, 0));
        out.push(name + "=" + (r < 0 ? read.i32(c.__errno_location(), 0) : "ok"));
      }
      console.log(out.join(" "));`;
    const bun = (args: string[]) => m.run(["run", "--rm", ...args, "--", hostBun, "-e", probe]);
    const confined = bun([]);
    expect(confined.stdout).toBe("keyctl=1 add_key=1 bpf=1 ptrace=1 unshare=1\n");
    // EINVAL or EFAULT for the bad arguments, ESRCH, success: each reached the kernel.
    const open = bun(["--security-opt", "seccomp=unconfined"]).stdout;
    expect(open).toMatch(/^keyctl=\d+ add_key=\d+ bpf=\d+ ptrace=3 unshare=ok\n$/);
    expect(open).not.toMatch(/=1\b/);
  });

  // Privilege regained through a setuid-root binary in the image after the
  // runtime dropped to a user (or dropped capabilities): no_new_privs makes
  // execve ignore the setuid bit. Bun, copied and made setuid, reports what it
  // got; it runs with the host's view (no --rootfs), owned by the container's
  // root in either mode.
  each("a setuid-root binary cannot regain root or capabilities", (m) => {
    const suid = join(hostDir, "bun-suid");
    try {
      copyFileSync(hostBun, suid);
      if (m.name === "rootless") chownSync(suid, user.uid, user.gid);
      chmodSync(suid, 0o4755);
      const probe = `const s = require("fs").readFileSync("/proc/self/status", "utf8"); console.log(process.geteuid(), /CapEff:\\s*(\\w+)/.exec(s)[1])`;
      const report = (args: string[]) => m.run(["run", "--rm", "-u", "1000", ...args, "--", suid, "-e", probe]).stdout;
      expect(report([])).toBe("1000 0000000000000000\n");
      // The check works: without no_new_privs the setuid bit does take effect.
      expect(report(["--security-opt", "no-new-privileges=false"])).toMatch(/^0 0*[1-9a-f][0-9a-f]*\n$/);
    } finally {
      rmSync(suid, { force: true });
    }
  });

  // The same with file capabilities (security.capability, CAP_NET_BIND_SERVICE)
  // instead of the setuid bit. Root only: a rootless user namespace honours
  // only capabilities written inside it.
  test.skipIf(!ready)("a file-capability binary cannot give back a dropped capability (root)", () => {
    const m = modes.find((x) => x.name === "root")!;
    const box = join(m.fs.path, "bin/busyboxcap");
    copyFileSync("/bin/busybox", box);
    chmodSync(box, 0o755);
    // VFS_CAP_REVISION_2 with CAP_NET_BIND_SERVICE (bit 10) permitted, effective bit set.
    const cap = new Uint32Array([0x02000001, 1 << 10, 0, 0, 0]);
    const libc = dlopen("libc.so.6", { setxattr: { args: [T.cstring, T.cstring, T.ptr, T.u64, T.i32], returns: T.i32 } });
    try {
      const path = Buffer.from(`${box}\0`);
      const name = Buffer.from("security.capability\0");
      expect(libc.symbols.setxattr(ptr(path), ptr(name), ptr(cap), cap.byteLength, 0)).toBe(0);
    } finally {
      libc.close();
    }
    const eff = (args: string[]) => m.run(["run", "--rm", "-u", "1000", ...args, "--rootfs", m.fs.path, "--", "/bin/busyboxcap", "grep", "CapEff", "/proc/self/status"]).stdout;
    expect(eff([])).toBe("CapEff:\t0000000000000000\n");
    // The check works: without no_new_privs the file capability does take effect.
    expect(eff(["--security-opt", "no-new-privileges=false"])).toBe("CapEff:\t0000000000000400\n");
    rmSync(box);
  });

  // Device nodes: a container that can make /dev/sda reads the host's disk.
  each("block and character device nodes cannot be made", (m) => {
    const r = sh(m, "mknod /tmp/sda b 8 0 2>/dev/null || echo block-refused; mknod /tmp/mem c 1 1 2>/dev/null || echo char-refused; mknod /tmp/fifo p && echo fifo-ok");
    expect(r.stdout).toBe("block-refused\nchar-refused\nfifo-ok\n");
  });

  // Terminal input injection (CVE-2017-5226 in bubblewrap, CVE-2016-9016 and
  // friends in other sandboxes): a process that shares the caller's session
  // can push characters into the caller's terminal with TIOCSTI, and the shell
  // runs them on the host once the container exits. The container gets a
  // session of its own, without a controlling terminal, for run, run --init
  // and exec; the caller's terminal stays its stdin (isatty=1), but TIOCSTI on
  // it is refused. bunker runs under script(1), so it has a real terminal.
  const TIOCSTI_PROBE = `
    const { dlopen, FFIType: T, read, ptr } = require("bun:ffi");
    const c = dlopen("libc.so.6", { ioctl: { args: [T.i32, T.u64, T.ptr], returns: T.i32 }, isatty: { args: [T.i32], returns: T.i32 }, __errno_location: { args: [], returns: T.ptr } }).symbols;
    const stat = require("fs").readFileSync("/proc/self/stat", "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const r = c.ioctl(0, 0x5412, ptr(new Uint8Array([0x23])));
    console.log("isatty=" + c.isatty(0) + " session=" + (f[3] === "0" ? "caller" : "own") + " tty=" + f[4] + " sti=" + (r < 0 ? read.i32(c.__errno_location(), 0) : 0));`;
  const underTerminal = (m: Mode, args: string[]) => {
    const quoted = [bin.path, ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
    return m.runCommand(["script", "-qec", quoted, "/dev/null"]).stdout.replaceAll("\r", "");
  };
  each("run and run --init: the container has a session of its own and cannot type into the caller's terminal", (m) => {
    for (const extra of [[], ["--init"], ["--security-opt", "seccomp=unconfined"]]) {
      const out = underTerminal(m, ["run", "--rm", "--network", "none", "-w", "/", ...extra, "--", hostBun, "-e", TIOCSTI_PROBE]);
      // EPERM from the terminal layer (not the caller's session, no CAP_SYS_ADMIN), with or without the filter.
      expect([extra, out]).toEqual([extra, "isatty=1 session=own tty=0 sti=1\n"]);
    }
  });
  each("exec: the command has a session of its own and cannot type into the caller's terminal", (m) => {
    const id = m.run(["run", "-d", "--network", "none", "--", "sleep", "1000"]).stdout.trim();
    try {
      expect(id).toMatch(/^[0-9a-f]{12}$/);
      const out = underTerminal(m, ["exec", id, hostBun, "-e", TIOCSTI_PROBE]);
      expect(out).toBe("isatty=1 session=own tty=0 sti=1\n");
    } finally {
      m.run(["rm", "-f", id]);
    }
  });

  // TIOCSTI and TIOCLINUX are refused by the default filter, as in docker's
  // profile: on a terminal the container made and owns (its controlling
  // terminal), where the kernel would allow TIOCSTI, the filter answers EPERM;
  // unconfined, the kernel's own answers come back (TIOCSTI works, or EIO where
  // dev.tty.legacy_tiocsti=0; TIOCLINUX is ENOTTY on a pseudo-terminal).
  each("the default filter refuses TIOCSTI and TIOCLINUX even on the container's own terminal", (m) => {
    const probe = `
      const { dlopen, FFIType: T, read, ptr } = require("bun:ffi");
      const c = dlopen("libc.so.6", { open: { args: [T.cstring, T.i32], returns: T.i32 }, ioctl: { args: [T.i32, T.u64, T.ptr], returns: T.i32 }, setsid: { args: [], returns: T.i32 }, __errno_location: { args: [], returns: T.ptr } }).symbols;
      const res = (r) => (r < 0 ? read.i32(c.__errno_location(), 0) : 0);
      c.setsid();
      const master = c.open(Buffer.from("/dev/ptmx\\0"), 0x102);
      c.ioctl(master, 0x40045431, ptr(new Int32Array([0])));
      const peer = c.ioctl(master, 0x5441, 0x102);
      const ctty = res(c.ioctl(peer, 0x540e, null));
      const sti = res(c.ioctl(peer, 0x5412, ptr(new Uint8Array([0x23]))));
      const linux = res(c.ioctl(peer, 0x541c, ptr(new Uint8Array([6]))));
      console.log("ctty=" + ctty + " sti=" + sti + " linux=" + linux);`;
    const run = (args: string[]) => m.run(["run", "--rm", "--network", "none", ...args, "--", hostBun, "-e", probe]).stdout;
    expect(run([])).toBe("ctty=0 sti=1 linux=1\n");
    expect(run(["--security-opt", "seccomp=unconfined"])).toMatch(/^ctty=0 sti=(0|5) linux=25\n$/);
  });

  // Rootless: writing to host files the caller does not own, through a volume.
  test.skipIf(!ready)("rootless: a rw volume of a host directory still cannot change files the caller does not own", () => {
    const m = modes.find((x) => x.name === "rootless")!;
    const shadow = readFileSync("/etc/shadow", "utf8");
    const r = m.run(["run", "--rm", "-v", "/etc:/hostetc:rw", "--rootfs", m.fs.path, "--", "sh", "-c", "echo x >> /hostetc/shadow 2>/dev/null || echo refused; touch /hostetc/bunker-escape 2>/dev/null || echo refused"]);
    expect(r.stdout).toBe("refused\nrefused\n");
    expect(readFileSync("/etc/shadow", "utf8")).toBe(shadow);
    expect(existsSync("/etc/bunker-escape")).toBe(false);
  });
});
