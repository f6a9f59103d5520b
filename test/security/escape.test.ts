// Container escapes found in runc, crun and docker over the years, one test
// per class, each run as root and rootless. Each would fail if the protection
// it names were removed.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { dlopen, FFIType as T, ptr } from "bun:ffi";
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNKER, isRoot, NATIVE_INIT_READY, onHostRoot, requireBinary } from "../helpers/bunker";
import { busyboxAvailable, makeRootfs, type Rootfs, giveRootfs } from "../helpers/rootfs";
import { hostBunCopy } from "../helpers/hostbun";
import { guardLeaks } from "../helpers/suite";
import { SYSCALL_TABLE } from "../../src/sys/syscall-table";
import { createUser, publicBinary, removeUser, runAs, type TestUser } from "../helpers/users";
import { parseMountinfo, rootMount } from "../helpers/mountinfo";
import { OCI_MASKED_PATHS, OCI_READONLY_PATHS } from "../helpers/oci";
import { kernelBelow } from "../helpers/kernel";

// Before Linux 6.5, a kernel with unprivileged BPF off refuses bpf(2) with EPERM before it reads the
// arguments: there an unconfined run cannot tell the filter's refusal of bpf from the kernel's own.
const bpfRefusedFirst =
  (existsSync("/proc/sys/kernel/unprivileged_bpf_disabled") ? readFileSync("/proc/sys/kernel/unprivileged_bpf_disabled", "utf8").trim() !== "0" : false) &&
  kernelBelow("6.5", "the unconfined control of bpf in the kernel-surface test (kernel.unprivileged_bpf_disabled is on)");

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

/** Each test twice, root and rootless; `skip` (a printed reason) leaves both out. */
const each = (name: string, fn: (m: Mode) => void | Promise<void>, skip?: string) => {
  if (ready && skip) console.warn(`skipping "${name}": ${skip}`);
  for (const mode of ["root", "rootless"]) {
    test.skipIf(!ready || skip !== undefined)(`${name} (${mode})`, () => fn(modes.find((m) => m.name === mode)!));
  }
};

// The x86_64-only escapes: i386's entry needs the kernel's i386 emulation (its sysctl is there with it).
const x86Skip = process.arch !== "x64" ? `an x86_64 check (this is ${process.arch})` : undefined;
const i386Skip = x86Skip ?? (existsSync("/proc/sys/abi/vsyscall32") ? undefined : "this kernel has no i386 emulation");

const sh = (m: Mode, cmd: string, args: string[] = []) => m.run(["run", "--rm", ...args, "--rootfs", m.fs.path, "--", "sh", "-c", cmd]);

/**
 * The mount table of a container started detached in this mode, read from
 * the host through its process: it shows where mounts went even when the
 * container's own /proc is not where it should be.
 */
function containerTable(m: Mode, args: string[]) {
  const r = m.run(["run", "-d", "--network", "none", ...onHostRoot(args), "--", "sleep", "1000"]);
  expect([r.code, r.stderr]).toEqual([0, ""]);
  const id = r.stdout.trim();
  try {
    const pid = JSON.parse(m.run(["inspect", id]).stdout)[0].pid as number;
    return parseMountinfo(readFileSync(`/proc/${pid}/mountinfo`, "utf8"));
  } finally {
    m.run(["rm", "-f", id]);
  }
}

