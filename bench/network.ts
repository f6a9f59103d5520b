// Container networking beside podman on this machine, in one run. Needs root.
//
// Between two containers on one network: a server (busybox httpd with a
// 6-byte file, and nc handing each connection to dd) and a client that stays
// up and is entered with exec. Inside the client:
//   first packet: one fresh busybox wget of the file, by name (name lookup,
//     TCP connect, HTTP GET) and by address, many in a loop; the same loop of
//     a wget refused on the client's own loopback (the process start-up) is
//     taken off, so what is left is the network's part;
//   throughput: N MiB from the server's dd through TCP into the client's dd.
// Each loop's time is read on the host from when the lines the client
// prints before and after it arrive, so no exec start-up is in it. On a
// network made with `network create` (names answered by each runtime's DNS)
// and on each runtime's default bridge (by address only: neither answers
// names there, as docker's default bridge does not), interleaved run by run.
// Then, for the record, from a container to a sink on the host: over the
// bunker0 bridge as root, through pasta and slirp4netns rootless.
//
//   bun bench/network.ts [--runs N] [--requests N] [--mib N] [--skip-podman] [--skip-host] [--bunker PATH]
//
// What one side cannot run (a bunker without `network create`, podman
// missing) is named in the output and left out; the rest runs.

import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeRootfs, type Rootfs } from "../test/helpers/rootfs";
import { createUser, publicBinary, removeUser, type TestUser } from "../test/helpers/users";
import { PODMAN_LIMITS, privatePodman, type PrivatePodman } from "./podman";
import { median, sh } from "./tools";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    runs: { type: "string", default: "5" },
    requests: { type: "string", default: "100" },
    mib: { type: "string", default: "256" },
    "skip-podman": { type: "boolean", default: false },
    "skip-host": { type: "boolean", default: false },
    bunker: { type: "string", default: join(import.meta.dir, "..", "dist", "bunker") },
  },
});
const RUNS = Number(values.runs);
const REQUESTS = Number(values.requests);
const MIB = Number(values.mib);
for (const [flag, n] of [["--runs", RUNS], ["--requests", REQUESTS], ["--mib", MIB]] as const) {
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench/network: ${flag} takes a whole number above 0`);
    process.exit(2);
  }
}
if (process.geteuid?.() !== 0) {
  console.error("bench/network: run as root");
  process.exit(2);
}
const B = values.bunker!;
if (!existsSync(B)) {
  console.error(`bench/network: ${B} not found: build it first (bun build.ts)`);
  process.exit(2);
}

const BODY = "hello\n";
const HTTP_PORT = 8080;
const TCP_PORT = 5001;
const IMAGE = "localhost/bunker-bench-busybox";
const tag = `bench-net-${process.pid}`;
const SERVER_CMD = `httpd -p ${HTTP_PORT} -h /www && exec nc -ll -p ${TCP_PORT} -e dd if=/dev/zero bs=1048576 count=${MIB}`;

/** One network of one runtime with its server and client, and what became of setting it up. */
interface Setup {
  runtime: "bunker" | "podman";
  network: string;
  /** The command line that enters a container of this runtime. */
  exec: (container: string, script: string) => string[];
  server: string;
  client: string;
  /** Whether the runtime answers names on this network. */
  named: boolean;
  address?: string;
  /** Why it could not run at all. */
  error?: string;
  /** Why names were not measured although the network answers them. */
  nameError?: string;
  byName: number[];
  byAddress: number[];
  mbps: number[];
}

// Everything made on the host, for the cleanup.
const made = { bunkerContainers: [] as string[], bunkerNetworks: [] as string[], rootfs: [] as Rootfs[], dirs: [] as string[], user: null as TestUser | null };
const hadBridge = existsSync("/sys/class/net/bunker0");
let podman: PrivatePodman | null = null;
let cleaned = false;

/** bunker's networks besides the default bridge and this run's. */
function otherNetworks(): string[] {
  const root = "/run/bunker/networks";
  if (!existsSync(root)) return [];
  return readdirSync(root).filter((n) => n !== "bunker0" && n !== tag && existsSync(join(root, n, "network.json")));
}
/** Removes what the run made; a step that fails is reported and the others still run. */
function cleanup(): void {
  if (cleaned) return;
  cleaned = true;
  const quiet = { stdout: "ignore", stderr: "ignore" } as const;
  const steps: [string, () => void][] = [
    ["bunker rm", () => made.bunkerContainers.length && Bun.spawnSync([B, "rm", "-f", ...made.bunkerContainers], quiet)],
    ["bunker network rm", () => made.bunkerNetworks.forEach((n) => Bun.spawnSync([B, "network", "rm", n], quiet))],
    // The default bridge goes again if this run made it, through a prune, which would take every
    // other unused network with it: not while there is one.
    ["bunker network prune", () => {
      if (hadBridge) return;
      const others = otherNetworks();
      if (!others.length) Bun.spawnSync([B, "network", "prune"], quiet);
      else console.error(`bench/network: bunker0 left in place: a prune would remove ${others.join(", ")} too`);
    }],
    ["podman", () => podman?.remove()],
    ["the throw-away user", () => made.user && removeUser(made.user)],
    ["rootfs", () => made.rootfs.forEach((fs) => fs.remove())],
    ["directories", () => made.dirs.forEach((d) => rmSync(d, { recursive: true, force: true }))],
  ];
  for (const [what, step] of steps) {
    try {
      step();
    } catch (e) {
      console.error(`bench/network: cleanup: ${what}: ${firstLine(e)}`);
    }
  }
}

// Ctrl-C reaches the containers' clients too; what runs is let end (a foreground container's
// PID 1 ignores it and would wait for a sink that no longer reads), then everything is removed.
// A second signal removes everything at once.
let stopped: { sig: string; code: number } | null = null;
class Stopped extends Error {}
for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  process.on(sig, () => {
    if (stopped) {
      console.error(`bench/network: ${sig} again: cleaning up now`);
      cleanup();
      process.exit(code);
    }
    stopped = { sig, code };
    console.error(`bench/network: ${sig}: stopping after the current step, then cleaning up`);
  });
}
/** Throws once a signal asked the run to stop; errors met after that are the signal's doing, not the runtime's. */
function checkpoint(): void {
  if (stopped) throw new Stopped(stopped.sig);
}

/** Runs `cmd`, noting when each line of its stdout arrives; throws with the end of its stderr when it fails. */
async function timedLines(cmd: string[]): Promise<{ at: Map<string, number>; stderr: string }> {
  const p = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const stderrText = new Response(p.stderr).text();
  const at = new Map<string, number>();
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of p.stdout) {
    const now = performance.now();
    pending += decoder.decode(chunk, { stream: true });
    for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
      at.set(pending.slice(0, nl), now);
      pending = pending.slice(nl + 1);
    }
  }
  const [code, stderr] = await Promise.all([p.exited, stderrText]);
  if (code !== 0) throw new Error(`status ${code}: ${stderr.trim().split("\n").pop() ?? ""}`);
  return { at, stderr };
}

/** Runs `script` in `s`'s client in segments, each ended by a line of its own; each segment's milliseconds. */
async function segments(s: Setup, parts: string[]): Promise<{ ms: number[]; stderr: string }> {
  const script = ["echo M0", ...parts.map((p, i) => `${p}\necho M${i + 1}`)].join("\n");
  const { at, stderr } = await timedLines(s.exec(s.client, script));
  const ms = parts.map((_, i) => {
    const a = at.get(`M${i}`);
    const b = at.get(`M${i + 1}`);
    if (a === undefined || b === undefined) throw new Error(`segment ${i + 1} did not report its end`);
    return b - a;
  });
  return { ms, stderr };
}

// The requests go in rounds of each kind in turn, so that a burst of load elsewhere on the
// machine falls on all kinds alike rather than on one loop.
const ROUNDS = Math.min(5, REQUESTS);
const PER_ROUND = Math.ceil(REQUESTS / ROUNDS);
const loop = (body: string) => `i=0; while [ $i -lt ${PER_ROUND} ]; do ${body}; i=$((i+1)); done`;
const requests = (host: string) => loop(`wget -q -O /dev/null http://${host}:${HTTP_PORT}/f || exit 1`);
// The same process started and ended with no request (a refused connect on the container's own
// loopback): what a loop costs besides the requests. (`wget --help` would unpack busybox's usage texts.)
const CONTROL = loop("wget -q -O /dev/null http://127.0.0.1:1/ 2>/dev/null");

/** Milliseconds per request by address, and by name where the network answers names. */
async function firstPacket(s: Setup): Promise<void> {
  const byName = s.named && !s.nameError;
  const kinds = [requests(s.address!), ...(byName ? [requests(s.server)] : []), CONTROL];
  const { ms } = await segments(s, Array.from({ length: ROUNDS }, () => kinds).flat());
  const total = kinds.map((_, k) => ms.filter((_, i) => i % kinds.length === k).reduce((a, b) => a + b, 0));
  const control = total[total.length - 1]!;
  const n = ROUNDS * PER_ROUND;
  s.byAddress.push((total[0]! - control) / n);
  if (byName) s.byName.push((total[1]! - control) / n);
}

/** MB/s of one transfer from the server's dd into the client's, every block checked to have arrived. */
async function throughput(s: Setup): Promise<void> {
  const { ms, stderr } = await segments(s, [`nc ${s.address} ${TCP_PORT} -e dd of=/dev/null bs=1048576 iflag=fullblock`]);
  if (!stderr.includes(`${MIB}+0 records in`)) throw new Error(`the transfer ended early: ${stderr.trim().replace(/\n/g, "; ")}`);
  s.mbps.push((MIB * 1048576) / 1e6 / (ms[0]! / 1000));
}

/** Polls `check` until it holds or `ms` pass; whether it held. */
async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    checkpoint();
    if (await check()) return true;
    await Bun.sleep(100);
  }
  return false;
}

