// The rootless side of features.test.ts, as a throw-away unprivileged user
// with subordinate ranges: volume options, --network private, the fallback
// when no network helper can be found, -p 80 and ranges through slirp4netns,
// --userns host refused, and the helper a killed bunker left, stopped by the
// next run and by stats.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNKER, isRoot, requireBinary, until } from "../helpers/bunker";
import { freeRange } from "../helpers/ports";
import { busyboxAvailable, makeRootfs, type Rootfs } from "../helpers/rootfs";
import { guardLeaks } from "../helpers/suite";
import { fetchWhenUp } from "../helpers/tcp";
import { hasDefaultRoute, helperInstalled, helperPaths, tunOpen } from "../helpers/netenv";
import { createUser, publicBinary, removeUser, runAs, type TestUser } from "../helpers/users";

const uidmap = existsSync("/usr/bin/newuidmap") && existsSync("/usr/bin/newgidmap");
const ready = isRoot && busyboxAvailable() && uidmap && existsSync("/usr/bin/setpriv");
if (!ready) {
  console.warn(`skipping rootless feature tests: ${!isRoot ? "they need root to create test users" : !uidmap ? "uidmap (newuidmap/newgidmap) is not installed" : "busybox-static or setpriv is missing"}`);
}

const slirp = helperInstalled("slirp4netns");
const pasta = helperInstalled("pasta");
const tunIsOpen = tunOpen();
const defaultRoute = hasDefaultRoute();
const unshare = ["/usr/bin/unshare", "/bin/unshare"].find((p) => existsSync(p));
if (ready && !tunIsOpen) console.warn("skipping rootless network feature tests: /dev/net/tun is not mode 0666");
if (ready && tunIsOpen && !slirp) console.warn("skipping rootless slirp4netns tests: slirp4netns is not installed");
if (ready && tunIsOpen && !(pasta && defaultRoute)) console.warn(`skipping the killed-bunker helper tests: ${pasta ? "the host has no default route for pasta" : "pasta (passt) is not installed"}`);
if (ready && !unshare) console.warn("skipping the no-helper fallback test: unshare (util-linux) is missing");

let user: TestUser;
let bin: { path: string; dir: string };
let fs: Rootfs;

// Before the file's own hooks: its snapshot comes first, each test is checked on its own, and
// the file's check runs before the user (and the user's state directory) goes.
const guard = guardLeaks(ready);

beforeAll(() => {
  if (!ready) return;
  requireBinary();
  user = createUser("bunker-ci-feat", true);
  bin = publicBinary(BUNKER);
  fs = makeRootfs({ owner: user });
});

afterAll(async () => {
  if (!ready) return;
  await guard.check(() => {
    fs.remove();
    rmSync(bin.dir, { recursive: true, force: true });
    removeUser(user);
  });
});

const PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
const as = (args: string[]) => runAs(user, [bin.path, ...args], {}, bin.dir);
const run = (args: string[], cmd: string) => as(["run", "--rm", ...args, "--rootfs", fs.path, "--", "sh", "-c", cmd]);
const userState = () => `/tmp/bunker-${user.uid}`;
const userContainers = () => (existsSync(userState()) ? readdirSync(userState()).filter((e) => /^[0-9a-f]{12}$/.test(e)) : []);

