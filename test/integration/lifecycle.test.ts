// Containers that live on: run -d, ps, inspect, wait, stop, kill, rm, names, --rm.

import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { bunker, BUNKER, isRoot } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn(`skipping lifecycle tests: ${isRoot ? "busybox-static is not installed" : "they need root"}`);

const suite = containerSuite(ready);

const detached = (args: string[], cmd: string) => {
  const r = bunker(["run", "-d", ...args, "--rootfs", suite.fs.path, "--", "sh", "-c", cmd]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^[0-9a-f]{12}\n$/);
  return r.stdout.trim();
};

/** Waits until the detached container has written `text` to its log (its traps are set by then). */
async function logged(id: string, text: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (existsSync(`/run/bunker/${id}/output.log`) && readFileSync(`/run/bunker/${id}/output.log`, "utf8").includes(text)) return;
    await Bun.sleep(20);
  }
  throw new Error(`container ${id} never logged ${text}`);
}

interface PsEntry {
  id: string;
  name: string | null;
  status: string;
  pid: number | null;
  exitCode: number | null;
}
const psJson = (all = true): PsEntry[] => JSON.parse(bunker(["ps", ...(all ? ["-a"] : []), "--json"]).stdout);

describe.skipIf(!ready)("detached containers", () => {
  test("run -d returns at once; ps, inspect, wait, rm round trip", () => {
    const id = detached(["--name", "rt1"], "echo started; exec sleep 0.3");
    let entry = psJson(false).find((e) => e.id === id)!;
    expect(entry).toMatchObject({ name: "rt1", status: "running" });
    expect(existsSync(`/proc/${entry.pid}`)).toBe(true);
    const inspect = JSON.parse(bunker(["inspect", "rt1"]).stdout)[0];
    expect(inspect).toMatchObject({ id, name: "rt1", status: "running", rootfs: suite.fs.path, command: ["sh", "-c", "echo started; exec sleep 0.3"] });
    expect(inspect.namespaces.pid).toBe(`/proc/${entry.pid}/ns/pid`);
    const w = bunker(["wait", id]);
    expect([w.stdout, w.code]).toEqual(["0\n", 0]);
    entry = psJson().find((e) => e.id === id)!;
    expect(entry).toMatchObject({ status: "stopped", exitCode: 0, pid: null });
    expect(psJson(false).some((e) => e.id === id)).toBe(false);
    expect(readFileSync(`/run/bunker/${id}/output.log`, "utf8")).toBe("started\n");
    expect(bunker(["rm", "rt1"]).code).toBe(0);
    expect(existsSync(`/run/bunker/${id}`)).toBe(false);
    expect(bunker(["inspect", id])).toMatchObject({ code: 125, stderr: `bunker: no such container: ${id}\n` });
  });

  test("stop sends SIGTERM, then SIGKILL after the grace time; the status is recorded", async () => {
    const polite = detached([], "trap 'exit 3' TERM; echo ready; while :; do sleep 0.05; done");
    const stubborn = detached([], "exec sleep 100");
    await logged(polite, "ready");
    const t0 = Date.now();
    expect(bunker(["stop", "-t", "1", polite, stubborn]).code).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    const states = psJson();
    expect(states.find((e) => e.id === polite)).toMatchObject({ status: "stopped", exitCode: 3 });
    expect(states.find((e) => e.id === stubborn)).toMatchObject({ status: "stopped", exitCode: 137 });
    expect(bunker(["rm", polite, stubborn]).code).toBe(0);
  });

  test("kill sends the signal given; wait exits with the container's status", async () => {
    const id = detached([], "trap 'exit 42' USR1; echo ready; while :; do sleep 0.05; done");
    await logged(id, "ready");
    expect(bunker(["kill", "-s", "usr1", id]).code).toBe(0);
    expect(bunker(["wait", id])).toMatchObject({ stdout: "42\n", code: 42 });
    expect(bunker(["kill", id])).toMatchObject({ code: 125, stderr: `bunker: container ${id} is not running\n` });
    expect(bunker(["kill", "-s", "NOPE", id])).toMatchObject({ code: 125, stderr: 'bunker: unknown signal "NOPE"\n' });
    bunker(["rm", id]);
  });

  test("rm refuses a running container unless -f, which kills it first", () => {
    const id = detached(["--name", "busy"], "exec sleep 100");
    expect(bunker(["rm", "busy"])).toMatchObject({ code: 125, stderr: "bunker: container busy is running: stop it first, or use rm -f\n" });
    const pid = psJson().find((e) => e.id === id)!.pid!;
    expect(bunker(["rm", "-f", "busy"]).code).toBe(0);
    expect(existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ")).toBe(false);
    expect(existsSync(`/run/bunker/${id}`)).toBe(false);
  });

  test("names are unique and validated; ids resolve by prefix", () => {
    const id = detached(["--name", "uniq"], "exec sleep 100");
    const again = bunker(["run", "-d", "--name", "uniq", "--rootfs", suite.fs.path, "--", "true"]);
    expect(again).toMatchObject({ code: 125, stderr: `bunker: the name "uniq" is already in use by container ${id}: remove it first (bunker rm uniq)\n` });
    expect(bunker(["run", "--name", "bad name", "--rootfs", suite.fs.path, "--", "true"]).code).toBe(125);
    expect(JSON.parse(bunker(["inspect", id.slice(0, 5)]).stdout)[0].id).toBe(id);
    expect(bunker(["rm", "-f", "uniq"]).code).toBe(0);
  });

  test("--rm leaves nothing once the container ends; without it the state stays until rm", async () => {
    const id = detached(["--rm"], "exec sleep 0.2");
    expect(existsSync(`/run/bunker/${id}`)).toBe(true);
    for (let i = 0; i < 100 && existsSync(`/run/bunker/${id}`); i++) await Bun.sleep(20);
    expect(existsSync(`/run/bunker/${id}`)).toBe(false);
    const fg = bunker(["run", "--name", "fg", "--rootfs", suite.fs.path, "--", "sh", "-c", "exit 5"]);
    expect(fg.code).toBe(5);
    expect(psJson().find((e) => e.name === "fg")).toMatchObject({ status: "stopped", exitCode: 5 });
    bunker(["rm", "fg"]);
  });

  test("a foreground run is listed while it runs", async () => {
    const proc = Bun.spawn([BUNKER, "run", "--rm", "--name", "fgrun", "--rootfs", suite.fs.path, "--", "sh", "-c", "echo ready; exec sleep 100"], { stdout: "pipe" });
    const reader = proc.stdout.getReader();
    await reader.read();
    expect(psJson(false).find((e) => e.name === "fgrun")).toMatchObject({ status: "running" });
    bunker(["stop", "-t", "0", "fgrun"]);
    expect(await proc.exited).toBe(137);
    expect(psJson().some((e) => e.name === "fgrun")).toBe(false);
  });

  test("rm -f of a foreground container: its bunker reports the kill, with nothing left to record", async () => {
    const proc = Bun.spawn([BUNKER, "run", "--name", "fgrm", "--rootfs", suite.fs.path, "--", "sh", "-c", "echo ready; exec sleep 100"], { stdout: "pipe", stderr: "pipe" });
    await proc.stdout.getReader().read();
    expect(bunker(["rm", "-f", "fgrm"]).code).toBe(0);
    expect(await proc.exited).toBe(137);
    expect(await new Response(proc.stderr).text()).toBe("");
    expect(psJson().some((e) => e.name === "fgrm")).toBe(false);
  });

  test("a failing start leaves no state, and says why with the usual status", () => {
    const r = bunker(["run", "-d", "--name", "broken", "--rootfs", suite.fs.path, "--", "/no/such/cmd"]);
    expect(r).toMatchObject({ code: 127, stderr: 'bunker: exec "/no/such/cmd": no such file or directory\n' });
    expect(psJson().some((e) => e.name === "broken")).toBe(false);
  });

  test("a state whose process vanished reads as stopped, and a reused pid is never taken for it", async () => {
    // An unrelated process, started a few clock ticks before the container.
    const other = Bun.spawn(["sleep", "30"]);
    await Bun.sleep(50);
    const id = detached([], "exec sleep 100");
    const statePath = `/run/bunker/${id}/state.json`;
    const state = JSON.parse(readFileSync(statePath, "utf8"));
    // Point the state at the live, unrelated process: its start time differs, so not running.
    const forged = { ...state, pid: other.pid, supervisor: other.pid };
    await Bun.write(statePath, JSON.stringify(forged));
    expect(psJson().find((e) => e.id === id)!.status).toBe("stopped");
    expect(bunker(["kill", id]).code).toBe(125);
    expect(other.exitCode).toBeNull();
    other.kill();
    await Bun.write(statePath, JSON.stringify(state));
    expect(bunker(["rm", "-f", id]).code).toBe(0);
  });

  test("twenty detached containers at once: all listed running, all stopped cleanly", async () => {
    const procs = Array.from({ length: 20 }, (_, i) =>
      Bun.spawn([BUNKER, "run", "-d", "--name", `many${i}`, "--rootfs", suite.fs.path, "--", "sh", "-c", "exec sleep 100"], { stdout: "pipe", stderr: "pipe" }),
    );
    const codes = await Promise.all(procs.map((p) => p.exited));
    expect(codes.every((c) => c === 0)).toBe(true);
    const running = psJson(false).filter((e) => e.name?.startsWith("many"));
    expect(running.length).toBe(20);
    expect(running.every((e) => e.status === "running")).toBe(true);
    const names = running.map((e) => e.name!);
    expect(bunker(["stop", "-t", "0", ...names]).code).toBe(0);
    const after = psJson().filter((e) => e.name?.startsWith("many"));
    expect(after.every((e) => e.status === "stopped" && e.exitCode === 137)).toBe(true);
    expect(bunker(["rm", ...names]).code).toBe(0);
  });
});

describe.skipIf(!ready)("after bunker is killed", () => {
  test("a --rm container whose bunker was SIGKILLed is cleaned up by the next ps; without --rm it shows as exited", async () => {
    for (const [name, rm] of [["gone1", true], ["kept1", false]] as const) {
      const proc = Bun.spawn([BUNKER, "run", ...(rm ? ["--rm"] : []), "--name", name, "--rootfs", suite.fs.path, "--", "sh", "-c", "echo ready; exec sleep 1000"], { stdout: "pipe" });
      await proc.stdout.getReader().read();
      proc.kill("SIGKILL");
      await proc.exited;
    }
    await Bun.sleep(100);
    const listed = psJson();
    expect(listed.some((e) => e.name === "gone1")).toBe(false);
    expect(listed.find((e) => e.name === "kept1")).toMatchObject({ status: "stopped", exitCode: null });
    expect(bunker(["wait", "kept1"])).toMatchObject({ code: 125, stderr: "bunker: container kept1 ended without a recorded status (its bunker process was killed)\n" });
    bunker(["rm", "kept1"]);
  });
});

describe.skipIf(!ready)("--init", () => {
  const zombies = (id: string) =>
    bunker(["exec", id, "ps", "-o", "stat"]).stdout.split("\n").filter((l) => l.trim().startsWith("Z")).length;

  test("reaps orphans that a plain PID 1 would leave as zombies", async () => {
    const cmd = "(sleep 0.05 &); (sleep 0.05 &); exec sleep 100";
    const plain = detached([], cmd);
    const withInit = detached(["--init"], cmd);
    await Bun.sleep(400);
    expect(zombies(plain)).toBe(2);
    expect(zombies(withInit)).toBe(0);
    bunker(["rm", "-f", plain, withInit]);
  });

  test("the exit status is the command's; signals reach a command that has no handler", async () => {
    expect(bunker(["run", "--rm", "--init", "--rootfs", suite.fs.path, "--", "sh", "-c", "exit 3"]).code).toBe(3);
    const proc = Bun.spawn([BUNKER, "run", "--rm", "--init", "--rootfs", suite.fs.path, "--", "sh", "-c", "echo ready; exec sleep 100"], { stdout: "pipe" });
    await proc.stdout.getReader().read();
    proc.kill("SIGTERM");
    // Without init, sleep as PID 1 would ignore SIGTERM.
    expect(await proc.exited).toBe(143);
  });
});
