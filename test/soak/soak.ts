// A soak of bunker as root: many sequential runs, many parallel detached
// containers, and SIGKILL of bunker at random moments of run, run -d, stop
// and rm (with and without published ports); then one `bunker ps -a` and
// `bunker rm -f` of what is left, as a user would, and a check that every
// kind of host state bunker touches is back as it was: mounts, processes in
// other PID namespaces, state directories and names, veths, leases, network
// helpers, cgroups and NAT elements.
//
//   bun test/soak/soak.ts [--sequential N] [--parallel N] [--kills N] [--seed N]
//
// test/soak/soak.test.ts runs a short version in the suite.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { BUNKER } from "../helpers/bunker";
import { leaksSince, snapshot, type Snapshot } from "../helpers/leaks";
import { freePort } from "../helpers/ports";
import { makeRootfs, type Rootfs } from "../helpers/rootfs";

export interface SoakOptions {
  sequential: number;
  parallel: number;
  kills: number;
  seed: number;
  log?: (line: string) => void;
}

export interface SoakReport {
  sequential: { runs: number; failures: string[]; medianMs: number };
  parallel: { containers: number; failures: string[]; addresses: number };
  kills: { done: number; byOperation: Record<string, number> };
  /** What was left on the host after the clean-up a user would do. */
  leaks: string[];
  natLeft: string[];
  seconds: number;
}

/** A small deterministic generator, so that a failing seed can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : 0;
};

function run(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync([BUNKER, ...args], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Elements of bunker's NAT maps (published ports), as `nft` lists them. */
export function natElements(): string[] {
  const r = Bun.spawnSync(["nft", "-j", "list", "table", "ip", "bunker"], { stdout: "pipe", stderr: "ignore" });
  if (!r.success) return [];
  const out: string[] = [];
  for (const item of JSON.parse(r.stdout.toString()).nftables ?? []) {
    for (const [kind, body] of Object.entries(item as Record<string, { name?: string; elem?: unknown[] }>)) {
      if ((kind === "map" || kind === "set") && body.elem) for (const e of body.elem) out.push(`${body.name}: ${JSON.stringify(e)}`);
    }
  }
  return out.sort();
}

async function sequential(fs: Rootfs, n: number, rnd: () => number): Promise<SoakReport["sequential"]> {
  const failures: string[] = [];
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const network = i % 3 === 0 ? ["--network", "bridge", "-p", `127.0.0.1:${freePort()}:80`] : i % 3 === 1 ? ["--network", "bridge"] : ["--network", "none"];
    const t = performance.now();
    const r = run(["run", "--rm", ...network, "--rootfs", fs.path, "--", "true"]);
    times.push(performance.now() - t);
    if (r.code !== 0) failures.push(`run ${i} (${network.join(" ")}): ${r.code} ${r.stderr.trim()}`);
    void rnd;
  }
  return { runs: n, failures, medianMs: Math.round(median(times) * 10) / 10 };
}

async function parallel(fs: Rootfs, n: number): Promise<SoakReport["parallel"]> {
  const failures: string[] = [];
  const started = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const p = Bun.spawn([BUNKER, "run", "-d", "--name", `soak-par-${i}`, "--rootfs", fs.path, "--", "sleep", "60"], { stdout: "pipe", stderr: "pipe" });
      const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      if (code !== 0) failures.push(`run -d ${i}: ${code} ${err.trim()}`);
      return out.trim();
    }),
  );
  const ids = started.filter((id) => /^[0-9a-f]{12}$/.test(id));
  const listed = JSON.parse(run(["ps", "--json"]).stdout || "[]") as { id: string }[];
  const addresses = new Set<string>();
  for (const id of ids) {
    if (!listed.some((c) => c.id === id)) failures.push(`container ${id} is not listed by ps`);
    const info = JSON.parse(run(["inspect", id]).stdout || "{}");
    const ip = (Array.isArray(info) ? info[0] : info)?.network?.ip;
    if (ip) {
      if (addresses.has(ip)) failures.push(`address ${ip} given twice`);
      addresses.add(ip);
    }
  }
  await Promise.all(
    ids.map(async (id, i) => {
      const p = Bun.spawn([BUNKER, i % 2 ? "stop" : "rm", ...(i % 2 ? ["-t", "1"] : ["-f"]), id], { stdout: "ignore", stderr: "pipe" });
      const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
      if (code !== 0) failures.push(`${i % 2 ? "stop" : "rm -f"} ${id}: ${code} ${err.trim()}`);
    }),
  );
  run(["rm", "-f", ...ids]);
  return { containers: n, failures, addresses: addresses.size };
}

/** Spawns `args` and SIGKILLs that bunker process after a random delay (or lets it finish first). */
async function killDuring(args: string[], rnd: () => number): Promise<void> {
  const p = Bun.spawn([BUNKER, ...args], { stdout: "ignore", stderr: "ignore", stdin: "ignore" });
  // Mostly within the first tens of milliseconds, where a start does its work on the host.
  const delay = rnd() ** 2 * 100;
  await Promise.race([p.exited, Bun.sleep(delay)]);
  p.kill(9);
  await p.exited;
}

