// Start-to-exit time and peak RSS of `/bin/true` in a busybox rootfs, bunker
// beside crun, runc, bubblewrap and unshare with the same namespaces, on this
// machine, in one run. Needs root.
//
//   bun bench/startup.ts [--runs N] [--warmup N] [--breakdown] [--skip-rootless]

import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeRootfs, type Rootfs } from "../test/helpers/rootfs";
import { createUser, removeUser, type TestUser } from "../test/helpers/users";
import { median, ociConfig, which } from "./tools";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    runs: { type: "string", default: "60" },
    warmup: { type: "string", default: "5" },
    breakdown: { type: "boolean", default: false },
    bunker: { type: "string", default: join(import.meta.dir, "..", "dist", "bunker") },
    "skip-rootless": { type: "boolean", default: false },
  },
});
const RUNS = Number(values.runs);
const WARMUP = Number(values.warmup);

if (process.geteuid?.() !== 0) {
  console.error("bench/startup: run as root (the runtimes compared create every namespace)");
  process.exit(2);
}

const fs = makeRootfs();
// Mount targets that an unprivileged container root could not create in a root-owned rootfs.
writeFileSync(join(fs.path, "etc/hostname"), "");
writeFileSync(join(fs.path, "etc/hosts"), "");
const bundle = mkdtempSync(join(tmpdir(), "bunker-bench-bundle-"));
chmodSync(bundle, 0o755);

writeFileSync(join(bundle, "config.json"), JSON.stringify(ociConfig(fs.path), null, 1));
// The same container with -m 256m --pids-limit 100: each runtime makes and removes cgroups.
const LIMITS = ["-m", "256m", "--pids-limit", "100"];
const limitsBundle = join(bundle, "limits");
mkdirSync(limitsBundle);
const limited = ociConfig(fs.path);
writeFileSync(
  join(limitsBundle, "config.json"),
  JSON.stringify({ ...limited, linux: { ...limited.linux, cgroupsPath: "/bunker-bench", resources: { memory: { limit: 256 * 1024 * 1024 }, pids: { limit: 100 } } } }, null, 1),
);

let seq = 0;
interface Tool {
  name: string;
  cmd: () => string[];
  note: string;
}

const tools: Tool[] = [
  // --network none: a network namespace with lo only, as the OCI config below gives crun and runc.
  { name: "bunker", cmd: () => [values.bunker!, "run", "--rm", "--network", "none", "--rootfs", fs.path, "--", "/bin/true"], note: "dist/bunker run --rm --network none --rootfs R -- /bin/true" },
  // The same run without the seccomp filter, dropped capabilities and masked paths.
  { name: "bunker --privileged", cmd: () => [values.bunker!, "run", "--rm", "--network", "none", "--privileged", "--rootfs", fs.path, "--", "/bin/true"], note: "dist/bunker run --rm --network none --privileged ..." },
  // The root default: a veth on bunker0 with a leased address (the bridge itself exists after the warm-up).
  { name: "bunker --network bridge", cmd: () => [values.bunker!, "run", "--rm", "--network", "bridge", "--rootfs", fs.path, "--", "/bin/true"], note: "dist/bunker run --rm --network bridge ..." },
  // Without a cgroup of its own: the match for crun --cgroup-manager=disabled below.
  { name: "bunker --cgroups=disabled", cmd: () => [values.bunker!, "run", "--rm", "--network", "none", "--cgroups=disabled", "--rootfs", fs.path, "--", "/bin/true"], note: "dist/bunker run --rm --network none --cgroups=disabled ..." },
  { name: "bunker -m 256m --pids-limit 100", cmd: () => [values.bunker!, "run", "--rm", "--network", "none", ...LIMITS, "--rootfs", fs.path, "--", "/bin/true"], note: "dist/bunker run --rm --network none -m 256m --pids-limit 100 ..." },
  // The sandbox with no rootfs (the host read-only, its own /proc, /dev, /tmp, /run): beside bwrap's equivalent below.
  { name: "bunker sandbox", cmd: () => [values.bunker!, "run", "--rm", "--network", "none", "--cgroups=disabled", "--host-root", "--", "/bin/true"], note: "dist/bunker run --rm --network none --cgroups=disabled --host-root -- /bin/true" },
  // The same busybox tree as an image (imported once below): overlayfs of its layer over the container's own directory.
  { name: "bunker image", cmd: () => [values.bunker!, "--storage", benchStore, "run", "--rm", "--network", "none", "bench-busybox", "/bin/true"], note: "dist/bunker run --rm --network none IMAGE /bin/true (warm store)" },
];
// A store of the bench's own, with the rootfs imported as an image.
const benchStore = mkdtempSync(join(tmpdir(), "bunker-bench-store-"));
{
  const tar = Bun.spawnSync(["tar", "-C", fs.path, "--numeric-owner", "-cf", "-", "."], { stdout: "pipe" });
  const imported = Bun.spawnSync([values.bunker!, "import", "-", "bench-busybox"], { stdin: tar.stdout, env: { ...process.env, BUNKER_STORAGE: benchStore } });
  if (imported.exitCode !== 0) throw new Error(`bunker import: ${imported.stderr.toString()}`);
}
// Bun's own floor: an empty program compiled the way build.ts compiles bunker.
const emptySrc = join(bundle, "empty.ts");
writeFileSync(emptySrc, "export {};\n");
const emptyExe = join(bundle, "empty");
const built = await Bun.build({
  entrypoints: [emptySrc],
  format: "esm",
  minify: true,
  bytecode: true,
  compile: { outfile: emptyExe, autoloadDotenv: false, autoloadBunfig: false },
});
if (built.success) tools.push({ name: "bun floor", cmd: () => [emptyExe], note: "an empty program built like dist/bunker (not a runtime)" });

