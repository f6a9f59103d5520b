// exec into running containers, the ns view, and pinned namespaces.

import { beforeAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunker, BUNKER, isRoot, until } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn(`skipping exec tests: ${isRoot ? "busybox-static is not installed" : "they need root"}`);

const suite = containerSuite(ready, () => bunker(["rm", "-f", id]));
let id: string;
let pid: number;

beforeAll(async () => {
  if (!ready) return;
  const r = bunker(["run", "-d", "--name", "target", "--hostname", "exbox", "-e", "FROM_RUN=1", "-w", "/tmp", "--rootfs", suite.fs.path, "--", "sh", "-c", "touch /tmp/ready; exec sleep 1000"]);
  id = r.stdout.trim();
  pid = JSON.parse(bunker(["inspect", id]).stdout)[0].pid;
  await until(() => existsSync(`/proc/${pid}/root/tmp/ready`), 10_000, "the target container to start");
});

/** Host pids of processes running `cmdline` (NULs as spaces) in the PID namespace of `nsOf`. */
function inPidNamespaceOf(nsOf: number, cmdline: string): number[] {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${nsOf}/ns/pid`);
  } catch {
    return [];
  }
  return readdirSync("/proc").filter((e) => {
    if (!/^\d+$/.test(e)) return false;
    try {
      return readlinkSync(`/proc/${e}/ns/pid`) === ns && readFileSync(`/proc/${e}/cmdline`, "utf8").replaceAll("\0", " ").trim() === cmdline;
    } catch {
      return false;
    }
  }).map(Number);
}

const TYPES = ["cgroup", "ipc", "mnt", "net", "pid", "uts"];

describe.skipIf(!ready)("bunker exec", () => {
  test("the command runs inside every namespace of the container, in its PID namespace too", () => {
    const r = bunker(["exec", "target", "sh", "-c", `for t in ${TYPES.join(" ")}; do readlink /proc/self/ns/$t; done; echo $$; ps -o pid,comm; true`]);
    expect(r.stderr).toBe("");
    const lines = r.stdout.trim().split("\n");
    expect(lines.slice(0, TYPES.length)).toEqual(TYPES.map((t) => readlinkSync(`/proc/${pid}/ns/${t}`)));
    expect(Number(lines[TYPES.length])).toBeGreaterThan(1);
    const ps = lines.slice(TYPES.length + 2).map((l) => l.trim().split(/\s+/));
    expect(ps[0]).toEqual(["1", "sleep"]);
    expect(ps.map((p) => p[1])).toContain("ps");
  });

  test("the container's root, environment and working directory, plus -e and -w", () => {
    let r = bunker(["exec", "target", "sh", "-c", "hostname; echo $FROM_RUN; pwd; test -e /tmp/ready && echo root"]);
    expect(r.stdout).toBe("exbox\n1\n/tmp\nroot\n");
    r = bunker(["exec", "-e", "FROM_RUN=2", "-e", "NEW=x", "-w", "/", "target", "sh", "-c", "echo $FROM_RUN $NEW; pwd"]);
    expect(r.stdout).toBe("2 x\n/\n");
  });

  test("--user from the container's passwd", () => {
    const r = bunker(["exec", "-u", "nobody", "target", "id"]);
    expect(r.stdout).toBe("uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n");
  });

  test("exit statuses and errors as with run", () => {
    expect(bunker(["exec", "target", "sh", "-c", "exit 9"]).code).toBe(9);
    expect(bunker(["exec", "target", "nope"])).toMatchObject({ code: 127, stderr: 'bunker: exec "nope": not found in PATH\n' });
    expect(bunker(["exec", "nosuch", "true"])).toMatchObject({ code: 125, stderr: "bunker: no such container: nosuch\n" });
    expect(bunker(["exec", "target"])).toMatchObject({ code: 125, stdout: "", stderr: "bunker: exec: give a container and a command: bunker exec ID|NAME COMMAND [ARG...]\n" });
  });

  test("the exec'd process goes away with its container", async () => {
    const r = bunker(["run", "-d", "--network", "none", "--rootfs", suite.fs.path, "--", "sleep", "1000"]);
    expect(r.code).toBe(0);
    const c = r.stdout.trim();
    const first = JSON.parse(bunker(["inspect", c]).stdout)[0].pid as number;
    const proc = Bun.spawn([BUNKER, "exec", c, "sleep", "999"], { stdout: "ignore", stderr: "ignore" });
    let execd: number[] = [];
    try {
      await until(() => (execd = inPidNamespaceOf(first, "sleep 999")).length === 1, 5000, "the exec'd process to run in the container");
      expect(bunker(["stop", "-t", "0", c]).code).toBe(0);
      expect(await proc.exited).toBe(137);
      // Gone from the host, not only no longer waited for.
      await until(() => !existsSync(`/proc/${execd[0]}`), 5000, "the exec'd process to be gone");
    } finally {
      proc.kill(9);
      for (const p of execd) if (existsSync(`/proc/${p}`)) process.kill(p, "SIGKILL");
      bunker(["rm", "-f", c]);
    }
  });

  test("a descriptor exec's caller left open (not close-on-exec) does not reach the command", () => {
    const file = join(suite.fs.path, "..", "exec-inherited");
    writeFileSync(file, "host data\n");
    const fd = openSync(file, "r");
    try {
      const r = Bun.spawnSync([BUNKER, "exec", "target", "sh", "-c", "ls /proc/$$/fd; (cat <&3) 2>/dev/null || echo no-fd-3"], { stdio: ["ignore", "pipe", "pipe", fd] });
      expect([r.exitCode, r.stdout.toString(), r.stderr.toString()]).toEqual([0, "0\n1\n2\nno-fd-3\n", ""]);
    } finally {
      closeSync(fd);
    }
  });
});

describe.skipIf(!ready)("bunker ns", () => {
  test("shows each namespace's inode beside the host's, and the container's processes", () => {
    const out = JSON.parse(bunker(["ns", "--json", "target"]).stdout);
    expect(out.pid).toBe(pid);
    for (const n of out.namespaces) {
      const theirs = readlinkSync(`/proc/${pid}/ns/${n.type}`);
      const ours = readlinkSync(`/proc/self/ns/${n.type}`);
      expect(`${n.type}:[${n.inode}]`).toBe(theirs);
      expect(`${n.type}:[${n.host}]`).toBe(ours);
      expect(n.own).toBe(theirs !== ours);
    }
    expect(out.namespaces.find((n: { type: string }) => n.type === "user").own).toBe(false);
    expect(out.namespaces.find((n: { type: string }) => n.type === "net").own).toBe(true);
    expect(out.processes[0]).toEqual({ hostPid: pid, pid: 1, command: "sleep 1000" });
    const text = bunker(["ns", "target"]).stdout;
    expect(text).toMatch(/^net\s+\d+\s+\d+\s+own$/m);
    expect(bunker(["ns", String(pid)]).code).toBe(0);
  });
});

describe.skipIf(!ready)("pinned namespaces", () => {
  test("pin, let the container exit, exec into the pinned namespaces, unpin leaves no mount", async () => {
    const dir = `${suite.fs.path}/../pins`;
    // Writing a network sysctl as a marker needs /proc/sys writable: --privileged.
    const c = bunker(["run", "-d", "--rm", "--privileged", "--hostname", "pinbox", "--rootfs", suite.fs.path, "--", "sh", "-c", "echo 99 > /proc/sys/net/ipv4/ip_default_ttl; exec sleep 1000"]).stdout.trim();
    const first = JSON.parse(bunker(["inspect", c]).stdout)[0].pid as number;
    await until(() => inPidNamespaceOf(first, "sleep 1000").length === 1, 10_000, "the container to set its marker and run sleep");
    const pinned = bunker(["ns", "pin", c, dir]);
    expect(pinned.code).toBe(0);
    expect(pinned.stdout.trim().split("\n").map((l) => l.split("/").pop()).sort()).toEqual(["cgroup", "ipc", "mnt", "net", "pid", "uts"]);
    bunker(["stop", "-t", "0", c]);
    let r;
    try {
      r = bunker(["exec", "--ns", dir, "sh", "-c", "hostname; cat /proc/sys/net/ipv4/ip_default_ttl"]);
    } catch (e) {
      bunker(["ns", "unpin", dir]);
      throw e;
    }
    if (r.stdout !== "pinbox\n99\n") bunker(["ns", "unpin", dir]);
    expect(r.stdout).toBe("pinbox\n99\n");
    expect(readFileSync("/proc/sys/net/ipv4/ip_default_ttl", "utf8")).not.toBe("99\n");
    expect(bunker(["ns", "unpin", dir]).code).toBe(0);
    expect(existsSync(dir)).toBe(false);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain("/pins/");
  });

  test("run --pin pins before the command runs; run --join-ns starts a new container in them", () => {
    const dir = `${suite.fs.path}/../pins2`;
    let r = bunker(["run", "--rm", "--privileged", "--pin", dir, "--hostname", "first", "--rootfs", suite.fs.path, "--", "sh", "-c", "echo 77 > /proc/sys/net/ipv4/ip_default_ttl"]);
    expect(r.code).toBe(0);
    // Every namespace, the cgroup namespace (made after the container is placed in its cgroups) included.
    expect(readdirSync(dir).sort()).toEqual(["cgroup", "ipc", "mnt", "net", "pid", "uts"]);
    expect(statSync(`${dir}/cgroup`).ino).not.toBe(statSync("/proc/self/ns/cgroup").ino);
    r = bunker(["run", "--rm", "--join-ns", dir, "--rootfs", suite.fs.path, "--", "sh", "-c", "hostname; cat /proc/sys/net/ipv4/ip_default_ttl; ls /sys/class/net"]);
    if (r.stdout !== "first\n77\nlo\n") bunker(["ns", "unpin", dir]);
    expect(r.stdout).toBe("first\n77\nlo\n");
    expect(bunker(["run", "--rm", "--join-ns", dir, "--network", "host", "--rootfs", suite.fs.path, "--", "true"]).code).toBe(125);
    expect(bunker(["ns", "unpin", dir]).code).toBe(0);
    expect(bunker(["ns", "unpin", dir])).toMatchObject({ code: 125, stderr: `bunker: no pinned namespaces in ${dir.replace("/rootfs/..", "")}\n` });
  });
});