describe("escapes", () => {
  // CVE-2019-5736 (runc): a process in the container opened /proc/PID/exe of
  // the runtime as it entered the container and overwrote the runtime binary on
  // the host. Here every process that is still a copy of bunker (the child
  // before execve, exec's helper, the --init PID 1 where it cannot become
  // native/init.c) is made non-dumpable; the native init is a sealed memory
  // file of its own, which the container may read but not change.
  each("the runtime's executable cannot be reached through /proc/PID/exe", (m) => {
    const probe = "readlink /proc/1/exe || echo no-link; wc -c < /proc/1/exe || echo no-read; (echo x >> /proc/1/exe) 2>/dev/null || echo no-write";
    // init execs its program just after the command has started: until then it is the copy.
    const r = sh(m, `${NATIVE_INIT_READY}; ${probe}`, ["--init"]);
    // A few kilobytes: not the bunker executable (tens of megabytes).
    expect(r.stdout).toMatch(/^\/memfd:bunker-init \(deleted\)\n\d{3,5}\nno-write\n$/);
    const copy = m.runCommand(["env", "BUNKER_NATIVE=compile", bin.path, "run", "--rm", "--init", "--rootfs", m.fs.path, "--", "sh", "-c", probe]);
    expect(copy.stdout).toBe("no-link\nno-read\nno-write\n");
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
    expect([r.code, r.stdout]).toEqual([0, "marker\n"]);
    expect(existsSync("/etc/bunker-escape-target")).toBe(false);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).toBe(mounts);
    rmSync(join(m.fs.path, "escape"));
  });

  // CVE-2019-16884 / CVE-2019-19921 (runc): a malicious image's /proc was a
  // symlink, so the runtime mounted procfs (or wrote to proc files) somewhere
  // it did not mean to. /dev and /sys are the same trap. Here every mount point
  // resolves inside the container, after pivot_root: the host sees no mount,
  // the container starts, and its table (read from the host) has each of its
  // own filesystems once, where the link leads inside it, and nothing else at
  // those places. A mount made through the rootfs's path before pivot_root
  // would stay in the host's tree or add a mount to the container's.
  const LINKED: [string, string, string[]][] = [
    // proc lies over the root, where /proc leads; sysfs on /sys, and, through the read-only /proc/sys, once more.
    ["proc", "/", ["/ proc", "/dev tmpfs", "/dev/pts devpts", "/sys sysfs", "/sys sysfs"]],
    ["dev", "/etc", ["/etc tmpfs", "/etc/pts devpts", "/proc proc", "/sys sysfs"]],
    ["sys", "../../../../..", ["/ sysfs", "/dev tmpfs", "/dev/pts devpts", "/proc proc"]],
  ];
  for (const [dir, target, places] of LINKED) {
    each(`a rootfs whose /${dir} is a symlink to ${target} cannot redirect a mount onto the host`, (m) => {
      const bad = makeRootfs();
      try {
        rmSync(join(bad.path, dir), { recursive: true });
        symlinkSync(target, join(bad.path, dir));
        if (m.name === "rootless") giveRootfs(bad, user);
        const mounts = readFileSync("/proc/self/mountinfo", "utf8");
        const r = m.run(["run", "--rm", "--network", "none", "--rootfs", bad.path, "--", "true"]);
        expect([r.code, r.stderr]).toEqual([0, ""]);
        const table = containerTable(m, ["--rootfs", bad.path]);
        const root = rootMount(table);
        expect(root?.root).toBe(bad.path);
        const own = table.filter((l) => l !== root).filter((l) => ["/", "/proc", "/dev", "/sys", "/etc", "/dev/pts", "/etc/pts"].includes(l.point)).map((l) => `${l.point} ${l.fstype}`);
        expect(own.sort()).toEqual(places);
        expect(readFileSync("/proc/self/mountinfo", "utf8")).toBe(mounts);
      } finally {
        bad.remove();
      }
    });
  }

  // Kernel information leaks (kcore, keys, timer_list, ...) and knobs (sysrq,
  // /proc/sys): the OCI masked and read-only paths.
  each("masked paths are empty, /proc/sys and sysrq-trigger cannot be written", (m) => {
    const r = sh(m, "cat /proc/keys /proc/timer_list 2>/dev/null | wc -c; ls -A /sys/firmware | wc -l; (echo 1 > /proc/sys/kernel/hostname) 2>/dev/null || echo sys-ro; (echo h > /proc/sysrq-trigger) 2>/dev/null || echo sysrq-refused; echo ---; cat /proc/self/mountinfo");
    const [effects, table] = r.stdout.split("---\n");
    expect(effects).toBe("0\n0\nsys-ro\nsysrq-refused\n");
    // An empty file or directory and a refused write may be the kernel's own answer (no keys, no
    // firmware, no permission): the mounts say whether they are masked and read-only. The
    // container's /proc and /sys are of this kernel: what the host has, it has.
    const lines = parseMountinfo(table!);
    for (const p of OCI_MASKED_PATHS.filter((x) => existsSync(x))) {
      const mask = lines.find((l) => l.point === p);
      expect([p, mask && (mask.root === "/null" ? "a file mask" : mask.fstype === "tmpfs" && mask.flags.includes("ro") ? "a directory mask" : "something else")]).toEqual([p, lstatSync(p).isDirectory() ? "a directory mask" : "a file mask"]);
    }
    for (const p of OCI_READONLY_PATHS.filter((x) => existsSync(x))) expect([p, lines.find((l) => l.point === p)?.flags.includes("ro")]).toEqual([p, true]);
  });

  // Namespace and mount escapes by system call: unshare, setns and mount to
  // undo the isolation (refused by the filter and by the missing CAP_SYS_ADMIN).
  each("unshare, nsenter and mount are refused", (m) => {
    const r = sh(m, "unshare -m true 2>/dev/null || echo unshare-refused; nsenter -t 1 -m true 2>/dev/null || echo setns-refused; mount -t tmpfs t /mnt 2>/dev/null || echo mount-refused");
    expect(r.stdout).toBe("unshare-refused\nsetns-refused\nmount-refused\n");
  });

  // The kernel attack surface behind many escapes (keyring bugs such as
  // CVE-2016-0728, eBPF verifier bugs, ptrace of a process entering the
  // container, nested user namespaces reaching unprivileged-root code, new
  // mounts and namespaces, vsock to the host): the default filter answers
  // EPERM before the kernel looks at the arguments. The same calls with
  // seccomp=unconfined get the kernel's own answers (a mount on a path that
  // does not exist, a setns on no descriptor, a clone with flags that do not
  // go together: each an error other than EPERM), so it is the filter that
  // refuses, not a missing capability. Bun calls them raw, with the host's
  // view (no --rootfs) so that its libc is there.
  each("keyctl, add_key, bpf, ptrace, mount, setns, vsock and namespace-making unshare and clone are refused by the filter itself", (m) => {
    const nr = (name: string) => SYSCALL_TABLE[name]![process.arch === "arm64" ? 1 : 0];
    const probe = `
      const { dlopen, FFIType: T, read, ptr } = require("bun:ffi");
      const c = dlopen("libc.so.6", { syscall: { args: [T.i64, T.i64, T.i64, T.i64, T.i64, T.i64], returns: T.i64 }, __errno_location: { args: [], returns: T.ptr } }).symbols;
      const str = (s) => ptr(Buffer.from(s + "\\0"));
      const calls = {
        keyctl: [${nr("keyctl")}, 0, 0], add_key: [${nr("add_key")}, 0, 0], bpf: [${nr("bpf")}, 0, 0], ptrace: [${nr("ptrace")}, 16, 999999],
        unshare: [${nr("unshare")}, 0x10000000, 0],
        mount: [${nr("mount")}, str("none"), str("/no/such/dir"), str("tmpfs"), 0, 0],
        setns: [${nr("setns")}, -1, 0],
        // CLONE_NEWUSER with CLONE_FS: refused by the kernel as a pair, after the filter has looked.
        clone: [${nr("clone")}, 0x10000200, 0, 0, 0, 0],
        vsock: [${nr("socket")}, 40, 1, 0],
      };
      const out = [];
      for (const [name, [nr, ...args]] of Object.entries(calls)) {
        const a = [...args, 0, 0, 0, 0, 0, 0].slice(0, 5);
        const r = Number(c.syscall(nr, ...a));
        out.push(name + "=" + (r < 0 ? read.i32(c.__errno_location(), 0) : "ok"));
      }
      console.log(out.join(" "));`;
    const bun = (args: string[]) => m.run(["run", "--rm", ...onHostRoot(args), "--", hostBun, "-e", probe]);
    const confined = bun([]);
    expect(confined.stdout).toBe("keyctl=1 add_key=1 bpf=1 ptrace=1 unshare=1 mount=1 setns=1 clone=1 vsock=1\n");
    // EINVAL or EFAULT for the bad arguments, ESRCH, ENOENT, EBADF, success: each reached the kernel.
    const open = bun(["--security-opt", "seccomp=unconfined"]).stdout;
    expect(open).toMatch(/^keyctl=\d+ add_key=\d+ bpf=\d+ ptrace=3 unshare=ok mount=2 setns=9 clone=22 vsock=(ok|\d+)\n$/);
    expect(bpfRefusedFirst ? open.replace(/\bbpf=1\b/, "bpf=unknown") : open).not.toMatch(/=1\b/);
  });

  // A system call made through another architecture's entry (i386's int 0x80 on
  // x86_64) has other numbers: i386's ptrace (26) is x86_64's msync, which the
  // filter allows. The filter refuses every call that is not of the container's
  // architecture first. The probe is compiled in the container by Bun's TinyCC.
  each("a system call through another architecture's entry (i386) is refused by the filter", (m) => {
    const src = join(hostDir, "i386.c");
    writeFileSync(src, 'long i386_call(long nr, long a, long b) { long r; __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b) : "memory"); return r; }\n');
    chmodSync(src, 0o644);
    const probe = `
      const { cc } = require("bun:ffi");
      const lib = cc({ source: ${JSON.stringify(src)}, flags: ["-nostdlib"], symbols: { i386_call: { args: ["i64", "i64", "i64"], returns: "i64" } } });
      console.log("i386-ptrace=" + -Number(lib.symbols.i386_call(26, 16, 999999)));`;
    const bun = (args: string[]) => m.run(["run", "--rm", "--network", "none", "-w", "/", ...onHostRoot(args), "--", hostBun, "-e", probe]);
    const open = bun(["--security-opt", "seccomp=unconfined"]);
    expect(open.stdout).toBe("i386-ptrace=3\n");
    expect(bun([]).stdout).toBe("i386-ptrace=1\n");
  }, i386Skip);

  // x32 system calls (the x86_64 entry with bit 30 set) are another way around
  // a filter written for x86_64 numbers: refused too, even under a profile
  // whose default is to allow.
  each("an x32 system call is refused, even under a profile that allows everything else", (m) => {
    const profile = join(hostDir, "allow-all.json");
    writeFileSync(profile, JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO", errnoRet: 13 }] }));
    chmodSync(profile, 0o644);
    const probe = `
      const { dlopen, FFIType: T, read } = require("bun:ffi");
      const c = dlopen("libc.so.6", { syscall: { args: [T.i64], returns: T.i64 }, __errno_location: { args: [], returns: T.ptr } }).symbols;
      const r = Number(c.syscall(${0x40000000 + 39}));
      console.log("x32-getpid=" + (r < 0 ? read.i32(c.__errno_location(), 0) : "ok"));`;
    const bun = (args: string[]) => m.run(["run", "--rm", "--network", "none", "-w", "/", ...onHostRoot(args), "--", hostBun, "-e", probe]);
    // The kernel's own answer: ENOSYS where x32 is off, else the pid.
    expect(bun(["--security-opt", "seccomp=unconfined"]).stdout).toMatch(/^x32-getpid=(38|ok)\n$/);
    expect(bun(["--security-opt", `seccomp=${profile}`]).stdout).toBe("x32-getpid=1\n");
  }, x86Skip);

  // The rootfs's /etc/passwd is read by bunker on the host (for --user); an
  // absolute symlink there must lead into the rootfs, never to the host's file.
  each("a rootfs's /etc/passwd that is an absolute symlink is read inside the rootfs, not on the host", (m) => {
    const name = `bunker-passwd-${process.pid}`;
    const bad = makeRootfs();
    try {
      writeFileSync(`/tmp/${name}`, "someone:x:4321:4321::/:/bin/sh\n");
      chmodSync(`/tmp/${name}`, 0o644);
      writeFileSync(join(bad.path, "tmp", name), "someone:x:1234:1234::/:/bin/sh\n");
      rmSync(join(bad.path, "etc/passwd"));
      symlinkSync(`/tmp/${name}`, join(bad.path, "etc/passwd"));
      if (m.name === "rootless") giveRootfs(bad, user);
      const r = m.run(["run", "--rm", "--network", "none", "-u", "someone", "--rootfs", bad.path, "--", "id", "-u"]);
      expect([r.code, r.stdout, r.stderr]).toEqual([0, "1234\n", ""]);
    } finally {
      bad.remove();
      rmSync(`/tmp/${name}`, { force: true });
    }
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
      const report = (args: string[]) => m.run(["run", "--rm", "-u", "1000", ...onHostRoot(args), "--", suid, "-e", probe]).stdout;
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
      // -i: the caller's terminal is its stdin (without -i it would be /dev/null, and the attempt moot).
      const out = underTerminal(m, ["run", "--rm", "-i", "--network", "none", "-w", "/", ...onHostRoot(extra), "--", hostBun, "-e", TIOCSTI_PROBE]);
      // EPERM from the terminal layer (not the caller's session, no CAP_SYS_ADMIN), with or without the filter.
      expect([extra, out]).toEqual([extra, "isatty=1 session=own tty=0 sti=1\n"]);
    }
  });
  each("exec: the command has a session of its own and cannot type into the caller's terminal", (m) => {
    const id = m.run(["run", "--host-root", "-d", "--network", "none", "--", "sleep", "1000"]).stdout.trim();
    try {
      expect(id).toMatch(/^[0-9a-f]{12}$/);
      // -i: the caller's terminal is its stdin (without -i it would be /dev/null, and the attempt moot).
      const out = underTerminal(m, ["exec", "-i", id, hostBun, "-e", TIOCSTI_PROBE]);
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
    const run = (args: string[]) => m.run(["run", "--rm", "--network", "none", ...onHostRoot(args), "--", hostBun, "-e", probe]).stdout;
    expect(run([])).toBe("ctty=0 sti=1 linux=1\n");
    expect(run(["--security-opt", "seccomp=unconfined"])).toMatch(/^ctty=0 sti=(0|5) linux=25\n$/);
  });

  // Rootless without XDG_RUNTIME_DIR, the state lives in /tmp/bunker-UID, a name any user can take
  // first in the shared /tmp: a directory there that is another user's, or a symlink (even to a
  // directory of the caller's), is refused, never used.
  test.skipIf(!ready)("rootless: a state directory another user made first in /tmp is refused, not used", () => {
    const m = modes.find((x) => x.name === "rootless")!;
    const path = `/tmp/bunker-${user.uid}`;
    const aside = `${path}.aside-${process.pid}`;
    const decoy = mkdtempSync("/tmp/bunker-decoy-");
    chownSync(decoy, user.uid, user.gid);
    // The user's own directory, from the tests before, waits aside.
    const had = existsSync(path);
    if (had) renameSync(path, aside);
    try {
      const planted: [string, () => void, string][] = [
        ["another user's directory", () => { mkdirSync(path); chmodSync(path, 0o755); }, `${path} belongs to uid 0, not ${user.uid}`],
        ["a symlink", () => symlinkSync(decoy, path), `${path} is not a directory`],
      ];
      for (const [what, plant, why] of planted) {
        plant();
        const r = m.run(["run", "--rm", "--network", "none", "--rootfs", m.fs.path, "--", "true"]);
        expect([what, r.code, r.stderr]).toEqual([what, 125, `bunker: state directory ${path}: ${why}\n`]);
        rmSync(path, { recursive: true, force: true });
      }
      expect(readdirSync(decoy)).toEqual([]);
    } finally {
      rmSync(path, { recursive: true, force: true });
      if (had) renameSync(aside, path);
      rmSync(decoy, { recursive: true, force: true });
    }
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
