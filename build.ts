// Builds the standalone executable:
//   bun build.ts [--target linux-x64|linux-arm64] [--outfile PATH]   one file (default: this machine's, dist/bunker)
//   bun build.ts --release [--outdir DIR]                             both architectures and SHA256SUMS (default dist/)

import { mkdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parseArgs } from "node:util";
import pkg from "./package.json";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    target: { type: "string" },
    outfile: { type: "string" },
    release: { type: "boolean" },
    outdir: { type: "string" },
  },
});

type Target = "linux-x64" | "linux-arm64";
const TARGETS: Target[] = ["linux-x64", "linux-arm64"];
const hostTarget: Target = process.arch === "arm64" ? "linux-arm64" : "linux-x64";

function fail(message: string): never {
  console.error(`build: ${message}`);
  process.exit(2);
}

if (values.release && (values.target || values.outfile)) fail("--release builds every target: it takes --outdir, not --target or --outfile");
if (values.outdir && !values.release) fail("--outdir goes with --release (use --outfile for one file)");
const target = (values.target ?? hostTarget) as Target;
if (!TARGETS.includes(target)) fail(`unknown target "${target}": use linux-x64 or linux-arm64`);

function commit(): string {
  const r = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { stderr: "ignore" });
  const hash = r.success ? r.stdout.toString().trim() : "unknown";
  const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no"], { stderr: "ignore" });
  return dirty.success && dirty.stdout.toString().trim() !== "" ? `${hash}-dirty` : hash;
}

// The default seccomp filter for docker's default capabilities, compiled now rather than on every run.
const { compileDefault } = await import("./src/security/seccomp");
const seccompDefault: Record<string, string> = {};
for (const arch of ["x86_64", "aarch64"] as const) seccompDefault[arch] = Buffer.from(await compileDefault(arch)).toString("base64");
const { compileChildObject, compileHealth, compileInit, compileWaiter } = await import("./native/object");
const revision = commit();

/**
 * Builds one executable. A release refuses to go without the native parts (a file missing them
 * works, but starts slower and keeps more memory per container); a development build warns.
 */
async function buildOne(target: Target, outfile: string, release: boolean): Promise<void> {
  const warn = (message: string): void => {
    if (release) fail(`${message}: a release file needs it (install gcc, and gcc-aarch64-linux-gnu for arm64)`);
    console.error(`build: warning: ${message}`);
  };
  const arch = target === "linux-arm64" ? "aarch64" : "x86_64";
  // The child interpreter as a shared object for the target, loaded from memory at run time;
  // without a compiler for it the executable compiles it on each run instead (slower to start).
  const child = compileChildObject(arch);
  if ("error" in child) warn(`${child.error}: ${outfile} will compile it on every run, which is slower (install gcc, or gcc-aarch64-linux-gnu to build for arm64)`);
  // The waiter a detached container's supervisor becomes (kilobytes instead of a Bun process).
  const waiter = compileWaiter(arch);
  if ("error" in waiter) warn(`${waiter.error}: ${outfile}'s detached containers will keep a Bun process each`);
  // --init's PID 1 (kilobytes instead of a copy of bunker beside the command).
  const init = compileInit(arch);
  if ("error" in init) warn(`${init.error}: ${outfile}'s --init will keep a copy of bunker as PID 1`);
  // The periodic health check's timer (kilobytes instead of a Bun process per checked container).
  const health = compileHealth(arch);
  if ("error" in health) warn(`${health.error}: ${outfile}'s health checks will keep a Bun process each`);
  const started = performance.now();
  const result = await Bun.build({
    entrypoints: ["src/main.ts"],
    format: "esm",
    minify: true,
    bytecode: true,
    define: {
      BUNKER_VERSION: JSON.stringify(pkg.version),
      BUNKER_COMMIT: JSON.stringify(revision),
      BUNKER_TARGET: JSON.stringify(target),
      BUNKER_SECCOMP_DEFAULT: JSON.stringify(seccompDefault),
      BUNKER_CHILD_OBJECT: JSON.stringify("bytes" in child ? Buffer.from(child.bytes).toString("base64") : ""),
      BUNKER_WAITER: JSON.stringify("bytes" in waiter ? Buffer.from(waiter.bytes).toString("base64") : ""),
      BUNKER_INIT: JSON.stringify("bytes" in init ? Buffer.from(init.bytes).toString("base64") : ""),
      BUNKER_HEALTH: JSON.stringify("bytes" in health ? Buffer.from(health.bytes).toString("base64") : ""),
    },
    compile: {
      target: `bun-${target}`,
      outfile,
      // A .env or bunfig.toml in the caller's directory must not change what bunker does.
      autoloadDotenv: false,
      autoloadBunfig: false,
      // bunker's code runs once per process: keeping it in the interpreter longer
      // saves more JIT work than it costs (about 5 ms per `run`, measured in bench/).
      jitPolicy: 8,
    },
  });
  if (!result.success) {
    for (const m of result.logs) console.error(m);
    process.exit(1);
  }
  const interp = [
    "bytes" in child ? `child interpreter ${child.bytes.length} bytes by ${child.compiler}` : "child interpreter compiled at run time",
    "bytes" in waiter ? `waiter ${waiter.bytes.length} bytes` : "no waiter",
    "bytes" in init ? `init ${init.bytes.length} bytes` : "no init",
    "bytes" in health ? `health timer ${health.bytes.length} bytes` : "no health timer",
  ].join(", ");
  console.error(`built ${outfile} for ${target} in ${Math.round(performance.now() - started)} ms (${interp})`);
}

if (values.release) {
  const outdir = values.outdir ?? "dist";
  mkdirSync(outdir, { recursive: true });
  if (revision.endsWith("-dirty") || revision === "unknown") console.error(`build: warning: the release files name commit ${revision}`);
  const files: string[] = [];
  for (const t of TARGETS) {
    const file = join(outdir, `bunker-${t}`);
    await buildOne(t, file, true);
    files.push(file);
  }
  // sha256sum's own format, so `sha256sum -c SHA256SUMS` in the directory checks the files.
  let sums = "";
  for (const f of files) sums += `${new Bun.CryptoHasher("sha256").update(await Bun.file(f).bytes()).digest("hex")}  ${basename(f)}\n`;
  writeFileSync(join(outdir, "SHA256SUMS"), sums);
  console.error(`wrote ${join(outdir, "SHA256SUMS")}`);
} else {
  mkdirSync("dist", { recursive: true });
  await buildOne(target, values.outfile ?? (target === hostTarget ? "dist/bunker" : `dist/bunker-${target}`), false);
}
