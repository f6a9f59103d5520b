// The command line as a user types it: --help of every command, the list
// alias, ps -q, network ls --json, ns ID --json, and every flag alias (--root,
// --net and the short ones) doing what its long form does.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunker, BUNKER, isRoot, onHostRoot, requireBinary, until } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { freePort } from "../helpers/ports";
import { fetchWhenUp } from "../helpers/tcp";
import { containerSuite } from "../helpers/suite";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn(`skipping the command-line tests that run containers: ${isRoot ? "busybox-static is not installed" : "they need root"}`);
const nft = ["/usr/sbin/nft", "/sbin/nft"].find((p) => existsSync(p));
if (ready && !nft) console.warn("skipping the -p alias test: nft is not installed (nftables package)");

const suite = containerSuite(ready);

const mountinfo = readFileSync("/proc/self/mountinfo", "utf8");
const v2 = / \/sys\/fs\/cgroup [^ ]+ .* - cgroup2 /.test(mountinfo);
/** The container's memory limit as it sees it at the root of its own cgroup. */
const MEMORY_LIMIT_FILE = v2 ? "/sys/fs/cgroup/memory.max" : "/sys/fs/cgroup/memory/memory.limit_in_bytes";

/**
 * Each command's options as its --help must list them: written out here from
 * the usage in README, not taken from the code.
 */
const HELP: [string[], string, string[]][] = [
  [
    ["run"],
    "bunker run [OPTIONS] IMAGE [COMMAND [ARG...]]  |  --rootfs DIR|--host-root [--] COMMAND [ARG...]",
    [
      "--rootfs=<DIR>",
      "(also --root)",
      "--host-root",
      "--entrypoint=<CMD>",
      "-u, --user=<USER[:GROUP]>",
      "-w, --workdir=<DIR>",
      "-e, --env=<KEY[=VALUE]>",
      "--env-file=<FILE>",
      "-v, --volume=<HOST:CONTAINER[:OPTS]>",
      "--tmpfs=<PATH[:OPTS]>",
      "--name=<NAME>",
      "-d, --detach",
      "-t, --tty",
      "-i, --interactive",
      "--rm",
      "--init",
      "--pin=<DIR>",
      "--join-ns=<DIR>",
      "--hostname=<NAME>",
      "--network=<MODE>",
      "(also --net)",
      "-p, --publish=<[IP:][HOSTPORT:]PORT[/PROTO]>",
      "--subnet=<CIDR>",
      "--userns=<MODE>",
      "--cap-add=<CAP>",
      "--cap-drop=<CAP>",
      "--privileged",
      "--security-opt=<OPT>",
      "--read-only",
      "--ulimit=<NAME=SOFT[:HARD]>",
      "-m, --memory=<SIZE>",
      "--memory-swap=<SIZE>",
      "--cpus=<N>",
      "--cpu-shares=<N>",
      "--cpu-weight=<N>",
      "--cpuset-cpus=<LIST>",
      "--pids-limit=<N>",
      "--blkio-weight=<N>",
      "--cgroups=<MODE>",
      "--map-uid=<ID>",
      "--map-gid=<ID>",
      "--log-level=<LEVEL>",
    ],
  ],
  [["exec"], "bunker exec [OPTIONS] ID|NAME COMMAND [ARG...]", ["-i, --interactive", "-t, --tty", "-u, --user=<USER[:GROUP]>", "-e, --env=<KEY[=VALUE]>", "-w, --workdir=<DIR>", "--ns=<DIR>", "--privileged"]],
  [["ns"], "bunker ns [OPTIONS] ID|NAME|PID  |  pin ID|NAME DIR  |  unpin DIR", ["--json"]],
  [["ns", "pin"], "bunker ns [OPTIONS] ID|NAME|PID  |  pin ID|NAME DIR  |  unpin DIR", ["--json"]],
  [["ns", "unpin"], "bunker ns [OPTIONS] ID|NAME|PID  |  pin ID|NAME DIR  |  unpin DIR", ["--json"]],
  [["ps"], "bunker ps [OPTIONS]", ["-a, --all", "-q, --quiet", "--json"]],
  [["list"], "bunker ps [OPTIONS]", ["-a, --all", "-q, --quiet", "--json"]],
  [["inspect"], "bunker inspect ID|NAME...", []],
  [["stop"], "bunker stop [OPTIONS] ID|NAME...", ["-t, --time=<SECONDS>"]],
  [["kill"], "bunker kill [OPTIONS] ID|NAME...", ["-s, --signal=<SIGNAL>"]],
  [["rm"], "bunker rm [OPTIONS] ID|NAME...", ["-f, --force"]],
  [["pause"], "bunker pause ID|NAME...", []],
  [["unpause"], "bunker unpause ID|NAME...", []],
  [["stats"], "bunker stats [OPTIONS] [ID|NAME...]", ["--no-stream", "--json"]],
  [["network"], "bunker network COMMAND [OPTIONS]", ["create", "connect"]],
  [["network", "ls"], "bunker network ls [OPTIONS]", ["--json", "--format", "--filter"]],
  [["network", "prune"], "bunker network prune [OPTIONS]", ["--filter"]],
  [["network", "create"], "bunker network create [OPTIONS] NAME", ["--subnet", "--gateway", "--internal"]],
  [["network", "connect"], "bunker network connect [OPTIONS] NETWORK CONTAINER", ["--ip", "--alias"]],
  [["wait"], "bunker wait ID|NAME", []],
  [["version"], "bunker version", []],
];

