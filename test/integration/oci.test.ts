// The OCI front end as clients drive it: runc's command line on a bundle,
// create leaving the process waiting before execve and no bunker behind,
// start, state, kill, delete; the console socket; global flags; bad input.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { tmpdir } from "node:os";
import { alive, bunker, BUNKER, isRoot, until, type Result } from "../helpers/bunker";
import { busyboxAvailable, makeRootfs, type Rootfs } from "../helpers/rootfs";
import { createUser, publicBinary, removeUser, runAs, type TestUser } from "../helpers/users";
import { containerSuite } from "../helpers/suite";
import { ConsoleSocket, closeFd, ptyNumber, readUntil, writeFd } from "../helpers/console";
import { cgroupMounts } from "../helpers/leaks";
import { kernelBelow } from "../helpers/kernel";

const idmapOld = kernelBelow("5.12", "the id-mapped mount tests (mount_setattr)");

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn(`skipping OCI tests: ${isRoot ? "busybox-static is not installed" : "they need root"}`);

/** The parent of the cgroups the tests' configs ask for, removed once they are gone (runc leaves parents, as bunker does). */
const suite = containerSuite(ready, () => {
  for (const m of cgroupMounts()) {
    try {
      rmdirSync(`${m}/bunker-oci`);
    } catch {
      // absent, or still holding a container's cgroup: the leak check names it
    }
  }
});
let dir = "";

