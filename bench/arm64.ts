// Start-up of the arm64 file under emulation, as a ratio to crun for arm64 under the same
// emulation: boots the arm64 VM once (test/vm/run.ts --arch arm64, Debian's crun:arm64 in its
// root) and times `/bin/true` in one busybox rootfs, bunker run --rm beside crun run of a bundle
// with the same namespaces and mounts, alternating, medians of --runs each. Absolute times under
// software emulation say little; the ratio is the figure to compare with bench/startup.ts's.
//
//   bun build.ts --target linux-arm64 --outfile dist/bunker-linux-arm64
//   bun bench/arm64.ts [--runs N] [--warmup N]

import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeRootfs } from "../test/helpers/rootfs";
import { median, ociConfig, which } from "./tools";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    runs: { type: "string", default: "21" },
    warmup: { type: "string", default: "3" },
    inside: { type: "boolean", default: false },
  },
});
const ROOT = join(import.meta.dir, "..");
const BIN = join(ROOT, "dist", "bunker-linux-arm64");

if (!values.inside) {
  if (!existsSync(BIN)) {
    console.error(`bench/arm64: ${BIN} is missing: build it with \`bun build.ts --target linux-arm64 --outfile dist/bunker-linux-arm64\``);
    process.exit(2);
  }
  const r = Bun.spawnSync(
    [process.execPath, join(ROOT, "test", "vm", "run.ts"), "--arch", "arm64", "--", "bun", join(import.meta.dir, "arm64.ts"), "--inside", "--runs", values.runs!, "--warmup", values.warmup!],
    { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] },
  );
  process.exit(r.exitCode ?? 2);
}

// In the guest, as root.
const crun = which("crun");
if (!crun) {
  console.error("bench/arm64: crun is not in the guest's root (test/vm/guestroot.ts installs it)");
  process.exit(2);
}
const fs = makeRootfs();
for (const f of ["hostname", "hosts"]) writeFileSync(join(fs.path, "etc", f), "");
const bundle = mkdtempSync("/tmp/bunker-bench-arm64-");
chmodSync(bundle, 0o755);
// bunker's default isolation for --network none: the same namespaces and mounts.
writeFileSync(join(bundle, "config.json"), JSON.stringify(ociConfig(fs.path), null, 1));

let seq = 0;
const tools: { name: string; cmd: () => string[] }[] = [
  { name: "bunker", cmd: () => [BIN, "run", "--rm", "--network", "none", "--cgroups=disabled", "--rootfs", fs.path, "--", "/bin/true"] },
  { name: "crun", cmd: () => [crun, "--cgroup-manager=disabled", "run", "-b", bundle, `bench-arm64-${seq++}`] },
];

function once(cmd: string[]): number {
  const start = performance.now();
  const r = Bun.spawnSync(cmd, { stdout: "ignore", stderr: "pipe" });
  const ms = performance.now() - start;
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (${r.exitCode}): ${r.stderr.toString().trim()}`);
  return ms;
}

try {
  const times = new Map<string, number[]>(tools.map((t) => [t.name, []]));
  // The first runs read the executables through the 9p share: not start-up.
  for (let i = 0; i < Number(values.warmup); i++) for (const t of tools) once(t.cmd());
  // Alternating, so that a slow phase of the emulator weighs on both alike.
  for (let i = 0; i < Number(values.runs); i++) for (const t of tools) times.get(t.name)!.push(once(t.cmd()));
  const m = (name: string) => median(times.get(name)!);
  const uname = Bun.spawnSync(["uname", "-rm"]).stdout.toString().trim();
  console.log(`arm64 start-up under software emulation (qemu-system-aarch64 -cpu max, ${uname}), /bin/true in a busybox rootfs, median of ${values.runs}:`);
  console.log(`  bunker run --rm --network none --cgroups=disabled   ${m("bunker").toFixed(0).padStart(6)} ms`);
  console.log(`  crun --cgroup-manager=disabled run                   ${m("crun").toFixed(0).padStart(6)} ms`);
  console.log(`  ratio bunker / crun                                  ${(m("bunker") / m("crun")).toFixed(2).padStart(6)}`);
} finally {
  fs.remove();
  rmSync(bundle, { recursive: true, force: true });
}
