// The mutation check: breaks each protection listed in test/mutants/breakages.ts
// in turn, in a copy of the repository, builds that copy's dist/bunker and
// runs the test files named for the breakage; some test must fail. A test
// suite that stays green with a protection removed claims what nothing guards.
//
//   bun test/mutate.ts [--only NAME[,NAME...]] [--list] [--keep] [--no-baseline] [--logs DIR]
//
// As root: the tests run containers, under the host lock every container
// suite takes. The working tree is never edited: the copy lives in /tmp and
// is removed at the end (--keep leaves it). Before the breakages, the same
// test files run once on the unbroken copy (the baseline): a file that fails
// there would count every breakage as caught. Exit status: 0 when every
// breakage was caught, 1 when one was missed, 2 when the list or the copy is
// wrong (a replacement text not found, a build that fails, a failing baseline).
// --logs DIR keeps each run's test output there, as NAME.log.

import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { BREAKAGES, type Breakage } from "./mutants/breakages";
import { failingTests } from "./mutants/results";

const ROOT = join(import.meta.dir, "..");
const BUN = process.execPath;
const LOCK = "/tmp/bunker-host.lock";
/** One breakage's tests may not take longer than this (a hang counts as caught, and says so). */
const BREAKAGE_DEADLINE_MS = 15 * 60_000;

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    only: { type: "string", multiple: true },
    list: { type: "boolean" },
    keep: { type: "boolean" },
    "no-baseline": { type: "boolean" },
    logs: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help) {
  console.log("usage: bun test/mutate.ts [--only NAME[,NAME...]] [--list] [--keep] [--no-baseline] [--logs DIR]");
  process.exit(0);
}

function fail(msg: string): never {
  console.error(`mutate: ${msg}`);
  process.exit(2);
}

/** CI's per-test timeout, from package.json's test script, so the tests run as CI runs them. */
function ciTimeout(): string {
  const script = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts.test ?? "";
  return /--timeout (\d+)/.exec(script)?.[1] ?? fail("package.json's test script gives no --timeout");
}

/** The text of `b.file` with every edit made; each `from` must occur exactly once. */
function mutated(b: Breakage, text: string): string {
  let out = text;
  for (const e of b.edits) {
    const at = out.indexOf(e.from);
    if (at < 0) fail(`${b.name}: the text to replace is not in ${b.file}: ${JSON.stringify(e.from.slice(0, 80))}`);
    if (out.indexOf(e.from, at + 1) >= 0) fail(`${b.name}: the text to replace occurs more than once in ${b.file}: ${JSON.stringify(e.from.slice(0, 80))}`);
    out = out.slice(0, at) + e.to + out.slice(at + e.from.length);
  }
  if (out === text) fail(`${b.name}: the edits change nothing in ${b.file}`);
  return out;
}

function selected(): Breakage[] {
  const names = new Set<string>();
  for (const b of BREAKAGES) {
    if (names.has(b.name)) fail(`two breakages are named ${b.name}`);
    names.add(b.name);
  }
  if (!values.only) return BREAKAGES;
  const wanted = values.only.flatMap((o) => o.split(",")).filter(Boolean);
  for (const w of wanted) if (!names.has(w)) fail(`no breakage named ${w} (see --list)`);
  return BREAKAGES.filter((b) => wanted.includes(b.name));
}

const chosen = selected();
// The whole list is checked against the source first: it must follow the code as it changes.
for (const b of BREAKAGES) {
  const path = join(ROOT, b.file);
  if (!existsSync(path)) fail(`${b.name}: ${b.file} does not exist`);
  mutated(b, readFileSync(path, "utf8"));
  for (const t of b.tests) if (!existsSync(join(ROOT, t))) fail(`${b.name}: test file ${t} does not exist`);
}

if (values.list) {
  for (const b of chosen) console.log(`${b.name.padEnd(28)} ${b.file.padEnd(34)} ${b.removes}${b.vm ? " [cgroup v2 VM]" : ""}\n${" ".repeat(29)}tests: ${b.tests.join(" ")}`);
  process.exit(0);
}

if (process.geteuid?.() !== 0) fail("run it as root: the tests it runs start containers and make test users");
if (values.logs) mkdirSync(values.logs, { recursive: true });
const keepLog = (name: string, output: string) => {
  if (values.logs) writeFileSync(join(values.logs, `${name}.log`), output);
};
const qemu = ["/usr/bin/qemu-system-x86_64"].find(existsSync);

// A copy of the working tree as it is (tracked and untracked files, not what .gitignore leaves out).
const copy = mkdtempSync("/tmp/bunker-mutate-");
let cleaned = false;
function cleanUp(): void {
  if (cleaned || values.keep) return;
  cleaned = true;
  rmSync(copy, { recursive: true, force: true });
}
process.on("exit", cleanUp);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    cleanUp();
    process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const)[sig]);
  });
}

function run(cmd: string[], cwd: string): { code: number; out: string } {
  const r = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env } });
  return { code: r.exitCode ?? -1, out: r.stdout.toString() + r.stderr.toString() };
}

