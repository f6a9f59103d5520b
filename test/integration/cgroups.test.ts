// Resource limits for real: memory (OOM kill, 137, the message, inspect),
// pids, CPU quota, the container's own cgroup namespace and read-only
// /sys/fs/cgroup, stats, pause/unpause, exec joining the cgroup, clean-up
// (also after bunker is killed), and rootless rules. Runs on whatever layout
// the host has: v1/hybrid here, pure v2 in the test VM (test/vm).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { bunker, BUNKER, isRoot, until } from "../helpers/bunker";
import { busyboxAvailable, makeRootfs, type Rootfs, giveRootfs } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";
import { createUser, publicBinary, removeUser, runAs, type TestUser } from "../helpers/users";

const mountinfo = readFileSync("/proc/self/mountinfo", "utf8");
/** Pure cgroup v2: one cgroup2 mount at /sys/fs/cgroup. */
const v2 = / \/sys\/fs\/cgroup [^ ]+ .* - cgroup2 /.test(mountinfo);
const v1Mounted = (c: string) => new RegExp(` - cgroup cgroup [^ ]*\\b${c}\\b`).test(mountinfo);
const v2Controllers = v2 ? readFileSync("/sys/fs/cgroup/cgroup.controllers", "utf8").trim().split(/\s+/) : [];
const NEEDED = v2 ? ["memory", "pids", "cpu"] : ["memory", "pids", "cpu", "cpuacct", "freezer"];
const missing = NEEDED.filter((c) => (v2 ? !v2Controllers.includes(c) : !v1Mounted(c)));

const ready = isRoot && busyboxAvailable() && missing.length === 0;
if (!ready) {
  console.warn(`skipping cgroup tests: ${!isRoot ? "they need root" : !busyboxAvailable() ? "busybox-static is not installed" : `the host lacks the ${missing.join(", ")} controller(s)`}`);
}
console.info(`cgroup tests on a ${v2 ? "pure cgroup v2" : "cgroup v1 (or hybrid)"} host`);

const suite = containerSuite(ready);

/** A file of the container's own cgroup, as it sees it under /sys/fs/cgroup. */
const inside = (v1dir: string, v1file: string, v2file: string) => (v2 ? `/sys/fs/cgroup/${v2file}` : `/sys/fs/cgroup/${v1dir}/${v1file}`);
/** The container's cgroup directories on the host. */
function hostDirs(id: string): string[] {
  const dirs = v2 ? [`/sys/fs/cgroup/bunker/${id}`] : readdirSync("/sys/fs/cgroup").map((h) => `/sys/fs/cgroup/${h}/bunker/${id}`);
  return dirs.filter((d) => existsSync(d));
}

const run = (args: string[], cmd: string) => bunker(["run", "--network", "none", ...args, "--rootfs", suite.fs.path, "--", "sh", "-c", cmd]);

