// bunker exec beside runc exec and nsenter into the same running container,
// and the memory that stays resident per detached container. Needs root.
//
//   bun bench/exec.ts [--runs N]

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeRootfs } from "../test/helpers/rootfs";
import { kib, median, sh, which } from "./tools";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    runs: { type: "string", default: "40" },
    bunker: { type: "string", default: join(import.meta.dir, "..", "dist", "bunker") },
  },
});
const RUNS = Number(values.runs);
if (process.geteuid?.() !== 0) {
  console.error("bench/exec: run as root");
  process.exit(2);
}

const fs = makeRootfs();
writeFileSync(join(fs.path, "etc/hostname"), "");
writeFileSync(join(fs.path, "etc/hosts"), "");
const bundle = mkdtempSync(join(tmpdir(), "bunker-bench-exec-"));
const B = values.bunker!;

function time(cmd: string[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < RUNS + 3; i++) {
    const t = performance.now();
    const r = Bun.spawnSync(cmd, { stdout: "ignore", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
    if (i >= 3) out.push(performance.now() - t);
  }
  return out;
}

const rows: string[] = [];
let id = "";
let runcId = "";
try {
  id = sh([B, "run", "-d", "--rootfs", fs.path, "--", "sleep", "100000"]);
  const state = JSON.parse(sh([B, "inspect", id]))[0];
  const pid = state.pid as number;
  const results: [string, number, string][] = [["bunker exec", median(time([B, "exec", id, "true"])), "bunker exec ID true"]];
  const nsenter = which("nsenter");
  if (nsenter) results.push(["nsenter", median(time([nsenter, "-t", String(pid), "-a", "true"])), "nsenter -t PID -a true (same container)"]);
  const runc = which("runc");
  if (runc) {
    sh([runc, "spec", "--bundle", bundle]);
    const config = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
    config.process.terminal = false;
    config.process.args = ["sleep", "100000"];
    config.root = { path: fs.path, readonly: false };
    config.linux.namespaces = ["pid", "network", "ipc", "uts", "mount", "cgroup"].map((type) => ({ type }));
    writeFileSync(join(bundle, "config.json"), JSON.stringify(config));
    runcId = `bench-exec-${process.pid}`;
    // runc's detached container keeps whatever stdio it is given: give it none.
    const started = Bun.spawnSync([runc, "run", "-d", "-b", bundle, runcId], { stdio: ["ignore", "ignore", "ignore"] });
    if (started.exitCode !== 0) throw new Error(`runc run -d failed (${started.exitCode})`);
    results.push(["runc exec", median(time([runc, "exec", runcId, "true"])), "runc exec ID true (its own container)"]);
  }
  const base = results[0]![1];
  rows.push(
    `${RUNS} runs each; wall time from spawn to exit`,
    "",
    "| command | median ms | bunker ÷ this | what |",
    "| --- | ---: | ---: | --- |",
    ...results.map(([n, ms, what]) => `| ${n} | ${ms.toFixed(1)} | ${(base / ms).toFixed(2)} | ${what} |`),
  );
  const sup = state.supervisor as number;
  rows.push(
    "",
    "Resident per detached container: its supervising bunker process",
    `(pid ${sup}): RSS ${kib(sup, "VmRSS")} KiB, PSS ${kib(sup, "Pss")} KiB (bench/resident.ts compares it with podman's conmon).`,
  );
} finally {
  if (id) Bun.spawnSync([B, "rm", "-f", id]);
  if (runcId) Bun.spawnSync(["runc", "delete", "-f", runcId]);
  fs.remove();
  rmSync(bundle, { recursive: true, force: true });
}
console.log(rows.join("\n"));
