// Capabilities, no_new_privs, masked and read-only paths, --read-only, --ulimit.

import { describe, expect, test } from "bun:test";
import { existsSync, lstatSync, readFileSync, writeFileSync } from "node:fs";
import { bunker, isRoot } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";
import { parseMountinfo } from "../helpers/mountinfo";
import { OCI_MASKED_PATHS, OCI_READONLY_PATHS } from "../helpers/oci";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn(`skipping security tests: ${isRoot ? "busybox-static is not installed" : "they need root"}`);
const suite = containerSuite(ready);

const status = (args: string[], user?: string) => {
  const r = bunker(["run", "--rm", ...args, ...(user ? ["-u", user] : []), "--rootfs", suite.fs.path, "--", "cat", "/proc/self/status"]);
  expect(r.stderr).toBe("");
  const field = (name: string) => r.stdout.match(new RegExp(`^${name}:\\s*(\\S+)$`, "m"))?.[1];
  return { eff: BigInt(`0x${field("CapEff")}`), prm: BigInt(`0x${field("CapPrm")}`), inh: BigInt(`0x${field("CapInh")}`), bnd: BigInt(`0x${field("CapBnd")}`), amb: BigInt(`0x${field("CapAmb")}`), nnp: field("NoNewPrivs") };
};

// CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
const DEFAULT = 0xa80425fbn;
const hostBounding = () => BigInt(`0x${readFileSync("/proc/self/status", "utf8").match(/^CapBnd:\s*(\S+)$/m)![1]}`);

describe.skipIf(!ready)("capabilities", () => {
  test("the docker default set in every set but ambient; no_new_privs on", () => {
    const s = status([]);
    expect([s.eff, s.prm, s.inh, s.bnd, s.amb]).toEqual([DEFAULT, DEFAULT, DEFAULT, DEFAULT, 0n]);
    expect(s.nnp).toBe("1");
  });

  test("--cap-add and --cap-drop, names with or without CAP_, any case, and ALL", () => {
    expect(status(["--cap-add", "net_admin"]).eff).toBe(DEFAULT | (1n << 12n));
    expect(status(["--cap-drop", "CAP_KILL"]).eff).toBe(DEFAULT & ~(1n << 5n));
    const only = status(["--cap-drop", "ALL", "--cap-add", "CHOWN"]);
    expect([only.eff, only.bnd]).toEqual([1n, 1n]);
    expect(status(["--cap-add", "ALL"]).eff).toBe(hostBounding());
  });

  test("a non-root user has no effective or permitted capabilities unless some were added", () => {
    const plain = status([], "1000");
    expect([plain.eff, plain.prm, plain.amb, plain.bnd]).toEqual([0n, 0n, 0n, DEFAULT]);
    const added = status(["--cap-add", "NET_BIND_SERVICE"], "1000");
    expect([added.eff, added.prm, added.amb]).toEqual([1n << 10n, 1n << 10n, 1n << 10n]);
  });

  test("--privileged: every capability bunker has, and no masked or read-only paths", () => {
    const s = status(["--privileged"]);
    expect([s.eff, s.bnd]).toEqual([hostBounding(), hostBounding()]);
    const r = bunker(["run", "--rm", "--privileged", "--rootfs", suite.fs.path, "--", "sh", "-c", "grep -cE ' /proc/(sys|keys) ' /proc/self/mountinfo"]);
    expect(r.stdout).toBe("0\n");
  });

  test("no-new-privileges can be turned off; unknown capabilities and options are errors", () => {
    expect(status(["--security-opt", "no-new-privileges=false"]).nnp).toBe("0");
    expect(bunker(["run", "--cap-add", "FLY", "--rootfs", suite.fs.path, "--", "true"])).toMatchObject({ code: 125, stderr: 'bunker: unknown capability "FLY"\n' });
    expect(bunker(["run", "--security-opt", "apparmor=x", "--rootfs", suite.fs.path, "--", "true"]).code).toBe(125);
  });

  test("exec: root gets the container's bounding set, another user nothing", () => {
    const id = bunker(["run", "-d", "--cap-drop", "NET_RAW", "--rootfs", suite.fs.path, "--", "sleep", "100"]).stdout.trim();
    const eff = (u: string[]) => bunker(["exec", ...u, id, "grep", "CapEff", "/proc/self/status"]).stdout.trim().split(/\s+/)[1];
    expect(BigInt(`0x${eff([])}`)).toBe(DEFAULT & ~(1n << 13n));
    expect(BigInt(`0x${eff(["-u", "1000"])}`)).toBe(0n);
    bunker(["rm", "-f", id]);
  });
});