/** This user's processes whose command name matches. */
function processesOf(comm: RegExp): number[] {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        const status = readFileSync(`/proc/${e}/status`, "utf8");
        return new RegExp(`^Uid:\\s+${user.uid}\\s`, "m").test(status) && !/^State:\s+Z/m.test(status) && comm.test(readFileSync(`/proc/${e}/comm`, "utf8").trim());
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe.skipIf(!ready)("volume options, rootless", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync("/var/tmp/bunker-test-volopts-");
    copyFileSync("/bin/busybox", join(dir, "busybox"));
    // The host's cat: busybox drops a setuid identity before its applets run.
    copyFileSync("/bin/cat", join(dir, "cat"));
    Bun.spawnSync(["chown", "-R", `${user.uid}:${user.gid}`, dir]);
    // After chown, which clears the setuid bit: the user's own setuid program, root's inside.
    chmodSync(join(dir, "cat"), 0o4755);
    chmodSync(join(dir, "busybox"), 0o755);
    chmodSync(dir, 0o755);
    // A node the user may open on the host (root made it: the user cannot).
    expect(Bun.spawnSync(["mknod", "-m", "666", join(dir, "null"), "c", "1", "3"]).exitCode).toBe(0);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("noexec: a program in the volume does not run; without it, it does", () => {
    const cmd = "/vol/busybox echo ran";
    expect(run(["--network", "none", "-v", `${dir}:/vol`], cmd)).toMatchObject({ code: 0, stdout: "ran\n" });
    expect(run(["--network", "none", "-v", `${dir}:/vol:noexec`], cmd)).toMatchObject({ code: 126, stdout: "", stderr: "sh: /vol/busybox: Permission denied\n" });
  });

  test("nodev: a device node the user may open on the host does not open in the volume; without it, it does", () => {
    const cmd = "cat /vol/null && echo opened";
    expect(run(["--network", "none", "-v", `${dir}:/vol`], cmd)).toMatchObject({ code: 0, stdout: "opened\n" });
    expect(run(["--network", "none", "-v", `${dir}:/vol:nodev`], cmd)).toMatchObject({ code: 1, stdout: "", stderr: "cat: can't open '/vol/null': Permission denied\n" });
  });

  test("nosuid: the user's setuid program runs as container user 1000, not as container root; without it, as root", () => {
    // No rootfs: the host's view, where the host's cat finds its libraries; no_new_privs off in both.
    const probe = (opts: string) =>
      as(["run", "--host-root", "--rm", "--network", "none", "-u", "1000", "-w", "/", "--security-opt", "no-new-privileges=false", "-v", `${dir}:/mnt${opts}`, "--", "/mnt/cat", "/proc/self/status"]);
    const uids = (r: { stdout: string; stderr: string }) => r.stdout.split("\n").find((l) => l.startsWith("Uid:")) ?? r.stderr;
    expect(uids(probe(""))).toBe("Uid:\t1000\t0\t0\t0");
    expect(uids(probe(":nosuid"))).toBe("Uid:\t1000\t1000\t1000\t1000");
  });
});

describe.skipIf(!ready)("user namespace, rootless", () => {
  test("--userns host is refused: an unprivileged caller always gets a user namespace", () => {
    expect(run(["--network", "none", "--userns", "host"], "true")).toMatchObject({
      code: 125,
      stdout: "",
      stderr: "bunker: --userns host needs root: an unprivileged caller always gets a user namespace\n",
    });
  });
});

/** Whether a TCP connection in TIME_WAIT (state 06) has `port` as its local port on the host. */
const timeWaitOn = (port: number) =>
  ["/proc/net/tcp", "/proc/net/tcp6"].some((f) =>
    readFileSync(f, "utf8")
      .split("\n")
      .slice(1)
      .some((l) => {
        const [, local, , st] = l.trim().split(/\s+/);
        return st === "06" && local !== undefined && parseInt(local.slice(local.lastIndexOf(":") + 1), 16) === port;
      }),
  );

