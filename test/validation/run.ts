// Runs the OCI runtime validation suite (opencontainers/runtime-tools, built
// from its source as test/validation/README.md says) against runtimes side by
// side, and prints per-file results and a summary table.
//
//   bun test/validation/run.ts --suite DIR [--only NAME,...] RUNTIME...
//
// Each test file runs from the suite's tree root in a private mount
// namespace whose / is shared (its propagation test mounts there), with a
// time limit. A file passes when it printed TAP with no "not ok" line and
// exited 0.

import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";

const args = process.argv.slice(2);
let suite = "";
let only: string[] | undefined;
const runtimes: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--suite") suite = resolve(args[++i] ?? "");
  else if (args[i] === "--only") only = (args[++i] ?? "").split(",");
  else runtimes.push(resolve(args[i]!));
}
if (!suite || runtimes.length === 0) {
  console.error("usage: bun test/validation/run.ts --suite DIR [--only NAME,...] RUNTIME...");
  process.exit(2);
}
if (!existsSync(join(suite, "runtimetest"))) {
  console.error(`${suite}: no runtimetest there (build the suite first: test/validation/README.md)`);
  process.exit(2);
}
const names = readdirSync(join(suite, "validation"))
  .filter((n) => existsSync(join(suite, "validation", n, `${n}.t`)))
  .filter((n) => !only || only.includes(n))
  .sort();

interface Result {
  ok: number;
  notOk: number;
  code: number | null;
  firstFailure: string;
}

function runOne(runtime: string, name: string): Result {
  const t = join("validation", name, `${name}.t`);
  const r = Bun.spawnSync(["timeout", "120", "unshare", "-m", "sh", "-c", 'mount --make-rshared / && exec "$0"', t], {
    cwd: suite,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", RUNTIME: runtime },
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = r.stdout.toString();
  const lines = out.split("\n");
  const notOk = lines.filter((l) => /^not ok\b/.test(l));
  return {
    ok: lines.filter((l) => /^ok\b/.test(l)).length,
    notOk: notOk.length,
    code: r.exitCode,
    firstFailure: (notOk[0] ?? (r.exitCode !== 0 ? `exit ${r.exitCode}: ${r.stderr.toString().trim().split("\n").pop() ?? ""}` : "")).slice(0, 160),
  };
}

const table: Record<string, Record<string, Result>> = {};
for (const rt of runtimes) {
  table[rt] = {};
  for (const n of names) {
    const r = runOne(rt, n);
    table[rt]![n] = r;
    const pass = r.notOk === 0 && r.code === 0 && r.ok > 0;
    console.log(`${rt.split("/").pop()}\t${n}\t${pass ? "pass" : "FAIL"}\tok ${r.ok}, not ok ${r.notOk}${pass ? "" : `\t${r.firstFailure}`}`);
  }
}
console.log("\n| runtime | files passed | assertions ok | not ok |\n| --- | ---: | ---: | ---: |");
for (const rt of runtimes) {
  const rs = Object.values(table[rt]!);
  const passed = rs.filter((r) => r.notOk === 0 && r.code === 0 && r.ok > 0).length;
  console.log(`| ${rt.split("/").pop()} | ${passed} of ${rs.length} | ${rs.reduce((a, r) => a + r.ok, 0)} | ${rs.reduce((a, r) => a + r.notOk, 0)} |`);
}
