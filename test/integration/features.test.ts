// Features of bunker run and the lifecycle commands, as root, each seen where
// it takes effect: volume options, published ports (any free port, ranges,
// hairpin through the host's own addresses), --cpu-weight, --memory-swap -1,
// --userns host, --network private, the user-mode helpers as root, kill's
// and stop's defaults, and what the next run and stats clean up after a
// bunker killed with SIGKILL. The rootless side is in features-rootless.test.ts.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { join } from "node:path";
import { bunker, BUNKER, containerLog, isRoot, until } from "../helpers/bunker";
import { LEASES, linkOf, STATE } from "../helpers/hoststate";
import { busyboxAvailable } from "../helpers/rootfs";
import { freePort, freeRange, portHeld } from "../helpers/ports";
import { fetchWhenUp } from "../helpers/tcp";
import { containerSuite } from "../helpers/suite";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn(`skipping the feature tests: ${isRoot ? "busybox-static is not installed" : "they need root"}`);
const nft = ["/usr/sbin/nft", "/sbin/nft"].find((p) => existsSync(p));
if (ready && !nft) console.warn("skipping the published-port and cleanup tests: nft is not installed (nftables package)");
const which = (name: string) => ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"].map((d) => `${d}/${name}`).find((p) => existsSync(p));
const slirp = which("slirp4netns");
const pasta = which("pasta");
if (ready && !slirp) console.warn("skipping slirp4netns as root: it is not installed");
// pasta copies the host's default route: without one (a VM with only lo) bunker refuses it before it starts.
const defaultRoute = readFileSync("/proc/net/route", "utf8")
  .split("\n")
  .slice(1)
  .some((l) => l.split(/\s+/)[1] === "00000000");
if (ready && !pasta) console.warn("skipping pasta as root: it is not installed (passt package)");
else if (ready && !defaultRoute) console.warn("skipping pasta as root: the host has no default route for pasta to copy");

const suite = containerSuite(ready);

const mountinfo = readFileSync("/proc/self/mountinfo", "utf8");
const v2 = / \/sys\/fs\/cgroup [^ ]+ .* - cgroup2 /.test(mountinfo);
const v1Mounted = (c: string) => new RegExp(` - cgroup cgroup [^ ]*\\b${c}\\b`).test(mountinfo);
const cgroupsReady = v2 ? /\bcpu\b/.test(readFileSync("/sys/fs/cgroup/cgroup.controllers", "utf8")) && /\bmemory\b/.test(readFileSync("/sys/fs/cgroup/cgroup.controllers", "utf8")) : v1Mounted("cpu") && v1Mounted("memory");
if (ready && !cgroupsReady) console.warn("skipping --cpu-weight and --memory-swap: the host has no cpu or memory controller");
/**
 * Swap accounting: memory.memsw.* on v1; on v2 memory.swap.max in the cgroups below the root,
 * or, where none has the memory controller yet, a kernel with swap that was not told to
 * leave it unaccounted.
 */