describe.skipIf(!ready || !tunIsOpen || !slirp)("networks, rootless", () => {
  const SLIRP = "lo\ntap0\n10.0.2.100/24\n";
  const probe = "ls /sys/class/net; ip -o -4 addr show tap0 | awk '{print $4}'";

  test("--network private spelled out is slirp4netns, as the default is", () => {
    expect(run(["--network", "slirp4netns"], probe)).toMatchObject({ code: 0, stderr: "", stdout: SLIRP });
    expect(run(["--network", "private"], probe)).toMatchObject({ code: 0, stderr: "", stdout: SLIRP });
    expect(run([], probe)).toMatchObject({ code: 0, stderr: "", stdout: SLIRP });
    const d = as(["run", "-d", "--network", "private", "--rootfs", fs.path, "--", "sleep", "100"]);
    expect(d.stderr).toBe("");
    const id = d.stdout.trim();
    try {
      expect(JSON.parse(as(["inspect", id]).stdout)[0].network).toMatchObject({ mode: "slirp4netns", ip: "10.0.2.100" });
    } finally {
      as(["rm", "-f", id]);
    }
  });

  test.skipIf(!unshare)("with neither helper to be found: lo only, and one line saying what to install", () => {
    // Neither on PATH nor in the usual places bunker also looks in: each is covered, in a mount
    // namespace of this run alone, by a file that cannot be executed.
    const hide = mkdtempSync("/tmp/bunker-test-nohelper-");
    try {
      const blank = join(hide, "blank");
      writeFileSync(blank, "");
      chmodSync(blank, 0o644);
      chmodSync(hide, 0o755);
      const targets = [...new Set([...helperPaths("slirp4netns"), ...helperPaths("pasta")].map((p) => realpathSync(p)))];
      const asUser = (args: string[], hidden: boolean) => {
        const binds = hidden ? targets.map((t) => `mount --bind ${blank} ${t} && `).join("") : "";
        const line = ["/usr/bin/setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups", bin.path, ...args].map((a) => `'${a}'`).join(" ");
        const r = Bun.spawnSync([unshare!, "-m", "--propagation", "private", "sh", "-c", `${binds}PATH=${hide} exec ${line}`], { cwd: bin.dir, env: { PATH }, stdout: "pipe", stderr: "pipe" });
        return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
      };
      const cmd = ["run", "--rm", "--rootfs", fs.path, "--", "ls", "/sys/class/net"];
      // Control: the same empty PATH, nothing hidden: the usual places still have slirp4netns.
      expect(asUser(cmd, false)).toMatchObject({ code: 0, stderr: "", stdout: "lo\ntap0\n" });
      expect(asUser(cmd, true)).toMatchObject({
        code: 0,
        stdout: "lo\n",
        stderr: "bunker warn: no network for the container (only lo): neither pasta nor slirp4netns is installed: install the passt or slirp4netns package\n",
      });
      // Asked for by name, a missing helper is an error rather than lo.
      expect(asUser(["run", "--rm", "--network", "slirp4netns", "--rootfs", fs.path, "--", "true"], true)).toMatchObject({
        code: 125,
        stderr: "bunker: --network slirp4netns: slirp4netns not found: install the slirp4netns package\n",
      });
    } finally {
      rmSync(hide, { recursive: true, force: true });
    }
  });

  test("-p 80 takes any free host port, and a range maps port by port; ps and inspect show them and they answer", async () => {
    const base = freeRange(2);
    const servers = [80, 81, 82].map((p) => `(while true; do echo rl-${p} | nc -l -p ${p}; done) &`).join(" ");
    const d = as(["run", "-d", "--network", "slirp4netns", "-p", "80", "-p", `${base}-${base + 1}:81-82`, "--rootfs", fs.path, "--", "sh", "-c", `${servers} wait`]);
    expect(d.stderr).toBe("");
    const id = d.stdout.trim();
    try {
      const ports = JSON.parse(as(["inspect", id]).stdout)[0].network.ports as { hostIp: string; hostPort: number; containerPort: number; protocol: string; range?: number }[];
      expect(ports).toEqual([
        { hostIp: "0.0.0.0", hostPort: expect.any(Number), containerPort: 80, protocol: "tcp" },
        { hostIp: "0.0.0.0", hostPort: base, containerPort: 81, protocol: "tcp", range: 2 },
      ]);
      const any = ports[0]!.hostPort;
      expect(any > 0 && any < 65536 && any !== base && any !== base + 1).toBe(true);
      expect(as(["ps"]).stdout).toContain(`0.0.0.0:${any}->80/tcp, 0.0.0.0:${base}-${base + 1}->81-82/tcp`);
      const answers = await Promise.all([
        fetchWhenUp("127.0.0.1", any, "rl-80"),
        fetchWhenUp("127.0.0.1", base, "rl-81"),
        fetchWhenUp("127.0.0.1", base + 1, "rl-82"),
      ]);
      expect(answers.map((a) => a.trim())).toEqual(["rl-80", "rl-81", "rl-82"]);
    } finally {
      as(["rm", "-f", id]);
    }
  }, 20_000);

  test("a port published again at once, after the helper served a connection on it (TIME_WAIT on the host), is not refused as in use", async () => {
    const [port] = [freeRange(1)];
    for (const round of [1, 2]) {
      const d = as(["run", "-d", "--network", "slirp4netns", "-p", `${port}:80`, "--rootfs", fs.path, "--", "sh", "-c", `while true; do echo round-${round} | nc -l -p 80; done`]);
      expect([round, d.code, d.stderr]).toEqual([round, 0, ""]);
      const id = d.stdout.trim();
      try {
        expect((await fetchWhenUp("127.0.0.1", port!, `round-${round}`)).trim()).toBe(`round-${round}`);
      } finally {
        as(["rm", "-f", id]);
      }
      // The connection slirp4netns ended on the host side waits out TIME_WAIT on the port.
      if (round === 1) expect(timeWaitOn(port!)).toBe(true);
    }
  }, 20_000);
});

