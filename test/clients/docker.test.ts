// docker driving bunker as one of its runtimes: Debian's dockerd started by
// the test with its own data and exec roots and socket, `--add-runtime
// bunker=PATH`, and an image imported from the suite's busybox rootfs.
// No bridge and no iptables: the containers run with --network none.

import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { BUNKER, isRoot, until } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";
import { cgroupMounts } from "../helpers/leaks";

/** Debian's client (another docker earlier on PATH may not be Debian's). */
const DOCKER = existsSync("/usr/bin/docker") ? "/usr/bin/docker" : Bun.which("docker");
const DOCKERD = Bun.which("dockerd");
const missing = !isRoot ? "they need root" : !busyboxAvailable() ? "busybox-static is not installed" : !DOCKERD || !DOCKER ? "docker.io (dockerd and docker) is not installed" : null;
const ready = missing === null;
if (!ready) console.warn(`skipping the docker tests: ${missing}`);

let dir = "";
let daemon = 0;
let hadParent: string[] = [];
/** dockerd makes /run/docker/plugins whatever its exec root: removed after, unless it was there. */
let hadRunDocker = true;
const IMAGE = "bunker-test/busybox:latest";

const suite = containerSuite(ready, () => {
  docker(["rm", "--force", "dk-detached"]);
  if (daemon) Bun.spawnSync(["sh", "-c", `kill ${daemon}; i=0; while kill -0 ${daemon} 2>/dev/null && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; kill -9 ${daemon} 2>/dev/null; true`]);
  // What the daemon and its containerd mounted below their directories.
  if (dir) Bun.spawnSync(["sh", "-c", `grep -o ' ${dir}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`]);
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (!hadRunDocker) rmSync("/run/docker", { recursive: true, force: true });
  for (const m of cgroupMounts()) {
    const parent = `${m}/docker`;
    if (!hadParent.includes(parent) && existsSync(parent)) {
      try {
        rmdirSync(parent);
      } catch {
        // still in use: the leak check names what is inside
      }
    }
  }
});

function docker(args: string[], stdin?: Uint8Array): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync([DOCKER!, "--host", `unix://${dir}/docker.sock`, ...args], { stdin: stdin ?? "ignore", stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

beforeAll(async () => {
  if (!ready) return;
  hadParent = cgroupMounts().map((m) => `${m}/docker`).filter(existsSync);
  hadRunDocker = existsSync("/run/docker");
  dir = mkdtempSync(join(tmpdir(), "bunker-docker-"));
  const flags = [
    `--data-root=${dir}/data`,
    `--exec-root=${dir}/exec`,
    `--pidfile=${dir}/docker.pid`,
    `--host=unix://${dir}/docker.sock`,
    `--add-runtime=bunker=${BUNKER}`,
    "--iptables=false",
    "--ip6tables=false",
    "--bridge=none",
    "--storage-driver=vfs",
    "--exec-opt=native.cgroupdriver=cgroupfs",
  ];
  const started = Bun.spawnSync(["sh", "-c", `${DOCKERD} ${flags.join(" ")} > "$0/dockerd.log" 2>&1 < /dev/null & echo $!`, dir], { stdout: "pipe" });
  daemon = Number(started.stdout.toString().trim());
  await until(() => docker(["version"]).code === 0, 30000, "dockerd to answer");
  // An image from the suite's root filesystem (docker import of a tarball).
  const tar = Bun.spawnSync(["tar", "-C", suite.fs.path, "-c", "."], { stdout: "pipe" });
  const imported = docker(["import", "-", IMAGE], tar.stdout);
  if (imported.code !== 0) throw new Error(`docker import: ${imported.stderr}`);
});

describe.skipIf(!ready)("docker run --runtime bunker", () => {
  test("run: output and exit status", () => {
    const r = docker(["run", "--rm", "--runtime", "bunker", "--network", "none", IMAGE, "sh", "-c", "echo from-docker; exit 9"]);
    expect(r).toMatchObject({ code: 9, stdout: "from-docker\n" });
  });

  test("-d, exec, stop and rm", async () => {
    const run = docker(["run", "-d", "--name", "dk-detached", "--runtime", "bunker", "--network", "none", IMAGE, "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]);
    expect(run.code).toBe(0);
    const e = docker(["exec", "dk-detached", "sh", "-c", "echo in-exec; exit 2"]);
    expect(e).toMatchObject({ code: 2, stdout: "in-exec\n" });
    expect(docker(["stop", "--time", "5", "dk-detached"]).code).toBe(0);
    expect(docker(["inspect", "--format", "{{.State.ExitCode}}", "dk-detached"]).stdout.trim()).toBe("0");
    expect(docker(["rm", "dk-detached"]).code).toBe(0);
    await until(() => docker(["ps", "-aq"]).stdout === "", 5000, "docker to forget the container");
  });
});
