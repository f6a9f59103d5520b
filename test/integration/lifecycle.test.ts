// Containers that live on: run -d, ps, inspect, wait, stop, kill, rm, names,
// --rm; containers caught while they start; and what is known of one whose
// bunker was killed.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { leaseIds, linkOf, STATE } from "../helpers/hoststate";
import { bunker, BUNKER, containerLog, isRoot, NATIVE_INIT_READY, until } from "../helpers/bunker";
import { cgroups } from "../helpers/leaks";
import { busyboxAvailable, makeRootfs, type Rootfs, giveRootfs } from "../helpers/rootfs";
import { freePort } from "../helpers/ports";
import { containerSuite } from "../helpers/suite";
import { createUser, publicBinary, removeUser, runAs, type TestUser } from "../helpers/users";

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
  await until(() => containerLog(STATE, id).includes(text), 5000, `container ${id} to log ${text}`);
}

interface PsEntry {
  id: string;
  name: string | null;
  status: string;
  pid: number | null;
  exitCode: number | null;
  killedWithSupervisor: boolean;
}
const psJson = (all = true): PsEntry[] => JSON.parse(bunker(["ps", ...(all ? ["-a"] : []), "--json"]).stdout);
const inspect = (ref: string) => JSON.parse(bunker(["inspect", ref]).stdout)[0];

/** /proc/PID/stat from its state field (3rd) on; null when the process is gone. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** A process's start time (clock ticks since boot): with its pid, it names the process for good. */
const startOf = (pid: number) => Number(statFields(pid)![19]);
/** Alive and not a zombie. */
const alive = (pid: number) => {
  const f = statFields(pid);
  return f !== null && f[0] !== "Z" && f[0] !== "X";
};

const stateOf = (id: string, dir = STATE) => JSON.parse(readFileSync(`${dir}/${id}/state.json`, "utf8"));

/** Replaces a state as bunker does (write, then rename), so no reader sees half of it. */
function writeStateFile(id: string, state: unknown, dir = STATE): void {
  writeFileSync(`${dir}/${id}/state.json.test`, JSON.stringify(state));
  renameSync(`${dir}/${id}/state.json.test`, `${dir}/${id}/state.json`);
}


const nft = ["/usr/sbin/nft", "/sbin/nft"].find((p) => existsSync(p));
const natElements = () => (nft ? Bun.spawnSync([nft, "list", "table", "ip", "bunker"]).stdout.toString() : "");

/** The file that freezes a container's cgroup: the v1 freezer's, or cgroup.freeze on v2. */
function freezer(id: string): { path: string; on: string; off: string } | null {
  if (existsSync(`/sys/fs/cgroup/freezer/bunker/${id}/freezer.state`)) return { path: `/sys/fs/cgroup/freezer/bunker/${id}/freezer.state`, on: "FROZEN", off: "THAWED" };
  if (existsSync(`/sys/fs/cgroup/bunker/${id}/cgroup.freeze`)) return { path: `/sys/fs/cgroup/bunker/${id}/cgroup.freeze`, on: "1", off: "0" };
  return null;
}

/** Whether the container's cgroup is frozen through (every process in it stopped). */
function frozenNow(id: string): boolean {
  if (existsSync(`/sys/fs/cgroup/freezer/bunker/${id}/freezer.state`)) return readFileSync(`/sys/fs/cgroup/freezer/bunker/${id}/freezer.state`, "utf8").trim() === "FROZEN";
  return /^frozen 1$/m.test(readFileSync(`/sys/fs/cgroup/bunker/${id}/cgroup.events`, "utf8"));
}

const cgroupProcs = (id: string): number[] => {
  const path = existsSync(`/sys/fs/cgroup/freezer/bunker/${id}`) ? `/sys/fs/cgroup/freezer/bunker/${id}/cgroup.procs` : `/sys/fs/cgroup/bunker/${id}/cgroup.procs`;
  return readFileSync(path, "utf8").split("\n").filter(Boolean).map(Number);
};

/** Whether the process is blocked reading a pipe (its kernel wait channel). */
const readingPipe = (pid: number) => {
  try {
    return /pipe_read/.test(readFileSync(`/proc/${pid}/wchan`, "utf8"));
  } catch {
    return false;
  }
};