function hasSwapAccounting(): boolean {
  if (!v2) return existsSync("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
  const children = readdirSync("/sys/fs/cgroup", { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => `/sys/fs/cgroup/${d.name}`);
  const withMemory = children.filter((c) => existsSync(`${c}/memory.current`));
  if (withMemory.length) return withMemory.some((c) => existsSync(`${c}/memory.swap.max`));
  const cmdline = readFileSync("/proc/cmdline", "utf8");
  return existsSync("/proc/swaps") && !/\bcgroup\.memory=\S*noswap/.test(cmdline) && !/\bswapaccount=0\b/.test(cmdline);
}
const swapAccounting = hasSwapAccounting();
if (ready && cgroupsReady && !swapAccounting) console.warn("skipping --memory-swap -1: the host's memory controller has no swap accounting");

/** The container's cgroup directories on the host. */
function hostDirs(id: string): string[] {
  const dirs = v2 ? [`/sys/fs/cgroup/bunker/${id}`] : readdirSync("/sys/fs/cgroup").map((h) => `/sys/fs/cgroup/${h}/bunker/${id}`);
  return dirs.filter((d) => existsSync(d));
}

const run = (args: string[], cmd: string) => bunker(["run", "--rm", ...args, "--rootfs", suite.fs.path, "--", "sh", "-c", cmd]);

function detached(args: string[], cmd: string): string {
  const r = bunker(["run", "-d", ...args, "--rootfs", suite.fs.path, "--", "sh", "-c", cmd]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

const inspect = (ref: string) => JSON.parse(bunker(["inspect", ref]).stdout)[0];
const outputLog = (id: string) => containerLog(STATE, id);
const logged = (id: string, text: string) => until(() => outputLog(id).includes(text), 5000, `container ${id} to log ${text}`);

/** Alive and not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3));
  } catch {
    return false;
  }
}

const natElements = () => (nft ? Bun.spawnSync([nft, "list", "table", "ip", "bunker"]).stdout.toString() : "");
const serve = (text: string, port = 80) => `while true; do echo ${text} | nc -l -p ${port}; done`;

describe.skipIf(!ready)("volume options", () => {
  let top: string;
  let dir: string;
  beforeAll(() => {
    // Reachable by every user inside the container (the nosuid case runs its probe as nobody),
    // and by no other user of the host: it sits in a directory only root may enter.
    top = mkdtempSync("/var/tmp/bunker-test-volopts-");
    chmodSync(top, 0o700);
    dir = join(top, "vol");
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    copyFileSync("/bin/busybox", join(dir, "busybox"));
    chmodSync(join(dir, "busybox"), 0o755);
    // The host's cat, setuid root: busybox drops a setuid identity before its applets run.
    copyFileSync("/bin/cat", join(dir, "cat"));
    chmodSync(join(dir, "cat"), 0o4755);
    // /dev/null's numbers: the device cgroup lets it through, so only nodev can refuse it.
    expect(Bun.spawnSync(["mknod", "-m", "666", join(dir, "null"), "c", "1", "3"]).exitCode).toBe(0);
  });
  afterAll(() => rmSync(top, { recursive: true, force: true }));

  test("noexec: a program in the volume does not run; without it, it does", () => {
    const cmd = "/vol/busybox echo ran";
    expect(run(["--network", "none", "-v", `${dir}:/vol`], cmd)).toMatchObject({ code: 0, stdout: "ran\n" });
    const r = run(["--network", "none", "-v", `${dir}:/vol:noexec`], cmd);
    expect(r.code).toBe(126);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("sh: /vol/busybox: Permission denied\n");
    // Options combine: rw,noexec is writable and still not executable.
    expect(run(["--network", "none", "-v", `${dir}:/vol:rw,noexec`], "touch /vol/w && rm /vol/w && echo wrote; /vol/busybox true || echo $?").stdout).toBe("wrote\n126\n");
  });

  test("nodev: a device node in the volume does not open; without it, it does", () => {
    const cmd = "cat /vol/null && echo opened";
    expect(run(["--network", "none", "-v", `${dir}:/vol`], cmd)).toMatchObject({ code: 0, stdout: "opened\n" });
    const r = run(["--network", "none", "-v", `${dir}:/vol:nodev`], cmd);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("cat: can't open '/vol/null': Permission denied\n");
    expect(r.code).toBe(1);
  });

  test("nosuid: a setuid-root program in the volume runs with the caller's IDs; without it, as root", () => {
    // No rootfs: the host's view, where the host's cat finds its libraries. no_new_privs is off in
    // both runs, since it alone would keep the setuid bit from working.
    const probe = (opts: string) =>
      bunker(["run", "--host-root", "--rm", "--network", "none", "-u", "65534", "-w", "/", "--security-opt", "no-new-privileges=false", "-v", `${dir}:/mnt${opts}`, "--", "/mnt/cat", "/proc/self/status"]);
    const uids = (r: { stdout: string }) => r.stdout.split("\n").find((l) => l.startsWith("Uid:"));
    expect(uids(probe(""))).toBe("Uid:\t65534\t0\t0\t0");
    expect(uids(probe(":nosuid"))).toBe("Uid:\t65534\t65534\t65534\t65534");
  });
});

describe.skipIf(!ready || !nft)("published ports", () => {
  test("-p 80: any free host port, shown in inspect, ps and ps --json, held while the container runs, and it answers", async () => {
    const id = detached(["-p", "80"], serve("any-port"));
    const ports = inspect(id).network.ports;
    expect(ports).toEqual([{ hostIp: "0.0.0.0", hostPort: expect.any(Number), containerPort: 80, protocol: "tcp" }]);
    const port = ports[0].hostPort as number;
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65536);
    try {
      expect(bunker(["ps"]).stdout).toContain(`0.0.0.0:${port}->80/tcp`);
      expect(JSON.parse(bunker(["ps", "--json"]).stdout).find((e: { id: string }) => e.id === id).ports).toEqual([`0.0.0.0:${port}->80/tcp`]);
      expect(await fetchWhenUp("127.0.0.1", port, "any-port")).toContain("any-port");
      expect(portHeld(port)).toBe(true);
    } finally {
      bunker(["rm", "-f", id]);
    }
    expect(natElements()).not.toContain(`${port} : `);
  });

  test("ranges: each host port of A-B:C-D reaches its own container port, and -p C-D alone picks a free host port for each", async () => {
    const base = freeRange(3);
    const servers = [80, 81, 82, 90, 91].map((p) => `(${serve(`port-${p}`, p)}) &`).join(" ");
    const id = detached(["-p", `${base}-${base + 2}:80-82`, "-p", "90-91"], `${servers} wait`);
    try {
      const ports = inspect(id).network.ports as { hostIp: string; hostPort: number; containerPort: number; protocol: string; range?: number }[];
      expect(ports[0]).toEqual({ hostIp: "0.0.0.0", hostPort: base, containerPort: 80, protocol: "tcp", range: 3 });
      expect(ports.slice(1).map((p) => p.containerPort)).toEqual([90, 91]);
      const any = ports.slice(1).map((p) => p.hostPort);
      expect(any.every((p) => p > 0 && p < 65536)).toBe(true);
      expect(new Set([...any, base, base + 1, base + 2]).size).toBe(5);
      expect(bunker(["ps"]).stdout).toContain(`0.0.0.0:${base}-${base + 2}->80-82/tcp, 0.0.0.0:${any[0]}->90/tcp, 0.0.0.0:${any[1]}->91/tcp`);
      const answers = await Promise.all([base, base + 1, base + 2, ...any].map((p, i) => fetchWhenUp("127.0.0.1", p, `port-${[80, 81, 82, 90, 91][i]}`)));
      expect(answers.map((a) => a.trim())).toEqual(["port-80", "port-81", "port-82", "port-90", "port-91"]);
    } finally {
      bunker(["rm", "-f", id]);
    }
    for (const p of [base, base + 1, base + 2]) expect(natElements()).not.toContain(`${p} : `);
  });

  /** The host's address on its default route's interface, where it has one (a VM may have only lo). */
  function ownAddress(): string | undefined {
    const dev = Bun.spawnSync(["ip", "-4", "-o", "route", "show", "default"]).stdout.toString().match(/ dev (\S+)/)?.[1];
    const own = dev ? Bun.spawnSync(["ip", "-4", "-o", "addr", "show", "dev", dev]).stdout.toString().match(/inet (\d+\.\d+\.\d+\.\d+)\//)?.[1] : undefined;
    if (!own) console.warn("hairpin through the default route's address not tried: the host has none");
    return own;
  }
  // The server is up by then: retries cover the moments between two of its nc runs (refused at once), for
  // 10 s at most, which a dropped packet (2 s each) uses up in five tries.
  const connect = (addr: string, port: number) =>
    `end=$(($(date +%s) + 10)); while [ $(date +%s) -lt $end ]; do echo | nc -w 2 ${addr} ${port} && exit 0; sleep 0.05; done; exit 1`;

  test("hairpin: another container reaches a published port through the host's own addresses", async () => {
    const port = freePort();
    const id = detached(["-p", `${port}:80`], serve("hairpin"));
    try {
      const gateway = inspect(id).network.gateway as string;
      expect(await fetchWhenUp(gateway, port, "hairpin")).toContain("hairpin");
      for (const addr of [gateway, ...[ownAddress()].filter((a) => a !== undefined)]) {
        const other = run([], connect(addr, port));
        expect([addr, other.code, other.stdout.trim()]).toEqual([addr, 0, "hairpin"]);
      }
    } finally {
      bunker(["rm", "-f", id]);
    }
  });

  test("hairpin: the publishing container reaches its own port through the host's own addresses", async () => {
    const port = freePort();
    const id = detached(["-p", `${port}:80`], serve("hairpin-self"));
    try {
      const gateway = inspect(id).network.gateway as string;
      expect(await fetchWhenUp(gateway, port, "hairpin-self")).toContain("hairpin-self");
      for (const addr of [gateway, ...[ownAddress()].filter((a) => a !== undefined)]) {
        const self = bunker(["exec", id, "sh", "-c", connect(addr, port)]);
        expect([addr, self.code, self.stdout.trim()]).toEqual([addr, 0, "hairpin-self"]);
      }
      // The bridge's port is in hairpin mode, which is what lets the frame back out (with br_netfilter loaded).
      expect(readFileSync(`/sys/class/net/bk${id}/brport/hairpin_mode`, "utf8").trim()).toBe("1");
    } finally {
      bunker(["rm", "-f", id]);
    }
  });
});

describe.skipIf(!ready || !cgroupsReady)("cgroup flags", () => {
  test("--cpu-weight: cpu.weight on cgroup v2, the cpu.shares that map onto it on v1; the default without it", () => {
    const file = v2 ? "/sys/fs/cgroup/cpu.weight" : "/sys/fs/cgroup/cpu/cpu.shares";
    const read = (args: string[]) => run(["--network", "none", ...args], `cat ${file}`);
    expect(read([]).stdout).toBe(v2 ? "100\n" : "1024\n");
    for (const [weight, v1Low, v1High] of [
      // The shares runc's and crun's curve maps onto each weight (log2 of the shares in a quadratic).
      [500, 7585, 7603],
      [50, 411, 421],
      [1, 2, 2],
      [10000, 262144, 262144],
    ] as const) {
      const r = read(["--cpu-weight", String(weight)]);
      expect([weight, r.code, r.stderr]).toEqual([weight, 0, ""]);
      const got = Number(r.stdout.trim());
      if (v2) expect([weight, got]).toEqual([weight, weight]);
      else expect([weight, got >= v1Low && got <= v1High]).toEqual([weight, true]);
    }
    for (const bad of ["0", "10001", "x"]) expect(read(["--cpu-weight", bad]).code).toBe(125);
  });

  test.skipIf(!swapAccounting)("--memory-swap -1: unlimited swap beside the memory limit; without it, docker's default", () => {
    const files = v2 ? ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.swap.max"] : ["/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"];
    const read = (args: string[]) => run(["--network", "none", "-m", "64m", ...args], `cat ${files.join(" ")}`);
    const unlimited = read(["--memory-swap", "-1"]);
    expect([unlimited.code, unlimited.stderr]).toEqual([0, ""]);
    // v1 shows "unlimited" as the largest page-aligned 63-bit number.
    expect(unlimited.stdout).toBe(v2 ? "67108864\nmax\n" : "67108864\n9223372036854771712\n");
    // Control: memory and swap each as large as -m (v2 limits swap alone; v1 their total).
    expect(read([]).stdout).toBe(v2 ? "67108864\n67108864\n" : "67108864\n134217728\n");
  });
});

describe.skipIf(!ready)("namespaces and networks as root", () => {
  test("--userns host: no user namespace of its own, every ID mapped to itself", () => {
    const r = run(["--network", "none", "--userns", "host"], "cat /proc/self/uid_map /proc/self/gid_map | tr -s ' ' | sed 's/^ //'; readlink /proc/self/ns/user; id -u");
    expect(r.stdout).toBe(`0 0 4294967295\n0 0 4294967295\n${readlinkSync("/proc/self/ns/user")}\n0\n`);
    expect(run(["--userns", "host", "--map-uid", "5"], "true")).toMatchObject({
      code: 125,
      stderr: "bunker: --map-uid and --map-gid need a user namespace: run rootless, or add --userns private\n",
    });
  });

  test("--network private spelled out is the bridge as root: eth0 with a lease on bunker0", () => {
    const id = detached(["--network", "private"], "exec sleep 100");
    try {
      const net = inspect(id).network;
      expect(net).toMatchObject({ mode: "bridge", bridge: "bunker0" });
      expect(existsSync(`${LEASES}/${net.ip}.json`)).toBe(true);
      const inside = bunker(["exec", id, "sh", "-c", "ls /sys/class/net; ip -o -4 addr show eth0 | awk '{print $4}'"]);
      expect(inside.stdout).toBe(`eth0\nlo\n${net.ip}/${net.subnet.split("/")[1]}\n`);
      expect(JSON.parse(bunker(["ps", "--json"]).stdout).find((e: { id: string }) => e.id === id).network).toBe("bridge");
    } finally {
      bunker(["rm", "-f", id]);
    }
  });

  test.skipIf(!slirp)("slirp4netns as root works: tap0 with its addresses, a published port answers, the helper ends with the container", async () => {
    const r = run(["--network", "slirp4netns"], "ls /sys/class/net; ip -o -4 addr show tap0 | awk '{print $4}'; ip route | grep default");
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("lo\ntap0\n10.0.2.100/24\ndefault via 10.0.2.2 dev tap0 \n");
    const port = freePort();
    const id = detached(["--network", "slirp4netns", "-p", `${port}:80`], serve("slirp-root"));
    let helper = 0;
    try {
      const net = inspect(id).network;
      expect(net).toMatchObject({ mode: "slirp4netns", ports: [{ hostIp: "0.0.0.0", hostPort: port, containerPort: 80, protocol: "tcp" }] });
      helper = net.helper.pid;
      expect(readFileSync(`/proc/${helper}/comm`, "utf8").trim()).toBe("slirp4netns");
      expect(await fetchWhenUp("127.0.0.1", port, "slirp-root")).toContain("slirp-root");
    } finally {
      bunker(["rm", "-f", id]);
    }
    await until(() => !alive(helper), 5000, "slirp4netns to end with its container");
  });

  test.skipIf(!pasta || !defaultRoute)("pasta as root: runs where pasta itself can join a root container's namespaces, else a one-line error naming why", () => {
    // Control: pasta by hand, as bunker starts it, against a container's network namespace.
    const target = detached(["--network", "none"], "exec sleep 100");
    const dir = mkdtempSync("/tmp/bunker-test-pasta-");
    let manual: { code: number; said: string };
    try {
      const pid = inspect(target).pid;
      const p = Bun.spawnSync([pasta!, "--config-net", "--quiet", "-t", "none", "-u", "none", "-T", "none", "-U", "none", "--pid", `${dir}/pid`, String(pid)], { stderr: "pipe", env: {} });
      if (existsSync(`${dir}/pid`)) process.kill(Number(readFileSync(`${dir}/pid`, "utf8")), "SIGTERM");
      const lines = p.stderr.toString().split("\n").map((l) => l.trim()).filter((l) => l && !/syslog/.test(l));
      manual = { code: p.exitCode ?? -1, said: (lines.at(-1) ?? "").replace(`/proc/${pid}/`, "/proc/PID/") };
    } finally {
      bunker(["rm", "-f", target]);
      rmSync(dir, { recursive: true, force: true });
    }
    const r = run(["--network", "pasta"], "ls /sys/class/net");
    if (manual.code === 0) {
      expect(r).toMatchObject({ code: 0, stderr: "", stdout: "eth0\nlo\n" });
      return;
    }
    console.info(`pasta refuses to run as root here: ${manual.said}`);
    expect(manual.said).not.toBe("");
    expect(r.code).toBe(125);
    expect(r.stdout).toBe("");
    expect(r.stderr.replace(/\/proc\/\d+\//, "/proc/PID/")).toBe(
      `bunker: pasta failed to set up the network: ${manual.said}${/open .*namespace/i.test(manual.said) ? ": pasta gives up root's privileges before it joins the container; as root, use --network bridge or slirp4netns" : ""}\n`,
    );
  });
});

describe.skipIf(!ready)("kill and stop defaults", () => {
  const TRAPS = "trap 'exit 3' TERM INT HUP QUIT USR1 USR2; echo ready; while :; do sleep 0.05; done";

  test("kill without -s sends SIGKILL: 137, where a trapped SIGTERM would give 3", async () => {
    const control = detached(["--network", "none"], TRAPS);
    const id = detached(["--network", "none"], TRAPS);
    await logged(control, "ready");
    await logged(id, "ready");
    expect(bunker(["kill", "-s", "TERM", control]).code).toBe(0);
    expect(bunker(["wait", control])).toMatchObject({ code: 3, stdout: "3\n" });
    expect(bunker(["kill", id])).toMatchObject({ code: 0, stdout: `${id}\n`, stderr: "" });
    expect(bunker(["wait", id])).toMatchObject({ code: 137, stdout: "137\n" });
    expect(bunker(["ps", "-a"]).stdout).toMatch(new RegExp(`^${id} .*Exited \\(137\\)`, "m"));
    expect(bunker(["rm", id, control]).code).toBe(0);
  });

  test("stop without -t: SIGTERM at once, SIGKILL only after the 10 s grace time", async () => {
    const id = detached(["--network", "none"], "trap 'echo got-TERM' TERM; echo ready; while :; do sleep 0.05; done");
    await logged(id, "ready");
    const pid = inspect(id).pid as number;
    const t0 = Date.now();
    const stop = Bun.spawn([BUNKER, "stop", id], { stdout: "pipe", stderr: "pipe" });
    await until(() => outputLog(id).includes("got-TERM"), 5000, "the container to get SIGTERM");
    const termAt = Date.now() - t0;
    await until(() => !alive(pid), 20_000, "the container to be killed");
    const killedAt = Date.now() - t0;
    expect(await stop.exited).toBe(0);
    expect(await new Response(stop.stdout).text()).toBe(`${id}\n`);
    expect(termAt).toBeLessThan(3000);
    expect(killedAt).toBeGreaterThanOrEqual(9_500);
    expect(killedAt).toBeLessThan(15_000);
    // SIGTERM once, then nothing it could catch: SIGKILL.
    expect(outputLog(id)).toBe("ready\ngot-TERM\n");
    expect(bunker(["wait", id])).toMatchObject({ code: 137 });
    expect(bunker(["rm", id]).code).toBe(0);
  }, 30_000);
});

describe.skipIf(!ready || !nft || !cgroupsReady)("after bunker is killed with SIGKILL", () => {
  for (const next of ["stats", "run"] as const) {
    test(`the next ${next} frees the lease and NAT elements and removes the cgroups it left${next === "stats" ? ", and the --rm container's state and name" : ""}`, async () => {
      const port = freePort();
      const name = `killed-before-${next}`;
      const proc = Bun.spawn([BUNKER, "run", "--rm", "--name", name, "-m", "64m", "-p", `${port}:80`, "--rootfs", suite.fs.path, "--", "sh", "-c", "echo ready; exec sleep 1000"], {
        stdout: "pipe",
        stderr: "pipe",
      });
      try {
        const reader = proc.stdout.getReader();
        expect(new TextDecoder().decode((await reader.read()).value)).toBe("ready\n");
        const s = inspect(name);
        const { id, pid } = s as { id: string; pid: number };
        const ip = s.network.ip as string;
        proc.kill("SIGKILL");
        await proc.exited;
        await until(() => !alive(pid), 5000, "the container to die with its bunker");
        // Control: all of it is still there, left by the kill.
        expect(existsSync(`${LEASES}/${ip}.json`)).toBe(true);
        expect(natElements()).toContain(`${port} : ${ip} . 80`);
        expect(hostDirs(id).length).toBeGreaterThan(0);
        expect(existsSync(`${STATE}/${id}`)).toBe(true);
        if (next === "stats") {
          const r = bunker(["stats", "--no-stream"]);
          expect([r.code, r.stderr]).toEqual([0, ""]);
          expect(r.stdout).not.toContain(id);
          expect(existsSync(`${STATE}/${id}`)).toBe(false);
          expect(linkOf(name)).toBeNull();
        } else {
          // The same port again: nothing of the killed start stands in the way.
          const r = bunker(["run", "--rm", "-m", "64m", "-p", `${port}:80`, "--rootfs", suite.fs.path, "--", "true"]);
          expect(r).toMatchObject({ code: 0, stderr: "" });
        }
        expect(existsSync(`${LEASES}/${ip}.json`)).toBe(false);
        expect(natElements()).not.toContain(`${port} : `);
        await until(() => hostDirs(id).length === 0, 5000, "the killed container's cgroups to be removed");
        // run leaves the record of how it ended to ps (README: Containers that live on).
        if (next === "run") expect(bunker(["rm", id]).code).toBe(0);
      } finally {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
        await proc.exited;
      }
    });
  }
});