const COMMANDS = ["run", "exec", "ns", "ps", "inspect", "stop", "kill", "rm", "pause", "unpause", "stats", "network", "wait", "version"];

describe("--help", () => {
  beforeAll(requireBinary);

  for (const [words, usage, flags] of HELP) {
    test(`bunker ${words.join(" ")} --help (and -h) prints its usage and options, exits 0, and does nothing else`, () => {
      for (const h of ["--help", "-h"]) {
        // No container named, none running: a command that acted instead of helping would fail.
        const r = bunker([...words, h]);
        expect([words, h, r.stderr, r.code]).toEqual([words, h, "", 0]);
        const lines = r.stdout.split("\n");
        expect(lines.find((l) => l.startsWith("USAGE "))?.trimEnd()).toBe(`USAGE ${usage}`);
        for (const f of flags) expect([words, f, lines.some((l) => l.includes(f))]).toEqual([words, f, true]);
      }
    });
  }

  test("bunker --help, -h and help list every command and exit 0", () => {
    for (const args of [["--help"], ["-h"], ["help"]]) {
      const r = bunker(args);
      expect([args, r.stderr, r.code]).toEqual([args, "", 0]);
      expect(r.stdout).toContain("USAGE bunker [OPTIONS] COMMAND [OPTIONS]");
      const listed = r.stdout.slice(r.stdout.indexOf("COMMANDS")).split("\n").map((l) => l.trim().split(/\s+/)[0]);
      for (const c of COMMANDS) expect([c, listed.includes(c)]).toEqual([c, true]);
      expect(r.stdout).toMatch(/^ {2}ps +List containers \(alias: list\)$/m);
      // The supervisor's internal entry point is not for users.
      expect(r.stdout).not.toContain("__supervise");
    }
  });

  test("-v and --version print the version; version with an argument is a usage error", () => {
    const want = new RegExp(`^bunker \\d+\\.\\d+\\.\\d+ \\(linux-${process.arch}, commit [0-9a-f]{7,}(-dirty)?\\)\\n$`);
    for (const args of [["-v"], ["--version"], ["version"]]) {
      const r = bunker(args);
      expect([args, r.code, r.stderr]).toEqual([args, 0, ""]);
      expect(r.stdout).toMatch(want);
    }
    expect(bunker(["version", "x"])).toMatchObject({ code: 125, stderr: 'bunker: version: unexpected argument "x"\n' });
  });
});