function detached(args: string[], cmd: string): string {
  const r = bunker(["run", "-d", "--network", "none", ...args, "--rootfs", suite.fs.path, "--", "sh", "-c", cmd]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

const MEMORY_HOG = "x=a; while :; do x=$x$x; done";

describe.skipIf(!ready)("limits", () => {
  test("a process allocating past -m is killed: 137, the message, inspect and ps record it", () => {
    const r = bunker(["run", "--network", "none", "--name", "hog", "-m", "64m", "--rootfs", suite.fs.path, "--", "sh", "-c", MEMORY_HOG]);
    expect(r.code).toBe(137);
    const info = JSON.parse(bunker(["inspect", "hog"]).stdout)[0];
    expect(r.stderr).toContain(`bunker: container ${info.id} was killed: out of memory (limit 64 MiB)\n`);
    expect(info).toMatchObject({ status: "stopped", exitCode: 137, oomKilled: true, memoryLimit: 64 * 1024 * 1024 });
    expect(bunker(["ps", "-a"]).stdout).toMatch(/Exited \(137, out of memory\)/);
    expect(hostDirs(info.id)).toEqual([]);
    bunker(["rm", "hog"]);
  });

  test("with --init the command is killed for memory, not bunker: 137 and the message", () => {
    // --init's PID 1 lives on; had it shared bunker's memory, the OOM killer would take bunker too.
    const r = run(["--init", "-m", "16m"], MEMORY_HOG);
    expect(r.code).toBe(137);
    expect(r.stderr).toMatch(/bunker: container [0-9a-f]{12} was killed: out of memory \(limit 16 MiB\)\n$/);
  });

  test("a container killed by a signal without OOM gets no OOM message", () => {
    // PID 1 cannot be killed from inside its own namespace: a child is, and its status passed on.
    const r = run(["-m", "64m"], "sleep 30 & kill -9 $!; wait $!");
    expect(r.code).toBe(137);
    expect(r.stderr).not.toContain("out of memory");
  });

  test("each flag lands in its cgroup file, seen from inside at the root of its own hierarchy", () => {
    // Swap is accounted per cgroup (memsw on v1, memory.swap.max on v2) unless the kernel was told not to.
    const swap = v2 ? existsSync("/sys/fs/cgroup/bunker/memory.swap.max") : existsSync("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
    if (!swap) {
      // Then --memory-swap cannot be enforced, which must be an error; the other flags are checked without it.
      console.warn("this host accounts no swap per cgroup: --memory-swap is checked for its error only");
      const r = run(["-m", "100m", "--memory-swap", "300m"], "true");
      expect([r.code, r.stderr]).toEqual([125, expect.stringMatching(/^bunker: --memory-swap: this host's memory controller has no memory\.(memsw\.limit_in_bytes|swap\.max)\n$/)]);
    }
    const cpuset = !v2 || v2Controllers.includes("cpuset");
    const expected: Record<string, string> = v2
      ? { "memory.max": "104857600", ...(swap ? { "memory.swap.max": "209715200" } : {}), "cpu.max": "150000 100000", "cpu.weight": "59", ...(cpuset ? { "cpuset.cpus": "0" } : {}), "pids.max": "50" }
      : {
          "memory/memory.limit_in_bytes": "104857600",
          ...(swap ? { "memory/memory.memsw.limit_in_bytes": "314572800" } : {}),
          "cpu/cpu.cfs_quota_us": "150000",
          "cpu/cpu.cfs_period_us": "100000",
          "cpu/cpu.shares": "512",
          "cpuset/cpuset.cpus": "0",
          "pids/pids.max": "50",
        };
    const files = Object.keys(expected);
    const flags = ["-m", "100m", ...(swap ? ["--memory-swap", "300m"] : []), "--cpus", "1.5", "--cpu-shares", "512", "--pids-limit", "50", ...(cpuset ? ["--cpuset-cpus", "0"] : [])];
    const r = run(flags, files.map((f) => `cat /sys/fs/cgroup/${f} 2>&1 || echo missing`).join("; "));
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(Object.fromEntries(files.map((f, i) => [f, r.stdout.trim().split("\n")[i]]))).toEqual(expected);
  });

  test("a PID limit of 2048 by default; --pids-limit N sets N, 0 and -1 none", () => {
    const pidsMax = `cat ${inside("pids", "pids.max", "pids.max")}`;
    const cases: [string[], string][] = [
      [[], "2048"],
      [["--pids-limit", "100"], "100"],
      [["--pids-limit", "0"], "max"],
      [["--pids-limit", "-1"], "max"],
    ];
    for (const [flags, want] of cases) {
      const r = run(flags, pidsMax);
      expect(r.stderr).toBe("");
      expect([flags, r.stdout.trim()]).toEqual([flags, want]);
    }
    // The default is not a limit asked for: without a cgroup there is none, and no error.
    const none = run(["--cgroups=disabled"], "echo ran");
    expect(none).toMatchObject({ code: 0, stdout: "ran\n", stderr: "" });
  });

  test("--pids-limit stops a fork loop at the limit", () => {
    // The inner shell gives up at the first fork that fails; the sleeps it started stay until the container ends.
    const r = run(["--pids-limit", "20"], `sh -c 'i=0; while [ $i -lt 60 ]; do sleep 30 & i=$((i+1)); done'; cat ${inside("pids", "pids.current", "pids.current")}`);
    expect(r.code).toBe(0);
    const current = Number(r.stdout.trim());
    expect(current).toBeGreaterThanOrEqual(15);
    expect(current).toBeLessThanOrEqual(20);
    expect(r.stderr).toMatch(/can't fork|Resource temporarily unavailable/);
  });

  test("--cpus throttles a busy loop: CPU time well under the wall time", () => {
    const usage = v2 ? "sed -n 's/^usage_usec //p' /sys/fs/cgroup/cpu.stat" : "echo $(($(cat /sys/fs/cgroup/cpuacct/cpuacct.usage) / 1000))";
    const r = run(["--cpus", "0.2"], `while :; do :; done & sleep 2; ${usage}; kill $!`);
    expect(r.stderr).toBe("");
    const usedSec = Number(r.stdout.trim()) / 1e6;
    // 0.2 CPUs for 2 s is 0.4 s; unthrottled the loop would take the full 2 s.
    expect(usedSec).toBeGreaterThan(0.05);
    expect(usedSec).toBeLessThan(0.9);
  });

  test("bad limits are one-line 125 errors; so are limits with --cgroups=disabled", () => {
    const cases: [string[], RegExp][] = [
      [["-m", "12x"], /^bunker: --memory "12x": not a size/],
      [["--cpus", "0"], /^bunker: --cpus "0": not a positive number/],
      [["--cpuset-cpus", "3-1"], /^bunker: --cpuset-cpus "3-1": the range 3-1 runs backwards/],
      [["--cgroups=disabled", "-m", "64m"], /^bunker: resource limits need cgroups: leave out --cgroups=disabled or the limits/],
      [["--cgroups", "maybe"], /^bunker: unknown --cgroups mode "maybe"/],
    ];
    for (const [flags, msg] of cases) {
      const r = run(flags, "true");
      expect(r.code).toBe(125);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
    if (!v2 || v2Controllers.includes("cpuset")) {
      const r = run(["--cpuset-cpus", "4095"], "true");
      expect(r.code).toBe(125);
      expect(r.stderr).toMatch(/^bunker: --cpuset-cpus 4095: write \/sys\/fs\/cgroup\/.*cpuset\.cpus: .* \(the CPUs available are [0-9,-]+\)\n$/);
    }
  });

  test("--blkio-weight is enforced where the host has a weight file, and an error where it has none", () => {
    const r = run(["--blkio-weight", "500"], v2 ? "cat /sys/fs/cgroup/io.bfq.weight /sys/fs/cgroup/io.weight 2>/dev/null; true" : "cat /sys/fs/cgroup/blkio/blkio.weight /sys/fs/cgroup/blkio/blkio.bfq.weight 2>/dev/null; true");
    if (r.code === 0) expect(r.stdout).toMatch(/^(default )?500\n|default 4950\n/m);
    else expect(r.stderr).toMatch(/^bunker: --blkio-weight(: this host's (blkio|io) controller has no \S+ or \S+| needs the io controller, which this host's cgroups do not offer)\n$/);
  });
});

describe.skipIf(!ready)("the container's view", () => {
  test("it sees itself at / of every hierarchy; /sys/fs/cgroup is read-only", () => {
    const r = run(["-m", "64m"], "cat /proc/self/cgroup; echo ---; ls /sys/fs/cgroup; echo ---; mkdir /sys/fs/cgroup/x 2>&1; { echo 1 > /sys/fs/cgroup/" + (v2 ? "pids.max" : "pids/pids.max") + "; } 2>&1; true");
    const [cg, list, errors] = r.stdout.split("---\n") as [string, string, string];
    for (const line of cg.trim().split("\n")) expect(line).toMatch(/:\/$/);
    if (v2) expect(list).toContain("memory.max");
    else expect(list.split("\n")).toEqual(expect.arrayContaining(["memory", "pids", "cpu", "freezer"]));
    expect(errors).toMatch(/Read-only file system/);
    expect(errors.split("\n").filter((l) => /Read-only/.test(l))).toHaveLength(2);
  });

  // Moved into its cgroups from outside (cgroup.procs), a process waits for an RCU grace period
  // (8 to 30 ms). The first process is born in its cgroup v2 directory (clone3) and moves itself
  // into the v1 ones (their tasks files); where clone3 is missing (the interpreter compiled at run
  // time) bunker moves it after clone. It must end up in every one of them either way.
  for (const [how, env] of [
    ["born in its v2 cgroup", {}],
    ["moved there after clone (BUNKER_NATIVE=compile)", { BUNKER_NATIVE: "compile" }],
  ] as const) {
    const noV2 = !/ - cgroup2 /.test(mountinfo);
    if (ready && noV2) console.warn(`skipping "${how}": this host has no cgroup v2 hierarchy to start a process in`);
    test.skipIf(noV2)(`its first process is in every one of its cgroups before it runs: ${how}`, () => {
      const r = bunker(["run", "--network", "none", "--log-level", "debug", "--pids-limit", "50", "--rootfs", suite.fs.path, "--", "sh", "-c", "cat /proc/self/cgroup"], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
      });
      expect(r.code).toBe(0);
      const lines = r.stdout.trim().split("\n");
      // Every hierarchy of the host, the v2 one ("0::") included, each at the root of the container's view.
      expect(lines.length).toBe(readFileSync("/proc/self/cgroup", "utf8").trim().split("\n").length);
      for (const line of lines) expect(line).toMatch(/:\/$/);
      const movedAfter = /the container process is moved into its cgroup after clone: clone3 into \S+: (.+)$/m.exec(r.stderr);
      const bornIn = /the container process started in its cgroup \S+ \(clone3\)$/m.test(r.stderr);
      if (how === "born in its v2 cgroup") expect([bornIn, movedAfter]).toEqual([true, null]);
      else expect([bornIn, movedAfter?.[1]]).toEqual([false, "Function not implemented"]);
    });
  }

  test("the limit seen inside is the container's own (its cgroup is the root of its view)", () => {
    const r = run(["-m", "80m"], `cat ${inside("memory", "memory.limit_in_bytes", "memory.max")}`);
    expect(r.stdout.trim()).toBe(String(80 * 1024 * 1024));
  });

  test("bunker exec joins the container's cgroups", () => {
    const id = detached(["--pids-limit", "30"], "sleep 30");
    try {
      const r = bunker(["exec", id, "sh", "-c", `cat /proc/self/cgroup; cat ${inside("pids", "pids.current", "pids.current")}`]);
      expect(r.code).toBe(0);
      const lines = r.stdout.trim().split("\n");
      for (const line of lines.slice(0, -1)) expect(line).toMatch(/:\/$/);
      // sleep, and exec's cat (sh execs its last command): without joining only sleep would count.
      expect(Number(lines.at(-1))).toBe(2);
    } finally {
      bunker(["rm", "-f", id]);
    }
  });

  test("bunker exec needs room for its command only: it works in a container one process short of its limit", () => {
    // Were the process that enters the namespaces placed in the cgroup, it would take the last slot, and the command's fork would fail.
    const id = detached(["--pids-limit", "2"], "sleep 30");
    try {
      const r = bunker(["exec", id, "sh", "-c", `cat ${inside("pids", "pids.current", "pids.current")}`]);
      expect(r).toMatchObject({ code: 0, stdout: "2\n", stderr: "" });
    } finally {
      bunker(["rm", "-f", id]);
    }
  });
});

describe.skipIf(!ready)("lifecycle", () => {
  test("the cgroups exist while the container runs and are gone after it stops", () => {
    const id = detached(["-m", "64m"], "sleep 30");
    expect(hostDirs(id).length).toBeGreaterThan(0);
    expect(bunker(["stop", "-t", "0", id]).code).toBe(0);
    expect(hostDirs(id)).toEqual([]);
    bunker(["rm", id]);
  });

  test("pause stops progress and unpause resumes it; ps and inspect say paused; exec is refused meanwhile", async () => {
    // Each counts in a file of its own: the two share the rootfs.
    const tick = (file: string) => `i=0; while :; do i=$((i+1)); echo $i > /tmp/${file}; sleep 0.02; done`;
    const id = detached(["--name", "ticker"], tick("n"));
    // A second ticker, never paused: while it moves on, the paused one would have too.
    const control = detached([], tick("control"));
    try {
      const counterOf = (pid: number, file: string) => () => Number(readFileSync(`/proc/${pid}/root/tmp/${file}`, "utf8").trim() || 0);
      const counter = counterOf(JSON.parse(bunker(["inspect", id]).stdout)[0].pid, "n");
      const controlCounter = counterOf(JSON.parse(bunker(["inspect", control]).stdout)[0].pid, "control");
      await until(() => {
        try {
          return counter() > 2 && controlCounter() > 2;
        } catch {
          return false;
        }
      }, 5000, "the counters to start");
      expect(bunker(["pause", "ticker"])).toMatchObject({ code: 0, stdout: "ticker\n" });
      const frozenAt = counter();
      const controlAt = controlCounter();
      await until(() => controlCounter() > controlAt + 5, 5000, "the control counter to move on");
      expect(counter()).toBe(frozenAt);
      expect(JSON.parse(bunker(["ps", "--json"]).stdout).find((e: { id: string }) => e.id === id).status).toBe("paused");
      expect(JSON.parse(bunker(["inspect", id]).stdout)[0]).toMatchObject({ status: "paused", paused: true });
      expect(bunker(["ps"]).stdout).toMatch(/\(Paused\)/);
      expect(bunker(["pause", "ticker"])).toMatchObject({ code: 1, stderr: "bunker: container ticker is already paused\n" });
      expect(bunker(["exec", "ticker", "true"])).toMatchObject({ code: 125, stderr: "bunker: container ticker is paused: unpause it first (bunker unpause ticker)\n" });
      expect(bunker(["unpause", "ticker"])).toMatchObject({ code: 0, stdout: "ticker\n" });
      await until(() => counter() > frozenAt + 3, 5000, "the counter to move on");
      expect(bunker(["unpause", "ticker"])).toMatchObject({ code: 1, stderr: "bunker: container ticker is not paused\n" });
      // A paused container can still be removed: it is thawed to die.
      expect(bunker(["pause", "ticker"]).code).toBe(0);
    } finally {
      expect(bunker(["rm", "-f", id, control]).code).toBe(0);
    }
    expect(hostDirs(id)).toEqual([]);
  });

  test("a freeze bunker did not record (an interrupted pause) is still undone by unpause and by rm -f", async () => {
    const freeze = (id: string) =>
      v2 ? writeFileSync(`/sys/fs/cgroup/bunker/${id}/cgroup.freeze`, "1") : writeFileSync(`/sys/fs/cgroup/freezer/bunker/${id}/freezer.state`, "FROZEN");
    const a = detached([], "sleep 30");
    const b = detached([], "sleep 30");
    try {
      freeze(a);
      freeze(b);
      expect(bunker(["unpause", a])).toMatchObject({ code: 0, stdout: `${a}\n` });
      expect(bunker(["exec", a, "true"]).code).toBe(0);
    } finally {
      expect(bunker(["rm", "-f", a, b]).code).toBe(0);
    }
    expect([...hostDirs(a), ...hostDirs(b)]).toEqual([]);
  });

  test("stats prints sane numbers for a busy, limited container, once or refreshed", async () => {
    const id = detached(["--name", "busy", "--cpus", "0.5", "-m", "64m"], "while :; do :; done");
    try {
      const json = bunker(["stats", "--no-stream", "--json", "busy"]);
      expect(json.code).toBe(0);
      const [row] = JSON.parse(json.stdout);
      expect(row).toMatchObject({ id, name: "busy", memoryLimit: 64 * 1024 * 1024 });
      expect(row.cpuPercent).toBeGreaterThan(15);
      expect(row.cpuPercent).toBeLessThan(75);
      expect(row.memoryUsage).toBeGreaterThan(0);
      expect(row.memoryUsage).toBeLessThan(64 * 1024 * 1024);
      expect(row.memoryPercent).toBeGreaterThan(0);
      expect(row.pids).toBeGreaterThanOrEqual(1);
      const table = bunker(["stats", "--no-stream"]);
      expect(table.stdout.split("\n")[0]).toMatch(/^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+PIDS$/);
      expect(table.stdout).toMatch(new RegExp(`${id}\\s+busy\\s+\\d+\\.\\d\\d%\\s+[\\d.]+ [KM]iB / 64 MiB\\s+[\\d.]+%\\s+1\\n`));
      // Without --no-stream a new reading comes every second until interrupted.
      const stream = Bun.spawn([BUNKER, "stats", "--json", "busy"], { stdout: "pipe", stderr: "pipe" });
      const readings: string[] = [];
      const reader = stream.stdout.getReader();
      let text = "";
      while (readings.length < 2) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
        readings.push(...text.split("\n").slice(readings.length, -1));
      }
      stream.kill("SIGINT");
      await stream.exited;
      expect(readings).toHaveLength(2);
      for (const r of readings) expect(JSON.parse(r)[0]).toMatchObject({ id, memoryLimit: 64 * 1024 * 1024 });
    } finally {
      bunker(["rm", "-f", id]);
    }
  });

  test("without cgroups: stats shows dashes, pause says why it cannot", () => {
    const id = detached(["--cgroups=disabled"], "sleep 30");
    try {
      expect(hostDirs(id)).toEqual([]);
      expect(bunker(["stats", "--no-stream", id]).stdout).toMatch(new RegExp(`${id}\\s+--\\s+--\\s+--\\s+--`));
      const r = bunker(["pause", id]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`bunker: container ${id} has no cgroup to freeze (it runs with --cgroups=disabled, or rootless without a delegated cgroup)\n`);
    } finally {
      bunker(["rm", "-f", id]);
    }
  });

  test("after bunker is killed with SIGKILL, the next command removes the cgroups it left", async () => {
    const id = detached(["-m", "64m"], "sleep 30");
    const info = JSON.parse(bunker(["inspect", id]).stdout)[0];
    process.kill(info.supervisor, "SIGKILL");
    await until(() => !existsSync(`/proc/${info.pid}`), 5000, "the container to die with its supervisor");
    expect(hostDirs(id).length).toBeGreaterThan(0);
    bunker(["ps", "-a"]);
    await until(() => hostDirs(id).length === 0, 5000, "the cgroups to be removed");
    bunker(["rm", id]);
  });
});

/** Rootless: only with a delegated cgroup v2 subtree; otherwise limits are refused. */
const rootlessReady = ready && existsSync("/usr/bin/newuidmap") && existsSync("/usr/bin/setpriv");
if (ready && !rootlessReady) console.warn("skipping rootless cgroup tests: uidmap (newuidmap) or setpriv is missing");
if (rootlessReady) {
  console.warn(
    v2
      ? "skipping the rootless test of a host without cgroup v2: this one is pure cgroup v2"
      : "skipping the rootless tests of a delegated cgroup v2 subtree: this host's controllers are on cgroup v1 (the test VM runs them: test/vm)",
  );
}
describe.skipIf(!rootlessReady)("rootless", () => {
  let user: TestUser;
  let bin: { path: string; dir: string };
  let fs: Rootfs;
  let deleg: string;

  beforeAll(() => {
    user = createUser("bunker-ci-cg", true);
    bin = publicBinary(BUNKER);
    fs = makeRootfs();
    giveRootfs(fs, user);
    if (v2) {
      // What systemd's Delegate=yes gives a user: a cgroup of its own, with controllers, holding its session below.
      deleg = `/sys/fs/cgroup/bunker-test-${user.uid}`;
      mkdirSync(deleg);
      writeFileSync("/sys/fs/cgroup/cgroup.subtree_control", "+memory +pids +cpu");
      for (const f of ["", "/cgroup.procs", "/cgroup.subtree_control", "/cgroup.threads"]) chownSync(`${deleg}${f}`, user.uid, user.gid);
      mkdirSync(`${deleg}/session`);
      for (const f of ["", "/cgroup.procs", "/cgroup.threads"]) chownSync(`${deleg}/session${f}`, user.uid, user.gid);
    }
  });

  afterAll(async () => {
    fs?.remove();
    Bun.spawnSync(["rm", "-rf", bin.dir]);
    try {
      for (const d of deleg ? [`${deleg}/bunker`, `${deleg}/session`, deleg] : []) {
        await until(() => {
          try {
            if (existsSync(d)) rmdirSync(d);
            return true;
          } catch {
            return false;
          }
        }, 5000, `${d} to empty`);
      }
    } finally {
      removeUser(user);
    }
  });

  /** bunker run as the user, from inside its delegated cgroup when there is one. */
  const asUser = (args: string[], cmd: string) => inDeleg([bin.path, "run", "--network", "none", ...args, "--rootfs", fs.path, "--", "sh", "-c", cmd]);

  /** A command as the user, from inside its delegated cgroup when there is one. */
  const inDeleg = (line: string[]) => {
    if (!deleg) return runAs(user, line);
    const quoted = line.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
    const r = Bun.spawnSync(["sh", "-c", `echo $$ > ${deleg}/session/cgroup.procs && exec setpriv --reuid=${user.uid} --regid=${user.gid} --init-groups ${quoted}`], {
      env: { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" },
      stdout: "pipe",
      stderr: "pipe",
    });
    return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  };

  test.skipIf(v2)("without a delegated cgroup v2 subtree, limits are a 125 error naming it; no limits run without cgroups", () => {
    const r = asUser(["-m", "64m"], "true");
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/^bunker: resource limits need cgroups: this host('s controllers are on cgroup v1 \(a hybrid layout\)| has only cgroup v1), which only root may use; a rootless user needs a cgroup v2 subtree delegated to it \(systemd: .*\), or run without limits\n$/);
    const ok = asUser([], "cat /proc/self/cgroup | head -1; ls /sys/fs/cgroup | head -1");
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout.split("\n")[0]).toMatch(/:\/$/);
  });

  test("without a delegated subtree the default PID limit is no reason to fail: the container runs, without a cgroup", () => {
    // Straight from the test's own (root's) cgroup: nothing there is the user's to write.
    const r = runAs(user, [bin.path, "run", "--network", "none", "--rootfs", fs.path, "--", "sh", "-c", "cat /proc/self/cgroup"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/:\/\n$/);
  });

  test.skipIf(!v2)("with a delegated subtree the default PID limit applies, and --pids-limit 0 lifts it", () => {
    expect(asUser([], "cat /sys/fs/cgroup/pids.max")).toMatchObject({ code: 0, stdout: "2048\n", stderr: "" });
    expect(asUser(["--pids-limit", "0"], "cat /sys/fs/cgroup/pids.max")).toMatchObject({ code: 0, stdout: "max\n", stderr: "" });
  });

  test.skipIf(!v2)("bunker exec as the user joins the container's cgroup from inside the delegated subtree, and from outside runs beside it with a warning", () => {
    const d = inDeleg([bin.path, "run", "-d", "--network", "none", "--pids-limit", "2", "--rootfs", fs.path, "--", "sleep", "30"]);
    expect(d.code).toBe(0);
    const id = d.stdout.trim();
    try {
      // sleep and cat, at the limit: the process that entered the namespaces took no place.
      expect(inDeleg([bin.path, "exec", id, "cat", "/sys/fs/cgroup/pids.current"])).toMatchObject({ code: 0, stdout: "2\n", stderr: "" });
      // From the test's own cgroup, the root's: moving a process from there is not the user's to do.
      const out = runAs(user, [bin.path, "exec", id, "cat", "/proc/self/cgroup"]);
      expect(out.code).toBe(0);
      expect(out.stdout).not.toBe("0::/\n");
      expect(out.stderr).toMatch(/^bunker warn: place the process in the container's cgroup: .*: the command runs outside the container's cgroups\n$/);
    } finally {
      inDeleg([bin.path, "rm", "-f", id]);
    }
  });

  test.skipIf(!v2)("with a delegated subtree: the cgroup goes below it, limits hold, OOM is reported", () => {
    const r = asUser(["--pids-limit", "25", "-m", "64m"], "cat /proc/self/cgroup /sys/fs/cgroup/pids.max /sys/fs/cgroup/memory.max");
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`0::/\n25\n${64 * 1024 * 1024}\n`);
    const oom = asUser(["-m", "64m"], MEMORY_HOG);
    expect(oom.code).toBe(137);
    expect(oom.stderr).toMatch(/bunker: container [0-9a-f]{12} was killed: out of memory \(limit 64 MiB\)\n$/);
    expect(readdirSync(`${deleg}/bunker`).filter((e) => /^[0-9a-f]{12}$/.test(e))).toEqual([]);
  });
});
