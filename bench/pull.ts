// Pulling and unpacking an image from a registry on this machine, cold:
// bunker pull beside skopeo copy + umoci unpack and podman pull, each into
// a fresh store every run; then the disk that containers of one image take.
// The registry is Debian's docker-registry on 127.0.0.1 with images made
// here with umoci: busybox, a larger one (busybox with the host's
// /usr/lib/python3.11, thousands of files), and with --debian a Debian
// root filesystem made by mmdebstrap (minbase; it fetches its packages from
// the Debian mirror). Needs root.
//
//   bun bench/pull.ts [--runs N] [--debian [--debian-root DIR]]
//
// --debian-root takes a tree mmdebstrap made before instead of making one.
// The stores are on a tmpfs the bench mounts (--disk: on the disk instead):
// on ext4, creating thousands of files right after as many were removed
// spends seconds in the inode allocator, and which tool pays it depends on
// where its directories happen to land. Every timed run starts after a
// sync, so that one tool's writes on their way to the disk do not slow the
// next.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeRootfs } from "../test/helpers/rootfs";
import { median, sh, which } from "./tools";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    runs: { type: "string", default: "5" },
    debian: { type: "boolean", default: false },
    "debian-root": { type: "string" },
    disk: { type: "boolean", default: false },
    bunker: { type: "string", default: join(import.meta.dir, "..", "dist", "bunker") },
  },
});
const RUNS = Number(values.runs);
const B = values.bunker!;

if (process.geteuid?.() !== 0) {
  console.error("bench/pull: run as root");
  process.exit(2);
}
for (const t of ["docker-registry", "skopeo", "umoci"]) {
  if (!which(t)) {
    console.error(`bench/pull: ${t} is not installed (apt-get install docker-registry skopeo umoci)`);
    process.exit(2);
  }
}

