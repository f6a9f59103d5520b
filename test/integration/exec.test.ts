// exec into running containers, the ns view, and pinned namespaces.

import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { bunker, isRoot, until } from "../helpers/bunker";
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

/** Host pids of the processes in the PID namespace of host pid `pid` whose command line is `cmd`. */
function inPidnsOf(pid: number, cmd: string): number[] {
  const ns = readlinkSync(`/proc/${pid}/ns/pid`);
  return readdirSync("/proc").filter((e) => {
    try {
      return /^\d+$/.test(e) && readlinkSync(`/proc/${e}/ns/pid`) === ns && readFileSync(`/proc/${e}/cmdline`, "utf8").replaceAll("\0", " ").trim() === cmd;
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
    expect(bunker(["exec", "target"]).code).toBe(125);
  });

  test("the exec'd process goes away with its container", async () => {
    const c = bunker(["run", "-d", "--rootfs", suite.fs.path, "--", "sleep", "1000"]).stdout.trim();
    const proc = Bun.spawn(["/bin/sh", "-c", `exec ${process.env.BUNKER_BIN ?? `${import.meta.dir}/../../dist/bunker`} exec ${c} sleep 1000`]);
    const first = JSON.parse(bunker(["inspect", c]).stdout)[0].pid;
    await until(() => inPidnsOf(first, "sleep 1000").length === 2, 10_000, "the exec'd sleep to run in the container");
    bunker(["stop", "-t", "0", c]);
    expect(await proc.exited).toBe(137);
    bunker(["rm", c]);
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
    const first = JSON.parse(bunker(["inspect", c]).stdout)[0].pid;
    await until(() => inPidnsOf(first, "sleep 1000").length === 1, 10_000, "the container to set its marker and run sleep");
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