const files = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT);
if (files.code !== 0) fail(`list the repository's files: ${files.out.trim()}`);
for (const f of files.out.split("\0").filter(Boolean)) {
  const from = join(ROOT, f);
  if (!existsSync(from)) continue; // deleted in the working tree
  mkdirSync(dirname(join(copy, f)), { recursive: true });
  cpSync(from, join(copy, f), { dereference: false });
}
for (const link of ["node_modules", ".cache"]) {
  if (existsSync(join(ROOT, link))) symlinkSync(realpathSync(join(ROOT, link)), join(copy, link));
}
// build.ts names the commit in --version, which a test checks: the copy gets a repository of its own.
const git = (...args: string[]) => run(["git", "-c", "user.name=mutate", "-c", "user.email=mutate@localhost", "-c", "commit.gpgsign=false", ...args], copy);
for (const args of [["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "copy"]]) {
  const r = git(...args);
  if (r.code !== 0) fail(`git ${args[0]} in the copy: ${r.out.trim()}`);
}

const timeout = ciTimeout();

function build(): string | null {
  const r = run([BUN, "build.ts"], copy);
  return r.code === 0 ? null : r.out.trim().split("\n").slice(-5).join("\n");
}

interface Outcome {
  failed: boolean;
  /** The failing tests' names, or why the run failed without one. */
  failures: string[];
  /** Of those, the tests whose only error was the leak check's (something left behind). */
  leakOnly: string[];
  timedOut: boolean;
  seconds: number;
  output: string;
}


async function runTests(testFiles: string[], vm: boolean): Promise<Outcome> {
  const started = performance.now();
  const cmd = vm
    ? [BUN, "test/vm/run.ts", "--", BUN, "test", "--timeout", "120000", ...testFiles]
    : ["flock", LOCK, BUN, "test", "--timeout", timeout, ...testFiles];
  const proc = Bun.spawn(cmd, { cwd: copy, stdout: "pipe", stderr: "pipe", env: { ...process.env } });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, BREAKAGE_DEADLINE_MS);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  const output = out + err;
  const failing = failingTests(output);
  // A test the breakage made fail, before any the leak check failed.
  const failures = [...failing.filter((f) => !f.leakOnly), ...failing.filter((f) => f.leakOnly)].map((f) => f.name);
  const leakOnly = failing.filter((f) => f.leakOnly).map((f) => f.name);
  if (timedOut) failures.push(`no result within ${BREAKAGE_DEADLINE_MS / 60_000} min`);
  else if (code !== 0 && failures.length === 0) failures.push(`${vm ? "the VM run" : "bun test"} exited with status ${code}: ${output.trim().split("\n").slice(-3).join(" / ")}`);
  return { failed: code !== 0 || timedOut, failures, leakOnly, timedOut, seconds: (performance.now() - started) / 1000, output };
}

const started = performance.now();
const hostRuns = chosen.filter((b) => !b.vm);
const vmRuns = chosen.filter((b) => b.vm);

if (!values["no-baseline"]) {
  const why = build();
  if (why) fail(`the unbroken copy does not build:\n${why}`);
  for (const [vm, list] of [[false, hostRuns], [true, qemu ? vmRuns : []]] as const) {
    const testFiles = [...new Set(list.flatMap((b) => b.tests))];
    if (testFiles.length === 0) continue;
    console.log(`baseline${vm ? " (cgroup v2 VM)" : ""}: ${testFiles.join(" ")}`);
    const r = await runTests(testFiles, vm);
    keepLog(vm ? "baseline-vm" : "baseline", r.output);
    if (r.failed) {
      console.error(r.output.split("\n").slice(-40).join("\n"));
      fail(`the unbroken copy fails its tests (${r.failures.join("; ")}): nothing can be judged`);
    }
    console.log(`baseline passed in ${r.seconds.toFixed(0)} s`);
  }
}

type Result = "caught" | "missed" | "skipped";
const rows: { b: Breakage; result: Result; note: string; seconds: number }[] = [];

for (const [i, b] of chosen.entries()) {
  const label = `[${i + 1}/${chosen.length}] ${b.name}`;
  if (b.vm && !qemu) {
    rows.push({ b, result: "skipped", note: "qemu-system-x86 is not installed (test/vm)", seconds: 0 });
    console.log(`${label}: skipped: qemu-system-x86 is not installed`);
    continue;
  }
  const path = join(copy, b.file);
  const pristine = readFileSync(path, "utf8");
  writeFileSync(path, mutated(b, pristine));
  try {
    const why = build();
    if (why) fail(`${b.name}: the broken copy does not build (the breakage must stay valid code):\n${why}`);
    const r = await runTests(b.tests, b.vm === true);
    keepLog(b.name, r.output);
    // Caught: a test failed for what it checks. A run whose only failures are the leak check's
    // counts for the breakages that remove a clean-up (`leaks`), and for no other: a leak is
    // not the effect the others remove.
    const real = r.failures.length - r.leakOnly.length;
    const byLeak = r.leakOnly.length > 0 && real === 0 && !r.timedOut;
    const result: Result = !r.failed ? "missed" : byLeak && !b.leaks ? "missed" : "caught";
    const first = r.failures[0]! + (r.failures.length > 1 ? ` (+${r.failures.length - 1})` : "");
    const note = !r.failed ? "every test passed" : byLeak ? `only the leak check failed: ${first}` : first;
    rows.push({ b, result, note, seconds: r.seconds });
    console.log(`${label}: ${result} in ${r.seconds.toFixed(0)} s: ${note}`);
  } finally {
    writeFileSync(path, pristine);
  }
}

const minutes = (performance.now() - started) / 60_000;
const cell = (s: string) => s.replaceAll("|", "\\|");
console.log("\n| breakage | removes | file | result | first failing test | s |\n| --- | --- | --- | --- | --- | ---: |");
for (const r of rows) console.log(`| ${r.b.name} | ${cell(r.b.removes)} | ${r.b.file} | ${r.result} | ${cell(r.note)} | ${r.seconds.toFixed(0)} |`);
const caught = rows.filter((r) => r.result === "caught").length;
const missed = rows.filter((r) => r.result === "missed").length;
const skipped = rows.filter((r) => r.result === "skipped").length;
console.log(`\n${caught} caught, ${missed} missed${skipped ? `, ${skipped} skipped` : ""} (${minutes.toFixed(1)} min)`);
process.exit(missed > 0 ? 1 : 0);