const detached = (args: string[], cmd: string) => {
  const r = bunker(["run", "-d", "--network", "none", ...args, "--rootfs", suite.fs.path, "--", "sh", "-c", cmd]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout.trim();
};

describe.skipIf(!ready)("shell completion of names", () => {
  /** What bash's TAB offers after `words`, with the script `bunker completion bash` prints. */
  const complete = (script: string, words: string[], env: Record<string, string> = {}) => {
    const r = Bun.spawnSync(["bash", "-c", 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _bunker; printf "%s\\n" "${COMPREPLY[@]}"', "_", script, BUNKER, ...words], {
      env: { PATH: "/usr/bin:/bin", ...env },
    });
    return r.stdout.toString().split("\n").filter(Boolean).sort();
  };

  test("exec, stop and kill offer running containers by name and id; rm and inspect every one; run the images", () => {
    const dir = mkdtempSync(join("/tmp", "bunker-complete-"));
    const script = join(dir, "bunker.bash");
    writeFileSync(script, bunker(["completion", "bash"]).stdout);
    const up = detached(["--name", "tab-up"], "exec sleep 100");
    const down = detached(["--name", "tab-down"], "true");
    try {
      expect(bunker(["wait", down]).code).toBe(0);
      for (const cmd of ["exec", "stop", "kill", "logs"]) {
        const offered = complete(script, [cmd, ""]);
        expect([cmd, offered.includes("tab-up"), offered.includes(up)]).toEqual([cmd, true, true]);
        // The stopped one is the control: it exists, and is left out.
        expect([cmd, offered.includes("tab-down"), offered.includes(down)]).toEqual([cmd, false, false]);
      }
      expect(complete(script, ["exec", "tab-"])).toEqual(["tab-up"]);
      for (const cmd of [["rm"], ["inspect"], ["container", "rm"]]) {
        const offered = complete(script, [...cmd, "-f", "tab-"].filter((w) => cmd[0] !== "inspect" || w !== "-f"));
        expect([cmd, offered]).toEqual([cmd, ["tab-down", "tab-up"]]);
      }
      // Images, from a store of the test's own.
      const store = join(dir, "store");
      Bun.spawnSync(["tar", "-C", suite.fs.path, "-cf", join(dir, "fs.tar"), "."]);
      expect(bunker(["--storage", store, "import", join(dir, "fs.tar"), "tabimage:1"]).code).toBe(0);
      expect(complete(script, ["run", "tab"], { BUNKER_STORAGE: store })).toEqual(["tabimage:1"]);
      expect(complete(script, ["rmi", ""], { BUNKER_STORAGE: store })).toEqual(["tabimage:1"]);
      // The second word of run is the command's, not an image.
      expect(complete(script, ["run", "tabimage:1", "tab"], { BUNKER_STORAGE: store })).toEqual([]);
    } finally {
      bunker(["rm", "-f", up, down]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!ready)("listing", () => {
  test("ps -q prints the ids of running containers only, one a line; -a -q (and -aq) adds stopped ones", () => {
    const running = detached([], "exec sleep 100");
    const stopped = detached([], "true");
    expect(bunker(["wait", stopped]).code).toBe(0);
    try {
      const q = bunker(["ps", "-q"]);
      expect(q.code).toBe(0);
      const ids = q.stdout.split("\n");
      expect(ids.at(-1)).toBe("");
      expect(ids.slice(0, -1).every((l) => /^[0-9a-f]{12}$/.test(l))).toBe(true);
      expect(ids).toContain(running);
      expect(ids).not.toContain(stopped);
      for (const all of [["-a", "-q"], ["-aq"], ["--all", "--quiet"]]) {
        const a = bunker(["ps", ...all]).stdout.split("\n");
        expect([all, a.includes(running), a.includes(stopped)]).toEqual([all, true, true]);
      }
    } finally {
      bunker(["rm", "-f", running, stopped]);
    }
  });

  test("list is ps: the same rows, the same flags", () => {
    const running = detached(["--name", "listed"], "exec sleep 100");
    const stopped = detached([], "exit 4");
    expect(bunker(["wait", stopped]).code).toBe(4);
    try {
      for (const flags of [["--json"], ["-a", "--json"], ["-q"], ["-a", "-q"]]) {
        const ps = bunker(["ps", ...flags]);
        const list = bunker(["list", ...flags]);
        expect([flags, list.code, list.stderr]).toEqual([flags, 0, ""]);
        expect([flags, list.stdout]).toEqual([flags, ps.stdout]);
      }
      const rows = JSON.parse(bunker(["list", "-a", "--json"]).stdout) as { id: string; name: string | null; status: string; exitCode: number | null }[];
      expect(rows.find((r) => r.id === running)).toMatchObject({ name: "listed", status: "running" });
      expect(rows.find((r) => r.id === stopped)).toMatchObject({ status: "stopped", exitCode: 4 });
      expect(bunker(["list"]).stdout).toMatch(new RegExp(`^${running} +listed +Up `, "m"));
    } finally {
      bunker(["rm", "-f", running, stopped]);
    }
  });

  test("network ls --json: the default bridge as inspect shows it, with each container on it, as the text form counts them; --json before ls too", () => {
    const r = bunker(["run", "-d", "--rootfs", suite.fs.path, "--", "sleep", "100"]);
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    try {
      const net = JSON.parse(bunker(["inspect", id]).stdout)[0].network;
      const ls = bunker(["network", "ls", "--json"]);
      expect([ls.code, ls.stderr]).toEqual([0, ""]);
      const all = JSON.parse(ls.stdout);
      const o = all.find((n: { Name: string }) => n.Name === "bridge");
      expect(o).toMatchObject({ Driver: "bridge", IPAM: { Config: [{ Subnet: net.subnet, Gateway: net.gateway }] }, Options: { "com.docker.network.bridge.name": "bunker0" } });
      expect(o.IPAM.Config[0].Subnet).toMatch(/^\d+\.\d+\.\d+\.0\/\d+$/);
      expect(o.Containers[id]).toMatchObject({ IPv4Address: `${net.ip}/${net.subnet.split("/")[1]}` });
      expect(JSON.parse(bunker(["network", "--json", "ls"]).stdout)).toEqual(all);
      const text = bunker(["network", "ls"]).stdout;
      expect(text).toMatch(new RegExp(`^NETWORK ID +NAME +DRIVER +SUBNET +GATEWAY +CONTAINERS\n(.*\n)*[0-9a-f]{12} +bridge +bridge +${net.subnet.replaceAll(".", "\\.")} +${net.gateway.replaceAll(".", "\\.")} +${Object.keys(o.Containers).length}\n`));
      expect(bunker(["network", "ls", "--format", "{{.Name}} {{.Subnet}}"]).stdout).toContain(`bridge ${net.subnet}\n`);
      expect(bunker(["network", "ls", "--bogus"])).toMatchObject({ code: 125, stderr: "bunker: network ls: unknown flag --bogus\n" });
    } finally {
      bunker(["rm", "-f", id]);
    }
    // Gone from the listing with it.
    const after = JSON.parse(bunker(["network", "ls", "--json"]).stdout).find((n: { Name: string }) => n.Name === "bridge");
    expect(Object.keys(after?.Containers ?? {})).not.toContain(id);
  });

  test("ns ID --json, as the usage writes it, gives what ns --json ID gives", () => {
    const id = detached([], "exec sleep 100");
    try {
      const after = bunker(["ns", id, "--json"]);
      expect([after.code, after.stderr]).toEqual([0, ""]);
      const o = JSON.parse(after.stdout);
      expect(o.container).toBe(id);
      expect(o.namespaces.find((n: { type: string }) => n.type === "pid")).toMatchObject({ own: true });
      expect(o).toEqual(JSON.parse(bunker(["ns", "--json", id]).stdout));
    } finally {
      bunker(["rm", "-f", id]);
    }
  });
});

describe.skipIf(!ready)("flag aliases", () => {
  let vol: string;
  beforeAll(() => {
    vol = mkdtempSync("/tmp/bunker-test-alias-");
    // The -u 65534 run reads it too.
    chmodSync(vol, 0o755);
    writeFileSync(join(vol, "f"), "from the volume\n");
    writeFileSync(join(suite.fs.path, "marker"), "in the rootfs\n");
  });
  afterAll(() => rmSync(vol, { recursive: true, force: true }));

  const run = (args: string[], cmd: string, stdin?: string) => bunker(["run", "--rm", ...onHostRoot(args), "--", "sh", "-c", cmd], stdin !== undefined ? { stdin } : {});

  test("--root is --rootfs", () => {
    for (const flag of ["--root", "--rootfs"]) expect([flag, run([flag, suite.fs.path, "--network", "none"], "cat /marker").stdout]).toEqual([flag, "in the rootfs\n"]);
    // Control: without either, the host's tree, which has no /marker.
    expect(run(["--network", "none"], "cat /marker 2>/dev/null || echo absent").stdout).toBe("absent\n");
  });

  test("--net is --network", () => {
    const fs = ["--rootfs", suite.fs.path];
    for (const flag of ["--net", "--network"]) expect([flag, run([...fs, flag, "none"], "ls /sys/class/net").stdout]).toEqual([flag, "lo\n"]);
    // Control: the default (the bridge, as root) has eth0 too.
    expect(run(fs, "ls /sys/class/net").stdout).toBe("eth0\nlo\n");
  });

  test("-u, -w, -e and -v are --user, --workdir, --env and --volume", () => {
    const cmd = "id -u; pwd; echo ${A:-unset}; cat /vol/f 2>/dev/null || echo no-volume";
    const base = ["--network", "none", "--rootfs", suite.fs.path];
    expect(run(base, cmd).stdout).toBe("0\n/\nunset\nno-volume\n");
    const want = "65534\n/made/here\nset\nfrom the volume\n";
    expect(run([...base, "-u", "65534", "-w", "/made/here", "-e", "A=set", "-v", `${vol}:/vol`], cmd)).toMatchObject({ code: 0, stdout: want });
    expect(run([...base, "--user", "65534", "--workdir", "/made/here", "--env", "A=set", "--volume", `${vol}:/vol`], cmd).stdout).toBe(want);
    // Values glued to the short flag, as getopt allows.
    expect(run([...base, "-u65534", "-w/made/here", "-eA=set", `-v${vol}:/vol`], cmd).stdout).toBe(want);
  });

  test("-t and -i are --tty and --interactive, clustered or not", () => {
    const base = ["--network", "none", "--rootfs", suite.fs.path];
    const cmd = (wait: number) => `tty; read -t ${wait} x && echo got=$x || echo nothing`;
    // Neither: no terminal, and none of the input (stdin is /dev/null); -i alone: no terminal, the input read.
    expect(run(base, cmd(5), "hello\n").stdout).toBe("not a tty\nnothing\n");
    expect(run([...base, "-i"], cmd(5), "hello\n").stdout).toBe("not a tty\ngot=hello\n");
    // A terminal without -i: the input does not reach it.
    expect(run([...base, "-t"], cmd(1), "hello\n").stdout.replaceAll("\r", "")).toMatch(/^\/dev\/pts\/\d+\nnothing\n$/);
    expect(run([...base, "--tty"], "tty", "").stdout.replaceAll("\r", "")).toMatch(/^\/dev\/pts\/\d+\n$/);
    for (const flags of [["-t", "-i"], ["-it"], ["--tty", "--interactive"]]) {
      const out = run([...base, ...flags], cmd(5), "hello\n").stdout.replaceAll("\r", "");
      // The terminal echoes the input line, before or after tty's answer.
      expect([flags, /^\/dev\/pts\/\d+$/m.test(out), out.endsWith("got=hello\n")]).toEqual([flags, true, true]);
    }
  });

  test("-d is --detach: the id at once, the container running on", () => {
    for (const flag of ["-d", "--detach"]) {
      const r = bunker(["run", flag, "--network", "none", "--rootfs", suite.fs.path, "--", "sleep", "100"]);
      expect([flag, r.code, r.stderr]).toEqual([flag, 0, ""]);
      expect(r.stdout).toMatch(/^[0-9a-f]{12}\n$/);
      const id = r.stdout.trim();
      expect(JSON.parse(bunker(["inspect", id]).stdout)[0].status).toBe("running");
      bunker(["rm", "-f", id]);
    }
  });

  test("-m is --memory: the limit the container sees in its cgroup", () => {
    const base = ["--network", "none", "--rootfs", suite.fs.path];
    for (const flag of ["-m", "--memory"]) expect([flag, run([...base, flag, "64m"], `cat ${MEMORY_LIMIT_FILE}`).stdout]).toEqual([flag, "67108864\n"]);
    // Control: no limit.
    expect(run(base, `cat ${MEMORY_LIMIT_FILE}`).stdout).not.toBe("67108864\n");
  });

  test.skipIf(!nft)("-p is --publish: the port answers from the host", async () => {
    for (const flag of ["-p", "--publish"]) {
      const port = freePort();
      const r = bunker(["run", "-d", flag, `${port}:80`, "--rootfs", suite.fs.path, "--", "sh", "-c", `while true; do echo alias${flag} | nc -l -p 80; done`]);
      expect(r.code).toBe(0);
      const id = r.stdout.trim();
      try {
        expect(JSON.parse(bunker(["inspect", id]).stdout)[0].network.ports).toEqual([{ hostIp: "0.0.0.0", hostPort: port, containerPort: 80, protocol: "tcp" }]);
        expect(await fetchWhenUp("127.0.0.1", port, `alias${flag}`)).toContain(`alias${flag}`);
      } finally {
        bunker(["rm", "-f", id]);
      }
    }
  });

  test("exec's -u, -w, -e, -t and -i are its --user, --workdir, --env, --tty and --interactive", () => {
    const id = detached([], "exec sleep 100");
    try {
      const cmd = ["sh", "-c", "id -u; pwd; echo ${A:-unset}"];
      expect(bunker(["exec", id, ...cmd]).stdout).toBe("0\n/\nunset\n");
      expect(bunker(["exec", "-u", "65534", "-w", "/tmp", "-e", "A=set", id, ...cmd]).stdout).toBe("65534\n/tmp\nset\n");
      expect(bunker(["exec", "--user", "65534", "--workdir", "/tmp", "--env", "A=set", id, ...cmd]).stdout).toBe("65534\n/tmp\nset\n");
      expect(bunker(["exec", id, "tty"]).stdout).toBe("not a tty\n");
      for (const flag of ["-t", "--tty"]) expect([flag, bunker(["exec", flag, id, "tty"]).stdout.replaceAll("\r", "")]).toEqual([flag, expect.stringMatching(/^\/dev\/pts\/\d+\n$/)]);
      const read = (wait: number) => ["sh", "-c", `read -t ${wait} x && echo got=$x || echo nothing`];
      expect(bunker(["exec", "-t", id, ...read(1)], { stdin: "hello\n" }).stdout.replaceAll("\r", "")).toBe("nothing\n");
      // Without -t: the input only with -i (without it, stdin is /dev/null, as docker's exec has it).
      expect(bunker(["exec", id, "sh", "-c", "read -t 5 x && echo got=$x || echo nothing; readlink /proc/self/fd/0"], { stdin: "hello\n" }).stdout).toBe("nothing\n/dev/null\n");
      expect(bunker(["exec", "-i", id, ...read(5)], { stdin: "hello\n" }).stdout).toBe("got=hello\n");
      // -t sets TERM=xterm whatever the caller's is.
      expect(bunker(["exec", "-t", id, "sh", "-c", "echo $TERM"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TERM: "caller-term" } }).stdout.replaceAll("\r", "")).toBe("xterm\n");
      for (const flags of [["-it"], ["-t", "--interactive"]]) {
        expect([flags, bunker(["exec", ...flags, id, ...read(5)], { stdin: "hello\n" }).stdout.replaceAll("\r", "").endsWith("got=hello\n")]).toEqual([flags, true]);
      }
    } finally {
      bunker(["rm", "-f", id]);
    }
  });

  test("the long forms of ps -a, rm -f, stop -t and kill -s", async () => {
    const id = detached([], "trap 'exit 7' USR1; touch /tmp/armed; while :; do sleep 0.05; done");
    // Once the trap is set: PID 1 drops a signal it has no handler for.
    const pid = JSON.parse(bunker(["inspect", id]).stdout)[0].pid;
    await until(() => existsSync(`/proc/${pid}/root/tmp/armed`), 5000, "the container to set its trap");
    expect(bunker(["kill", "--signal", "USR1", id]).code).toBe(0);
    expect(bunker(["wait", id]).code).toBe(7);
    expect(bunker(["ps", "--all", "-q"]).stdout.split("\n")).toContain(id);
    const other = detached([], "exec sleep 100");
    const t0 = Date.now();
    expect(bunker(["stop", "--time", "0", other]).code).toBe(0);
    // Not the 10 s default.
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(bunker(["wait", other]).code).toBe(137);
    const running = detached([], "exec sleep 100");
    expect(bunker(["rm", running]).code).toBe(1);
    expect(bunker(["rm", "--force", running, id, other]).code).toBe(0);
    expect(bunker(["ps", "-a", "-q"]).stdout.split("\n").filter((l) => [id, other, running].includes(l))).toEqual([]);
  });
});

describe.skipIf(!ready)("several containers, and mistyped words", () => {
  test("each container that exists is acted on, each that does not is named, and the command exits 1 (as docker's)", () => {
    const a = detached(["--name", "many-a"], "exec sleep 100");
    const b = detached(["--name", "many-b"], "exec sleep 100");
    const killed = bunker(["kill", "many-a", "many-nope"]);
    expect(killed).toMatchObject({ code: 1, stdout: "many-a\n", stderr: "bunker: no such container: many-nope\n" });
    expect(bunker(["wait", "many-a"]).stdout).toBe("137\n");
    const shown = bunker(["inspect", "many-nope", "many-b"]);
    expect([shown.code, shown.stderr]).toEqual([1, "bunker: no such container: many-nope\n"]);
    expect(JSON.parse(shown.stdout).map((s: { id: string }) => s.id)).toEqual([b]);
    // rm without -f: the stopped one goes; the running one and the missing one are each said.
    const refused = bunker(["rm", "many-b", "many-a", "many-nope"]);
    expect(refused).toMatchObject({ code: 1, stdout: "many-a\n", stderr: "bunker: container many-b is running: stop it first, or use rm -f\nbunker: no such container: many-nope\n" });
    expect(bunker(["inspect", a]).code).toBe(1);
    const forced = bunker(["rm", "-f", "many-nope", "many-b"]);
    expect(forced).toMatchObject({ code: 1, stdout: "many-b\n", stderr: "bunker: no such container: many-nope\n" });
    expect(bunker(["ps", "-a", "-q"]).stdout.split("\n").filter((l) => [a, b].includes(l))).toEqual([]);
  });

  test("a mistyped flag or command is answered with the closest one; one too far from any, plainly", () => {
    expect(bunker(["run", "--entrypont", "sh", "img"])).toMatchObject({ code: 125, stderr: "bunker: run: unknown flag --entrypont: did you mean --entrypoint?\n" });
    expect(bunker(["ps", "--quite"])).toMatchObject({ code: 125, stderr: "bunker: ps: unknown flag --quite: did you mean --quiet?\n" });
    expect(bunker(["imags"])).toMatchObject({ code: 125, stderr: 'bunker: unknown command "imags": did you mean images?\n' });
    expect(bunker(["frobnicate"])).toMatchObject({ code: 125, stderr: 'bunker: unknown command "frobnicate": see bunker --help\n' });
    expect(bunker(["run", "--zzzzzz", "img"])).toMatchObject({ code: 125, stderr: "bunker: run: unknown flag --zzzzzz\n" });
  });
});

describe.skipIf(!ready)("rename, port and container prune", () => {
  test("rename moves the name (the old one is free, a taken one refused); port lists what is published; container prune removes stopped ones only", () => {
    const id = bunker(["run", "-d", "--name", "rn-old", "--network", "bridge", "-p", "127.0.0.1::8080", "-p", "127.0.0.1::53/udp", "--rootfs", suite.fs.path, "--", "sleep", "100"]).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    expect(bunker(["rename", "rn-old", "rn-new"])).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(JSON.parse(bunker(["inspect", "rn-new"]).stdout)[0].id).toBe(id);
    expect(bunker(["inspect", "rn-old"]).code).toBe(1);
    const other = bunker(["run", "-d", "--name", "rn-old", "--network", "none", "--rootfs", suite.fs.path, "--", "true"]).stdout.trim();
    expect(bunker(["rename", "rn-new", "rn-old"])).toMatchObject({ code: 125, stderr: `bunker: the name "rn-old" is already in use by container ${other}: remove it first (bunker rm rn-old)\n` });
    expect(bunker(["rename", "rn-new", id])).toMatchObject({ code: 125, stderr: `bunker: invalid container name "${id}": it looks like a container id\n` });
    const ports = bunker(["port", "rn-new"]);
    expect(ports.code).toBe(0);
    const lines = ports.stdout.trim().split("\n").sort();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^53\/udp -> 127\.0\.0\.1:\d+$/);
    expect(lines[1]).toMatch(/^8080\/tcp -> 127\.0\.0\.1:\d+$/);
    const tcpHost = lines[1]!.split(" -> ")[1];
    expect(bunker(["port", "rn-new", "8080"]).stdout).toBe(`${tcpHost}\n`);
    expect(bunker(["port", "rn-new", "9090/tcp"])).toMatchObject({ code: 125, stderr: "bunker: port: container rn-new does not publish 9090/tcp\n" });
    // The stopped one goes, the running one stays.
    expect(bunker(["wait", other]).code).toBe(0);
    const pruned = bunker(["container", "prune", "-f"]);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toContain(`${other}\n`);
    expect(pruned.stdout).not.toContain(id);
    expect(bunker(["container", "ls", "-q"]).stdout).toContain(id);
    expect(bunker(["container", "rm", "-f", "rn-new"]).code).toBe(0);
    expect(bunker(["container", "lss"])).toMatchObject({ code: 125, stderr: 'bunker: container: unknown command "lss": did you mean ls?\n' });
  });
});

describe.skipIf(!ready)("-v's read-only default", () => {
  test("is said once on a terminal for -v without :ro or :rw; :ro silences it, and a script never sees it", () => {
    const cmd = (vols: string) => Bun.spawnSync(["script", "-qec", `"${BUNKER}" run --rm --network none ${vols} --rootfs ${suite.fs.path} -- true`, "/dev/null"]).stdout.toString().replaceAll("\r", "");
    expect(cmd("-v /tmp:/t -v /etc:/e:rw")).toContain("bunker: notice: -v /tmp:/t: read-only, as bunker mounts volumes unless :rw is given (:ro says so and silences this)\n");
    expect(cmd("-v /tmp:/t:ro")).not.toContain("notice");
    const piped = bunker(["run", "--rm", "--network", "none", "-v", "/tmp:/t", "--rootfs", suite.fs.path, "--", "true"]);
    expect([piped.code, piped.stderr]).toEqual([0, ""]);
    expect(bunker(["run", "--help"]).stdout).toMatch(/-v, --volume.*READ-ONLY unless OPTS has rw/);
  });
});

describe.skipIf(!ready)("system info", () => {
  test("says what the host offers, as bunker itself finds it: kernel, cgroups, helpers, storage, and what will not work", () => {
    const r = bunker(["system", "info", "--json"]);
    expect(r.code).toBe(0);
    const i = JSON.parse(r.stdout);
    expect(i.kernel.release).toBe(require("node:os").release());
    expect(i.user).toMatchObject({ uid: 0, name: "root" });
    expect(i.storage).toMatchObject({ store: "/var/lib/bunker", state: "/run/bunker", driver: "overlay" });
    expect(["legacy", "hybrid", "unified", "none"]).toContain(i.cgroups.layout);
    expect(Object.keys(i.helpers).sort()).toEqual(["fuse-overlayfs", "newgidmap", "newuidmap", "pasta", "slirp4netns"]);
    for (const [name, path] of Object.entries(i.helpers)) expect([name, path]).toEqual([name, Bun.which(name as string, { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" })]);
    expect(Array.isArray(i.limits)).toBe(true);
    const text = bunker(["info"]).stdout;
    expect(text).toContain(`kernel:           ${i.kernel.release}`);
    expect(text).toContain("volumes:          -v HOST:CONTAINER is read-only unless :rw is given (bunker's default)");
    expect(text).toMatch(/\n(What will not work here:\n  - |Everything bunker does works here\.\n)/);
  });
});

describe.skipIf(!ready)("top", () => {
  test("lists every process of a running container with host pids, an exec'd one too, in ps -ef's columns or the -o ones given", async () => {
    const id = detached(["--name", "top-box"], "sleep 100 & exec sleep 200");
    const exec = Bun.spawn([BUNKER, "exec", "top-box", "sleep", "7"], { stdout: "ignore", stderr: "ignore" });
    try {
      // The exec'd command itself: before its execve the process is bunker's, whose own arguments hold "sleep 7" too.
      await until(() => bunker(["top", "top-box", "-o", "args"]).stdout.split("\n").some((l) => l.trim() === "sleep 7"), 5000, "the exec'd process to show");
      const listed = bunker(["top", "top-box"]).stdout.trim().split("\n");
      expect(listed[0]).toMatch(/^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
      const pid = Number(JSON.parse(bunker(["inspect", id]).stdout)[0].pid);
      const rows = listed.slice(1).map((l) => l.split(/\s+/));
      expect(rows.map((r) => r.slice(7).join(" ")).sort()).toEqual(["sleep 100", "sleep 200", "sleep 7"]);
      // Host pids: the first process is the container's, and the others are the host's pids of processes in its namespace.
      expect(rows.find((r) => r.slice(7).join(" ") === "sleep 200")![1]).toBe(String(pid));
      for (const r of rows) expect(readlinkSync(`/proc/${r[1]}/ns/pid`)).toBe(readlinkSync(`/proc/${pid}/ns/pid`));
      expect(bunker(["top", "top-box", "-o", "pid,user,comm"]).stdout.split("\n")[0]).toMatch(/^PID\s+USER\s+COMMAND$/);
      expect(bunker(["top", "top-box", "-o", "nope"])).toMatchObject({ code: 125 });
    } finally {
      exec.kill(9);
      await exec.exited;
      bunker(["rm", "-f", "top-box"]);
    }
    expect(bunker(["top", "top-box"])).toMatchObject({ code: 125, stderr: "bunker: no such container: top-box\n" });
  });
});
