// What stays resident per detached container: N containers started with
// `bunker run -d` beside N under podman (each watched by a conmon process),
// on the same busybox rootfs, measured while they all run. Needs root.
//
//   bun bench/resident.ts [--count N]
//
// podman runs with its own storage and run directories under a temporary
// directory, so nothing of a podman already set up on the host is touched.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeRootfs } from "../test/helpers/rootfs";
import { kib, sh, which } from "./tools";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    count: { type: "string", default: "20" },
    bunker: { type: "string", default: join(import.meta.dir, "..", "dist", "bunker") },
  },
});
const COUNT = Number(values.count);
if (process.geteuid?.() !== 0) {
  console.error("bench/resident: run as root");
  process.exit(2);
}

interface Row {
  name: string;
  what: string;
  pids: number[];
}

const fs = makeRootfs();
writeFileSync(join(fs.path, "etc/hostname"), "");
writeFileSync(join(fs.path, "etc/hosts"), "");
const B = values.bunker!;
const podman = which("podman");
const podDir = mkdtempSync(join(tmpdir(), "bunker-bench-podman-"));
const pod = [
  podman ?? "podman",
  "--root",
  join(podDir, "root"),
  "--runroot",
  join(podDir, "run"),
  "--tmpdir",
  join(podDir, "tmp"),
  "--cgroup-manager",
  "cgroupfs",
  "--events-backend",
  "file",
];
/** podman's parent cgroups (libpod_parent, in every hierarchy), which it leaves behind: removed again if this run made them. */
const podmanCgroups = () => {
  const out: string[] = [];
  for (const h of readdirSync("/sys/fs/cgroup")) {
    const dir = `/sys/fs/cgroup/${h}/libpod_parent`;
    if (existsSync(dir)) out.push(`${dir}/conmon`, dir);
  }
  return out;
};
const cgroupsBefore = new Set(podmanCgroups());
const ids: string[] = [];
let podmanStarted = false;
const rows: Row[] = [];
try {
  for (let i = 0; i < COUNT; i++) ids.push(sh([B, "run", "-d", "--network", "none", "--rootfs", fs.path, "--", "sleep", "100000"]));
  const supervisors = ids.map((id) => JSON.parse(sh([B, "inspect", id]))[0].supervisor as number);
  rows.push({ name: "bunker", what: "the supervising process of each `bunker run -d` (the native waiter)", pids: supervisors });
  const restarting: string[] = [];
  for (let i = 0; i < COUNT; i++) restarting.push(sh([B, "run", "-d", "--restart", "always", "--network", "none", "--rootfs", fs.path, "--", "sleep", "100000"]));
  ids.push(...restarting);
  rows.push({ name: "bunker --restart always", what: "the same, for containers its restart policy watches", pids: restarting.map((id) => JSON.parse(sh([B, "inspect", id]))[0].supervisor as number) });
  if (podman) {
    podmanStarted = true;
    const podIds: string[] = [];
    for (let i = 0; i < COUNT; i++) {
      // This host's root may not raise RLIMIT_NOFILE to podman's default of 1048576.
      podIds.push(sh([...pod, "run", "-d", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "--network", "none", "--rootfs", fs.path, "sleep", "100000"]));
    }
    const conmons = podIds.map((id) => Number(sh([...pod, "inspect", "--format", "{{.State.ConmonPid}}", id])));
    rows.push({ name: "podman", what: "the conmon process of each `podman run -d`", pids: conmons });
  } else console.error("bench/resident: podman is not installed, left out");

  const lines = [
    `${COUNT} detached containers each, running \`sleep\` in a busybox rootfs, measured together`,
    "",
    "| runtime | RSS, all (KiB) | RSS each (KiB) | PSS, all (KiB) | what stays |",
    "| --- | ---: | ---: | ---: | --- |",
  ];
  for (const r of rows) {
    const rss = r.pids.reduce((a, p) => a + kib(p, "VmRSS"), 0);
    const pss = r.pids.reduce((a, p) => a + kib(p, "Pss"), 0);
    lines.push(`| ${r.name} | ${rss} | ${(rss / r.pids.length).toFixed(0)} | ${pss} | ${r.what} |`);
  }
  console.log(lines.join("\n"));
} finally {
  if (ids.length) Bun.spawnSync([B, "rm", "-f", ...ids], { stdout: "ignore", stderr: "ignore" });
  if (podmanStarted) {
    Bun.spawnSync([...pod, "rm", "-f", "-a"], { stdout: "ignore", stderr: "ignore" });
    Bun.spawnSync([...pod, "system", "reset", "-f"], { stdout: "ignore", stderr: "ignore" });
    // podman's overlay driver bind-mounts its storage directory onto itself, and reset leaves that.
    const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) => l.split(" ")[4] ?? "");
    for (const m of mounts.filter((m) => m.startsWith(`${podDir}/`)).reverse()) Bun.spawnSync(["umount", "-l", m]);
    for (const dir of podmanCgroups().filter((d) => !cgroupsBefore.has(d))) {
      try {
        rmdirSync(dir);
      } catch {
        // not empty, or gone: left as podman left it
      }
    }
  }
  rmSync(podDir, { recursive: true, force: true });
  fs.remove();
}