/** The supervisors of detached containers (bunker __supervise). */
function supervisors(): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0").includes("__supervise")) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function kills(fs: Rootfs, n: number, rnd: () => number): Promise<SoakReport["kills"]> {
  const byOperation: Record<string, number> = {};
  const count = (op: string) => (byOperation[op] = (byOperation[op] ?? 0) + 1);
  for (let i = 0; i < n; i++) {
    const publish = rnd() < 0.5 ? ["-p", `127.0.0.1:${freePort()}:80`] : [];
    const op = Math.floor(rnd() * 5);
    if (op === 0) {
      count(`run${publish.length ? " -p" : ""}`);
      await killDuring(["run", "--rm", ...publish, "--rootfs", fs.path, "--", "sleep", "1"], rnd);
    } else if (op === 1) {
      count(`run -d${publish.length ? " -p" : ""}`);
      await killDuring(["run", "-d", ...publish, "--rootfs", fs.path, "--", "sleep", "30"], rnd);
      // The supervisor too, now and then, at a random moment of its start.
      if (rnd() < 0.5) {
        await Bun.sleep(rnd() * 80);
        for (const pid of supervisors()) process.kill(pid, 9);
      }
    } else {
      const r = run(["run", "-d", ...publish, "--rootfs", fs.path, "--", "sleep", "30"]);
      const id = r.stdout.trim();
      if (op === 2) {
        count("stop");
        await killDuring(["stop", "-t", "1", id], rnd);
      } else if (op === 3) {
        count("rm -f");
        await killDuring(["rm", "-f", id], rnd);
      } else {
        // rm -f of a container that is still starting, then SIGKILL of that rm at a random moment.
        count("rm -f while starting");
        run(["rm", "-f", id]);
        const starting = Bun.spawn([BUNKER, "run", "-d", "--name", `soak-kill-${i}`, ...publish, "--rootfs", fs.path, "--", "sleep", "30"], { stdout: "ignore", stderr: "ignore" });
        await Bun.sleep(rnd() * 40);
        await killDuring(["rm", "-f", `soak-kill-${i}`], rnd);
        await starting.exited;
        run(["rm", "-f", `soak-kill-${i}`]);
      }
    }
  }
  return { done: n, byOperation };
}

/** What the clean-up a user would do leaves behind, polled until the kernel has finished tearing down. */
async function leftovers(before: Snapshot, natBefore: string[]): Promise<{ leaks: string[]; natLeft: string[] }> {
  run(["ps", "-a"]);
  const ids = run(["ps", "-a", "-q"]).stdout.split("\n").filter((id) => /^[0-9a-f]{12}$/.test(id) && !before.states.has(id));
  if (ids.length) run(["rm", "-f", ...ids]);
  if (!before.bridge && existsSync("/sys/class/net/bunker0")) run(["network", "prune"]);
  let leaks: string[] = [];
  let natLeft: string[] = [];
  for (let i = 0; i < 100; i++) {
    leaks = leaksSince(before);
    natLeft = natElements().filter((e) => !natBefore.includes(e));
    if (leaks.length === 0 && natLeft.length === 0) break;
    await Bun.sleep(50);
  }
  return { leaks, natLeft };
}

export async function soak(o: SoakOptions): Promise<SoakReport> {
  const say = o.log ?? (() => {});
  const rnd = random(o.seed);
  const t0 = performance.now();
  const before = snapshot();
  const natBefore = natElements();
  const fs = makeRootfs();
  try {
    say(`soak: ${o.sequential} sequential runs`);
    const seq = await sequential(fs, o.sequential, rnd);
    say(`soak: ${o.parallel} parallel detached containers`);
    const par = await parallel(fs, o.parallel);
    say(`soak: ${o.kills} SIGKILLs at random moments (seed ${o.seed})`);
    const k = await kills(fs, o.kills, rnd);
    const left = await leftovers(before, natBefore);
    return { sequential: seq, parallel: par, kills: k, ...left, seconds: Math.round((performance.now() - t0) / 100) / 10 };
  } finally {
    fs.remove();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: {
      sequential: { type: "string", default: "1000" },
      parallel: { type: "string", default: "50" },
      kills: { type: "string", default: "300" },
      seed: { type: "string", default: String(Date.now() % 100000) },
    },
  });
  if (process.geteuid?.() !== 0) {
    console.error("soak: run as root");
    process.exit(2);
  }
  const report = await soak({
    sequential: Number(values.sequential),
    parallel: Number(values.parallel),
    kills: Number(values.kills),
    seed: Number(values.seed),
    log: (l) => console.error(l),
  });
  console.log(JSON.stringify(report, null, 2));
  const bad = report.sequential.failures.length + report.parallel.failures.length + report.leaks.length + report.natLeft.length;
  process.exit(bad ? 1 : 0);
}
