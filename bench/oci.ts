// bunker as an OCI runtime beside crun and runc, on this machine, in one run:
// create + start + delete of a /bin/true bundle; `ctr run --rm` through
// containerd's shim and `podman run --rm` through conmon with each runtime as
// the client's; and what stays resident of the runtime per running container.
// Needs root. Clients that are not installed are left out, and said so.
//
//   bun bench/oci.ts [--runs N] [--client-runs N]

import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeRootfs } from "../test/helpers/rootfs";
import { alive } from "../test/helpers/bunker";
import { kib, median, sh, which } from "./tools";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    runs: { type: "string", default: "30" },
    "client-runs": { type: "string", default: "15" },
    bunker: { type: "string", default: join(import.meta.dir, "..", "dist", "bunker") },
  },
});
const RUNS = Number(values.runs);
const CLIENT_RUNS = Number(values["client-runs"]);
if (process.geteuid?.() !== 0) {
  console.error("bench/oci: run as root");
  process.exit(2);
}

const fs = makeRootfs();
const dir = mkdtempSync(join(tmpdir(), "bunker-bench-oci-"));
chmodSync(dir, 0o755);

interface Runtime {
  name: string;
  path: string;
  /** Global flags this runtime needs here (crun: see the README's note on this machine's hugetlb controller). */
  globals: string[];
}
const runtimes: Runtime[] = [{ name: "bunker", path: values.bunker!, globals: [] }];
for (const [name, bin] of [["crun", "crun"], ["runc", "runc"]] as const) {
  const path = which(bin);
  if (path) runtimes.push({ name, path, globals: [] });
  else console.log(`(${name} is not installed: left out)`);
}

/** runc's spec, with the suite's rootfs, no terminal, /bin/true, and each runtime's default cgroup. */
function bundle(name: string, args: string[]): string {
  const b = join(dir, name);
  Bun.spawnSync(["mkdir", "-p", b]);
  sh([values.bunker!, "spec", "--bundle", b]);
  const c = JSON.parse(readFileSync(join(b, "config.json"), "utf8"));
  // The version every runtime here reads (crun 1.8 refuses newer ones).
  c.ociVersion = "1.0.2";
  c.root = { path: fs.path, readonly: false };
  c.process.terminal = false;
  c.process.args = args;
  writeFileSync(join(b, "config.json"), JSON.stringify(c));
  return b;
}

/**
 * Runs `cmd`; its stderr goes through a file: a created container keeps the
 * descriptors create was given, and a pipe would not end until it does.
 */
function run(cmd: string[]): void {
  const err = join(dir, "stderr");
  const r = Bun.spawnSync(["sh", "-c", 'exec "$@" 2> "$0" > /dev/null < /dev/null', err, ...cmd]);
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${readFileSync(err, "utf8").trim()}`);
}

/** create, start, wait for the process to end, delete: milliseconds. */
function lifecycle(rt: Runtime, b: string, id: string): number {
  const t0 = performance.now();
  const pidFile = join(b, `${id}.pid`);
  run([rt.path, ...rt.globals, "create", "--bundle", b, "--pid-file", pidFile, id]);
  const pid = Number(readFileSync(pidFile, "utf8"));
  run([rt.path, ...rt.globals, "start", id]);
  while (alive(pid)) Bun.sleepSync(0.2);
  run([rt.path, ...rt.globals, "delete", id]);
  return performance.now() - t0;
}

const trueBundle = bundle("true", ["/bin/true"]);
// crun 1.8 refuses this machine's split of hugetlb (cgroup v2) from the other controllers (v1) unless it
// manages no cgroups; bunker and runc make theirs.
try {
  const crun = runtimes.find((r) => r.name === "crun");
  if (crun) {
    try {
      lifecycle(crun, trueBundle, "bench-probe");
    } catch {
      Bun.spawnSync([crun.path, "delete", "--force", "bench-probe"], { stderr: "ignore" });
      crun.globals = ["--cgroup-manager=disabled"];
      console.log("(crun refuses this host's cgroups: it runs with --cgroup-manager=disabled, making none)");
    }
  }
} catch (e) {
  console.log(String(e));
}

const results: Record<string, number[]> = {};
for (const rt of runtimes) results[rt.name] = [];
for (let i = 0; i < RUNS + 3; i++) {
  for (const rt of runtimes) {
    const ms = lifecycle(rt, trueBundle, `bench-${rt.name}-${i}`);
    if (i >= 3) results[rt.name]!.push(ms);
  }
}
const table: string[][] = [["what", ...runtimes.map((r) => r.name)]];

/** A row of medians, each beside bunker's ratio to it; a runtime with no times was refused here. */
function timesRow(what: string, times: Record<string, number[]>): string[] {
  const b = median(times.bunker!);
  return [what, ...runtimes.map((r) => (times[r.name]!.length ? `${median(times[r.name]!).toFixed(1)}${r.name === "bunker" ? "" : ` (bunker ${(b / median(times[r.name]!)).toFixed(2)}×)`}` : "refused here"))];
}

/**
 * Times `once` (given a runtime and the round) for each runtime that runs
 * with its defaults here (a client takes no global flags for it), rounds
 * alternating, the first two left out as warm-up.
 */
function timeClient(once: (rt: Runtime, i: number) => void): Record<string, number[]> {
  const times: Record<string, number[]> = {};
  for (const rt of runtimes) times[rt.name] = [];
  for (let i = 0; i < CLIENT_RUNS + 2; i++) {
    for (const rt of runtimes) {
      if (rt.globals.length) continue;
      const t0 = performance.now();
      once(rt, i);
      if (i >= 2) times[rt.name]!.push(performance.now() - t0);
    }
  }
  return times;
}

table.push(timesRow(`create + start + delete of /bin/true (median of ${RUNS}, ms)`, results));

// What stays of the runtime while containers run: bunker's create leaves no process of its own.
const runtimeBytes = (rt: Runtime): string => {
  const ids = Array.from({ length: 10 }, (_, i) => `bench-rss-${rt.name}-${i}`);
  const sleeper = bundle(`sleep-${rt.name}`, ["sleep", "60"]);
  for (const id of ids) {
    run([rt.path, ...rt.globals, "create", "--bundle", sleeper, id]);
    run([rt.path, ...rt.globals, "start", id]);
  }
  const target = rt.path;
  let total = 0;
  let count = 0;
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/exe`) === target) {
        total += kib(Number(e), "VmRSS");
        count++;
      }
    } catch {
      // gone, or a kernel thread
    }
  }
  for (const id of ids) run([rt.path, ...rt.globals, "delete", "--force", id]);
  return `${count} processes, ${total} KiB`;
};
table.push(["the runtime's processes left with 10 containers running", ...runtimes.map(runtimeBytes)]);

