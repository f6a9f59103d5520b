// podman (with conmon) driving bunker as its OCI runtime: run, exit codes,
// detached containers with exec, stop and rm, a terminal, a published port.
// podman keeps its own storage for the test (vfs: no overlay mounts) and
// manages cgroups itself (cgroupfs).

import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { BUNKER, isRoot, until } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";
import { cgroupMounts } from "../helpers/leaks";
import { freePort } from "../helpers/ports";

const which = (name: string) => Bun.which(name) ?? [`/usr/bin/${name}`, `/usr/libexec/podman/${name}`].find(existsSync);
const missing = !isRoot ? "they need root" : !busyboxAvailable() ? "busybox-static is not installed" : !which("podman") ? "podman is not installed" : !which("conmon") ? "conmon is not installed" : null;
const ready = missing === null;
if (!ready) console.warn(`skipping the podman tests: ${missing}`);

// podman's own cgroups (conmon's, and their parent), which it leaves behind with any runtime.
const PODMAN_CGROUPS = ["libpod_parent/conmon", "libpod_parent"];
let hadCgroups: string[] = [];

const suite = containerSuite(ready, () => {
  podman(["rm", "--all", "--force", "--time", "0"]);
  for (const rel of PODMAN_CGROUPS) {
    for (const m of cgroupMounts()) {
      const dir = `${m}/${rel}`;
      if (!hadCgroups.includes(dir) && existsSync(dir)) {
        try {
          rmdirSync(dir);
        } catch {
          // still in use: the leak check names it
        }
      }
    }
  }
  for (const d of [storage].filter(Boolean)) rmSync(d, { recursive: true, force: true });
});
let storage = "";

beforeAll(() => {
  if (!ready) return;
  storage = mkdtempSync(join(tmpdir(), "bunker-podman-"));
  hadCgroups = cgroupMounts().flatMap((m) => PODMAN_CGROUPS.map((rel) => `${m}/${rel}`)).filter(existsSync);
});

/** podman as the tests run it: private storage, bunker as the runtime, limits root may set here. */
function base(): string[] {
  return [
    which("podman")!,
    "--root", join(storage, "root"),
    "--runroot", join(storage, "runroot"),
    "--storage-driver", "vfs",
    "--cgroup-manager", "cgroupfs",
    "--events-backend", "file",
    "--runtime", BUNKER,
  ];
}

const LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"];

function podman(args: string[], stdin?: string): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync([...base(), ...args], { stdin: stdin !== undefined ? new TextEncoder().encode(stdin) : "ignore", stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe.skipIf(!ready)("podman --runtime bunker", () => {
  test("run: the command's output and exit status, in its own namespaces; nothing of the container is left", () => {
    const r = podman(["run", "--rm", "--network", "none", ...LIMITS, "--rootfs", suite.fs.path, "sh", "-c", "echo hello; cat /proc/1/cmdline | tr '\\0' ' '; echo; exit 3"]);
    expect(r.stdout).toBe("hello\nsh -c echo hello; cat /proc/1/cmdline | tr '\\0' ' '; echo; exit 3 \n");
    expect(r.code).toBe(3);
    expect(podman(["ps", "-aq"]).stdout).toBe("");
  });

  test("-d, exec, stop and rm: a detached container is reached, stopped and removed", async () => {
    const id = podman(["run", "-d", "--name", "pm-detached", "--network", "none", ...LIMITS, "--rootfs", suite.fs.path, "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    try {
      // The container is bunker's too, under podman's id.
      expect(Bun.spawnSync([BUNKER, "state", id]).stdout.toString()).toContain('"status": "running"');
      const e = podman(["exec", "pm-detached", "sh", "-c", "echo in-exec; exit 4"]);
      expect(e).toMatchObject({ code: 4, stdout: "in-exec\n" });
      const s = podman(["stop", "--time", "5", "pm-detached"]);
      expect(s.code).toBe(0);
      expect(podman(["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "pm-detached"]).stdout.trim()).toBe("exited 0");
    } finally {
      expect(podman(["rm", "--force", "pm-detached"]).code).toBe(0);
    }
    await until(() => Bun.spawnSync([BUNKER, "state", id]).exitCode === 1, 5000, "bunker's record of the container to go");
  });

  test("-t: the command's terminal comes from the container through the console socket", () => {
    const script = which("script");
    if (!script) return console.warn("skipping the podman terminal test: script (util-linux) is not installed");
    const cmd = [...base(), "run", "--rm", "-t", "--network", "none", ...LIMITS, "--rootfs", suite.fs.path, "sh", "-c", "tty; echo tty-done"].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
    const r = Bun.spawnSync([script, "-qec", cmd, "/dev/null"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toMatch(/\/dev\/pts\/\d+\r\ntty-done\r\n/);
  });

  test("-p: a published port reaches the container's server", async () => {
    const port = freePort();
    const id = podman(["run", "-d", "-p", `127.0.0.1:${port}:8080`, ...LIMITS, "--rootfs", suite.fs.path, "sh", "-c", "mkdir -p /tmp/www && echo served > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]);
    expect(id.code).toBe(0);
    try {
      let body = "";
      await until(
        () => {
          const r = Bun.spawnSync(["busybox", "wget", "-q", "-O", "-", `http://127.0.0.1:${port}/`], { stdout: "pipe", stderr: "ignore" });
          body = r.stdout.toString();
          return r.exitCode === 0;
        },
        10000,
        "the server to answer",
      );
      expect(body).toBe("served\n");
    } finally {
      expect(podman(["rm", "--force", "--time", "0", id.stdout.trim()]).code).toBe(0);
    }
  });
});

test.skipIf(!ready)("the tests' storage holds no container afterwards", () => {
  expect(podman(["ps", "-aq"]).stdout).toBe("");
  expect(readdirSync(storage).length).toBeGreaterThan(0);
});