const crun = which("crun");
if (crun) tools.push({ name: "crun", cmd: () => [crun, "--cgroup-manager=disabled", "run", "-b", bundle, `bench-crun-${process.pid}-${seq++}`], note: "crun --cgroup-manager=disabled run" });
if (crun) {
  tools.push({
    name: "crun -m 256m --pids-limit 100",
    cmd: () => [crun, "--cgroup-manager=cgroupfs", "run", "-b", limitsBundle, `bench-crun-${process.pid}-${seq++}`],
    note: "crun --cgroup-manager=cgroupfs run, memory and pids limits in config.json",
  });
}
const runc = which("runc");
if (runc) tools.push({ name: "runc", cmd: () => [runc, "run", "-b", bundle, `bench-runc-${process.pid}-${seq++}`], note: "runc run" });
if (runc) tools.push({ name: "runc -m 256m --pids-limit 100", cmd: () => [runc, "run", "-b", limitsBundle, `bench-runc-${process.pid}-${seq++}`], note: "runc run, memory and pids limits in config.json" });
const bwrap = which("bwrap");
if (bwrap) {
  tools.push({
    name: "bwrap",
    cmd: () => [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup", "--bind", fs.path, "/", "--proc", "/proc", "--dev", "/dev", "/bin/true"],
    note: "bwrap --unshare-{pid,net,ipc,uts,cgroup} --bind R / --proc --dev",
  });
}
if (bwrap) {
  tools.push({
    name: "bwrap sandbox",
    cmd: () => [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/run", "--unshare-all", "--die-with-parent", "/bin/true"],
    note: "bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --tmpfs /run --unshare-all --die-with-parent",
  });
}
const unshare = which("unshare");
if (unshare) tools.push({ name: "unshare", cmd: () => [unshare, "-m", "-u", "-i", "-p", "-n", "-C", "-f", `--root=${fs.path}`, "--mount-proc", "/bin/true"], note: "unshare -muipnC -f --root=R --mount-proc" });
for (const t of ["crun", "runc", "bwrap", "unshare"]) if (!tools.some((x) => x.name === t)) console.error(`bench/startup: ${t} not installed, left out`);

// Rootless: the same runs as unprivileged users, one with subordinate ranges
// (bunker maps them through newuidmap/newgidmap) and one without (one ID).
const users: TestUser[] = [];
const userRootfs: Rootfs[] = [];
const setpriv = which("setpriv");
if (!values["skip-rootless"] && setpriv) {
  const sub = createUser("bunker-bench-sub", true);
  const one = createUser("bunker-bench-one", false);
  users.push(sub, one);
  // Each user's own copy of the rootfs: root's is out of other users' reach.
  const subFs = makeRootfs({ owner: sub });
  const oneFs = makeRootfs({ owner: one });
  for (const f of [subFs, oneFs]) for (const e of ["hostname", "hosts"]) writeFileSync(join(f.path, "etc", e), "");
  userRootfs.push(subFs, oneFs);
  const exe = join(bundle, "bunker");
  copyFileSync(values.bunker!, exe);
  chmodSync(exe, 0o755);
  const as = (u: TestUser, cmd: string[]) => [setpriv, `--reuid=${u.uid}`, `--regid=${u.gid}`, "--init-groups", ...cmd];
  tools.push(
    { name: "bunker rootless, one ID", cmd: () => as(one, [exe, "run", "--rm", "--network", "none", "--rootfs", oneFs.path, "--", "/bin/true"]), note: "as a user without subuid ranges (setpriv), --network none" },
    { name: "bunker rootless, newuidmap", cmd: () => as(sub, [exe, "run", "--rm", "--network", "none", "--rootfs", subFs.path, "--", "/bin/true"]), note: "as a user with subuid ranges (setpriv), --network none" },
  );
  for (const helper of ["pasta", "slirp4netns"]) {
    if (!which(helper)) {
      console.error(`bench/startup: ${helper} not installed, left out`);
      continue;
    }
    tools.push({ name: `bunker rootless, ${helper}`, cmd: () => as(one, [exe, "run", "--rm", "--network", helper, "--rootfs", oneFs.path, "--", "/bin/true"]), note: `as a user without subuid ranges, --network ${helper}` });
  }
  if (bwrap) {
    tools.push({
      name: "bwrap rootless",
      cmd: () => as(one, [bwrap, "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup", "--bind", oneFs.path, "/", "--proc", "/proc", "--dev", "/dev", "/bin/true"]),
      note: "bwrap --unshare-user ... (setpriv)",
    });
  }
  if (unshare) {
    tools.push({ name: "unshare -r", cmd: () => as(one, [unshare, "-r", "-m", "-u", "-i", "-p", "-n", "-C", "-f", `--root=${oneFs.path}`, "--mount-proc", "/bin/true"]), note: "unshare -r -muipnC -f --root=R --mount-proc (setpriv)" });
  }
}

function once(t: Tool): number {
  const cmd = t.cmd();
  const start = performance.now();
  const r = Bun.spawnSync(cmd, { stdout: "ignore", stderr: "pipe" });
  const ms = performance.now() - start;
  if (r.exitCode !== 0) throw new Error(`${t.name} failed (${r.exitCode}): ${r.stderr.toString().trim()}`);
  return ms;
}

/**
 * Peak RSS through GNU time: a process spawned straight from this one would
 * report this benchmark's own RSS, which the kernel carries over at execve.
 */
const TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : null;
function peakRss(t: Tool): number {
  if (!TIME) return NaN;
  const r = Bun.spawnSync([TIME, "-f", "%M", ...t.cmd()], { stdout: "ignore", stderr: "pipe" });
  const lines = r.stderr.toString().trim().split("\n");
  return Number(lines[lines.length - 1]) / 1024;
}

/** crun 1.8 refuses a hybrid host whose hugetlb controller sits on the v2 side; a v1 hugetlb hierarchy satisfies it. */
function prepareCrun(t: Tool): boolean {
  try {
    once(t);
    return true;
  } catch (e) {
    if (!String(e).includes("hybrid")) throw e;
    mkdirSync("/sys/fs/cgroup/hugetlb", { recursive: true });
    const m = Bun.spawnSync(["mount", "-t", "cgroup", "-o", "hugetlb", "hugetlb", "/sys/fs/cgroup/hugetlb"]);
    console.error(`bench/startup: crun refused the hybrid cgroup layout; mounted a v1 hugetlb hierarchy (${m.exitCode === 0 ? "ok" : "failed"})`);
    once(t);
    return true;
  }
}

interface Row {
  name: string;
  note: string;
  ms: number;
  p10: number;
  p90: number;
  rssMiB: number;
}

const results: Row[] = [];
let breakdown: string[] = [];

/** Where bunker's milliseconds go: its own --log-level debug milestones, medians over the runs. */
function phases(): string[] {
  const rows: Map<string, number>[] = [];
  const totals: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    const r = Bun.spawnSync([values.bunker!, "--log-level", "debug", "run", "--rm", "--network", "none", "--rootfs", fs.path, "--", "/bin/true"], { stderr: "pipe", stdout: "ignore" });
    totals.push(performance.now() - start);
    const line = r.stderr.toString().split("\n").find((l) => l.includes("timings:")) ?? "";
    rows.push(new Map([...line.matchAll(/(\w[\w ]*?) \+([\d.]+)ms/g)].map((m) => [m[1]!, Number(m[2])])));
  }
  const labels = [...rows[0]!.keys()];
  const med = labels.map((l) => [l, median(rows.map((r) => r.get(l) ?? 0))] as const);
  const accounted = med.reduce((n, [, v]) => n + v, 0);
  return [
    "",
    `bunker phases (--log-level debug, median of ${RUNS}; "log" is the debug output itself):`,
    "",
    "| phase | ms |",
    "| --- | ---: |",
    ...med.map(([l, v]) => `| ${l} | ${v.toFixed(2)} |`),
    `| process exit and the rest | ${(median(totals) - accounted).toFixed(2)} |`,
    `| total | ${median(totals).toFixed(2)} |`,
  ];
}
try {
  for (const t of tools.filter((x) => x.name.startsWith("crun"))) prepareCrun(t);
  const samples = new Map<string, { ms: number[] }>(tools.map((t) => [t.name, { ms: [] }]));
  for (const t of tools) for (let i = 0; i < WARMUP; i++) once(t);
  // Interleave the tools so drift in machine load hits all of them alike.
  for (let i = 0; i < RUNS; i++) {
    for (const t of tools) {
      samples.get(t.name)!.ms.push(once(t));
    }
  }
  for (const t of tools) {
    const s = samples.get(t.name)!;
    const sorted = [...s.ms].sort((a, b) => a - b);
    results.push({
      name: t.name,
      note: t.note,
      ms: median(s.ms),
      p10: sorted[Math.floor(sorted.length * 0.1)]!,
      p90: sorted[Math.floor(sorted.length * 0.9)]!,
      rssMiB: Math.max(...[1, 2, 3].map(() => peakRss(t))),
    });
  }
  if (values.breakdown) breakdown = phases();
} finally {
  fs.remove();
  for (const f of userRootfs) f.remove();
  rmSync(bundle, { recursive: true, force: true });
  rmSync(benchStore, { recursive: true, force: true });
  for (const u of users) removeUser(u);
  Bun.spawnSync([values.bunker!, "network", "prune"], { stdout: "ignore", stderr: "ignore" });
}

const bunkerRow = results.find((r) => r.name === "bunker")!;
const oneId = results.find((r) => r.name === "bunker rootless, one ID");
const privileged = results.find((r) => r.name === "bunker --privileged");
const lines = [
  `${RUNS} runs each after ${WARMUP} warm-up runs, interleaved; wall time from spawn to exit; peak RSS of the largest process, through GNU time`,
  "",
  "| runtime | median ms | p10–p90 ms | bunker ÷ this (time) | peak RSS MiB | command |",
  "| --- | ---: | ---: | ---: | ---: | --- |",
  ...results.map(
    (r) =>
      `| ${r.name} | ${r.ms.toFixed(1)} | ${r.p10.toFixed(1)}–${r.p90.toFixed(1)} | ${(bunkerRow.ms / r.ms).toFixed(2)} | ${r.rssMiB.toFixed(1)} | \`${r.note}\` |`,
  ),
];
if (oneId) lines.push("", `bunker rootless (one ID) ÷ bunker as root: ${(oneId.ms / bunkerRow.ms).toFixed(2)}`);
if (privileged) lines.push(`bunker (default security) ÷ bunker --privileged: ${(bunkerRow.ms / privileged.ms).toFixed(2)}`);
const withLimits = results.find((r) => r.name === "bunker -m 256m --pids-limit 100");
const crunLimits = results.find((r) => r.name === "crun -m 256m --pids-limit 100");
if (withLimits && crunLimits) lines.push(`bunker ÷ crun, both with -m 256m --pids-limit 100: ${(withLimits.ms / crunLimits.ms).toFixed(2)}`);
const noCgroups = results.find((r) => r.name === "bunker --cgroups=disabled");
if (noCgroups) lines.push(`bunker (a cgroup of its own) ÷ bunker --cgroups=disabled: ${(bunkerRow.ms / noCgroups.ms).toFixed(2)}`);
const bridged = results.find((r) => r.name === "bunker --network bridge");
if (bridged) lines.push(`bunker --network bridge ÷ bunker --network none: ${(bridged.ms / bunkerRow.ms).toFixed(2)}`);
const ratio = (a: string, b: string) => {
  const x = results.find((r) => r.name === a);
  const y = results.find((r) => r.name === b);
  return x && y ? (x.ms / y.ms).toFixed(2) : "n/a";
};
lines.push(
  "",
  "| target | ratio | goal |",
  "| --- | ---: | ---: |",
  `| bunker --cgroups=disabled ÷ crun --cgroup-manager=disabled | ${ratio("bunker --cgroups=disabled", "crun")} | 1.3 |`,
  `| bunker -m 256m --pids-limit 100 ÷ crun with the same limits | ${ratio("bunker -m 256m --pids-limit 100", "crun -m 256m --pids-limit 100")} | 1.3 |`,
  `| bunker --network bridge (the default run) ÷ crun --cgroup-manager=disabled | ${ratio("bunker --network bridge", "crun")} | 2.0 |`,
  `| bunker --network bridge (the default run) ÷ crun with limits (a cgroup) | ${ratio("bunker --network bridge", "crun -m 256m --pids-limit 100")} | |`,
  `| bunker sandbox ÷ bwrap sandbox | ${ratio("bunker sandbox", "bwrap sandbox")} | 2.5 |`,
  `| bunker rootless, one ID ÷ bunker | ${ratio("bunker rootless, one ID", "bunker")} | 1.1 |`,
  `| bunker rootless, newuidmap ÷ bunker | ${ratio("bunker rootless, newuidmap", "bunker")} | 1.3 |`,
);
console.log([...lines, ...breakdown].join("\n"));
