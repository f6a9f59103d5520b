// docker's create, start and restart, and restart policies kept without a
// daemon: a container that ends is started again by the process its state
// names (the native waiter sleeping the back-off, then a new supervisor),
// as often as its policy says, with docker's back-off; stop, kill and rm end
// it; a start that fails leaves the container as it was.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { alive, bunker, isRoot, until } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";
import { userSuite } from "../helpers/user-suite";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn("skipping the restart tests: they need root and busybox-static");

let dir = "";
let store = "";
const suite = containerSuite(ready, () => {
  for (const n of NAMES) bunker(["rm", "-f", n]);
});
const NAMES = ["rs-created", "rs-fail", "rs-always", "rs-rm", "rs-kill", "rs-ok", "rs-restart", "rs-fg", "rs-bun", "rs-bad", "rs-term", "rs-image"];
const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", BUNKER_STORAGE: store, ...extra });
const b = (args: string[], extra: Record<string, string> = {}) => bunker(args, { env: env(extra) });
const state = (name: string) => JSON.parse(b(["inspect", name]).stdout)[0];
const on = (name: string, extra: string[], script: string) => ["--name", name, "--network", "none", ...extra, "--rootfs", suite.fs.path, "--", "sh", "-c", script];
/** The times of the container's log records whose text is `text`. */
const logTimes = (name: string, text: string) =>
  readFileSync(state(name).logPath, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((r: { log: string }) => r.log === `${text}\n`)
    .map((r: { time: string }) => Date.parse(r.time) + Number(r.time.slice(23, 29)) / 1e6);
const comm = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
};

beforeAll(() => {
  if (!ready) return;
  dir = mkdtempSync("/var/tmp/bunker-restart-");
  store = join(dir, "store");
});