const dir = mkdtempSync(join(tmpdir(), "bunker-bench-pull-"));
const fs = makeRootfs();
let registry = 0;
try {
  const port = 20000 + Math.floor(Math.random() * 20000);
  writeFileSync(join(dir, "reg.yml"), `version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: ${dir}/data}}\nhttp: {addr: 127.0.0.1:${port}}\n`);
  registry = Number(sh(["sh", "-c", 'docker-registry serve "$0" > /dev/null 2>&1 < /dev/null & echo $!', join(dir, "reg.yml")]));
  for (let i = 0; i < 100 && Bun.spawnSync(["bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${port}`], { stderr: "ignore" }).exitCode !== 0; i++) Bun.sleepSync(50);
  const layout = join(dir, "layout");
  sh(["umoci", "init", "--layout", layout]);
  sh(["umoci", "new", "--image", `${layout}:busybox`]);
  sh(["umoci", "insert", "--image", `${layout}:busybox`, fs.path, "/"]);
  sh(["umoci", "config", "--image", `${layout}:busybox`, "--config.cmd", "/bin/true"]);
  sh(["umoci", "config", "--image", `${layout}:busybox`, "--tag", "large"]);
  sh(["umoci", "insert", "--image", `${layout}:large`, "/usr/lib/python3.11", "/usr/lib/python3.11"]);
  const tags = ["busybox", "large"];
  let debianFiles = 0;
  if (values.debian) {
    if (!values["debian-root"] && !which("mmdebstrap")) throw new Error("--debian: mmdebstrap is not installed (apt-get install mmdebstrap)");
    const given = values["debian-root"];
    const root = given ?? join(dir, "debian");
    if (!given) sh(["mmdebstrap", "--quiet", "--variant=minbase", "--mode=root", "bookworm", root]);
    debianFiles = Number(sh(["sh", "-c", `find "$0" | wc -l`, root]));
    sh(["umoci", "new", "--image", `${layout}:debian`]);
    sh(["umoci", "insert", "--image", `${layout}:debian`, root, "/"]);
    sh(["umoci", "config", "--image", `${layout}:debian`, "--config.cmd", "/bin/true"]);
    if (!given) rmSync(root, { recursive: true, force: true });
    tags.push("debian");
  }
  for (const tag of tags) sh(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", `oci:${layout}:${tag}`, `docker://127.0.0.1:${port}/bench:${tag}`]);
  const files = Number(sh(["sh", "-c", "find /usr/lib/python3.11 | wc -l"]));

  const time = (cmd: string[], env?: Record<string, string>): number => {
    Bun.spawnSync(["sync"]);
    const start = performance.now();
    const r = Bun.spawnSync(cmd, { stdout: "ignore", stderr: "pipe", ...(env ? { env: { ...process.env, ...env } } : {}) });
    const ms = performance.now() - start;
    if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString().trim()}`);
    return ms;
  };
  const podman = which("podman");
  const rows: string[] = [];
  const runs = join(dir, "runs");
  mkdirSync(runs);
  if (!values.disk) sh(["mount", "-t", "tmpfs", "-o", "size=8g", "bench-pull", runs]);
  for (const tag of tags) {
    const ref = `127.0.0.1:${port}/bench:${tag}`;
    const results: Record<string, number[]> = { bunker: [], "skopeo + umoci": [], ...(podman ? { podman: [] } : {}) };
    for (let i = 0; i < RUNS; i++) {
      // Interleaved, each into a store of its own made for this run, in a turning order: none always comes first.
      const run = join(runs, `run-${tag}-${i}`);
      mkdirSync(run);
      // podman wants a short runroot (50 characters at most).
      const runroot = mkdtempSync("/tmp/pr-");
      const pulls: [string, () => number][] = [
        ["bunker", () => time([B, "--storage", join(run, "bunker"), "pull", "-q", ref])],
        ["skopeo + umoci", () => time(["sh", "-c", `skopeo copy --quiet --src-tls-verify=false docker://${ref} oci:${run}/oci:${tag} && umoci unpack --image ${run}/oci:${tag} ${run}/bundle`])],
        ...(podman ? [["podman", () => time([podman, "--root", join(run, "podman"), "--runroot", runroot, "--storage-driver", "overlay", "pull", "-q", "--tls-verify=false", ref])] as [string, () => number]] : []),
      ];
      for (let k = 0; k < pulls.length; k++) {
        const [name, pull] = pulls[(i + k) % pulls.length]!;
        results[name]!.push(pull());
      }
      if (podman) Bun.spawnSync([podman, "--root", join(run, "podman"), "--runroot", runroot, "--storage-driver", "overlay", "system", "reset", "-f"], { stdout: "ignore", stderr: "ignore" });
      rmSync(runroot, { recursive: true, force: true });
      rmSync(run, { recursive: true, force: true });
    }
    const b = median(results.bunker!);
    for (const [name, xs] of Object.entries(results)) rows.push(`| ${tag} | ${name} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)} | ${(b / median(xs)).toFixed(2)} |`);
  }

  // Disk: containers of one image take their own upper directories, not copies.
  const store = join(dir, "disk");
  sh([B, "--storage", store, "pull", "-q", `127.0.0.1:${port}/bench:large`]);
  const du = (path: string) => Number(sh(["du", "-sb", path]).split("\t")[0]);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push(sh([B, "--storage", store, "run", "-d", "--network", "none", `127.0.0.1:${port}/bench:large`, "sh", "-c", `echo ${i} > /written; sleep 1000`]));
  Bun.sleepSync(300);
  const layers = du(join(store, "layers"));
  const containers = du(join(store, "containers"));
  sh([B, "rm", "-f", ...ids]);

  const debian = values.debian ? `; debian = mmdebstrap --variant=minbase bookworm (${debianFiles} files)` : "";
  if (!values.disk) sh(["umount", runs]);
  console.log(`pull and unpack, cold, from docker-registry on 127.0.0.1, into stores on ${values.disk ? "the disk" : "a tmpfs"}; ${RUNS} runs each, interleaved; large = busybox + /usr/lib/python3.11 (${files} files)${debian}\n`);
  console.log("| image | tool | median ms | min–max ms | bunker ÷ this |");
  console.log("| --- | --- | ---: | ---: | ---: |");
  for (const r of rows) console.log(r);
  console.log(`\ndisk: the large image's layers ${(layers / 1048576).toFixed(1)} MiB; 5 running containers of it ${(containers / 1024).toFixed(0)} KiB in all (their upper and work directories)`);
} finally {
  Bun.spawnSync(["umount", join(dir, "runs")], { stderr: "ignore" });
  if (registry) Bun.spawnSync(["kill", String(registry)]);
  fs.remove();
  rmSync(dir, { recursive: true, force: true });
}
