// Health checks as docker runs them: --health-cmd and the rest, an image's
// HEALTHCHECK (and the flags over it), `bunker healthcheck run` (podman's
// exit codes), the status in ps and inspect (docker's State.Health), and the
// periodic check of a running container, done by a small static program of
// its own that goes when the container goes (or a Bun process with
// BUNKER_NATIVE=compile).

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { alive, bunker, BUNKER, isRoot, until } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";
import { makeTar } from "../helpers/tar";
import { userSuite } from "../helpers/user-suite";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn("skipping the health check tests: they need root and busybox-static");

const suite = containerSuite(ready);
const PATH = process.env.PATH ?? "/usr/bin:/bin";

/** run -d on the busybox rootfs: FLAGS, then `sh -c SCRIPT`. */
const runD = (flags: string[], script = "sleep 60", env: Record<string, string> = {}) =>
  bunker(["run", "-d", "--network", "none", ...flags, "--rootfs", suite.fs.path, "--", "sh", "-c", script], { env: { PATH, ...env } });

interface Health {
  Status: string;
  FailingStreak: number;
  Log: { Start: string; End: string; ExitCode: number; Output: string }[];
}

const inspectOf = (name: string) => JSON.parse(bunker(["inspect", name]).stdout)[0];
const health = (name: string): Health | undefined => inspectOf(name).State?.Health;
const psLine = (name: string) => bunker(["ps"]).stdout.split("\n").find((l) => l.split(/\s{3,}/)[1] === name) ?? "";
const monitorOf = (name: string): number => inspectOf(name).healthMonitor.pid;

/** Proportional memory of a process, in KiB (/proc/PID/smaps_rollup). */
function pssKiB(pid: number): number {
  return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))![1]);
}