describe.skipIf(!ready)("masked and read-only paths", () => {
  test("masked paths are empty; /proc/sys and friends are read-only", () => {
    const r = bunker(["run", "--rm", "--rootfs", suite.fs.path, "--", "sh", "-c",
      "cat /proc/keys | wc -c; ls -A /sys/firmware | wc -l; (echo x > /proc/sys/kernel/hostname) 2>/dev/null || echo refused; grep -E ' /proc/(sys|bus|fs|irq) ' /proc/self/mountinfo | cut -d' ' -f5,6 | cut -d, -f1"]);
    const lines = r.stdout.trim().split("\n");
    expect(lines.slice(0, 3)).toEqual(["0", "0", "refused"]);
    // Each read-only path the kernel has is mounted read-only.
    expect(lines).toContain("/proc/sys ro");
    for (const l of lines.slice(3)) expect(l).toMatch(/^\/proc\/(sys|bus|fs|irq) ro$/);
  });

  test("every OCI masked path this kernel has is masked, every read-only one read-only, and a root write there is refused", () => {
    // The container's /proc and /sys are this kernel's: what the host has, it has.
    const masked = OCI_MASKED_PATHS.filter((p) => existsSync(p));
    const readonly = OCI_READONLY_PATHS.filter((p) => existsSync(p));
    const r = bunker(["run", "--rm", "--network", "none", "--rootfs", suite.fs.path, "--", "sh", "-c", "cat /proc/self/mountinfo; echo ---; echo x > /proc/sys/kernel/domainname; echo domainname=$?"]);
    const [table, effect] = r.stdout.split("---\n");
    const lines = parseMountinfo(table!);
    for (const p of masked) {
      const m = lines.find((l) => l.point === p);
      const kind = !m ? "not masked" : m.root === "/null" ? "file mask" : m.fstype === "tmpfs" && m.flags.includes("ro") ? "directory mask" : `${m.fstype} ${m.flags.join(",")}`;
      expect([p, kind]).toEqual([p, lstatSync(p).isDirectory() ? "directory mask" : "file mask"]);
    }
    for (const p of readonly) expect([p, lines.find((l) => l.point === p)?.flags.includes("ro")]).toEqual([p, true]);
    // Root could write the domain name of its own UTS namespace: the read-only mount is what refuses it.
    expect(effect).toBe("domainname=1\n");
    expect(r.stderr).toContain("Read-only file system");
  });
});

describe.skipIf(!ready)("--read-only and --ulimit", () => {
  test("--read-only: / refuses writes; /tmp, /run and /dev/shm take them", () => {
    const r = bunker(["run", "--rm", "--read-only", "--rootfs", suite.fs.path, "--", "sh", "-c", "touch /x 2>&1; touch /tmp/a /run/b /dev/shm/c && echo writable"]);
    expect(r.stdout).toBe("touch: /x: Read-only file system\nwritable\n");
  });

  test("--ulimit sets soft and hard limits, visible with ulimit", () => {
    const r = bunker(["run", "--rm", "--ulimit", "nofile=100:200", "--ulimit", "core=0", "--ulimit", "nproc=50", "--rootfs", suite.fs.path, "--", "sh", "-c", "ulimit -Sn; ulimit -Hn; ulimit -c; ulimit -u"]);
    expect(r.stdout).toBe("100\n200\n0\n50\n");
    expect(bunker(["run", "--ulimit", "nofile=3:2", "--rootfs", suite.fs.path, "--", "true"])).toMatchObject({ code: 125, stderr: "bunker: --ulimit nofile=3:2: the soft limit is above the hard one\n" });
    expect(bunker(["run", "--ulimit", "bogus=1", "--rootfs", suite.fs.path, "--", "true"]).code).toBe(125);
  });
});