// containerd's ctr, with each runtime as its runc binary.
const ctrBins = ["containerd", "ctr", "umoci"].every((t) => which(t));
if (!ctrBins) console.log("(containerd, ctr or umoci is not installed: no ctr figures)");
else {
  const cdir = join(dir, "containerd");
  // Where containerd's shim keeps runc's state, and the cgroups' parent it names: removed after, unless there before.
  const hadRunc = existsSync("/run/containerd");
  const cgroupRoots = ["/sys/fs/cgroup/unified", ...readdirSync("/sys/fs/cgroup").map((c) => `/sys/fs/cgroup/${c}`)];
  const hadDefault = cgroupRoots.filter((m) => existsSync(`${m}/default`));
  Bun.spawnSync(["mkdir", "-p", cdir]);
  writeFileSync(join(cdir, "config.toml"), `version = 2\nroot = "${cdir}/root"\nstate = "${cdir}/state"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "${cdir}/sock"\n`);
  const daemon = Number(sh(["sh", "-c", 'containerd --config "$0" > /dev/null 2>&1 < /dev/null & echo $!', join(cdir, "config.toml")]));
  const ctr = (args: string[]) => run(["ctr", "--address", join(cdir, "sock"), ...args]);
  for (let i = 0; i < 100 && Bun.spawnSync(["ctr", "--address", join(cdir, "sock"), "version"], { stdout: "ignore", stderr: "ignore" }).exitCode !== 0; i++) Bun.sleepSync(100);
  const layout = join(cdir, "layout");
  for (const s of [
    ["umoci", "init", "--layout", layout],
    ["umoci", "new", "--image", `${layout}:latest`],
    ["umoci", "insert", "--image", `${layout}:latest`, fs.path, "/"],
    ["umoci", "config", "--image", `${layout}:latest`, "--config.cmd", "/bin/sh", "--os", "linux", "--architecture", "amd64"],
    ["tar", "-C", layout, "-cf", join(cdir, "image.tar"), "oci-layout", "index.json", "blobs"],
  ]) run(s);
  ctr(["image", "import", "--base-name", "localhost/bench/busybox", join(cdir, "image.tar")]);
  // ctr's runc binary takes no global flags: a runtime that needs some here is left out.
  const times = timeClient((rt, i) => ctr(["run", "--rm", "--runc-binary", rt.path, "localhost/bench/busybox:latest", `bench-ctr-${rt.name}-${i}`, "/bin/true"]));
  table.push(timesRow(`ctr run --rm /bin/true (median of ${CLIENT_RUNS}, ms)`, times));
  Bun.spawnSync(["sh", "-c", `kill ${daemon}; while kill -0 ${daemon} 2>/dev/null; do sleep 0.05; done; grep -o ' ${cdir}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`]);
  if (!hadRunc) rmSync("/run/containerd", { recursive: true, force: true });
  for (const m of cgroupRoots) if (!hadDefault.includes(m) && existsSync(`${m}/default`)) Bun.spawnSync(["rmdir", `${m}/default`], { stderr: "ignore" });
}

// podman with conmon, each runtime as --runtime.
const podman = which("podman");
if (!podman || !which("conmon")) console.log("(podman or conmon is not installed: no podman figures)");
else {
  const store = join(dir, "podman");
  const base = [podman, "--root", join(store, "root"), "--runroot", join(store, "runroot"), "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"];
  const times = timeClient((rt) =>
    run([...base, "--runtime", rt.path, "run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "--rootfs", fs.path, "/bin/true"]),
  );
  table.push(timesRow(`podman run --rm /bin/true (median of ${CLIENT_RUNS}, ms)`, times));
  // podman's own cgroups (conmon's) are left by every runtime.
  for (const m of ["/sys/fs/cgroup/unified", ...readdirSync("/sys/fs/cgroup").map((c) => `/sys/fs/cgroup/${c}`)]) {
    for (const d of ["libpod_parent/conmon", "libpod_parent"]) if (existsSync(`${m}/${d}`)) Bun.spawnSync(["rmdir", `${m}/${d}`], { stderr: "ignore" });
  }
}

console.log(`\n| ${table[0]!.join(" | ")} |\n| ${table[0]!.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`);
for (const row of table.slice(1)) console.log(`| ${row.join(" | ")} |`);
rmSync(dir, { recursive: true, force: true });
fs.remove();