async function quiet(cmd: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

/** The server's address, and the client able to fetch from it (by name too where `named`). */
async function prepare(s: Setup): Promise<void> {
  const ip = await quiet(s.exec(s.server, "ip -o -4 addr show dev eth0"));
  const m = ip.stdout.match(/inet (\d+\.\d+\.\d+\.\d+)\//);
  if (!m) throw new Error(`no address on the server's eth0: ${(ip.stderr || ip.stdout).trim()}`);
  s.address = m[1];
  const get = async (host: string) => (await quiet(s.exec(s.client, `wget -q -O - http://${host}:${HTTP_PORT}/f`))).stdout === BODY;
  if (!(await until(() => get(s.address!), 20000))) throw new Error(`the client could not fetch http://${s.address}:${HTTP_PORT}/f within 20 s`);
  if (s.named && !(await until(() => get(s.server), 10000))) {
    const r = await quiet(s.exec(s.client, `wget -q -O /dev/null http://${s.server}:${HTTP_PORT}/f`));
    s.nameError = `"${s.server}" did not resolve within 10 s (${r.stderr.trim().split("\n").pop() || `status ${r.code}`})`;
  }
}

/** Starts a server and a client; the first failing command's output becomes the setup's error. */
function start(s: Setup, run: (name: string, cmd: string[]) => void): void {
  try {
    run(s.server, ["sh", "-c", SERVER_CMD]);
    run(s.client, ["sleep", "100000"]);
  } catch (e) {
    s.error = firstLine(e);
  }
}

function firstLine(e: unknown): string {
  return String((e as Error).message ?? e).trim().split("\n")[0]!;
}

const blank = (runtime: Setup["runtime"], network: string, named: boolean, exec: Setup["exec"], suffix: string): Setup => ({
  runtime,
  network,
  exec,
  server: `${tag}-web${suffix}`,
  client: `${tag}-client${suffix}`,
  named,
  byName: [],
  byAddress: [],
  mbps: [],
});

function bunkerSetups(fs: Rootfs): Setup[] {
  const exec = (c: string, script: string) => [B, "exec", c, "sh", "-c", script];
  const run = (network: string) => (name: string, cmd: string[]) => {
    made.bunkerContainers.push(name);
    const r = Bun.spawnSync([B, "run", "-d", "--network", network, "--name", name, "--rootfs", fs.path, "--", ...cmd], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`bunker run --network ${network}: ${r.stderr.toString().trim().split("\n").pop()} (status ${r.exitCode})`);
  };
  const user = blank("bunker", "user-defined", true, exec, "");
  made.bunkerNetworks.push(tag);
  const created = Bun.spawnSync([B, "network", "create", tag], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  if (created.exitCode !== 0) {
    made.bunkerNetworks.pop();
    user.error = `bunker: network create not available: ${created.stderr.toString().trim().split("\n").pop()?.replace(/^bunker: /, "")}`;
  }
  if (!user.error) start(user, run(tag));
  const bridge = blank("bunker", "default bridge", false, exec, "-bridge");
  start(bridge, run("bridge"));
  return [user, bridge];
}

function podmanSetups(pod: PrivatePodman): Setup[] {
  const exec = (c: string, script: string) => [...pod.cmd, "exec", c, "sh", "-c", script];
  const run = (network: string) => (name: string, cmd: string[]) => {
    pod.run(["run", "-d", ...PODMAN_LIMITS, "--network", network, "--name", name, IMAGE, ...cmd]);
  };
  const user = blank("podman", "user-defined", true, exec, "");
  try {
    pod.run(["network", "create", tag]);
    start(user, run(tag));
  } catch (e) {
    user.error = `podman: network create failed: ${firstLine(e)}`;
  }
  const bridge = blank("podman", "default bridge", false, exec, "-bridge");
  start(bridge, run("podman"));
  return [user, bridge];
}

/** "podman 4.3.1 (crun 1.8.1, netavark 1.4.0, aardvark-dns 1.4.0)": what the podman rows ran on. */
function podmanVersions(pod: PrivatePodman): string {
  const first = (cmd: string[]) => {
    try {
      return sh(cmd).split("\n")[0]!;
    } catch {
      return "";
    }
  };
  const version = first([...pod.cmd, "version", "--format", "{{.Client.Version}}"]);
  const runtime = first([...pod.cmd, "info", "--format", "{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Version}}"]).replace(/ \S+ version /, " ");
  const helpers = ["netavark", "aardvark-dns"].map((h) => first([`/usr/lib/podman/${h}`, "--version"])).filter(Boolean);
  return `podman ${version} (${[runtime, ...helpers].filter(Boolean).join(", ")})`;
}

const fmt = (xs: number[], digits: number) => (xs.length ? median(xs).toFixed(digits) : "–");

function peersReport(setups: Setup[], podmanNote: string): string[] {
  const lines = [
    `Between two containers on one network, ${RUNS} run${RUNS === 1 ? "" : "s"} interleaved, medians. First packet: one busybox wget of a ${BODY.length}-byte file`,
    `from a running client, the mean of ${ROUNDS * PER_ROUND} (${ROUNDS} rounds of ${PER_ROUND}, the kinds in turn) less that of a wget refused on the`,
    `client's loopback (its start-up); the name lookup is by name less by address. Throughput: ${MIB} MiB from the server's dd`,
    `through TCP (busybox nc) into the client's dd.`,
    `${podmanNote}`,
    "",
    "| runtime | network | by name (ms) | by address (ms) | name lookup (ms) | throughput (MB/s) |",
    "| --- | --- | ---: | ---: | ---: | ---: |",
  ];
  const notes: string[] = [];
  for (const s of setups) {
    if (s.error) {
      lines.push(`| ${s.runtime} | ${s.network} | not run | not run | not run | not run |`);
      notes.push(`${s.runtime}, ${s.network}: not run: ${s.error}`);
      continue;
    }
    const lookup = s.byName.length && s.byAddress.length ? (median(s.byName) - median(s.byAddress)).toFixed(2) : "–";
    const byName = !s.named ? "no names" : s.nameError ? "failed" : fmt(s.byName, 2);
    lines.push(`| ${s.runtime} | ${s.network} | ${byName} | ${fmt(s.byAddress, 2)} | ${lookup} | ${fmt(s.mbps, 0)} |`);
    if (s.nameError) notes.push(`${s.runtime}, ${s.network}: by name not measured: ${s.nameError}`);
  }
  const ratios: string[] = [];
  for (const network of ["user-defined", "default bridge"]) {
    const b = setups.find((s) => s.runtime === "bunker" && s.network === network && !s.error);
    const p = setups.find((s) => s.runtime === "podman" && s.network === network && !s.error);
    if (!b || !p) continue;
    const ratio = (x: number[], y: number[]) => (x.length && y.length ? (median(x) / median(y)).toFixed(2) : "–");
    ratios.push(`| ${network} | ${network === "user-defined" ? ratio(b.byName, p.byName) : "–"} | ${ratio(b.byAddress, p.byAddress)} | ${ratio(b.mbps, p.mbps)} |`);
  }
  if (ratios.length) {
    lines.push("", "| bunker ÷ podman | by name (time) | by address (time) | throughput |", "| --- | ---: | ---: | ---: |", ...ratios);
  }
  if (notes.length) lines.push("", ...notes);
  return lines;
}

/** A sink on `host`; resolves with the seconds from the first byte to the end and the bytes seen. */
function sink(host: string): { port: number; done: Promise<{ s: number; bytes: number }>; stop(): void } {
  let first = 0;
  let bytes = 0;
  let resolve!: (v: { s: number; bytes: number }) => void;
  const done = new Promise<{ s: number; bytes: number }>((r) => (resolve = r));
  const server = Bun.listen({
    hostname: host,
    port: 0,
    socket: {
      data(_s, d) {
        if (!first) first = performance.now();
        bytes += d.length;
      },
      close() {
        resolve({ s: (performance.now() - first) / 1000, bytes });
      },
    },
  });
  return { port: server.port, done, stop: () => server.stop(true) };
}

/** Gbit/s of N MiB from a container into a sink on the host: over bunker0 as root, pasta and slirp4netns rootless. */
async function hostReport(fs: Rootfs): Promise<string[]> {
  const { path: exe, dir } = publicBinary(B);
  made.dirs.push(dir);
  const user = createUser("bunker-bench-net", false);
  made.user = user;
  // The user's own rootfs: root's is out of other users' reach.
  const userFs = makeRootfs({ owner: user });
  made.rootfs.push(userFs);

  async function transfer(mode: string, as: string[] | null, listenOn: string, target: string): Promise<number> {
    const s = sink(listenOn);
    const cmd = [...(as ?? []), exe, "run", "--rm", "--network", mode, "--rootfs", as ? userFs.path : fs.path, "--", "sh", "-c", `dd if=/dev/zero bs=1048576 count=${MIB} 2>/dev/null | nc ${target} ${s.port}`];
    const p = Bun.spawn(cmd, { stdout: "ignore", stderr: "pipe" });
    const [code, stderr] = await Promise.all([p.exited, new Response(p.stderr).text()]);
    if (code !== 0) {
      s.stop();
      throw new Error(`${mode}: status ${code}: ${stderr.trim().split("\n").pop()}`);
    }
    const r = await s.done;
    s.stop();
    if (r.bytes !== MIB * 1048576) throw new Error(`${mode}: ${r.bytes} bytes arrived of ${MIB * 1048576}`);
    return (r.bytes * 8) / r.s / 1e9;
  }

  const rows: string[] = [];
  // The bridge's gateway address exists once bunker0 does.
  Bun.spawnSync([exe, "run", "--rm", "--network", "bridge", "--rootfs", fs.path, "--", "true"]);
  const gw = (await Bun.file("/run/bunker/networks/bunker0/network.json").json()).gateway as string;
  const as = ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups"];
  const cases: [string, string, string[] | null, string, string][] = [
    ["bridge (root)", "bridge", null, gw, gw],
    // The sink listens on the host's loopback, which a rootless container reaches only when allowed to.
    ["pasta (rootless)", "pasta:allow_host_loopback=true", as, "127.0.0.1", "host.bunker.internal"],
    ["slirp4netns (rootless)", "slirp4netns:allow_host_loopback=true", as, "127.0.0.1", "host.bunker.internal"],
  ];
  for (const [name, mode, who, listenOn, target] of cases) {
    const got: number[] = [];
    try {
      for (let i = 0; i < RUNS; i++) {
        checkpoint();
        got.push(await transfer(mode, who, listenOn, target));
      }
      rows.push(`| ${name} | ${median(got).toFixed(2)} |`);
    } catch (e) {
      checkpoint();
      rows.push(`| ${name} | failed: ${firstLine(e)} |`);
    }
  }
  return [`${MIB} MiB from a container to a sink on the host, median of ${RUNS}`, "", "| path | Gbit/s |", "| --- | ---: |", ...rows];
}

const out: string[] = [];
try {
  const fs = makeRootfs();
  made.rootfs.push(fs);
  // Mount targets, and the server's file.
  writeFileSync(join(fs.path, "etc/hostname"), "");
  writeFileSync(join(fs.path, "etc/hosts"), "");
  mkdirSync(join(fs.path, "www"));
  writeFileSync(join(fs.path, "www/f"), BODY);

  const setups = bunkerSetups(fs);
  let podmanNote = "podman: left out (--skip-podman)";
  if (!values["skip-podman"]) {
    podman = privatePodman({ driver: "vfs" });
    if (!podman) podmanNote = "podman: not installed, left out";
    else {
      try {
        podman.importRootfs(fs.path, IMAGE);
        setups.push(...podmanSetups(podman));
        podmanNote = `podman rows: ${podmanVersions(podman)}, root, its own storage under ${tmpdir()}.`;
      } catch (e) {
        podmanNote = `podman: left out: ${firstLine(e)}`;
      }
    }
  }
  for (const s of setups.filter((s) => !s.error)) {
    try {
      await prepare(s);
    } catch (e) {
      checkpoint();
      s.error = firstLine(e);
    }
  }
  // One round to warm up (ARP, page cache, the DNS responder), then the measured ones.
  for (let r = 0; r <= RUNS; r++) {
    checkpoint();
    for (const s of setups.filter((s) => !s.error)) {
      try {
        checkpoint();
        await firstPacket(s);
        await throughput(s);
      } catch (e) {
        checkpoint();
        s.error = `run ${r}: ${firstLine(e)}`;
      }
      if (r === 0) {
        s.byName = [];
        s.byAddress = [];
        s.mbps = [];
      }
    }
  }
  out.push(...peersReport(setups, podmanNote));
  // The containers go before the host rows, which measure alone.
  if (made.bunkerContainers.length) Bun.spawnSync([B, "rm", "-f", ...made.bunkerContainers], { stdout: "ignore", stderr: "ignore" });
  made.bunkerContainers = [];
  podman?.remove();
  checkpoint();
  if (!values["skip-host"]) out.push("", ...(await hostReport(fs)));
} catch (e) {
  if (!(e instanceof Stopped)) throw e;
} finally {
  cleanup();
}
if (stopped) process.exit((stopped as { code: number }).code);
console.log(out.join("\n"));