interface Starting {
  id: string;
  pid: number;
  /** The `run -d` that is starting it. */
  proc: ReturnType<typeof Bun.spawn>;
  state: { status: string; pid: number; supervisor: number; network?: { ip?: string } };
}

/**
 * Starts a detached container and freezes its cgroup in the moment between
 * bunker making it and moving the container's first process in: bunker then
 * records the process and sets its network up, but the process never gets
 * to its command, and the start stays under way for as long as the test
 * wants. A freeze that came too late (the command already ran) is undone and
 * tried again.
 */
async function frozenMidStart(name: string, args: string[]): Promise<Starting> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const proc = Bun.spawn([BUNKER, "run", "-d", "--name", name, ...args, "--rootfs", suite.fs.path, "--", "sleep", "100"], { stdout: "pipe", stderr: "pipe" });
    let id: string | null = null;
    let frozen: ReturnType<typeof freezer> = null;
    const end = Date.now() + 10_000;
    while (Date.now() < end && proc.exitCode === null) {
      id ??= linkOf(name);
      frozen = id ? freezer(id) : null;
      if (frozen) {
        writeFileSync(frozen.path, frozen.on);
        break;
      }
      await Bun.sleep(1);
    }
    if (!id || !frozen) throw new Error(`container ${name} never got a freezer cgroup: ${await new Response(proc.stderr).text()}`);
    // Caught once its process is frozen before execve (its command line is still bunker's) and
    // its bunker, done with the set-up, waits on the pipe that execve closes; or missed.
    await until(() => {
      const s = stateOf(id!);
      return s.status !== "created" || (s.pid !== undefined && frozenNow(id!) && cgroupProcs(id!).includes(s.pid) && readingPipe(s.supervisor));
    }, 10_000, `container ${name} to record its process`);
    const state = stateOf(id);
    if (state.status === "created" && !readFileSync(`/proc/${state.pid}/cmdline`, "utf8").startsWith("sleep")) return { id, pid: state.pid, proc, state };
    writeFileSync(frozen.path, frozen.off);
    expect(bunker(["rm", "-f", name]).code).toBe(0);
    await proc.exited;
  }
  throw new Error(`container ${name} could not be caught while starting`);
}

/** A stopped container's state, to plant others like it. */
let template: Record<string, unknown> | undefined;
function plantState(fields: Record<string, unknown>): string {
  if (!template) {
    const id = bunker(["run", "-d", "--network", "none", "--cgroups=disabled", "--rootfs", suite.fs.path, "--", "true"]).stdout.trim();
    expect(bunker(["wait", id]).code).toBe(0);
    template = stateOf(id);
    expect(bunker(["rm", id]).code).toBe(0);
  }
  const id = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, "0")).join("");
  const t = template!;
  const state: Record<string, unknown> = { ...t, id, spec: { ...(t.spec as object), bunker: { ...(t.spec as { bunker: object }).bunker, id } }, created: new Date().toISOString(), ...fields };
  for (const k of ["pid", "pidStart", "started", "finished", "exitCode", "namespaces"]) if (!(k in fields)) delete state[k];
  mkdirSync(`${STATE}/${id}`, { mode: 0o700 });
  writeStateFile(id, state);
  return id;
}

/** Reads a process's stderr until `text` appears in it. */
async function stderrShows(proc: ReturnType<typeof Bun.spawn>, text: string): Promise<void> {
  const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
  let got = "";
  const end = Date.now() + 10_000;
  while (!got.includes(text)) {
    const { value, done } = await reader.read();
    if (done || Date.now() > end) throw new Error(`never saw "${text}" on stderr; got: ${got}`);
    got += new TextDecoder().decode(value);
  }
  reader.releaseLock();
}