describe.skipIf(!ready)("seccomp", () => {
  const sh = (args: string[], cmd: string) => bunker(["run", "--rm", ...args, "--rootfs", suite.fs.path, "--", "sh", "-c", cmd]);

  test("the default filter is on; a shell works; unshare and mount are refused", () => {
    const r = sh([], "grep '^Seccomp:' /proc/self/status; ls / > /dev/null && echo works; unshare -n true 2>/dev/null; echo unshare=$?; mount -t tmpfs t /mnt 2>/dev/null; echo mount=$?");
    expect(r.stdout).toBe("Seccomp:\t2\nworks\nunshare=1\nmount=1\n");
  });

  // The missing CAP_SYS_ADMIN refuses most of what the filter refuses: each call here is one the
  // kernel lets this container make (a user namespace needs no capability; a mount on a path that
  // does not exist fails on the path first), so the control run without the filter gets through
  // or fails otherwise, and only the filter answers EPERM.
  const probe = "unshare -U true; echo unshare=$?; mount -t tmpfs t /no/such/dir; echo mount=$?";
  test("it is the filter that refuses: the same calls unconfined get the kernel's own answers", () => {
    const filtered = sh([], probe);
    expect(filtered.stdout).toBe("unshare=1\nmount=1\n");
    expect(filtered.stderr).toBe("unshare: unshare(0x10000000): Operation not permitted\nmount: permission denied (are you root?)\n");
    const open = sh(["--security-opt", "seccomp=unconfined"], probe);
    expect(open.stdout).toBe("unshare=0\nmount=255\n");
    expect(open.stderr).toBe("mount: mounting t on /no/such/dir failed: No such file or directory\n");
  });

  test("unconfined, --privileged and CAP_SYS_ADMIN each lift it as they should", () => {
    expect(sh(["--security-opt", "seccomp=unconfined"], "grep '^Seccomp:' /proc/self/status").stdout).toBe("Seccomp:\t0\n");
    expect(sh(["--privileged"], "grep '^Seccomp:' /proc/self/status").stdout).toBe("Seccomp:\t0\n");
    expect(sh(["--cap-add", "SYS_ADMIN"], "unshare -n true; echo unshare=$?").stdout).toBe("unshare=0\n");
  });

  test("a JSON profile from a file", () => {
    const file = `${suite.fs.path}/../profile.json`;
    writeFileSync(file, JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 }] }));
    const r = sh(["--security-opt", `seccomp=${file}`], "mkdir /tmp/x 2>&1; echo rc=$?");
    expect(r.stdout).toBe("mkdir: can't create directory '/tmp/x': Permission denied\nrc=1\n");
    // Control: root may make it without the profile.
    expect(sh([], "mkdir /tmp/x && rmdir /tmp/x && echo made").stdout).toBe("made\n");
    expect(bunker(["run", "--security-opt", "seccomp=/no/such.json", "--rootfs", suite.fs.path, "--", "true"])).toMatchObject({
      code: 125,
      stderr: "bunker: seccomp profile /no/such.json: no such file or directory\n",
    });
  });

  test("exec'd processes get the container's filter", () => {
    const id = bunker(["run", "-d", "--rootfs", suite.fs.path, "--", "sleep", "100"]).stdout.trim();
    expect(bunker(["exec", id, "grep", "^Seccomp:", "/proc/self/status"]).stdout).toBe("Seccomp:\t2\n");
    bunker(["rm", "-f", id]);
  });

  test("an exec'd process is refused what the container's filter refuses: the default one, or its custom profile", () => {
    const file = `${suite.fs.path}/../exec-profile.json`;
    writeFileSync(file, JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 }] }));
    const start = (args: string[]) => {
      const r = bunker(["run", "-d", "--network", "none", ...args, "--rootfs", suite.fs.path, "--", "sleep", "100"]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      return r.stdout.trim();
    };
    const ids = [start([]), start(["--security-opt", `seccomp=${file}`]), start(["--security-opt", "seccomp=unconfined"])];
    try {
      // The three share the suite's rootfs: each makes and removes a directory of its own.
      const [plain, custom, open] = ids.map((id, i) => bunker(["exec", id, "sh", "-c", `${probe}; mkdir /tmp/exec-${i} && rmdir /tmp/exec-${i}; echo mkdir=$?`]));
      expect([plain!.stdout, plain!.stderr]).toEqual(["unshare=1\nmount=1\nmkdir=0\n", "unshare: unshare(0x10000000): Operation not permitted\nmount: permission denied (are you root?)\n"]);
      expect(custom!.stdout).toBe("unshare=0\nmount=255\nmkdir=1\n");
      expect(custom!.stderr).toMatch(/mkdir: can't create directory '\/tmp\/exec-1': Permission denied\n$/);
      expect(open!.stdout).toBe("unshare=0\nmount=255\nmkdir=0\n");
    } finally {
      bunker(["rm", "-f", ...ids]);
    }
  });
});