afterAll(() => {
  if (ready) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!ready)("create and start", () => {
  test("create makes a stopped container that ps -a shows as Created; start runs it detached; start of a running one leaves it", async () => {
    const c = b(["create", ...on("rs-created", [], "echo started; sleep 100")]);
    expect([c.code, c.stderr]).toEqual([0, ""]);
    expect(c.stdout).toMatch(/^[0-9a-f]{12}\n$/);
    const id = c.stdout.trim();
    expect(b(["ps"]).stdout).not.toContain("rs-created");
    expect(b(["ps", "-a"]).stdout).toMatch(/rs-created +Created/);
    expect(state("rs-created")).toMatchObject({ id, status: "created", restartCount: 0 });
    // Nothing runs: no process, no log.
    expect(state("rs-created").pid).toBeUndefined();
    expect(b(["logs", "rs-created"]).stdout).toBe("");
    const s = b(["start", "rs-created"]);
    expect([s.code, s.stdout, s.stderr]).toEqual([0, "rs-created\n", ""]);
    const first = state("rs-created");
    expect(first.status).toBe("running");
    expect(alive(first.pid)).toBe(true);
    await until(() => b(["logs", "rs-created"]).stdout === "started\n", 5000, "the started container's output in its log");
    // Already running: said as done, nothing changes (docker's start).
    expect(b(["start", "rs-created"])).toMatchObject({ code: 0, stdout: "rs-created\n" });
    expect(state("rs-created").pid).toBe(first.pid);
    expect(b(["create", ...on("rs-created", [], "true")])).toMatchObject({ code: 125 });
    expect(b(["rm", "-f", "rs-created"]).code).toBe(0);
  });

  test("an image container started again keeps the changes to its root filesystem", async () => {
    const tarball = join(dir, "busybox.tar");
    expect(Bun.spawnSync(["tar", "-C", suite.fs.path, "--numeric-owner", "-cf", tarball, "."]).exitCode).toBe(0);
    expect(b(["import", tarball, "rs-box"]).code).toBe(0);
    const c = b(["create", "--name", "rs-image", "--network", "none", "rs-box", "sh", "-c", "cat /kept 2>/dev/null | wc -l; echo run >> /kept"]);
    expect(c.code).toBe(0);
    for (let i = 1; i <= 3; i++) {
      expect(b(["start", "rs-image"]).code).toBe(0);
      expect(b(["wait", "rs-image"]).stdout).toBe("0\n");
    }
    // Each run read what the ones before it wrote.
    expect(b(["logs", "rs-image"]).stdout.split(/\s+/).filter(Boolean)).toEqual(["0", "1", "2"]);
    expect(b(["rm", "rs-image"]).code).toBe(0);
    expect(b(["rmi", "rs-box"]).code).toBe(0);
  });

  test("a start that fails leaves the container stopped, with the reason; ps and rm still know it", () => {
    expect(b(["create", "--name", "rs-bad", "--network", "none", "--rootfs", suite.fs.path, "--", "/no/such/program"]).code).toBe(0);
    const s = b(["start", "rs-bad"]);
    expect(s.code).toBe(1);
    expect(s.stderr).toContain("/no/such/program");
    const after = state("rs-bad");
    expect(after.status).toBe("created");
    expect(after.error).toContain("/no/such/program");
    expect(b(["ps", "-a"]).stdout).toContain("rs-bad");
    expect(b(["rm", "rs-bad"]).code).toBe(0);
  });
});

describe.skipIf(!ready)("restart policies", () => {
  test("on-failure:2: started again twice after docker's back-off, by the native waiter, then left stopped", async () => {
    expect(b(["run", "-d", ...on("rs-fail", ["--restart", "on-failure:2"], "echo run; exit 3")]).code).toBe(0);
    // While it waits to start again, the process its state names is the waiter (kilobytes, not a Bun).
    await until(() => state("rs-fail").restarting === true, 5000, "the first back-off");
    const s = state("rs-fail");
    expect(comm(s.supervisor)).toBe("bunker-wait");
    expect(b(["ps"]).stdout).toMatch(/rs-fail +Restarting \(3\)/);
    await until(() => state("rs-fail").restartCount === 2 && state("rs-fail").status === "stopped" && !state("rs-fail").restarting, 10_000, "two restarts and the end");
    const end = state("rs-fail");
    expect(end.exitCode).toBe(3);
    const times = logTimes("rs-fail", "run");
    expect(times.length).toBe(3);
    // 100 ms, then 200 ms, at least.
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(95);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(195);
    expect(b(["ps", "-a"]).stdout).toMatch(/rs-fail +Exited \(3\)/);
    expect(b(["rm", "rs-fail"]).code).toBe(0);
  });

  test("on-failure leaves a container that exited 0; a flag without a policy or with --rm is refused", () => {
    expect(b(["run", ...on("rs-ok", ["--restart", "on-failure"], "exit 0")]).code).toBe(0);
    expect(state("rs-ok")).toMatchObject({ status: "stopped", restartCount: 0, restarting: false });
    expect(b(["rm", "rs-ok"]).code).toBe(0);
    const bad = b(["run", ...on("rs-ok", ["--restart", "sometimes"], "true")]);
    expect([bad.code, bad.stderr]).toEqual([125, "bunker: --restart sometimes: use no, on-failure[:MAX], always or unless-stopped\n"]);
    const rm = b(["run", ...on("rs-ok", ["--restart", "always", "--rm"], "true")]);
    expect([rm.code, rm.stderr]).toEqual([125, "bunker: --restart always and --rm do not go together: a container removed when it ends is not restarted\n"]);
    expect(b(["inspect", "rs-ok"]).code).toBe(1);
  });

  test("always: stop during the back-off ends it for good, and the restarter is gone", async () => {
    expect(b(["run", "-d", ...on("rs-always", ["--restart", "always"], "sleep 0.3; exit 1")]).code).toBe(0);
    await until(() => (state("rs-always").restartCount ?? 0) >= 2 && state("rs-always").restarting === true, 15_000, "a back-off after two restarts");
    const restarter = state("rs-always").supervisor as number;
    expect(alive(restarter)).toBe(true);
    const st = b(["stop", "rs-always"]);
    expect([st.code, st.stdout]).toEqual([0, "rs-always\n"]);
    await until(() => !alive(restarter), 5000, "the restarter's end");
    const count = state("rs-always").restartCount;
    // Past any back-off it could have had: still stopped, not started again.
    await Bun.sleep(1000);
    expect(state("rs-always")).toMatchObject({ status: "stopped", restarting: false, restartCount: count });
    expect(b(["ps"]).stdout).not.toContain("rs-always");
    // A start makes the policy hold again.
    expect(b(["start", "rs-always"]).code).toBe(0);
    await until(() => state("rs-always").restartCount > count, 10_000, "a restart after start");
    expect(b(["stop", "rs-always"]).code).toBe(0);
    expect(b(["rm", "rs-always"]).code).toBe(0);
  });

  test("rm of a restarting container is refused without -f; rm -f ends the back-off", async () => {
    expect(b(["run", "-d", ...on("rs-rm", ["--restart", "always"], "exit 1")]).code).toBe(0);
    await until(() => state("rs-rm").restarting === true && (state("rs-rm").restartDelay ?? 0) >= 800, 15_000, "a back-off of 0.8 s");
    const r = b(["rm", "rs-rm"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("bunker: container rs-rm is restarting: stop it first, or use rm -f\n");
    const restarter = state("rs-rm").supervisor as number;
    expect(b(["rm", "-f", "rs-rm"]).code).toBe(0);
    await until(() => !alive(restarter), 5000, "the restarter's end");
    expect(b(["inspect", "rs-rm"]).code).toBe(1);
  });

  test("kill with SIGKILL keeps the policy from restarting it; a signal that is not its stop signal does not", async () => {
    expect(b(["run", "-d", ...on("rs-kill", ["--restart", "always"], "trap 'exit 1' HUP; while :; do sleep 0.1; done")]).code).toBe(0);
    const first = state("rs-kill").pid;
    expect(b(["kill", "-s", "HUP", "rs-kill"]).code).toBe(0);
    await until(() => state("rs-kill").restartCount === 1 && state("rs-kill").status === "running", 10_000, "a restart after SIGHUP");
    expect(state("rs-kill").pid).not.toBe(first);
    expect(b(["kill", "rs-kill"]).code).toBe(0);
    await until(() => state("rs-kill").status === "stopped", 5000, "its end");
    await Bun.sleep(800);
    expect(state("rs-kill")).toMatchObject({ status: "stopped", restartCount: 1, exitCode: 137 });
    expect(b(["rm", "rs-kill"]).code).toBe(0);
  });

  test("a foreground run exits with the status, and its restart happens detached", async () => {
    const r = b(["run", ...on("rs-fg", ["--restart", "on-failure:1"], "echo fg; exit 4")]);
    expect([r.code, r.stdout]).toEqual([4, "fg\n"]);
    await until(() => state("rs-fg").restartCount === 1 && state("rs-fg").status === "stopped" && !state("rs-fg").restarting, 10_000, "its restart and end");
    // The first run's output went to the caller; the restart's to the log.
    expect(b(["logs", "rs-fg"]).stdout).toBe("fg\n");
    expect(b(["rm", "rs-fg"]).code).toBe(0);
  });

  test("where the supervisor stays a Bun process (BUNKER_NATIVE=compile), it restarts the container itself, with each run's log", async () => {
    expect(b(["run", "-d", ...on("rs-bun", ["--restart", "on-failure:2"], "echo bun; exit 1")], { BUNKER_NATIVE: "compile" }).code).toBe(0);
    await until(() => state("rs-bun").restartCount === 2 && state("rs-bun").status === "stopped" && !state("rs-bun").restarting, 10_000, "two restarts and the end");
    expect(b(["logs", "rs-bun"]).stdout).toBe("bun\nbun\nbun\n");
    expect(b(["rm", "rs-bun"]).code).toBe(0);
  });
});

describe.skipIf(!ready)("restart and stop", () => {
  test("restart stops a running container and starts it again: a new process, the same container, no restart counted", async () => {
    expect(b(["run", "-d", ...on("rs-restart", [], "trap 'exit 0' TERM; echo up; while :; do sleep 0.1; done")]).code).toBe(0);
    const before = state("rs-restart");
    const r = b(["restart", "-t", "1", "rs-restart"]);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "rs-restart\n", ""]);
    const after = state("rs-restart");
    expect(after.status).toBe("running");
    expect(after.pid).not.toBe(before.pid);
    expect(alive(before.pid)).toBe(false);
    expect(after.restartCount).toBe(0);
    await until(() => b(["logs", "rs-restart"]).stdout === "up\nup\n", 5000, "both runs' output");
    expect(b(["rm", "-f", "rs-restart"]).code).toBe(0);
  });

  test("stop says when it had to kill with SIGKILL", () => {
    expect(b(["run", "-d", ...on("rs-term", [], "trap '' TERM; echo ready; while :; do sleep 0.1; done")]).code).toBe(0);
    const r = bunker(["stop", "-t", "1", "rs-term"]);
    expect([r.code, r.stdout]).toEqual([0, "rs-term\n"]);
    expect(r.stderr).toContain("container rs-term did not stop within 1 s of SIGTERM: killed with SIGKILL");
    expect(state("rs-term").exitCode).toBe(137);
    expect(b(["rm", "rs-term"]).code).toBe(0);
  });
});

describe.skipIf(!ready)("rootless", () => {
  const user = userSuite("bunker-ci-rst", (u) => u.as(["rm", "-f", "rs-user"]));

  test("a user's container restarts on failure, and is created and started", async () => {
    const c = user.as(["create", "--name", "rs-user", "--restart", "on-failure:1", "--rootfs", user.fs.path, "--", "sh", "-c", "echo as $(id -u); exit 2"]);
    expect([c.code, c.stderr]).toEqual([0, ""]);
    expect(user.as(["start", "rs-user"]).code).toBe(0);
    const inspect = () => JSON.parse(user.as(["inspect", "rs-user"]).stdout)[0];
    await until(() => inspect().restartCount === 1 && inspect().status === "stopped" && !inspect().restarting, 10_000, "its restart and end");
    expect(user.as(["logs", "rs-user"]).stdout).toBe("as 0\nas 0\n");
    expect(user.as(["rm", "rs-user"]).code).toBe(0);
  });
});
