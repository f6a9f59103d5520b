// The core integration tests run by the arm64 file in an emulated arm64 machine (test/vm/run.ts
// --arch arm64): run as root and rootless, exec, cgroup v2 limits, the child interpreter both
// prebuilt and compiled at run time, and the escape suite's fastest cases. Software emulation
// makes every bunker command take about a second, so CI runs the reduced set below; --full runs
// the whole of each file.
//
//   node_modules/.bin/bun build.ts --target linux-arm64 --outfile dist/bunker-linux-arm64
//   node_modules/.bin/bun test/vm/arm64-suite.ts [--full] [--list] [-- more run.ts options]

import { existsSync } from "node:fs";
import { join } from "node:path";

export const FILES = [
  "test/integration/run.test.ts",
  "test/integration/exec.test.ts",
  "test/integration/rootless.test.ts",
  "test/integration/cgroups.test.ts",
  "test/security/escape.test.ts",
];

/** Test names (a part of each is enough) of the reduced set, by file. */
export const REDUCED: Record<string, string[]> = {
  "test/integration/run.test.ts": [
    "the command is PID 1 and ps sees only the container",
    // (not "after pivot_root no host mount is visible": it expects a host whose /sys/fs/cgroup is a tmpfs)
    "the old root is unreachable",
    "each mount carries the flags docker gives it",
    "/dev holds exactly the expected nodes and links",
    "the container starts with only stdin, stdout and stderr open",
    "--log-level debug shows the child program and the timings",
    "run and exec work with the interpreter compiled at run time instead",
    "a new network namespace has only lo, and it is up",
    "a hostile rootfs whose /dev and /proc are symlinks out of it",
    "127 when the command is not on PATH",
    "128+9 when the container's process is killed",
    "starts with no signal ignored, blocked or caught",
    "sees the host's files read-only",
    "--version prints version, target and commit",
  ],
  "test/integration/exec.test.ts": [
    "the command runs inside every namespace of the container",
    "the container's root, environment and working directory",
    "exit statuses and errors as with run",
  ],
  "test/integration/rootless.test.ts": [
    "the caller is container root, the ranges fill 1 onwards",
    "files made inside belong on the host to the caller",
    "run -d, ps, inspect, exec, stop, wait, rm round trip",
    "one ID mapped directly, setgroups denied",
  ],
  "test/integration/cgroups.test.ts": [
    "a process allocating past -m is killed",
    "each flag lands in its cgroup file",
    "--pids-limit stops a fork loop at the limit",
    "bunker exec joins the container's cgroups",
    "with a delegated subtree: the cgroup goes below it, limits hold, OOM is reported",
  ],
  "test/security/escape.test.ts": [
    "the runtime's executable cannot be reached through /proc/PID/exe",
    "masked paths are empty, /proc/sys and sysrq-trigger cannot be written",
    "unshare, nsenter and mount are refused",
    "block and character device nodes cannot be made",
  ],
};

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** The -t pattern of the reduced set. */
export function pattern(): string {
  return Object.values(REDUCED)
    .flat()
    .map(escape)
    .join("|");
}

if (import.meta.main) {
  const root = join(import.meta.dir, "..", "..");
  const argv = Bun.argv.slice(2);
  const dash = argv.indexOf("--");
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const vmOptions = dash < 0 ? [] : argv.slice(dash + 1);
  const full = own.includes("--full");
  for (const a of own) {
    if (a !== "--full" && a !== "--list") {
      console.error(`arm64-suite: unknown option ${a} (--full, --list, -- run.ts options)`);
      process.exit(125);
    }
  }
  if (own.includes("--list")) {
    for (const f of FILES) {
      console.log(f);
      if (!full) for (const n of REDUCED[f] ?? []) console.log(`  ${n}`);
    }
    process.exit(0);
  }
  const bin = "dist/bunker-linux-arm64";
  if (!existsSync(join(root, bin))) {
    console.error(`arm64-suite: ${bin} is missing: build it with \`bun build.ts --target linux-arm64 --outfile ${bin}\``);
    process.exit(125);
  }
  // TMPDIR: the tests' root filesystems on the guest's root, as on a host, not on the guest's /tmp
  // file system (a mount table names a bind from it by its path inside that file system).
  // Emulation makes each test several times slower than on the host: a long per-test timeout.
  const test = ["bun", "test", "--timeout", "300000", ...(full ? [] : ["-t", pattern()]), ...FILES];
  const r = Bun.spawnSync(
    [process.execPath, join(import.meta.dir, "run.ts"), "--arch", "arm64", "--memory", "2G", "--env", `BUNKER_BIN=${bin}`, "--env", "TMPDIR=/var/tmp", ...vmOptions, "--", ...test],
    { cwd: root, stdio: ["ignore", "inherit", "inherit"] },
  );
  process.exit(r.exitCode ?? 125);
}