describe.skipIf(!ready || !tunIsOpen || !pasta || !defaultRoute)("after bunker is killed with SIGKILL, rootless", () => {
  // pasta, since slirp4netns ends by itself when its bunker dies (its exit pipe closes).
  for (const next of ["run", "stats"] as const) {
    test(`the next ${next} stops the pasta it left${next === "stats" ? " and removes the --rm container's state" : ""}`, async () => {
      const pastas = () => processesOf(/^pas(ta|st)/);
      const sleepers = () => processesOf(/^sleep$/);
      expect(pastas()).toEqual([]);
      const p = Bun.spawn(["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups", bin.path, "run", "--rm", "--network", "pasta", "--rootfs", fs.path, "--", "sleep", "30"], {
        env: { PATH },
        cwd: bin.dir,
        stdout: "ignore",
        stderr: "ignore",
      });
      try {
        await until(() => pastas().length > 0 && sleepers().length > 0, 10_000, "pasta and the container's command to run");
        const ids = userContainers();
        expect(ids.length).toBe(1);
        // setpriv execs bunker: this is bunker itself. The container dies with it.
        p.kill(9);
        await p.exited;
        await until(() => sleepers().length === 0, 5000, "the container to die with its bunker");
        // Control: pasta outlives the killed bunker, and so does the state.
        expect(pastas().length).toBeGreaterThan(0);
        expect(userContainers()).toEqual(ids);
        const r = next === "run" ? run([], "true") : as(["stats", "--no-stream"]);
        expect([r.code, r.stderr]).toEqual([0, ""]);
        await until(() => pastas().length === 0, 5000, "pasta to be stopped");
        if (next === "stats") expect(userContainers()).toEqual([]);
        // run leaves the record of how it ended to ps; rm takes it.
        else expect(as(["rm", ids[0]!]).code).toBe(0);
        expect(userContainers()).toEqual([]);
      } finally {
        if (p.exitCode === null && p.signalCode === null) p.kill(9);
        await p.exited;
        // What a failure above left: ps stops the helpers of containers that are gone, rm -f takes the rest.
        as(["ps", "-a"]);
        const left = userContainers();
        if (left.length) as(["rm", "-f", ...left]);
      }
    }, 30_000);
  }
});