describe.skipIf(!ready)("health checks", () => {
  // The rootfs is the file's: what a test's containers leave in its /tmp goes with the test.
  afterEach(() => {
    for (const f of ["hc-fail-ok", "hc-timer-stop", "hc-fg-stop"]) rmSync(join(suite.fs.path, "tmp", f), { force: true });
  });

  test("healthcheck run: the check runs in the container (its hostname, working directory, user); starting, then healthy in ps and inspect", () => {
    const r = runD(["--name", "hc-pass", "-w", "/tmp", "--user", "1234", "--health-cmd", 'echo "$(hostname) $(pwd) $(id -u)"', "--health-interval", "1h"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const id = r.stdout.trim();
    // No check has run yet.
    expect(health("hc-pass")).toEqual({ Status: "starting", FailingStreak: 0, Log: [] });
    expect(psLine("hc-pass")).toMatch(/ Up \d+ seconds? \(health: starting\) /);
    const run = bunker(["healthcheck", "run", "hc-pass"]);
    expect([run.code, run.stdout, run.stderr]).toEqual([0, "", ""]);
    const h = health("hc-pass")!;
    expect(h.Status).toBe("healthy");
    expect(h.FailingStreak).toBe(0);
    expect(h.Log.map((l) => [l.ExitCode, l.Output])).toEqual([[0, `${id.slice(0, 12)} /tmp 1234\n`]]);
    expect(Date.parse(h.Log[0]!.End)).toBeGreaterThanOrEqual(Date.parse(h.Log[0]!.Start));
    expect(psLine("hc-pass")).toMatch(/ Up \d+ seconds? \(healthy\) /);
    expect(JSON.parse(bunker(["ps", "--json"]).stdout).find((c: { name: string }) => c.name === "hc-pass").health).toBe("healthy");
    expect(bunker(["rm", "-f", "hc-pass"]).code).toBe(0);
  });

  test("failures: not counted in the start period, then each counts; --health-retries of them make it unhealthy; a pass makes it healthy again", async () => {
    // A failure while starting (before the retries are used up) leaves it starting.
    const r = runD(["--name", "hc-fail", "--health-cmd", "echo no >&2; test -e /tmp/hc-fail-ok || exit 3", "--health-interval", "1h", "--health-retries", "2"]);
    expect(r.code).toBe(0);
    const first = bunker(["healthcheck", "run", "hc-fail"]);
    expect([first.code, first.stdout]).toEqual([1, "starting\n"]);
    expect(health("hc-fail")).toMatchObject({ Status: "starting", FailingStreak: 1 });
    const second = bunker(["healthcheck", "run", "hc-fail"]);
    expect([second.code, second.stdout]).toEqual([1, "unhealthy\n"]);
    expect(health("hc-fail")).toMatchObject({ Status: "unhealthy", FailingStreak: 2 });
    expect(health("hc-fail")!.Log.map((l) => [l.ExitCode, l.Output])).toEqual([
      [3, "no\n"],
      [3, "no\n"],
    ]);
    expect(psLine("hc-fail")).toMatch(/ Up \d+ seconds? \(unhealthy\) /);
    expect(bunker(["exec", "hc-fail", "touch", "/tmp/hc-fail-ok"]).code).toBe(0);
    expect(bunker(["healthcheck", "run", "hc-fail"]).code).toBe(0);
    expect(health("hc-fail")).toMatchObject({ Status: "healthy", FailingStreak: 0 });
    expect(bunker(["rm", "-f", "hc-fail"]).code).toBe(0);

    // In the start period, failures do not count, and the check comes every --health-start-interval.
    const s = runD(["--name", "hc-start", "--health-cmd", "exit 1", "--health-interval", "1h", "--health-start-period", "1h", "--health-start-interval", "100ms"]);
    expect(s.code).toBe(0);
    await until(() => (health("hc-start")?.Log.length ?? 0) >= 2, 10_000, "two checks in the start period");
    expect(health("hc-start")).toMatchObject({ Status: "starting", FailingStreak: 0 });
    expect(bunker(["rm", "-f", "hc-start"]).code).toBe(0);
  });

  test("the last 5 results are kept, each output cut at 4096 bytes with ... as docker cuts it", () => {
    const r = runD(["--name", "hc-log", "--health-cmd", "head -c 5000 /dev/zero | tr '\\0' x; exit 2", "--health-interval", "1h", "--health-retries", "1"]);
    expect(r.code).toBe(0);
    for (let i = 0; i < 7; i++) expect(bunker(["healthcheck", "run", "hc-log"]).code).toBe(1);
    const h = health("hc-log")!;
    expect(h.Status).toBe("unhealthy");
    expect(h.FailingStreak).toBe(7);
    expect(h.Log.length).toBe(5);
    for (const l of h.Log) expect([l.ExitCode, l.Output]).toEqual([2, `${"x".repeat(4096)}...`]);
    // Oldest first: the last two of the seven are the last two kept.
    expect(Date.parse(h.Log[4]!.Start)).toBeGreaterThanOrEqual(Date.parse(h.Log[3]!.End));
    expect(bunker(["rm", "-f", "hc-log"]).code).toBe(0);
  });

  test("a check that outlives --health-timeout is killed (with what it started) and counts as a failure (-1)", () => {
    const r = runD(["--name", "hc-slow", "--health-cmd", "echo begun; sleep 31 & exec sleep 32", "--health-timeout", "300ms", "--health-interval", "1h"]);
    expect(r.code).toBe(0);
    const started = Date.now();
    const run = bunker(["healthcheck", "run", "hc-slow"]);
    expect([run.code, run.stdout]).toEqual([1, "starting\n"]);
    expect(Date.now() - started).toBeLessThan(10_000);
    const [l] = health("hc-slow")!.Log;
    expect([l!.ExitCode, l!.Output]).toEqual([-1, "Health check exceeded timeout (300ms): begun\n"]);
    // Neither the check nor what it started runs on (the container's own sleep 60 does).
    const ps = bunker(["exec", "hc-slow", "ps", "-o", "args"]);
    expect(ps.stdout).toContain("sleep 60");
    expect(ps.stdout).not.toContain("sleep 31");
    expect(ps.stdout).not.toContain("sleep 32");
    expect(bunker(["rm", "-f", "hc-slow"]).code).toBe(0);
  });

  test("healthcheck run: 125 for what cannot be checked; bad flags are refused", () => {
    const none = runD(["--name", "hc-none"]);
    expect(none.code).toBe(0);
    const r = bunker(["healthcheck", "run", "hc-none"]);
    expect([r.code, r.stderr]).toEqual([125, "bunker: container hc-none has no health check (run it with --health-cmd, or from an image with a HEALTHCHECK)\n"]);
    expect(psLine("hc-none")).toMatch(/ Up \d+ seconds?   /);
    expect(inspectOf("hc-none").State).toBeUndefined();
    expect(bunker(["rm", "-f", "hc-none"]).code).toBe(0);
    expect(bunker(["healthcheck", "run", "hc-nope"])).toMatchObject({ code: 125, stderr: "bunker: no such container: hc-nope\n" });
    const ended = runD(["--name", "hc-ended", "--health-cmd", "true"], "true");
    expect(ended.code).toBe(0);
    expect(bunker(["wait", "hc-ended"]).code).toBe(0);
    expect(bunker(["healthcheck", "run", "hc-ended"])).toMatchObject({ code: 125, stderr: "bunker: container hc-ended is not running\n" });
    expect(bunker(["rm", "hc-ended"]).code).toBe(0);
    for (const [flags, message] of [
      [["--health-interval", "10"], "--health-interval 10: not a duration (use 30s, 1m30s, 500ms)"],
      [["--health-timeout", "10us"], "--health-timeout 10us: at least 1ms (or 0 for the default)"],
      [["--health-retries", "-1"], "--health-retries -1: a whole number, 0 or more (0: the default, 3)"],
      [["--no-healthcheck", "--health-cmd", "true"], "--no-healthcheck conflicts with --health-cmd"],
      [["--health-interval", "5s"], "--health-*: there is no health check to set (give --health-cmd; the image has none)"],
    ] as const) {
      const bad = bunker(["run", "--network", "none", ...flags, "--rootfs", suite.fs.path, "true"]);
      expect([bad.code, bad.stderr]).toEqual([125, `bunker: ${message}\n`]);
    }
  });

  test("the periodic check: a static program of a few KiB runs it every interval, and goes when the container ends, after rm -f, and with its killed supervisor", async () => {
    const r = runD(["--name", "hc-timer", "--health-cmd", "echo tick", "--health-interval", "100ms"], "until [ -e /tmp/hc-timer-stop ]; do sleep 0.05; done");
    expect(r.code).toBe(0);
    await until(() => (health("hc-timer")?.Log.length ?? 0) >= 3, 10_000, "three periodic checks");
    expect(health("hc-timer")!.Status).toBe("healthy");
    const mon = monitorOf("hc-timer");
    expect(readFileSync(`/proc/${mon}/comm`, "utf8")).toBe("bunker-health\n");
    // The child of the container's supervisor, which has become the waiter.
    expect(readFileSync(`/proc/${mon}/stat`, "utf8").split(") ")[1]!.split(" ")[1]).toBe(String(inspectOf("hc-timer").supervisor));
    const pss = pssKiB(mon);
    console.log(`the periodic health check costs ${pss} KiB (Pss)`);
    expect(pss).toBeLessThan(1024);
    // The container ends: so does the program.
    expect(bunker(["exec", "hc-timer", "touch", "/tmp/hc-timer-stop"]).code).toBe(0);
    expect(bunker(["wait", "hc-timer"]).stdout).toBe("0\n");
    await until(() => !alive(mon), 5000, "the health check program to end with its container");
    // A stopped container keeps its last health, and shows no status of it.
    expect(health("hc-timer")!.Status).toBe("healthy");
    expect(bunker(["ps", "-a"]).stdout).toMatch(/hc-timer +Exited \(0\)/);
    expect(bunker(["rm", "hc-timer"]).code).toBe(0);

    const f = runD(["--name", "hc-rmf", "--health-cmd", "true", "--health-interval", "100ms"]);
    expect(f.code).toBe(0);
    const mon2 = monitorOf("hc-rmf");
    expect(alive(mon2)).toBe(true);
    expect(bunker(["rm", "-f", "hc-rmf"]).code).toBe(0);
    await until(() => !alive(mon2), 5000, "the health check program to end after rm -f");

    const k = runD(["--name", "hc-killed", "--health-cmd", "true", "--health-interval", "100ms"]);
    expect(k.code).toBe(0);
    const mon3 = monitorOf("hc-killed");
    process.kill(inspectOf("hc-killed").supervisor, "SIGKILL");
    await until(() => !alive(mon3), 5000, "the health check program to die with its supervisor");
    expect(bunker(["rm", "-f", "hc-killed"]).code).toBe(0);
  });

  test("a foreground container is checked too, from its own bunker; and with BUNKER_NATIVE=compile, by a Bun process", async () => {
    const fg = Bun.spawn([BUNKER, "run", "--name", "hc-fg", "--network", "none", "--health-cmd", "true", "--health-interval", "100ms", "--rootfs", suite.fs.path, "--", "sh", "-c", "until [ -e /tmp/hc-fg-stop ]; do sleep 0.05; done"], {
      env: { PATH },
      stdio: ["ignore", "ignore", "pipe"],
    });
    await until(() => bunker(["inspect", "hc-fg"]).code === 0 && health("hc-fg")?.Status === "healthy", 10_000, "the foreground container to be healthy");
    const mon = monitorOf("hc-fg");
    expect(readFileSync(`/proc/${mon}/comm`, "utf8")).toBe("bunker-health\n");
    expect(bunker(["exec", "hc-fg", "touch", "/tmp/hc-fg-stop"]).code).toBe(0);
    expect(await fg.exited).toBe(0);
    await until(() => !alive(mon), 5000, "the health check program to end with the foreground container");
    expect(bunker(["rm", "hc-fg"]).code).toBe(0);

    const b = runD(["--name", "hc-bun", "--health-cmd", "true", "--health-interval", "100ms"], "sleep 60", { BUNKER_NATIVE: "compile" });
    expect(b.code).toBe(0);
    await until(() => (health("hc-bun")?.Log.length ?? 0) >= 2, 15_000, "two periodic checks by the Bun process");
    const bmon = monitorOf("hc-bun");
    expect(readFileSync(`/proc/${bmon}/cmdline`, "utf8").split("\0").slice(1, 2)).toEqual(["__health"]);
    console.log(`the Bun stand-in for the periodic health check costs ${pssKiB(bmon)} KiB (Pss)`);
    expect(bunker(["rm", "-f", "hc-bun"]).code).toBe(0);
    await until(() => !alive(bmon), 5000, "the Bun health check process to end after rm -f");
  });

  describe("an image's HEALTHCHECK", () => {
    let dir: string;
    let store: string;
    const b = (args: string[]) => bunker(args, { env: { PATH, BUNKER_STORAGE: store } });
    const runImage = (flags: string[]) => b(["run", "-d", "--network", "none", ...flags, "hc-image"]);

    beforeAll(() => {
      dir = mkdtempSync("/tmp/bunker-health-");
      store = join(dir, "store");
      // A docker save archive of the busybox tree, whose config has a HEALTHCHECK.
      const layer = Bun.spawnSync(["tar", "-C", suite.fs.path, "--numeric-owner", "-cf", "-", "."]).stdout;
      const diffId = `sha256:${new Bun.CryptoHasher("sha256").update(layer).digest("hex")}`;
      const config = {
        architecture: process.arch === "arm64" ? "arm64" : "amd64",
        os: "linux",
        config: { Cmd: ["sleep", "60"], Healthcheck: { Test: ["CMD", "/bin/sh", "-c", "echo from-image; exit 4"], Interval: 3_600_000_000_000, Retries: 1 } },
        rootfs: { type: "layers", diff_ids: [diffId] },
      };
      const manifest = [{ Config: "config.json", RepoTags: ["hc-image:1"], Layers: ["layer.tar"] }];
      const archive = join(dir, "image.tar");
      writeFileSync(archive, makeTar([
        { path: "layer.tar", data: new Uint8Array(layer) },
        { path: "config.json", data: JSON.stringify(config) },
        { path: "manifest.json", data: JSON.stringify(manifest) },
      ]));
      const r = bunker(["load", "-q", "-i", archive], { env: { PATH, BUNKER_STORAGE: store } });
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(bunker(["tag", "hc-image:1", "hc-image"], { env: { PATH, BUNKER_STORAGE: store } }).code).toBe(0);
    });

    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test("used as it is; the flags override what they set and keep the rest; --no-healthcheck turns it off", () => {
      const r = runImage(["--name", "hc-img"]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(b(["healthcheck", "run", "hc-img"])).toMatchObject({ code: 1, stdout: "unhealthy\n" });
      // Retries 1 (the image's): one failure is enough.
      expect(health("hc-img")!.Log.map((l) => [l.ExitCode, l.Output])).toEqual([[4, "from-image\n"]]);
      expect(health("hc-img")!.Status).toBe("unhealthy");

      expect(runImage(["--name", "hc-img-flag", "--health-cmd", "echo from-flag; exit 5"]).code).toBe(0);
      expect(b(["healthcheck", "run", "hc-img-flag"]).code).toBe(1);
      expect(health("hc-img-flag")).toMatchObject({ Status: "unhealthy", Log: [{ ExitCode: 5, Output: "from-flag\n" }] });
      expect(inspectOf("hc-img-flag").spec.bunker.healthcheck).toMatchObject({ test: ["CMD-SHELL", "echo from-flag; exit 5"], interval: 3_600_000_000_000, retries: 1 });

      expect(runImage(["--name", "hc-img-none", "--no-healthcheck"]).code).toBe(0);
      expect(b(["healthcheck", "run", "hc-img-none"]).code).toBe(125);
      expect(inspectOf("hc-img-none").State).toBeUndefined();
      expect(psLine("hc-img-none")).not.toContain("health");
      for (const n of ["hc-img", "hc-img-flag", "hc-img-none"]) expect(b(["rm", "-f", n]).code).toBe(0);
    });
  });
});

describe.skipIf(!ready)("health checks of a user's container", () => {
  const user = userSuite("bunker-ci-health");

  test("run -d --health-cmd as a user: checked periodically in its user namespace, the program gone after rm -f", async () => {
    const as = user.as;
    const r = as(["run", "-d", "--name", "hc-user", "--network", "none", "--health-cmd", "id -u", "--health-interval", "100ms", "--rootfs", user.fs.path, "--", "sleep", "60"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const userHealth = () => JSON.parse(as(["inspect", "hc-user"]).stdout)[0].State?.Health as Health | undefined;
    await until(() => (userHealth()?.Log.length ?? 0) >= 2, 15_000, "two periodic checks of the user's container");
    expect(userHealth()!.Status).toBe("healthy");
    expect(userHealth()!.Log[0]!.Output).toBe("0\n");
    const mon = JSON.parse(as(["inspect", "hc-user"]).stdout)[0].healthMonitor.pid as number;
    expect(Bun.spawnSync(["stat", "-c", "%u", `/proc/${mon}`]).stdout.toString().trim()).toBe(String(user.user.uid));
    expect(as(["rm", "-f", "hc-user"]).code).toBe(0);
    await until(() => !alive(mon), 5000, "the user's health check program to end after rm -f");
  });
});