beforeAll(() => {
  if (ready) dir = mkdtempSync(join(tmpdir(), "bunker-oci-"));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type Config = Record<string, any>;

let bundles = 0;
/** A bundle whose config is bunker spec's default, changed by `edit`, with the suite's rootfs. */
function bundle(edit: (c: Config) => void = () => {}): string {
  const b = join(dir, `b${bundles++}`);
  mkdirSync(b);
  const r = bunker(["spec", "--bundle", b]);
  expect(r.code).toBe(0);
  const c = JSON.parse(readFileSync(join(b, "config.json"), "utf8"));
  c.root = { path: suite.fs.path, readonly: false };
  c.process.terminal = false;
  edit(c);
  writeFileSync(join(b, "config.json"), JSON.stringify(c));
  return b;
}

let outputs = 0;
/**
 * A command whose container may keep its stdio (create, run --detach): its
 * output goes through files, which a container holding them open does not
 * keep from being read, as it would a pipe's end of file.
 */
function detached(args: string[]): Result {
  const out = join(dir, `out${outputs++}`);
  const p = Bun.spawnSync(["sh", "-c", 'exec "$@" > "$0.out" 2> "$0.err" < /dev/null', out, BUNKER, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  return { code: p.exitCode ?? -1, stdout: readFileSync(`${out}.out`, "utf8"), stderr: readFileSync(`${out}.err`, "utf8") };
}

const state = (id: string, root: string[] = []) => JSON.parse(bunker([...root, "state", id]).stdout);

describe.skipIf(!ready)("spec", () => {
  test("writes runc's default config.json, and refuses to overwrite one", () => {
    const b = join(dir, "spec");
    mkdirSync(b);
    expect(bunker(["spec", "--bundle", b])).toMatchObject({ code: 0, stdout: "", stderr: "" });
    const c = JSON.parse(readFileSync(join(b, "config.json"), "utf8"));
    expect(c.ociVersion).toMatch(/^1\.\d+\.\d+$/);
    expect(c.process).toMatchObject({ terminal: true, args: ["sh"], cwd: "/", user: { uid: 0, gid: 0 }, noNewPrivileges: true });
    expect(c.root).toEqual({ path: "rootfs", readonly: true });
    expect(c.linux.namespaces.map((n: { type: string }) => n.type).sort()).toEqual(["cgroup", "ipc", "mount", "network", "pid", "uts"]);
    expect(c.mounts.map((m: { destination: string }) => m.destination)).toEqual(["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"]);
    const again = bunker(["spec", "--bundle", b]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`bunker: ${b}/config.json exists: remove it first\n`);
  });

  test("--rootless maps the caller to root in a user namespace of its own", () => {
    const b = join(dir, "spec-rootless");
    mkdirSync(b);
    expect(bunker(["spec", "--rootless", "--bundle", b]).code).toBe(0);
    const c = JSON.parse(readFileSync(join(b, "config.json"), "utf8"));
    expect(c.linux.namespaces.map((n: { type: string }) => n.type)).toContain("user");
    expect(c.linux.uidMappings).toEqual([{ containerID: 0, hostID: 0, size: 1 }]);
    expect(c.linux.gidMappings).toEqual([{ containerID: 0, hostID: 0, size: 1 }]);
    // The tty group is not mapped: devpts must not ask for it.
    expect(c.mounts.find((m: { destination: string }) => m.destination === "/dev/pts").options).not.toContain("gid=5");
  });
});

describe.skipIf(!ready)("create, start, state, kill, delete", () => {
  test("create leaves the process waiting before execve, and no bunker process; start runs the command", async () => {
    const marker = `oci-marker-${bundles}`;
    const b = bundle((c) => {
      c.process.args = ["sh", "-c", `echo started > /tmp/${marker}; exec sleep 30`];
      c.annotations = { "org.example.note": "kept" };
    });
    const pidFile = join(b, "init.pid");
    const r = detached(["create", "--bundle", b, "--pid-file", pidFile, "oci-life"]);
    expect(r).toMatchObject({ code: 0, stdout: "", stderr: "" });
    // The pid file holds the digits and nothing else (containerd reads it with Atoi).
    const text = readFileSync(pidFile, "utf8");
    expect(text).toMatch(/^[1-9]\d*$/);
    const pid = Number(text);
    try {
      expect(alive(pid)).toBe(true);
      // Its parent is not a bunker process: bunker create has exited.
      const ppid = Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1]);
      expect(readFileSync(`/proc/${ppid}/comm`, "utf8")).not.toBe("bunker\n");
      expect(existsSync(join(suite.fs.path, "tmp", marker))).toBe(false);
      const s = state("oci-life");
      expect(s).toEqual({
        ociVersion: expect.stringMatching(/^1\./),
        id: "oci-life",
        pid,
        status: "created",
        bundle: b,
        rootfs: suite.fs.path,
        created: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        owner: "",
        annotations: { "org.example.note": "kept" },
      });
      // bunker's own front end sees the same container, named by its OCI id.
      expect(bunker(["ps", "-a"]).stdout).toContain("oci-life");
      expect(bunker(["start", "oci-life"])).toMatchObject({ code: 0, stdout: "", stderr: "" });
      await until(() => existsSync(join(suite.fs.path, "tmp", marker)), 5000, "the command to run");
      expect(state("oci-life")).toMatchObject({ status: "running", pid });
      // A second start has nothing to start.
      const again = bunker(["start", "oci-life"]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain("already running");
      // runc's kill: the id, then the signal, by number or by name.
      expect(bunker(["kill", "oci-life", "KILL"])).toMatchObject({ code: 0, stdout: "" });
      await until(() => !alive(pid), 5000, "the container to die");
      expect(state("oci-life")).toMatchObject({ status: "stopped", pid: 0 });
      const killAgain = bunker(["kill", "oci-life", "9"]);
      expect(killAgain.code).toBe(1);
      expect(killAgain.stderr).toContain("container not running");
      expect(bunker(["delete", "oci-life"])).toMatchObject({ code: 0, stdout: "", stderr: "" });
      const gone = bunker(["state", "oci-life"]);
      expect(gone.code).toBe(1);
      expect(gone.stderr).toBe("bunker: container oci-life does not exist\n");
    } finally {
      rmSync(join(suite.fs.path, "tmp", marker), { force: true });
      bunker(["delete", "--force", "oci-life"]);
    }
  });

  test("without a terminal the container's stdio are the descriptors create was given; bunker keeps none", async () => {
    const b = bundle((c) => {
      c.process.args = ["sh", "-c", "echo out; echo err >&2"];
    });
    const proc = Bun.spawn([BUNKER, "create", "--bundle", b, "oci-stdio"], { stdout: "pipe", stderr: "pipe" });
    expect(await proc.exited).toBe(0);
    const pid = state("oci-stdio").pid as number;
    try {
      expect(bunker(["start", "oci-stdio"]).code).toBe(0);
      // EOF comes once the container's process ends: nothing else holds the pipes.
      expect(await new Response(proc.stdout).text()).toBe("out\n");
      expect(await new Response(proc.stderr).text()).toBe("err\n");
      await until(() => !alive(pid), 5000, "the container to end");
      expect(state("oci-stdio").status).toBe("stopped");
    } finally {
      expect(bunker(["delete", "oci-stdio"]).code).toBe(0);
    }
  });

  test("a created container that is never started is deleted whole: process, cgroup, state", () => {
    const b = bundle((c) => {
      c.linux.cgroupsPath = "/bunker-oci/never-started";
      c.process.args = ["sh", "-c", "exit 3"];
    });
    expect(detached(["create", "--bundle", b, "oci-abort"]).code).toBe(0);
    const pid = state("oci-abort").pid as number;
    const dirs = cgroupMounts().map((m) => `${m}/bunker-oci/never-started`).filter(existsSync);
    // The container is exactly where its config put it (containerd reads its metrics there).
    expect(dirs.length).toBeGreaterThan(0);
    for (const d of dirs) expect(readFileSync(`${d}/cgroup.procs`, "utf8").trim().split("\n")).toContain(String(pid));
    expect(bunker(["delete", "oci-abort"])).toMatchObject({ code: 0, stderr: "" });
    expect(alive(pid)).toBe(false);
    for (const d of dirs) expect(existsSync(d)).toBe(false);
    expect(bunker(["state", "oci-abort"]).code).toBe(1);
  });

  test("delete refuses a running container without --force; with it, the container is killed and removed", async () => {
    const b = bundle((c) => {
      c.process.args = ["sleep", "60"];
    });
    expect(detached(["create", "--bundle", b, "oci-force"]).code).toBe(0);
    expect(bunker(["start", "oci-force"]).code).toBe(0);
    const pid = state("oci-force").pid as number;
    const r = bunker(["delete", "oci-force"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("bunker: cannot delete container oci-force that is not stopped: running\n");
    expect(alive(pid)).toBe(true);
    expect(bunker(["delete", "--force", "oci-force"])).toMatchObject({ code: 0, stderr: "" });
    await until(() => !alive(pid), 5000, "the container to die");
    expect(bunker(["state", "oci-force"]).code).toBe(1);
  });

  test("kill --all signals every process of the container; pause and resume freeze and thaw it", async () => {
    const b = bundle((c) => {
      c.process.args = ["sh", "-c", "sleep 60 & sleep 61 & wait"];
    });
    expect(detached(["create", "--bundle", b, "oci-all"]).code).toBe(0);
    try {
      expect(bunker(["start", "oci-all"]).code).toBe(0);
      // In runc's form (global flags first) pause prints nothing; plain, it is bunker's own, which names the container.
      expect(bunker(["--root", "/run/bunker", "pause", "oci-all"])).toMatchObject({ code: 0, stdout: "" });
      expect(state("oci-all").status).toBe("paused");
      expect(bunker(["resume", "oci-all"])).toMatchObject({ code: 0, stdout: "" });
      expect(state("oci-all").status).toBe("running");
      const [s] = JSON.parse(bunker(["inspect", "oci-all"]).stdout);
      // Every hierarchy lists them (a hybrid host has several).
      const procs = () => new Set((s.cgroup.dirs as { path: string }[]).flatMap((d) => readFileSync(`${d.path}/cgroup.procs`, "utf8").trim().split("\n").filter(Boolean)));
      await until(() => procs().size === 3, 5000, "three processes");
      expect(bunker(["kill", "--all", "oci-all", "KILL"]).code).toBe(0);
      await until(() => procs().size === 0, 5000, "every process to die");
    } finally {
      bunker(["delete", "--force", "oci-all"]);
    }
  });

  test("process.ioPriority and process.scheduler: the process runs in the class, policy and at the priorities given", async () => {
    const b = bundle((c) => {
      c.process.ioPriority = { class: "IOPRIO_CLASS_BE", priority: 6 };
      c.process.scheduler = { policy: "SCHED_BATCH", nice: 5 };
      c.process.args = ["sleep", "60"];
    });
    expect(detached(["create", "--bundle", b, "oci-ioprio"]).code).toBe(0);
    try {
      const pid = state("oci-ioprio").pid as number;
      // util-linux's ionice and chrt read them from the host.
      expect(Bun.spawnSync(["ionice", "-p", String(pid)]).stdout.toString()).toBe("best-effort: prio 6\n");
      expect(Bun.spawnSync(["chrt", "-p", String(pid)]).stdout.toString()).toMatch(/scheduling policy: SCHED_BATCH\n/);
      // nice is field 19 of /proc/PID/stat.
      expect(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[16]).toBe("5");
    } finally {
      bunker(["delete", "--force", "oci-ioprio"]);
    }
  });

  test.skipIf(process.arch !== "x64")("linux.personality LINUX32: uname reports a 32-bit machine", () => {
    const b = bundle((c) => {
      c.linux.personality = { domain: "LINUX32" };
      c.process.args = ["uname", "-m"];
    });
    expect(bunker(["--root", "/run/bunker", "run", "--bundle", b, "oci-persona"])).toMatchObject({ code: 0, stdout: "i686\n" });
  });

  test("process.capabilities: each of the five sets as the config gives it (an empty inheritable set stays empty)", () => {
    const b = bundle((c) => {
      const caps = ["CAP_CHOWN", "CAP_KILL"];
      c.process.capabilities = { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] };
      c.process.args = ["sh", "-c", "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status"];
    });
    const r = bunker(["--root", "/run/bunker", "run", "--bundle", b, "oci-caps"]);
    // CAP_CHOWN is bit 0, CAP_KILL bit 5.
    expect(r).toMatchObject({ code: 0, stdout: "CapInh:\t0000000000000000\nCapPrm:\t0000000000000021\nCapEff:\t0000000000000021\nCapBnd:\t0000000000000021\nCapAmb:\t0000000000000000\n" });
    // None named: none held, not all of root's.
    const none = bundle((c) => {
      delete c.process.capabilities;
      c.process.args = ["sh", "-c", "grep -E '^Cap(Eff|Bnd):' /proc/self/status"];
    });
    expect(bunker(["--root", "/run/bunker", "run", "--bundle", none, "oci-nocaps"])).toMatchObject({ code: 0, stdout: "CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n" });
  });

  test("namespaces joined by path: a PID namespace (the process forks into it) and a UTS namespace (it takes the hostname)", async () => {
    // A pod of one: its own PID, UTS and mount namespaces, held by a sleep that is PID 1 there.
    const pod = Bun.spawn(["unshare", "--pid", "--fork", "--kill-child", "--uts", "--mount", "sleep", "60"], { stdout: "ignore", stderr: "ignore" });
    let inner = 0;
    try {
      await until(() => {
        inner = Number(readFileSync(`/proc/${pod.pid}/task/${pod.pid}/children`, "utf8").trim().split(" ")[0] || 0);
        return inner > 0;
      }, 5000, "the pod's process");
      const b = bundle((c) => {
        c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => !["pid", "uts"].includes(n.type));
        c.linux.namespaces.push({ type: "pid", path: `/proc/${inner}/ns/pid` }, { type: "uts", path: `/proc/${inner}/ns/uts` });
        c.hostname = "in-the-pod";
        c.process.args = ["sh", "-c", "hostname; echo $$; cat /proc/1/comm"];
      });
      const r = bunker(["--root", "/run/bunker", "run", "--bundle", b, "oci-joined"]);
      // Not PID 1: the pod's sleep is, as its /proc (mounted in the joined namespace) shows.
      expect(r).toMatchObject({ code: 0, stderr: "" });
      const [name, pid, one] = r.stdout.trim().split("\n");
      expect([name, one]).toEqual(["in-the-pod", "sleep"]);
      expect(Number(pid)).toBeGreaterThan(1);
      // The joined UTS namespace itself was renamed, as runc does.
      expect(Bun.spawnSync(["nsenter", "--uts", "-t", String(inner), "hostname"]).stdout.toString()).toBe("in-the-pod\n");
    } finally {
      if (inner > 0) process.kill(inner, "SIGKILL");
      pod.kill("SIGKILL");
      await pod.exited;
    }
  });

  test("a bind mount takes every per-mount flag its options name (noatime, nosymfollow, ro)", () => {
    const b = bundle((c) => {
      c.mounts.push({ destination: "/mnt/flags", type: "bind", source: suite.fs.path, options: ["rbind", "ro", "noatime", "nosymfollow"] });
      c.process.args = ["sh", "-c", "grep ' /mnt/flags ' /proc/self/mountinfo | cut -d' ' -f6"];
    });
    const r = bunker(["--root", "/run/bunker", "run", "--bundle", b, "oci-bindflags"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split(",").sort()).toEqual(expect.arrayContaining(["noatime", "nosymfollow", "ro"]));
  });

  test("the recursive flags reach every mount of a bind's tree: rro makes a writable submount read-only, rrw clears the host's read-only one", () => {
    const tree = join(dir, "recursive");
    mkdirSync(join(tree, "rw"), { recursive: true });
    mkdirSync(join(tree, "ro"));
    const host = (...args: string[]) => expect(Bun.spawnSync(["mount", ...args]).exitCode).toBe(0);
    host("-t", "tmpfs", "tmpfs", join(tree, "rw"));
    host("-t", "tmpfs", "tmpfs", join(tree, "ro"));
    host("-o", "remount,bind,ro", join(tree, "ro"));
    try {
      const b = bundle((c) => {
        c.mounts.push({ destination: "/mnt/rro", type: "bind", source: tree, options: ["rbind", "rro", "rnoexec"] }, { destination: "/mnt/rrw", type: "bind", source: tree, options: ["rbind", "rrw"] });
        const attempt = (path: string) => `touch ${path} 2>/dev/null && echo wrote || echo refused`;
        c.process.args = ["sh", "-c", [attempt("/mnt/rro/rw/f"), attempt("/mnt/rrw/ro/f"), attempt("/mnt/rrw/rw/g"), "grep ' /mnt/rro/rw ' /proc/self/mountinfo | cut -d' ' -f6"].join("; ")];
      });
      const r = bunker(["--root", "/run/bunker", "run", "--bundle", b, "oci-recursive"]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      const [rro, rrw, plain, flags] = r.stdout.trim().split("\n");
      expect([rro, rrw, plain]).toEqual(["refused", "wrote", "wrote"]);
      expect(flags!.split(",")).toEqual(expect.arrayContaining(["ro", "noexec"]));
      // The host's own mounts keep their flags: only the container's copies changed.
      expect(Bun.spawnSync(["sh", "-c", `grep ' ${join(tree, "ro")} ' /proc/self/mountinfo | cut -d' ' -f6`]).stdout.toString()).toMatch(/^ro,/);
    } finally {
      Bun.spawnSync(["umount", "-R", join(tree, "rw")]);
      Bun.spawnSync(["umount", "-R", join(tree, "ro")]);
    }
  });

  test("a time namespace of its own: its clocks offset as the config says, for its process and for one exec'd into it", () => {
    const b = bundle((c) => {
      c.process.args = ["sleep", "60"];
      c.linux.namespaces.push({ type: "time" });
      c.linux.timeOffsets = { boottime: { secs: 10 * 86400, nanosecs: 0 }, monotonic: { secs: 5 * 86400, nanosecs: 0 } };
    });
    const uptime = () => Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
    const timeNs = (pid: string | number) => readlinkSync(`/proc/${pid}/ns/time`);
    try {
      expect(detached(["create", "--bundle", b, "oci-time"]).code).toBe(0);
      expect(bunker(["start", "oci-time"]).code).toBe(0);
      const pid = state("oci-time").pid;
      expect(timeNs(pid)).not.toBe(timeNs("self"));
      const before = uptime();
      const inside = bunker(["--root", "/run/bunker", "exec", "oci-time", "cat", "/proc/uptime"]);
      expect(inside.code).toBe(0);
      const seen = Number(inside.stdout.split(" ")[0]);
      // Boot time, which /proc/uptime shows, is ten days ahead of the host's, give or take the exec.
      expect(seen - before).toBeGreaterThan(10 * 86400 - 5);
      expect(seen - before).toBeLessThan(10 * 86400 + 5);
    } finally {
      bunker(["delete", "--force", "oci-time"]);
    }
    // Without a time namespace, the host's clocks.
    const plain = bunker(["--root", "/run/bunker", "run", "--bundle", bundle((c) => (c.process.args = ["cat", "/proc/uptime"])), "oci-notime"]);
    expect(Math.abs(Number(plain.stdout.split(" ")[0]) - uptime())).toBeLessThan(5);
  });

  test.skipIf(idmapOld)("id-mapped binds: a source's IDs show as the mount's maps say, and files made there are stored in the source's IDs", () => {
    const src = join(dir, "idmapped");
    mkdirSync(src);
    writeFileSync(join(src, "theirs"), "x");
    chownSync(src, 1000, 1000);
    chownSync(join(src, "theirs"), 1000, 1000);
    const owner = (path: string) => `stat -c '%u:%g' ${path}`;
    const b = bundle((c) => {
      c.mounts.push(
        { destination: "/mnt/idmapped", type: "bind", source: src, options: ["rbind", "rw"], uidMappings: [{ containerID: 1000, hostID: 0, size: 1 }], gidMappings: [{ containerID: 1000, hostID: 0, size: 1 }] },
        { destination: "/mnt/plain", type: "bind", source: src, options: ["rbind", "ro"] },
      );
      c.process.args = ["sh", "-c", [owner("/mnt/idmapped/theirs"), owner("/mnt/plain/theirs"), "touch /mnt/idmapped/mine"].join("; ")];
    });
    const r = bunker(["--root", "/run/bunker", "run", "--bundle", b, "oci-idmapped"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toBe("0:0\n1000:1000\n");
    const made = statSync(join(src, "mine"));
    expect([made.uid, made.gid]).toEqual([1000, 1000]);
  });

  test.skipIf(idmapOld)("idmap without maps of its own takes the container's user namespace's: the host's root files are its root's", () => {
    const src = join(dir, "idmap-userns");
    mkdirSync(src);
    // The container's root is an unprivileged ID on the host: it reaches the source and the root
    // filesystem through their directories.
    chmodSync(dir, 0o755);
    chmodSync(dirname(suite.fs.path), 0o755);
    writeFileSync(join(src, "roots"), "x");
    const maps = [{ containerID: 0, hostID: 300000, size: 65536 }];
    const b = bundle((c) => {
      c.linux.namespaces.push({ type: "user" });
      c.linux.uidMappings = maps;
      c.linux.gidMappings = maps;
      c.mounts = c.mounts.filter((m: { destination: string }) => !["/sys", "/sys/fs/cgroup"].includes(m.destination));
      // Below /tmp: the container's root may make mount points only where anyone may.
      c.mounts.push({ destination: "/tmp/idmap", type: "bind", source: src, options: ["rbind", "rw", "idmap"] }, { destination: "/tmp/plain", type: "bind", source: src, options: ["rbind", "ro"] });
      c.process.args = ["sh", "-c", "stat -c %u /tmp/idmap/roots; stat -c %u /tmp/plain/roots; touch /tmp/idmap/made"];
    });
    const r = bunker(["--root", "/run/bunker", "run", "--bundle", b, "oci-idmap-userns"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    // Unmapped in the container's namespace, the plain bind's root file is the overflow ID.
    expect(r.stdout).toBe("0\n65534\n");
    expect(statSync(join(src, "made")).uid).toBe(0);
  });

  test("a joined user namespace (a pod's) owns the container's new namespaces; its root is the container's root", () => {
    chmodSync(dir, 0o755);
    chmodSync(dirname(suite.fs.path), 0o755);
    const maps = [{ containerID: 0, hostID: 310000, size: 65536 }];
    const userOnly = (c: Config) => {
      c.mounts = c.mounts.filter((m: { destination: string }) => !["/sys", "/sys/fs/cgroup"].includes(m.destination));
    };
    const pod = bundle((c) => {
      c.process.args = ["sleep", "60"];
      c.linux.namespaces.push({ type: "user" });
      c.linux.uidMappings = maps;
      c.linux.gidMappings = maps;
      userOnly(c);
    });
    try {
      expect(detached(["create", "--bundle", pod, "oci-userns-pod"]).code).toBe(0);
      expect(bunker(["start", "oci-userns-pod"]).code).toBe(0);
      const podPid = state("oci-userns-pod").pid;
      const member = bundle((c) => {
        c.process.args = ["sh", "-c", "readlink /proc/self/ns/user; cat /proc/self/uid_map | tr -s ' '; id -u; echo $$; readlink /proc/self/ns/net"];
        c.linux.namespaces.push({ type: "user", path: `/proc/${podPid}/ns/user` });
        userOnly(c);
      });
      const r = bunker(["--root", "/run/bunker", "run", "--bundle", member, "oci-userns-member"]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      const [userns, map, uid, pid, netns] = r.stdout.trim().split("\n");
      expect(userns).toBe(readlinkSync(`/proc/${podPid}/ns/user`));
      expect(map!.trim()).toBe("0 310000 65536");
      expect([uid, pid]).toEqual(["0", "1"]);
      // A network namespace of its own, not the pod's.
      expect(netns).not.toBe(readlinkSync(`/proc/${podPid}/ns/net`));
    } finally {
      bunker(["delete", "--force", "oci-userns-pod"]);
    }
  });

  test("a time and a cgroup namespace joined by path: the other container's clocks and cgroup view", () => {
    const first = bundle((c) => {
      c.process.args = ["sleep", "60"];
      c.linux.namespaces.push({ type: "time" });
      c.linux.timeOffsets = { boottime: { secs: 20 * 86400, nanosecs: 0 } };
    });
    try {
      expect(detached(["create", "--bundle", first, "oci-time-first"]).code).toBe(0);
      expect(bunker(["start", "oci-time-first"]).code).toBe(0);
      const pid = state("oci-time-first").pid;
      const joiner = bundle((c) => {
        c.process.args = ["sh", "-c", "readlink /proc/self/ns/time; readlink /proc/self/ns/cgroup; cut -d' ' -f1 /proc/uptime"];
        c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "cgroup");
        c.linux.namespaces.push({ type: "time", path: `/proc/${pid}/ns/time` }, { type: "cgroup", path: `/proc/${pid}/ns/cgroup` });
      });
      const host = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
      const r = bunker(["--root", "/run/bunker", "run", "--bundle", joiner, "oci-time-joiner"]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      const [time, cgroup, uptime] = r.stdout.trim().split("\n");
      expect([time, cgroup]).toEqual([readlinkSync(`/proc/${pid}/ns/time`), readlinkSync(`/proc/${pid}/ns/cgroup`)]);
      expect(Number(uptime) - host).toBeGreaterThan(20 * 86400 - 5);
    } finally {
      bunker(["delete", "--force", "oci-time-first"]);
    }
  });

  test("seccomp's LOG flag: a refused call is logged by the kernel, which it is not without the flag", () => {
    const logged = () => Bun.spawnSync(["dmesg"], { stdout: "pipe", stderr: "ignore" }).stdout.toString().split("\n").filter((l) => l.includes("type=1326") && l.includes('comm="mkdir"')).length;
    let n = 0;
    const probe = (flags: string[]) => {
      const b = bundle((c) => {
        c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"], flags, syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO" }] };
        c.process.args = ["sh", "-c", "mkdir /tmp/x 2>/dev/null; echo $?"];
      });
      const before = logged();
      const r = bunker(["--root", "/run/bunker", "run", "--bundle", b, `oci-seccomp-${n++}`]);
      expect([r.code, r.stdout, r.stderr]).toEqual([0, "1\n", ""]);
      return logged() > before;
    };
    expect(probe(["SECCOMP_FILTER_FLAG_LOG"])).toBe(true);
    expect(probe([])).toBe(false);
  });

  test("mount propagation: an rslave bind sees what the host mounts below its source later; a bind without one does not", async () => {
    // A shared mount point on the host, as systemd makes every mount.
    const src = join(dir, "propagation");
    mkdirSync(src);
    const host = (...args: string[]) => expect(Bun.spawnSync(["mount", ...args]).exitCode).toBe(0);
    host("-t", "tmpfs", "tmpfs", src);
    host("--make-shared", src);
    const b = bundle((c) => {
      c.process.args = ["sleep", "60"];
      c.mounts.push({ destination: "/mnt/slave", type: "bind", source: src, options: ["rbind", "rslave"] }, { destination: "/mnt/private", type: "bind", source: src, options: ["rbind"] });
    });
    try {
      expect(detached(["create", "--bundle", b, "oci-propagation"]).code).toBe(0);
      expect(bunker(["start", "oci-propagation"]).code).toBe(0);
      mkdirSync(join(src, "later"));
      host("-t", "tmpfs", "tmpfs", join(src, "later"));
      writeFileSync(join(src, "later", "file"), "propagated\n");
      const see = (path: string) => bunker(["--root", "/run/bunker", "exec", "oci-propagation", "sh", "-c", `cat ${path} 2>/dev/null || echo absent`]).stdout;
      expect(see("/mnt/slave/later/file")).toBe("propagated\n");
      expect(see("/mnt/private/later/file")).toBe("absent\n");
    } finally {
      bunker(["delete", "--force", "oci-propagation"]);
      Bun.spawnSync(["umount", "-R", src]);
    }
  });

  test("run starts the container in the foreground and exits with its status; run --detach returns", async () => {
    const b = bundle((c) => {
      c.process.args = ["sh", "-c", "echo in-run; exit 7"];
    });
    const r = bunker(["--root", "/run/bunker", "run", "--bundle", b, "oci-run"]);
    expect(r).toMatchObject({ code: 7, stdout: "in-run\n", stderr: "" });
    expect(bunker(["state", "oci-run"]).code).toBe(1);
    const d = bundle((c) => {
      c.process.args = ["sleep", "60"];
    });
    expect(detached(["run", "--detach", "--bundle", d, "oci-run-d"])).toMatchObject({ code: 0, stdout: "" });
    expect(state("oci-run-d").status).toBe("running");
    expect(bunker(["delete", "--force", "oci-run-d"]).code).toBe(0);
  });
});

describe.skipIf(!ready)("exec, ps, update", () => {
  test("exec --process --detach runs process.json's process and returns; its pid in the pid file, its umask and user its own", async () => {
    const b = bundle((c) => {
      c.process.args = ["sleep", "60"];
      c.linux.cgroupsPath = "/bunker-oci/exec";
    });
    expect(detached(["create", "--bundle", b, "oci-exec"]).code).toBe(0);
    try {
      expect(bunker(["start", "oci-exec"]).code).toBe(0);
      const marker = `oci-exec-${bundles}`;
      writeFileSync(
        join(b, "process.json"),
        JSON.stringify({ args: ["sh", "-c", `umask > /tmp/${marker}.tmp; id -u >> /tmp/${marker}.tmp; mv /tmp/${marker}.tmp /tmp/${marker}; exec sleep 60`], env: ["PATH=/bin"], cwd: "/", user: { uid: 1000, gid: 1000, umask: 0o27 } }),
      );
      const pidFile = join(b, "exec.pid");
      const r = detached(["--root", "/run/bunker", "exec", "--process", join(b, "process.json"), "--detach", "--pid-file", pidFile, "oci-exec"]);
      expect(r).toMatchObject({ code: 0, stdout: "", stderr: "" });
      const pid = Number(readFileSync(pidFile, "utf8"));
      await until(() => existsSync(join(suite.fs.path, "tmp", marker)), 5000, "the exec'd process to write its marker");
      expect(readFileSync(join(suite.fs.path, "tmp", marker), "utf8")).toBe("0027\n1000\n");
      rmSync(join(suite.fs.path, "tmp", marker));
      expect(alive(pid)).toBe(true);
      // It is in the container's cgroup, and runc's ps lists it by its host pid.
      const listed = JSON.parse(bunker(["--root", "/run/bunker", "ps", "--format", "json", "oci-exec"]).stdout) as number[];
      expect(listed).toContain(pid);
      expect(listed).toContain(state("oci-exec").pid);
      expect(listed.length).toBe(2);
    } finally {
      bunker(["delete", "--force", "oci-exec"]);
    }
  });

  test("exec in the foreground with flags: the container's process with the changes; its exit status", () => {
    const b = bundle((c) => {
      c.process.args = ["sleep", "60"];
      c.process.env.push("FROM_CONFIG=yes");
    });
    expect(detached(["create", "--bundle", b, "oci-exec-fg"]).code).toBe(0);
    try {
      expect(bunker(["start", "oci-exec-fg"]).code).toBe(0);
      const r = bunker(["--root", "/run/bunker", "exec", "--env", "ADDED=1", "--cwd", "/tmp", "--user", "1000:1000", "oci-exec-fg", "sh", "-c", "echo $FROM_CONFIG $ADDED $(pwd) $(id -u):$(id -g); exit 3"]);
      expect(r).toMatchObject({ code: 3, stdout: "yes 1 /tmp 1000:1000\n", stderr: "" });
      const stopped = bunker(["--root", "/run/bunker", "exec", "no-such-container", "true"]);
      expect(stopped).toMatchObject({ code: 1, stderr: "bunker: container no-such-container does not exist\n" });
    } finally {
      bunker(["delete", "--force", "oci-exec-fg"]);
    }
  });

  test("resources beyond bunker run's flags: a memory reservation lands in the container's cgroup", () => {
    const b = bundle((c) => {
      c.process.args = ["sleep", "60"];
      c.linux.cgroupsPath = "/bunker-oci/resources";
      c.linux.resources = { memory: { limit: 256 * 1024 * 1024, reservation: 128 * 1024 * 1024 } };
    });
    expect(detached(["create", "--bundle", b, "oci-resources"])).toMatchObject({ code: 0, stderr: "" });
    try {
      const read = (file: string) => cgroupMounts().map((m) => `${m}/bunker-oci/resources/${file}`).filter(existsSync).map((f) => readFileSync(f, "utf8").trim());
      // v1 names the reservation soft_limit_in_bytes, v2 memory.low: whichever hierarchy has the memory controller.
      expect([...read("memory.soft_limit_in_bytes"), ...read("memory.low")]).toEqual([String(128 * 1024 * 1024)]);
    } finally {
      bunker(["delete", "--force", "oci-resources"]);
    }
  });

  test("update changes a running container's limits, from JSON on stdin or single flags", () => {
    const b = bundle((c) => {
      c.process.args = ["sleep", "60"];
      c.linux.cgroupsPath = "/bunker-oci/update";
      c.linux.resources = { pids: { limit: 100 } };
    });
    expect(detached(["create", "--bundle", b, "oci-update"]).code).toBe(0);
    try {
      const pidsMax = () => cgroupMounts().map((m) => `${m}/bunker-oci/update/pids.max`).filter(existsSync).map((f) => readFileSync(f, "utf8").trim());
      expect(pidsMax()).toEqual(["100"]);
      // Between create and start too, as the kubelet does.
      expect(bunker(["update", "--resources", "-", "oci-update"], { stdin: JSON.stringify({ pids: { limit: 42 } }) })).toMatchObject({ code: 0, stderr: "" });
      expect(pidsMax()).toEqual(["42"]);
      expect(bunker(["start", "oci-update"]).code).toBe(0);
      expect(bunker(["update", "--pids-limit", "7", "oci-update"])).toMatchObject({ code: 0, stderr: "" });
      expect(pidsMax()).toEqual(["7"]);
      // -1 lifts the limit.
      expect(bunker(["update", "--resources", "-", "oci-update"], { stdin: JSON.stringify({ pids: { limit: -1 } }) })).toMatchObject({ code: 0, stderr: "" });
      expect(pidsMax()).toEqual(["max"]);
      expect(bunker(["update", "--pids-limit", "7", "oci-update"]).code).toBe(0);
      // docker's --cpus: a quota of that many periods' worth.
      expect(bunker(["update", "--cpus", "0.5", "oci-update"])).toMatchObject({ code: 0, stderr: "" });
      const quota = cgroupMounts().flatMap((m) => [`${m}/bunker-oci/update/cpu.cfs_quota_us`, `${m}/bunker-oci/update/cpu.max`]).filter(existsSync).map((f) => readFileSync(f, "utf8").trim());
      expect(quota.some((q) => q === "50000" || q === "50000 100000")).toBe(true);
      const bad = bunker(["update", "--resources", "-", "oci-update"], { stdin: JSON.stringify({ pids: { limit: "many" } }) });
      expect(bad).toMatchObject({ code: 1, stderr: "bunker: --resources.pids.limit: must be an integer from -1\n" });
      expect(pidsMax()).toEqual(["7"]);
    } finally {
      bunker(["delete", "--force", "oci-update"]);
    }
  });
});

describe.skipIf(!ready)("hooks", () => {
  test("each runs at its moment with the state on stdin: createRuntime and poststart on the host, createContainer and startContainer in the container's namespaces", async () => {
    const b = bundle((c) => {
      c.process.args = ["sleep", "60"];
      c.annotations = { "org.example.hook": "yes" };
    });
    // Each hook saves its stdin and the PID namespace it runs in. startContainer's path is inside the container.
    const save = (name: string, where: string) => ({ path: "/bin/sh", args: ["sh", "-c", `cat > ${where}/${name}.json; readlink /proc/self/ns/pid > ${where}/${name}.ns`], timeout: 10 });
    const c = JSON.parse(readFileSync(join(b, "config.json"), "utf8"));
    c.hooks = {
      createRuntime: [save("createRuntime", b)],
      createContainer: [save("createContainer", b)],
      // From the image: it runs with the container's own privileges (spec's defaults: AUDIT_WRITE, KILL, NET_BIND_SERVICE).
      startContainer: [{ path: "/bin/sh", args: ["sh", "-c", "cat > /tmp/startContainer.json; readlink /proc/self/ns/pid > /tmp/startContainer.ns; grep CapEff /proc/self/status > /tmp/startContainer.caps"], timeout: 10 }],
      poststart: [save("poststart", b)],
      poststop: [save("poststop", b)],
    };
    writeFileSync(join(b, "config.json"), JSON.stringify(c));
    expect(detached(["create", "--bundle", b, "oci-hooks"])).toMatchObject({ code: 0, stderr: "" });
    const pid = state("oci-hooks").pid as number;
    const read = (path: string) => JSON.parse(readFileSync(path, "utf8"));
    const expected = (status: string, p = pid) => ({ ociVersion: expect.stringMatching(/^1\./), id: "oci-hooks", status, pid: p, bundle: b, annotations: { "org.example.hook": "yes" } });
    const containerNs = Bun.spawnSync(["readlink", `/proc/${pid}/ns/pid`]).stdout.toString();
    const hostNs = Bun.spawnSync(["readlink", "/proc/self/ns/pid"]).stdout.toString();
    try {
      expect(read(join(b, "createRuntime.json"))).toEqual(expected("creating"));
      expect(readFileSync(join(b, "createRuntime.ns"), "utf8")).toBe(hostNs);
      expect(read(join(b, "createContainer.json"))).toEqual(expected("creating"));
      expect(readFileSync(join(b, "createContainer.ns"), "utf8")).toBe(containerNs);
      expect(existsSync(join(suite.fs.path, "tmp", "startContainer.json"))).toBe(false);
      expect(bunker(["start", "oci-hooks"])).toMatchObject({ code: 0, stderr: "" });
      expect(read(join(suite.fs.path, "tmp", "startContainer.json"))).toEqual(expected("created"));
      expect(readFileSync(join(suite.fs.path, "tmp", "startContainer.ns"), "utf8")).toBe(containerNs);
      expect(readFileSync(join(suite.fs.path, "tmp", "startContainer.caps"), "utf8")).toBe("CapEff:\t0000000020000420\n");
      expect(read(join(b, "poststart.json"))).toEqual(expected("running"));
      expect(existsSync(join(b, "poststop.json"))).toBe(false);
    } finally {
      expect(bunker(["delete", "--force", "oci-hooks"]).code).toBe(0);
      for (const f of ["startContainer.json", "startContainer.ns", "startContainer.caps"]) rmSync(join(suite.fs.path, "tmp", f), { force: true });
    }
    expect(read(join(b, "poststop.json"))).toEqual(expected("stopped", 0));
  });

  test("a failing or slow hook of creation fails create, naming the hook; nothing is left", () => {
    const failing = bundle((c) => {
      c.hooks = { createRuntime: [{ path: "/bin/sh", args: ["sh", "-c", "echo refused by policy >&2; exit 3"] }] };
    });
    const r = detached(["create", "--bundle", failing, "oci-hook-fail"]);
    expect(r).toMatchObject({ code: 1, stderr: "bunker: createRuntime hook 0 (/bin/sh) failed (exit status 3): refused by policy\n" });
    expect(bunker(["state", "oci-hook-fail"]).code).toBe(1);
    const slow = bundle((c) => {
      c.hooks = { createContainer: [{ path: "/bin/sleep", args: ["sleep", "30"], timeout: 1 }] };
    });
    const t = detached(["create", "--bundle", slow, "oci-hook-slow"]);
    expect(t).toMatchObject({ code: 1, stderr: "bunker: createContainer hook 0 (/bin/sleep) timed out after 1 s\n" });
    expect(bunker(["state", "oci-hook-slow"]).code).toBe(1);
  });
});

describe.skipIf(!ready)("the console socket", () => {
  test("with process.terminal the pty master goes to --console-socket: one descriptor, SCM_RIGHTS, as go-runc reads it", async () => {
    const b = bundle((c) => {
      c.process.terminal = true;
      c.process.consoleSize = { height: 33, width: 101 };
      c.process.args = ["sh", "-c", "tty; stty size; ls /proc/$$/fd > /tmp/oci-tty-fds; echo fds $(sort -n /tmp/oci-tty-fds | tr '\\n' ' '); rm /tmp/oci-tty-fds; read line; echo got $line"];
    });
    const sock = new ConsoleSocket(join(b, "console.sock"));
    let master = -1;
    try {
      expect(detached(["create", "--bundle", b, "--console-socket", sock.path, "oci-tty"])).toMatchObject({ code: 0, stderr: "" });
      const got = sock.receive();
      expect(got.data).toBeGreaterThan(0);
      expect(got.controlLength).toBe(24);
      expect(got.fds.length).toBe(1);
      master = got.fds[0]!;
      expect(ptyNumber(master)).not.toBeNull();
      expect(bunker(["start", "oci-tty"]).code).toBe(0);
      const out = await readUntil(master, "fds");
      // The terminal as 0, 1 and 2, and nothing else of bunker's (10: busybox sh's own copy of its terminal).
      expect(await readUntil(master, "\n", 2000).then((rest) => out + rest)).toMatch(/^\/dev\/pts\/\d+\r\n33 101\r\nfds 0 1 2( 10)?\r\n/);
      writeFd(master, "hello\n");
      expect(await readUntil(master, "got hello")).toContain("got hello");
    } finally {
      if (master >= 0) closeFd(master);
      sock.close();
      bunker(["delete", "--force", "oci-tty"]);
    }
  });

  test("a terminal without a console socket, a console socket that is not a socket: errors, nothing created", () => {
    const b = bundle((c) => {
      c.process.terminal = true;
    });
    const none = detached(["create", "--bundle", b, "oci-tty-bad"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe("bunker: process.terminal needs --console-socket: bunker does not stay to hold the terminal\n");
    writeFileSync(join(b, "not-a-socket"), "");
    const file = detached(["create", "--bundle", b, "--console-socket", join(b, "not-a-socket"), "oci-tty-bad"]);
    expect(file.code).toBe(1);
    expect(file.stderr).toBe(`bunker: --console-socket ${join(b, "not-a-socket")}: not a socket\n`);
    expect(bunker(["state", "oci-tty-bad"]).code).toBe(1);
  });
});

describe.skipIf(!ready)("global flags", () => {
  test("--root keeps the client's containers apart from bunker's own; --log with --log-format json gets runc's error lines", () => {
    const root = join(dir, "client-root");
    const b = bundle((c) => {
      c.process.args = ["true"];
    });
    const g = ["--root", root, "--log", join(dir, "log.json"), "--log-format", "json"];
    expect(detached([...g, "create", "--bundle", b, "oci-rooted"]).code).toBe(0);
    try {
      expect(statSync(root).mode & 0o777).toBe(0o700);
      expect(state("oci-rooted", ["--root", root]).status).toBe("created");
      // Not in bunker's own state directory.
      expect(bunker(["state", "oci-rooted"]).code).toBe(1);
      const list = JSON.parse(bunker(["--root", root, "list", "--format", "json"]).stdout);
      expect(list.map((s: { id: string }) => s.id)).toEqual(["oci-rooted"]);
      const failed = bunker([...g, "start", "no-such-container"]);
      expect(failed).toMatchObject({ code: 1, stderr: "bunker: container no-such-container does not exist\n" });
      const lines = readFileSync(join(dir, "log.json"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
      expect(lines.at(-1)).toEqual({ level: "error", msg: "container no-such-container does not exist", time: expect.stringMatching(/^\d{4}-/) });
    } finally {
      expect(bunker([...g, "delete", "--force", "oci-rooted"]).code).toBe(0);
    }
  });
});

describe.skipIf(!ready)("bad input: one line naming the field or path, exit 1, nothing left", () => {
  const cases: [string, (b: string) => string[], string | RegExp][] = [
    ["a missing bundle", () => ["create", "--bundle", "/nonexistent/bundle", "oci-bad"], "bunker: bundle /nonexistent/bundle: no such directory\n"],
    ["malformed JSON", (b) => (writeFileSync(join(b, "config.json"), "{ not json"), ["create", "--bundle", b, "oci-bad"]), /^bunker: \S+\/config\.json: not valid JSON: .*\n$/],
    ["process.args of the wrong type", (b) => (edit(b, (c) => (c.process.args = "sh")), ["create", "--bundle", b, "oci-bad"]), /config\.json: process\.args: must be a list of strings\n$/],
    ["an unknown namespace type", (b) => (edit(b, (c) => c.linux.namespaces.push({ type: "bogus" })), ["create", "--bundle", b, "oci-bad"]), /linux\.namespaces\[6\]\.type: unknown namespace type "bogus"/],
    ["a root.path that does not exist", (b) => (edit(b, (c) => (c.root.path = "nowhere")), ["create", "--bundle", b, "oci-bad"]), /root\.path: \S+\/nowhere is not a directory\n$/],
    ["an id with a slash", (b) => ["create", "--bundle", b, "a/b"], 'bunker: invalid container id "a/b": letters, digits, _ + - . (starting with a letter or digit), at most 255\n'],
    ["an id of dots", (b) => ["create", "--bundle", b, ".."], /^bunker: invalid container id "\.\."/],
    ["a field bunker does not honour", (b) => (edit(b, (c) => (c.linux.intelRdt = { closID: "x" })), ["create", "--bundle", b, "oci-bad"]), /linux\.intelRdt: is not supported yet\n$/],
    ["a systemd cgroupsPath", (b) => (edit(b, (c) => (c.linux.cgroupsPath = "system.slice:bunker:x")), ["create", "--bundle", b, "oci-bad"]), /linux\.cgroupsPath: "system\.slice:bunker:x" is a systemd slice:prefix:name/],
    ["hooks in a foreground run", (b) => (edit(b, (c) => (c.hooks = { poststart: [{ path: "/bin/true" }] })), ["--root", "/run/bunker", "run", "--bundle", b, "oci-bad"]), "bunker: hooks run with create and start: use bunker create and start, or run --detach\n"],
    ["a sysctl of the host", (b) => (edit(b, (c) => (c.linux.sysctl = { "kernel.panic": "1" })), ["create", "--bundle", b, "oci-bad"]), /linux\.sysctl\.kernel\.panic: not a namespaced sysctl/],
  ];
  const edit = (b: string, f: (c: Config) => void) => {
    const c = JSON.parse(readFileSync(join(b, "config.json"), "utf8"));
    f(c);
    writeFileSync(join(b, "config.json"), JSON.stringify(c));
  };
  for (const [what, args, message] of cases) {
    test(what, () => {
      const b = bundle();
      const r = bunker(args(b));
      expect(r.code).toBe(1);
      if (typeof message === "string") expect(r.stderr).toBe(message);
      else expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split("\n").length).toBe(1);
    });
  }

  test("a command that is not there fails create, as runc's does; nothing is left", () => {
    for (const [args, message] of [
      [["/no/such/program"], 'bunker: exec "/no/such/program": no such file or directory\n'],
      [["no-such-program", "-x"], 'bunker: exec "no-such-program": not found in PATH\n'],
    ] as const) {
      const b = bundle((c) => (c.process.args = args));
      expect(detached(["create", "--bundle", b, "oci-missing"])).toMatchObject({ code: 1, stderr: message });
      expect(bunker(["state", "oci-missing"]).code).toBe(1);
    }
  });

  test("a duplicate id", () => {
    const b = bundle((c) => (c.process.args = ["true"]));
    expect(detached(["create", "--bundle", b, "oci-dup"]).code).toBe(0);
    try {
      const r = detached(["create", "--bundle", b, "oci-dup"]);
      expect(r).toMatchObject({ code: 1, stderr: "bunker: container with id oci-dup already exists\n" });
    } finally {
      expect(bunker(["delete", "oci-dup"]).code).toBe(0);
    }
  });

  test("a client that dies between create and start: delete --force removes the container completely", () => {
    const b = bundle((c) => {
      c.linux.cgroupsPath = "/bunker-oci/orphan";
    });
    // The client (this sh) exits at once: the process it created is orphaned, waiting at its gate.
    const r = Bun.spawnSync(["sh", "-c", `${BUNKER} create --bundle ${b} oci-orphan > /dev/null 2>&1 < /dev/null`]);
    expect(r.exitCode).toBe(0);
    const pid = state("oci-orphan").pid as number;
    expect(alive(pid)).toBe(true);
    expect(bunker(["delete", "--force", "oci-orphan"]).code).toBe(0);
    expect(alive(pid)).toBe(false);
    expect(cgroupMounts().some((m) => existsSync(`${m}/bunker-oci/orphan`))).toBe(false);
  });
});

describe.skipIf(!ready)("rootless", () => {
  let u: TestUser | undefined;
  let bin: { path: string; dir: string } | undefined;
  let fs: Rootfs | undefined;
  beforeAll(() => {
    u = createUser("bunker-ci-oci", true);
    // The user reaches its bundle through the file's directory.
    chmodSync(dir, 0o755);
    bin = publicBinary(BUNKER);
    fs = makeRootfs({ owner: { uid: u.uid, gid: u.gid } });
  });
  afterAll(() => {
    fs?.remove();
    if (bin) rmSync(bin.dir, { recursive: true, force: true });
    if (u) removeUser(u);
  });

  test("an unprivileged user creates, starts and deletes a container of bunker spec --rootless's kind, with its subordinate IDs mapped", async () => {
    const user = u!;
    const b = join(dir, "rootless");
    mkdirSync(b);
    chownSync(b, user.uid, user.gid);
    const as = (args: string[]) => runAs(user, [bin!.path, ...args], {}, b);
    expect(as(["spec", "--rootless", "--bundle", b]).code).toBe(0);
    const c = JSON.parse(readFileSync(join(b, "config.json"), "utf8"));
    expect(c.linux.uidMappings).toEqual([{ containerID: 0, hostID: user.uid, size: 1 }]);
    c.root = { path: fs!.path, readonly: false };
    c.process.terminal = false;
    c.process.args = ["sh", "-c", "id -u; cat /proc/self/uid_map"];
    // Beyond its own ID, through newuidmap and newgidmap and the user's ranges.
    c.linux.uidMappings = [{ containerID: 0, hostID: user.uid, size: 1 }, { containerID: 1, hostID: user.subStart, size: 1000 }];
    c.linux.gidMappings = [{ containerID: 0, hostID: user.gid, size: 1 }, { containerID: 1, hostID: user.subStart, size: 1000 }];
    writeFileSync(join(b, "config.json"), JSON.stringify(c));
    const out = join(b, "out");
    const created = runAs(user, ["sh", "-c", 'exec "$@" > "$0" 2>&1 < /dev/null', out, bin!.path, "create", "--bundle", b, "oci-rootless"], {}, b);
    expect(created.code).toBe(0);
    try {
      expect(JSON.parse(as(["state", "oci-rootless"]).stdout).status).toBe("created");
      expect(as(["start", "oci-rootless"]).code).toBe(0);
      await until(() => readFileSync(out, "utf8").split("\n").length >= 4, 5000, "the container's output");
      const [id, ...map] = readFileSync(out, "utf8").trim().split("\n");
      expect(id).toBe("0");
      expect(map.map((l) => l.trim().split(/\s+/).map(Number))).toEqual([
        [0, user.uid, 1],
        [1, user.subStart!, 1000],
      ]);
    } finally {
      expect(as(["delete", "--force", "oci-rootless"]).code).toBe(0);
    }
  });

  test("rootless, a time namespace of its own is owned by the container's user namespace, its boot time offset", () => {
    const user = u!;
    const b = join(dir, "rootless-time");
    mkdirSync(b);
    chownSync(b, user.uid, user.gid);
    const as = (args: string[]) => runAs(user, [bin!.path, ...args], {}, b);
    expect(as(["spec", "--rootless", "--bundle", b]).code).toBe(0);
    const c = JSON.parse(readFileSync(join(b, "config.json"), "utf8"));
    c.root = { path: fs!.path, readonly: false };
    c.process.terminal = false;
    c.process.args = ["cat", "/proc/uptime"];
    c.linux.namespaces.push({ type: "time" });
    c.linux.timeOffsets = { boottime: { secs: 3 * 86400, nanosecs: 0 } };
    writeFileSync(join(b, "config.json"), JSON.stringify(c));
    const host = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
    const r = as(["run", "--bundle", b, "oci-rootless-time"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(Number(r.stdout.split(" ")[0]) - host).toBeGreaterThan(3 * 86400 - 5);
  });
});
