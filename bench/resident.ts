// What stays resident per detached container: N containers started with
// `bunker run -d` beside N under podman (each watched by a conmon process),
// on the same busybox rootfs, measured while they all run. Needs root.
//
//   bun bench/resident.ts [--count N]
//
// podman runs with its own storage and run directories under a temporary
// directory (bench/podman.ts), so nothing of a podman already set up on the
// host is touched.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeRootfs } from "../test/helpers/rootfs";
import { PODMAN_LIMITS, privatePodman } from "./podman";
import { kib, sh } from "./tools";

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
const pod = privatePodman();
const ids: string[] = [];
const rows: Row[] = [];
try {
  for (let i = 0; i < COUNT; i++) ids.push(sh([B, "run", "-d", "--network", "none", "--rootfs", fs.path, "--", "sleep", "100000"]));
  const supervisors = ids.map((id) => JSON.parse(sh([B, "inspect", id]))[0].supervisor as number);
  rows.push({ name: "bunker", what: "the supervising process of each `bunker run -d` (the native waiter)", pids: supervisors });
  const restarting: string[] = [];
  for (let i = 0; i < COUNT; i++) restarting.push(sh([B, "run", "-d", "--restart", "always", "--network", "none", "--rootfs", fs.path, "--", "sleep", "100000"]));
  ids.push(...restarting);
  rows.push({ name: "bunker --restart always", what: "the same, for containers its restart policy watches", pids: restarting.map((id) => JSON.parse(sh([B, "inspect", id]))[0].supervisor as number) });
  if (pod) {
    const podIds: string[] = [];
    for (let i = 0; i < COUNT; i++) podIds.push(pod.run(["run", "-d", ...PODMAN_LIMITS, "--network", "none", "--rootfs", fs.path, "sleep", "100000"]));
    const conmons = podIds.map((id) => Number(pod.run(["inspect", "--format", "{{.State.ConmonPid}}", id])));
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
  pod?.remove();
  fs.remove();
}
