// containerd (ctr, through its runc shim) driving bunker as its OCI runtime:
// run with the exit status, a terminal, and a detached task with exec, ps,
// pause, kill and delete. The daemon is the test's own (root, state and
// socket in a temporary directory), on an image made here from busybox.

import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { BUNKER, isRoot, until } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";
import { cgroupMounts } from "../helpers/leaks";

const tools = ["containerd", "ctr", "umoci", "containerd-shim-runc-v2"];
const absent = tools.find((t) => !Bun.which(t));
const missing = !isRoot ? "they need root" : !busyboxAvailable() ? "busybox-static is not installed" : absent ? `${absent} is not installed (Debian's containerd and umoci)` : null;
const ready = missing === null;
if (!ready) console.warn(`skipping the containerd tests: ${missing}`);

/** Where containerd's shim keeps runtime state for the default namespace (runc's --root), and the cgroups' parent. */
const RUNC_ROOT = "/run/containerd/runc";
let had: { runcRoot: boolean; cgroupParents: string[] } = { runcRoot: false, cgroupParents: [] };
let dir = "";
/** The daemon's pid: started by a shell that exits, so that it is not this process's child (reaped by init when it ends). */
let daemon = 0;

const suite = containerSuite(ready, () => {
  for (const t of ["ctd-detached"]) {
    ctr(["task", "kill", "--signal", "KILL", t]);
    ctr(["task", "delete", t]);
    ctr(["container", "delete", t]);
  }
  if (daemon) Bun.spawnSync(["sh", "-c", `kill ${daemon}; i=0; while kill -0 ${daemon} 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; kill -9 ${daemon} 2>/dev/null; true`]);
  // What the daemon mounted below its own directories (snapshots, shims' bundles).
  Bun.spawnSync(["sh", "-c", `grep -o ' ${dir}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`]);
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (!had.runcRoot) rmSync(RUNC_ROOT, { recursive: true, force: true });
  for (const m of cgroupMounts()) {
    const parent = `${m}/default`;
    if (!had.cgroupParents.includes(parent) && existsSync(parent)) {
      try {
        rmdirSync(parent);
      } catch {
        // in use: the leak check names what is inside
      }
    }
  }
});

function ctr(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync(["ctr", "--address", join(dir, "containerd.sock"), ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

const IMAGE = "localhost/bunker-test/busybox:latest";

beforeAll(async () => {
  if (!ready) return;
  had = { runcRoot: existsSync(RUNC_ROOT), cgroupParents: cgroupMounts().map((m) => `${m}/default`).filter(existsSync) };
  dir = mkdtempSync(join(tmpdir(), "bunker-containerd-"));
  writeFileSync(
    join(dir, "config.toml"),
    `version = 2\nroot = "${dir}/root"\nstate = "${dir}/state"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "${dir}/containerd.sock"\n`,
  );
  const started = Bun.spawnSync(["sh", "-c", 'containerd --config "$0" > /dev/null 2>&1 < /dev/null & echo $!', join(dir, "config.toml")], { stdout: "pipe" });
  daemon = Number(started.stdout.toString().trim());
  await until(() => ctr(["version"]).code === 0, 20000, "containerd to answer");
  // An OCI image of the suite's busybox root filesystem.
  const layout = join(dir, "layout");
  const steps = [
    ["umoci", "init", "--layout", layout],
    ["umoci", "new", "--image", `${layout}:latest`],
    ["umoci", "insert", "--image", `${layout}:latest`, suite.fs.path, "/"],
    ["umoci", "config", "--image", `${layout}:latest`, "--config.cmd", "/bin/sh", "--os", "linux", "--architecture", process.arch === "arm64" ? "arm64" : "amd64"],
    ["tar", "-C", layout, "-cf", join(dir, "image.tar"), "oci-layout", "index.json", "blobs"],
  ];
  for (const s of steps) {
    const r = Bun.spawnSync(s, { stdout: "ignore", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`${s.join(" ")}: ${r.stderr.toString()}`);
  }
  const imported = ctr(["image", "import", "--base-name", IMAGE.replace(/:latest$/, ""), join(dir, "image.tar")]);
  if (imported.code !== 0) throw new Error(`ctr image import: ${imported.stderr}`);
});

describe.skipIf(!ready)("ctr --runc-binary bunker", () => {
  test("run: the command's output and exit status", () => {
    const r = ctr(["run", "--rm", "--runc-binary", BUNKER, IMAGE, "ctd-run", "sh", "-c", "echo from-containerd; exit 6"]);
    expect(r).toMatchObject({ code: 6, stdout: "from-containerd\n" });
    expect(ctr(["container", "ls", "-q"]).stdout).toBe("");
  });

  test("run -t: a terminal through the console socket", () => {
    const script = Bun.which("script");
    if (!script) return console.warn("skipping the containerd terminal test: script (util-linux) is not installed");
    const cmd = ["ctr", "--address", join(dir, "containerd.sock"), "run", "--rm", "-t", "--runc-binary", BUNKER, IMAGE, "ctd-tty", "sh", "-c", "tty; echo tty-done"].join(" ");
    const r = Bun.spawnSync([script, "-qec", cmd, "/dev/null"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(0);
    // ctr leaves its own terminal's output translation on: line ends may come as \r\r\n.
    expect(r.stdout.toString()).toMatch(/\/dev\/pts\/\d+\r+\ntty-done\r+\n/);
  });

  test("a detached task: exec, ps, pause and resume, kill, delete", async () => {
    expect(ctr(["run", "-d", "--runc-binary", BUNKER, IMAGE, "ctd-detached", "sh", "-c", "sleep 60 & wait"]).code).toBe(0);
    const e = ctr(["task", "exec", "--exec-id", "probe", "ctd-detached", "sh", "-c", "echo in-exec; exit 5"]);
    expect(e).toMatchObject({ code: 5, stdout: "in-exec\n" });
    // ps lists the two processes (sh and sleep) by their host pids.
    const pids = ctr(["task", "ps", "ctd-detached"]).stdout.trim().split("\n").slice(1);
    expect(pids.length).toBe(2);
    expect(ctr(["task", "pause", "ctd-detached"]).code).toBe(0);
    expect(ctr(["task", "ls"]).stdout).toMatch(/ctd-detached\s+\d+\s+PAUSED/);
    expect(ctr(["task", "resume", "ctd-detached"]).code).toBe(0);
    expect(ctr(["task", "ls"]).stdout).toMatch(/ctd-detached\s+\d+\s+RUNNING/);
    expect(ctr(["task", "kill", "--signal", "KILL", "ctd-detached"]).code).toBe(0);
    await until(() => /ctd-detached\s+\d+\s+STOPPED/.test(ctr(["task", "ls"]).stdout), 5000, "the task to stop");
    expect(ctr(["task", "delete", "ctd-detached"]).code).toBe(0);
    expect(ctr(["container", "delete", "ctd-detached"]).code).toBe(0);
    expect(Bun.spawnSync([BUNKER, "--root", `${RUNC_ROOT}/default`, "state", "ctd-detached"]).exitCode).toBe(1);
  });
});