describe.skipIf(!ready)("detached containers", () => {
  test("run -d returns at once; ps, inspect, wait, rm round trip", () => {
    // It runs until the test lets it end, however slow the machine.
    const cmd = "echo started; while [ ! -e /tmp/done ]; do sleep 0.05; done";
    const id = detached(["--name", "rt1"], cmd);
    let entry = psJson(false).find((e) => e.id === id)!;
    expect(entry).toMatchObject({ name: "rt1", status: "running" });
    expect(existsSync(`/proc/${entry.pid}`)).toBe(true);
    const inspect = JSON.parse(bunker(["inspect", "rt1"]).stdout)[0];
    expect(inspect).toMatchObject({ id, name: "rt1", status: "running", rootfs: suite.fs.path, command: ["sh", "-c", cmd] });
    expect(inspect.namespaces.pid).toBe(`/proc/${entry.pid}/ns/pid`);
    expect(bunker(["exec", "rt1", "touch", "/tmp/done"]).code).toBe(0);
    const w = bunker(["wait", id]);
    expect([w.stdout, w.code]).toEqual(["0\n", 0]);
    entry = psJson().find((e) => e.id === id)!;
    expect(entry).toMatchObject({ status: "stopped", exitCode: 0, pid: null });
    expect(psJson(false).some((e) => e.id === id)).toBe(false);
    expect(containerLog(STATE, id)).toBe("started\n");
    expect(bunker(["rm", "rt1"]).code).toBe(0);
    expect(existsSync(`${STATE}/${id}`)).toBe(false);
    expect(bunker(["inspect", id])).toMatchObject({ code: 1, stdout: "[]\n", stderr: `bunker: no such container: ${id}\n` });
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
    expect(bunker(["kill", id])).toMatchObject({ code: 1, stderr: `bunker: container ${id} is not running\n` });
    expect(bunker(["kill", "-s", "NOPE", id])).toMatchObject({ code: 125, stderr: 'bunker: unknown signal "NOPE"\n' });
    bunker(["rm", id]);
  });

  test("rm refuses a running container unless -f, which kills it first", () => {
    const id = detached(["--name", "busy"], "exec sleep 100");
    expect(bunker(["rm", "busy"])).toMatchObject({ code: 1, stderr: "bunker: container busy is running: stop it first, or use rm -f\n" });
    const pid = psJson().find((e) => e.id === id)!.pid!;
    expect(bunker(["rm", "-f", "busy"]).code).toBe(0);
    expect(existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ")).toBe(false);
    expect(existsSync(`${STATE}/${id}`)).toBe(false);
  });

  test("rm -f naming one container twice (name and id) removes it once and names both, also when its bunker was killed", async () => {
    const id = detached(["--name", "twice"], "exec sleep 100");
    // Its supervisor killed: rm then finishes for it, holding the container's lock.
    const st = JSON.parse(readFileSync(`${STATE}/${id}/state.json`, "utf8"));
    process.kill(st.supervisor, "SIGKILL");
    await until(() => !existsSync(`/proc/${st.pid}`) || readFileSync(`/proc/${st.pid}/stat`, "utf8").includes(") Z "), 5000, "the container to die with its bunker");
    const r = Bun.spawnSync([BUNKER, "rm", "-f", "twice", id], { stdout: "pipe", stderr: "pipe", timeout: 20_000 });
    expect([r.exitCode, r.stdout.toString(), r.stderr.toString()]).toEqual([0, `twice\n${id}\n`, ""]);
    expect(existsSync(`${STATE}/${id}`)).toBe(false);
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
    // It runs until told to end: its state is there for as long as the test looks.
    const id = detached(["--rm"], "while [ ! -e /tmp/go ]; do sleep 0.01; done");
    expect(existsSync(`${STATE}/${id}`)).toBe(true);
    writeFileSync(`/proc/${inspect(id).pid}/root/tmp/go`, "");
    await until(() => !existsSync(`${STATE}/${id}`), 5000, "the --rm container to be removed");
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
    // Started at least a clock tick (10 ms) before the container, so their start times differ.
    const uptime = () => Math.floor(Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]) * 100);
    await until(() => uptime() > startOf(other.pid) + 1, 5000, "a clock tick to pass");
    const id = detached([], "exec sleep 100");
    const statePath = `${STATE}/${id}/state.json`;
    const state = JSON.parse(readFileSync(statePath, "utf8"));
    // Point the state at the live, unrelated process: its start time differs, so not running.
    const forged = { ...state, pid: other.pid, supervisor: other.pid };
    await Bun.write(statePath, JSON.stringify(forged));
    expect(psJson().find((e) => e.id === id)!.status).toBe("stopped");
    expect(bunker(["kill", id]).code).toBe(1);
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

describe.skipIf(!ready)("a container that is still starting", () => {
  test("rm -f kills it and takes everything it had: process, cgroups, veth, lease, published port, state", async () => {
    const port = freePort();
    const a = await frozenMidStart("starting1", ["-p", `127.0.0.1:${port}:80`]);
    // The start is under way: the process exists, the address is leased and the port published, nothing runs yet.
    expect(alive(a.pid)).toBe(true);
    expect(psJson().find((e) => e.id === a.id)).toMatchObject({ status: "created" });
    const ip = a.state.network!.ip!;
    expect(leaseIds()).toContain(a.id);
    if (nft) expect(natElements()).toContain(`${port} : ${ip} . 80`);
    // A container started meanwhile gets an address of its own.
    const b = detached([], "exec sleep 100");
    expect(inspect(b).network.ip).not.toBe(ip);
    expect(bunker(["rm", "-f", "starting1"])).toMatchObject({ code: 0, stdout: "starting1\n", stderr: "" });
    expect(alive(a.pid)).toBe(false);
    expect(existsSync(`${STATE}/${a.id}`)).toBe(false);
    expect(linkOf("starting1")).toBeNull();
    expect([...cgroups()].filter((c) => c.endsWith(`/${a.id}`))).toEqual([]);
    expect(leaseIds()).not.toContain(a.id);
    expect(natElements()).not.toContain(`${port} : `);
    await until(() => !existsSync(`/sys/class/net/bk${a.id}`), 5000, "the veth to go");
    await a.proc.exited;
    // The freed address may go to the next container; no two living ones share one.
    const c = detached([], "exec sleep 100");
    expect(inspect(c).network.ip).not.toBe(inspect(b).network.ip);
    expect(bunker(["rm", "-f", b, c]).code).toBe(0);
  });

  test("stop sends it SIGTERM, then SIGKILL after the grace time; its end is recorded", async () => {
    const a = await frozenMidStart("starting2", []);
    const t0 = Date.now();
    expect(bunker(["stop", "-t", "1", "starting2"])).toMatchObject({ code: 0, stdout: "starting2\n" });
    // SIGTERM waits for the end of the set-up (here, forever): only the SIGKILL after the grace time ends it.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(alive(a.pid)).toBe(false);
    expect(psJson().find((e) => e.id === a.id)).toMatchObject({ status: "stopped", exitCode: 137 });
    await a.proc.exited;
    expect(bunker(["rm", "starting2"]).code).toBe(0);
    expect([...cgroups()].filter((c) => c.endsWith(`/${a.id}`))).toEqual([]);
    expect(leaseIds()).not.toContain(a.id);
  });

  test("kill reaches it", async () => {
    const a = await frozenMidStart("starting3", []);
    expect(bunker(["kill", "starting3"])).toMatchObject({ code: 0, stdout: "starting3\n" });
    await until(() => !alive(a.pid), 5000, "the starting container to die");
    await a.proc.exited;
    expect(bunker(["rm", "-f", "starting3"]).code).toBe(0);
  });

  test("its bunker killed mid-start: its address stays its own while its process lives, and rm -f undoes the start", async () => {
    const a = await frozenMidStart("starting4", []);
    const ip = a.state.network!.ip!;
    // Nobody is left to finish the start: its bunker, and the `run -d` that would clean up after it.
    a.proc.kill("SIGKILL");
    await a.proc.exited;
    process.kill(a.state.supervisor, "SIGKILL");
    await until(() => !alive(a.state.supervisor), 5000, "its bunker to die");
    // The v1 freezer holds even SIGKILL back: the process outlives its bunker (on v2 it dies with it).
    if (freezer(a.id)!.path.endsWith("/freezer.state")) {
      expect(alive(a.pid)).toBe(true);
      // ps and the next start must not take what a living process holds.
      expect(psJson().find((e) => e.id === a.id)).toMatchObject({ status: "created" });
      const b = detached([], "exec sleep 100");
      expect(inspect(b).network.ip).not.toBe(ip);
      expect(leaseIds()).toContain(a.id);
      expect(bunker(["rm", "-f", b]).code).toBe(0);
    }
    expect(bunker(["rm", "-f", "starting4"])).toMatchObject({ code: 0, stdout: "starting4\n", stderr: "" });
    expect(alive(a.pid)).toBe(false);
    expect(existsSync(`${STATE}/${a.id}`)).toBe(false);
    expect([...cgroups()].filter((c) => c.endsWith(`/${a.id}`))).toEqual([]);
    expect(leaseIds()).not.toContain(a.id);
    await until(() => !existsSync(`/sys/class/net/bk${a.id}`), 5000, "the veth to go");
  });

  test("rm -f of a start cut short after pinning its namespaces undoes the pins; pins of one that ran stay", async () => {
    const pinned = (dir: string) => readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.split(" ")[4]?.startsWith(`${dir}/`));
    for (const status of ["created", "running"]) {
      const dir = mkdtempSync("/tmp/bunker-pins-");
      // A process with namespaces of its own, pinned as `--pin` pins them.
      const target = Bun.spawn(["unshare", "--net", "--uts", "sleep", "60"]);
      await until(() => readlinkSync(`/proc/${target.pid}/ns/net`) !== readlinkSync("/proc/self/ns/net"), 5000, "the new namespaces");
      for (const t of ["net", "uts"]) {
        writeFileSync(`${dir}/${t}`, "");
        expect(Bun.spawnSync(["mount", "--bind", `/proc/${target.pid}/ns/${t}`, `${dir}/${t}`]).exitCode).toBe(0);
      }
      try {
        const dead = Bun.spawn(["sleep", "60"]);
        const deadStart = startOf(dead.pid);
        dead.kill("SIGKILL");
        await dead.exited;
        // Its bunker was killed after pinning: the process lives on, nobody finishes the start.
        // As --pin records them before pinning: the directory and the namespaces that are its own there.
        const namespaceIds = Object.fromEntries(["net", "uts"].map((t) => [t, readlinkSync(`/proc/${target.pid}/ns/${t}`)]));
        const id = plantState({ status, supervisor: dead.pid, supervisorStart: deadStart, pid: target.pid, pidStart: startOf(target.pid), pinned: [dir], namespaceIds });
        expect(pinned(dir).length).toBe(2);
        expect(bunker(["rm", "-f", id])).toMatchObject({ code: 0, stdout: `${id}\n`, stderr: "" });
        await target.exited;
        expect(target.signalCode).toBe("SIGKILL");
        // A start that never finished leaves no pins; a container that ran keeps those it was asked for.
        expect(pinned(dir).length).toBe(status === "created" ? 0 : 2);
        expect(existsSync(dir)).toBe(status !== "created");
      } finally {
        for (const t of ["net", "uts"]) Bun.spawnSync(["umount", "-l", `${dir}/${t}`]);
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  test("before its process is created, rm -f and kill wait for it, then signal it", async () => {
    for (const [cmd, signal] of [[["rm", "-f"], "SIGKILL"], [["kill", "-s", "USR1"], "SIGUSR1"]] as const) {
      const supervisor = Bun.spawn(["sleep", "60"]);
      const target = Bun.spawn(["sleep", "60"]);
      const id = plantState({ status: "created", supervisor: supervisor.pid, supervisorStart: startOf(supervisor.pid) });
      const proc = Bun.spawn([BUNKER, "--log-level", "debug", ...cmd, id], { stdout: "pipe", stderr: "pipe" });
      await stderrShows(proc, "is starting: waiting for its process to be created");
      expect(target.exitCode).toBeNull();
      // The start records its process, as bunker does right after clone.
      writeStateFile(id, { ...stateOf(id), pid: target.pid, pidStart: startOf(target.pid) });
      await target.exited;
      expect(target.signalCode).toBe(signal);
      // rm waits for the container's bunker to finish with it; this one has nothing to finish.
      supervisor.kill();
      expect(await proc.exited).toBe(0);
      expect(await new Response(proc.stdout).text()).toBe(`${id}\n`);
      if (cmd[0] === "kill") expect(bunker(["rm", id]).code).toBe(0);
      expect(existsSync(`${STATE}/${id}`)).toBe(false);
    }
  });

  test("a start that fails before creating its process: rm -f stops waiting and removes it", async () => {
    const supervisor = Bun.spawn(["sleep", "60"]);
    const id = plantState({ status: "created", supervisor: supervisor.pid, supervisorStart: startOf(supervisor.pid) });
    const proc = Bun.spawn([BUNKER, "--log-level", "debug", "rm", "-f", id], { stdout: "pipe", stderr: "pipe" });
    await stderrShows(proc, "is starting: waiting for its process to be created");
    supervisor.kill("SIGKILL");
    expect(await proc.exited).toBe(0);
    expect(existsSync(`${STATE}/${id}`)).toBe(false);
  });

  test("rm -f keeps the state, and says so, while the container's bunker has not finished with it", async () => {
    const supervisor = Bun.spawn(["sleep", "60"]);
    const target = Bun.spawn(["sleep", "60"]);
    const id = plantState({ status: "created", supervisor: supervisor.pid, supervisorStart: startOf(supervisor.pid), pid: target.pid, pidStart: startOf(target.pid) });
    const r = bunker(["rm", "-f", id]);
    expect(r).toMatchObject({ code: 1, stdout: "" });
    expect(r.stderr).toBe(`bunker: remove container ${id}: its bunker process ${supervisor.pid} has not finished with it after 10 s; its state is kept\n`);
    await target.exited;
    expect(target.signalCode).toBe("SIGKILL");
    expect(existsSync(`${STATE}/${id}/state.json`)).toBe(true);
    supervisor.kill();
    await supervisor.exited;
    expect(bunker(["rm", id]).code).toBe(0);
  }, 30_000);
});

describe.skipIf(!ready)("after bunker is killed", () => {
  test("a --rm container whose bunker was SIGKILLed is cleaned up by the next ps; without --rm it shows as exited", async () => {
    for (const [name, rm] of [["gone1", true], ["kept1", false]] as const) {
      const proc = Bun.spawn([BUNKER, "run", ...(rm ? ["--rm"] : []), "--name", name, "--rootfs", suite.fs.path, "--", "sh", "-c", "echo ready; exec sleep 1000"], { stdout: "pipe" });
      await proc.stdout.getReader().read();
      proc.kill("SIGKILL");
      await proc.exited;
    }
    // The container dies with its bunker (PR_SET_PDEATHSIG) a moment later.
    await until(() => psJson().find((e) => e.name === "kept1")?.status === "stopped", 5000, "kept1 to die with its bunker");
    const listed = psJson();
    expect(listed.some((e) => e.name === "gone1")).toBe(false);
    expect(listed.find((e) => e.name === "kept1")).toMatchObject({ status: "stopped", exitCode: null, killedWithSupervisor: true });
    expect(bunker(["ps", "-a"]).stdout).toMatch(/kept1 +Exited \(killed with its bunker process\)/);
    expect(inspect("kept1")).toMatchObject({ status: "stopped", killedWithSupervisor: true });
    expect(inspect("kept1").exitCode).toBeUndefined();
    // Recorded, so it stays known without the processes it was deduced from.
    expect(stateOf(inspect("kept1").id)).toMatchObject({ status: "stopped", killedWithSupervisor: true });
    expect(bunker(["wait", "kept1"])).toMatchObject({ code: 125, stderr: "bunker: container kept1 ended without a recorded status (its bunker process was killed)\n" });
    bunker(["rm", "kept1"]);
  });

  test("a detached container whose supervisor is SIGKILLed is recorded as killed with it; one that ends by itself is not", async () => {
    const id = detached(["--name", "supkill"], "exec sleep 100");
    const control = detached(["--name", "selfend"], "exit 0");
    const { pid, supervisor } = inspect(id);
    expect(alive(pid) && alive(supervisor)).toBe(true);
    process.kill(supervisor, "SIGKILL");
    await until(() => !alive(pid), 5000, "the container to die with its supervisor");
    expect(bunker(["wait", control]).code).toBe(0);
    const listed = psJson();
    expect(listed.find((e) => e.id === id)).toMatchObject({ status: "stopped", exitCode: null, killedWithSupervisor: true });
    expect(listed.find((e) => e.id === control)).toMatchObject({ status: "stopped", exitCode: 0, killedWithSupervisor: false });
    const table = bunker(["ps", "-a"]).stdout;
    expect(table).toMatch(/supkill +Exited \(killed with its bunker process\)/);
    expect(table).toMatch(/selfend +Exited \(0\)/);
    expect(inspect(id)).toMatchObject({ status: "stopped", killedWithSupervisor: true });
    expect(inspect(id).pid).toBeUndefined();
    expect(inspect(control)).toMatchObject({ killedWithSupervisor: false, exitCode: 0 });
    expect(bunker(["rm", id, control]).code).toBe(0);
  });
});

// --init's PID 1 is native/init.c, exec'd from memory once the command runs;
// with BUNKER_NATIVE=compile (as where the build had no compiler for it) it
// stays a copy of bunker. Both must reap, pass signals on and end with the command.
for (const [mode, extraEnv] of [
  ["the native init", {}],
  ["init as a copy of bunker", { BUNKER_NATIVE: "compile" }],
] as const) {
  describe.skipIf(!ready)(`--init (${mode})`, () => {
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", ...extraEnv };
    const run = (args: string[]) => bunker(args, { env });
    const start = (args: string[], cmd: string) => {
      const r = run(["run", "-d", ...args, "--rootfs", suite.fs.path, "--", "sh", "-c", cmd]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      return r.stdout.trim();
    };
    /** The container's processes as its own ps shows them: state and command line. */
    const procs = (id: string) =>
      bunker(["exec", id, "ps", "-o", "stat,args"]).stdout.split("\n").slice(1).filter(Boolean).map((l) => l.trim().split(/\s+/));
    const zombies = (id: string) => procs(id).filter(([stat]) => stat!.startsWith("Z")).length;
    /** The orphans are made and have exited: the shell has exec'd its last command, and no orphan still runs. */
    const orphansDone = (id: string) => {
      const p = procs(id);
      return p.some(([, ...args]) => args.join(" ") === "sleep 100") && !p.some(([stat, ...args]) => !stat!.startsWith("Z") && args.join(" ") === "sleep 0.05");
    };

    test("reaps orphans that a plain PID 1 would leave as zombies", async () => {
      const cmd = "(sleep 0.05 &); (sleep 0.05 &); exec sleep 100";
      const plain = start([], cmd);
      const withInit = start(["--init"], cmd);
      await until(() => zombies(plain) === 2, 5000, "the orphans to exit");
      expect(zombies(plain)).toBe(2);
      // Counted only once they have exited: before, none is a zombie with or without an init.
      await until(() => orphansDone(withInit), 5000, "the orphans under --init to exit");
      await until(() => zombies(withInit) === 0, 5000, "--init to reap them");
      bunker(["rm", "-f", plain, withInit]);
    });

    test("the exit status is the command's; signals reach a command that has no handler", async () => {
      expect(run(["run", "--rm", "--init", "--rootfs", suite.fs.path, "--", "sh", "-c", "exit 3"]).code).toBe(3);
      // A command that ends before init could exec its program still gives its status.
      expect(run(["run", "--rm", "--init", "--rootfs", suite.fs.path, "--", "false"]).code).toBe(1);
      const proc = Bun.spawn([BUNKER, "run", "--rm", "--init", "--rootfs", suite.fs.path, "--", "sh", "-c", "echo ready; exec sleep 100"], { stdout: "pipe", env });
      await proc.stdout.getReader().read();
      proc.kill("SIGTERM");
      // Without init, sleep as PID 1 would ignore SIGTERM.
      expect(await proc.exited).toBe(143);
    });

    test("PID 1 is named init, holds no descriptor, and stays small only when it is the native program", () => {
      const probe = "cat /proc/1/comm; ls /proc/1/fd | wc -l; sed -n 's/^VmRSS:[[:space:]]*//p' /proc/1/status";
      const r = run(["run", "--rm", "--init", "--rootfs", suite.fs.path, "--", "sh", "-c", mode === "the native init" ? `${NATIVE_INIT_READY}; ${probe}` : probe]);
      expect(r.stderr).toBe("");
      const [name, fds, rss] = r.stdout.trim().split("\n");
      expect([name, fds]).toEqual(["init", "0"]);
      const kib = Number(rss!.replace(/ kB$/, ""));
      // native/init.c is about 1 KiB of code with one page of stack; a copy of bunker holds megabytes.
      if (mode === "the native init") expect(kib).toBeLessThan(256);
      else expect(kib).toBeGreaterThan(1024);
    });
  });
}

const rootless = ready && existsSync("/usr/bin/setpriv");
if (ready && !rootless) console.warn("skipping rootless lifecycle tests: setpriv is missing");

describe.skipIf(!rootless)("rootless: a container that is still starting", () => {
  let user: TestUser;
  let bin: { path: string; dir: string };
  let fs: Rootfs;
  let fake: string;
  const go = () => join(fake, "go");

  beforeAll(() => {
    user = createUser("bunker-ci-starting", false);
    bin = publicBinary(BUNKER);
    fs = makeRootfs();
    giveRootfs(fs, user);
    fake = mkdtempSync(join(bin.dir, "fake-"));
    chmodSync(fake, 0o755);
    // Stands in for slirp4netns: reports ready (fd 3) only once the test allows, then lives until
    // bunker closes fd 4, as slirp4netns does. Until then the start stays under way.
    writeFileSync(
      join(fake, "slirp4netns"),
      `#!/bin/sh\nwhile [ ! -e ${go()} ]; do /bin/sleep 0.01; done\necho 1 >&3\nexec 3>&-\n/bin/cat <&4 >/dev/null\n`,
      { mode: 0o755 },
    );
  });

  afterAll(() => {
    fs.remove();
    rmSync(bin.dir, { recursive: true, force: true });
    removeUser(user);
  });

  const userState = () => `/tmp/bunker-${user.uid}`;
  const spawnAs = (args: string[]) =>
    Bun.spawn(["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups", bin.path, ...args], {
      env: { PATH: `${fake}:/usr/local/bin:/usr/bin:/bin` },
      cwd: bin.dir,
      stdout: "pipe",
      stderr: "pipe",
    });

  for (const how of [["stop", "-t", "1"], ["rm", "-f"]]) {
    test(`${how.join(" ")} ends it while its network helper is not ready`, async () => {
      rmSync(go(), { force: true });
      const run = spawnAs(["run", "-d", "--network", "slirp4netns", "--rootfs", fs.path, "--", "sleep", "100"]);
      let id = "";
      await until(() => {
        id = (existsSync(userState()) ? readdirSync(userState()) : []).find((e) => /^[0-9a-f]{12}$/.test(e)) ?? "";
        return id !== "" && existsSync(`${userState()}/${id}/state.json`) && stateOf(id, userState()).pid !== undefined;
      }, 10_000, "the rootless container to record its process");
      const state = stateOf(id, userState());
      // The start is under way, held by its helper: the process exists and has not run the command.
      expect(state.status).toBe("created");
      expect(alive(state.pid)).toBe(true);
      const cmd = spawnAs([...how, id]);
      try {
        await until(() => !alive(state.pid), 10_000, "the starting container to die");
      } finally {
        // The bunker that starts it finds out once the helper answers, and cleans up.
        writeFileSync(go(), "");
      }
      expect(await cmd.exited).toBe(0);
      expect(await new Response(cmd.stdout).text()).toBe(`${id}\n`);
      await run.exited;
      await until(() => !existsSync(`${userState()}/${id}`) || stateOf(id, userState()).status === "stopped", 5000, "the start to be cleaned up");
      if (existsSync(`${userState()}/${id}`)) expect(await spawnAs(["rm", id]).exited).toBe(0);
    });
  }
});
