// Containers' state under faults and concurrency: what a bunker killed at a
// bad moment leaves in the state directory, damaged state files, and
// listings beside containers that come and go. Root and rootless.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { LEASES, leaseIds, linkOf, STATE } from "../helpers/hoststate";
import { alive, bunker, BUNKER, isRoot, until, type Result } from "../helpers/bunker";
import { cgroups } from "../helpers/leaks";
import { busyboxAvailable, makeRootfs, type Rootfs, giveRootfs } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";
import { createUser, publicBinary, removeUser, runAs, type TestUser } from "../helpers/users";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn(`skipping state tests: ${isRoot ? "busybox-static is not installed" : "they need root"}`);

const suite = containerSuite(ready);


function startOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
}

/** A process that has gone, as pid and start time: what a bunker killed mid-way is to the next one. */
async function deadProcess(): Promise<{ pid: number; start: number }> {
  const p = Bun.spawn(["sleep", "60"]);
  const start = startOf(p.pid);
  p.kill("SIGKILL");
  await p.exited;
  return { pid: p.pid, start };
}

const randomId = () => Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, "0")).join("");

/** Whether anything (a symlink included, dangling or not) is at `path`. */
const present = (path: string) => {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
};


/** Every command that lists or resolves containers, against a state directory with a damaged entry: none may fail. */
function listings(run: (args: string[]) => Result) {
  return {
    ps: run(["ps"]),
    psAll: run(["ps", "-a"]),
    psJson: run(["ps", "-a", "--json"]),
    psQuiet: run(["ps", "-a", "-q"]),
    stats: run(["stats", "--no-stream"]),
    statsJson: run(["stats", "--no-stream", "--json"]),
  };
}

/** Plants what a killed bunker leaves under `dir` (a state directory), made by the dead process `by`. */
function plantLeftovers(dir: string, by: { pid: number; start: number }, owner?: TestUser) {
  const tag = `${by.pid}-${by.start}`;
  // Killed right after making the directory it builds a container in.
  const bare = `${dir}/.new-${randomId()}-${tag}`;
  mkdirSync(bare, { mode: 0o700 });
  // Killed after writing the first state and claiming the name, before renaming it into place.
  const namedId = randomId();
  const named = `${dir}/.new-${namedId}-${tag}`;
  mkdirSync(named, { mode: 0o700 });
  writeFileSync(`${named}/state.json`, JSON.stringify({ id: namedId, name: "halfmade" }));
  writeFileSync(`${named}/state.json.${by.pid}.tmp`, "{");
  mkdirSync(`${dir}/names`, { recursive: true, mode: 0o700 });
  symlinkSync(namedId, `${dir}/names/halfmade`);
  // Killed while removing a container: renamed away, partly emptied, its name not yet released.
  const goneId = randomId();
  const gone = `${dir}/.gone-${goneId}-${tag}`;
  mkdirSync(gone, { mode: 0o700 });
  writeFileSync(`${gone}/lock`, "");
  writeFileSync(`${gone}/output.log`, "bye\n");
  symlinkSync(goneId, `${dir}/names/halfgone`);
  const paths = [bare, named, `${dir}/names/halfmade`, gone, `${dir}/names/halfgone`];
  if (owner) for (const p of [...paths, `${dir}/names`]) Bun.spawnSync(["chown", "-h", "-R", `${owner.uid}:${owner.gid}`, p]);
  return paths;
}

describe.skipIf(!ready)("what a killed bunker leaves", () => {
  for (const next of ["ps", "run", "rm"]) {
    test(`the next ${next} clears half-made and half-removed containers, and frees the names they held`, async () => {
      // The state directory, as bunker makes it.
      expect(bunker(["ps"]).code).toBe(0);
      const paths = plantLeftovers(STATE, await deadProcess());
      // Control: the same, by a live process, is a container being made right now and stays.
      const maker = Bun.spawn(["sleep", "60"]);
      const liveId = randomId();
      const live = `${STATE}/.new-${liveId}-${maker.pid}-${startOf(maker.pid)}`;
      mkdirSync(live, { mode: 0o700 });
      symlinkSync(liveId, `${STATE}/names/inthemaking`);
      const r =
        next === "ps"
          ? bunker(["ps", "-a"])
          : next === "run"
            ? bunker(["run", "--rm", "--network", "none", "--rootfs", suite.fs.path, "--", "true"])
            : bunker(["rm", "-f", "nosuchcontainer"]);
      expect(r.code).toBe(next === "rm" ? 1 : 0);
      for (const p of paths) expect([p, present(p)]).toEqual([p, false]);
      expect(existsSync(live)).toBe(true);
      expect(bunker(["run", "--rm", "--name", "inthemaking", "--network", "none", "--rootfs", suite.fs.path, "--", "true"])).toMatchObject({
        code: 125,
        stderr: `bunker: the name "inthemaking" is already in use by container ${liveId}: remove it first (bunker rm inthemaking)\n`,
      });
      // The names the dead ones held are free again.
      for (const name of ["halfmade", "halfgone"]) expect(bunker(["run", "--rm", "--name", name, "--network", "none", "--rootfs", suite.fs.path, "--", "true"]).code).toBe(0);
      maker.kill();
      await maker.exited;
      rmSync(live, { recursive: true });
      rmSync(`${STATE}/names/inthemaking`);
    });
  }

  test("temporary files of a state and of a lease that were never renamed are cleared by the next ps; the container is untouched", async () => {
    const dead = await deadProcess();
    const id = bunker(["run", "-d", "--name", "withtmp", "--rootfs", suite.fs.path, "--", "sleep", "100"]).stdout.trim();
    const stateTmp = `${STATE}/${id}/state.json.${dead.pid}.tmp`;
    const leaseTmp = `${LEASES}/10.255.255.254.json.${dead.pid}.tmp`;
    writeFileSync(stateTmp, '{"id":');
    writeFileSync(leaseTmp, '{"ip":');
    const before = readFileSync(`${STATE}/${id}/state.json`, "utf8");
    expect(bunker(["ps", "-a"]).code).toBe(0);
    expect(existsSync(stateTmp)).toBe(false);
    expect(existsSync(leaseTmp)).toBe(false);
    expect(readFileSync(`${STATE}/${id}/state.json`, "utf8")).toBe(before);
    expect(JSON.parse(bunker(["ps", "--json"]).stdout).find((e: { id: string }) => e.id === id)).toMatchObject({ status: "running" });
    expect(bunker(["rm", "-f", id]).code).toBe(0);
  });

  test("a container directory without state.json (as an older bunker killed mid-start leaves it) is listed as damaged and rm -f removes it", () => {
    const id = randomId();
    mkdirSync(`${STATE}/${id}`, { mode: 0o700 });
    const all = bunker(["ps", "-a"]);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(new RegExp(`^${id} +Damaged: it has no state.json$`, "m"));
    expect(bunker(["rm", id])).toMatchObject({ code: 1, stderr: `bunker: container ${id} is damaged (it has no state.json): remove it with bunker rm -f ${id}\n` });
    expect(existsSync(`${STATE}/${id}`)).toBe(true);
    expect(bunker(["rm", "-f", id])).toMatchObject({ code: 0, stdout: `${id}\n` });
    expect(existsSync(`${STATE}/${id}`)).toBe(false);
  });
});

describe.skipIf(!ready)("damaged state", () => {
  const damages: [string, (real: Record<string, unknown>, id: string) => string | null, RegExp][] = [
    ["truncated", (_r, id) => readFileSync(`${STATE}/${id}/state.json`, "utf8").slice(0, 100), /state\.json is not valid JSON/],
    ["garbage", () => "\u0000\u00ff\u0001 not json", /state\.json is not valid JSON/],
    ["empty", () => "", /state\.json is empty/],
    ["an empty object", () => "{}", /state\.json has no id/],
    ["an array", () => "[]", /state\.json is not a JSON object/],
    ["null", () => "null", /state\.json is not a JSON object/],
    ["another container's id", (r) => JSON.stringify({ ...r, id: "0123456789ab" }), /state\.json is the state of container "0123456789ab"/],
    ["a command that is not a list", (r) => JSON.stringify({ ...r, command: "sh" }), /state\.json has no command/],
    ["a cgroup not its own", (r) => JSON.stringify({ ...r, cgroup: { dirs: [{ path: "/sys/fs/cgroup/memory", version: 1, controllers: ["memory"] }] } }), /state\.json has invalid cgroups/],
    ["a directory", () => null, /state\.json is a dir, not a file/],
  ];
  for (const [kind, damage, problem] of damages) {
    test(`state.json with ${kind}: listed as damaged, nothing crashes, rm refuses it, rm -f removes it and frees its name`, () => {
      const r = bunker(["run", "--name", "damaged1", "--rootfs", suite.fs.path, "--", "true"]);
      expect(r.code).toBe(0);
      const id = readlinkSync(`${STATE}/names/damaged1`);
      const real = JSON.parse(readFileSync(`${STATE}/${id}/state.json`, "utf8"));
      const text = damage(real, id);
      if (text === null) {
        rmSync(`${STATE}/${id}/state.json`);
        mkdirSync(`${STATE}/${id}/state.json`);
      } else {
        writeFileSync(`${STATE}/${id}/state.json.test`, text);
        renameSync(`${STATE}/${id}/state.json.test`, `${STATE}/${id}/state.json`);
      }
      const out = listings((args) => bunker(args));
      for (const [what, res] of Object.entries(out)) expect([what, res.code, res.stderr]).toEqual([what, 0, ""]);
      expect(out.psAll.stdout).toMatch(new RegExp(`^${id} +damaged1 +Damaged: `, "m"));
      expect(out.psAll.stdout).toMatch(problem);
      expect(out.ps.stdout).not.toContain(id);
      expect(out.psQuiet.stdout.split("\n")).toContain(id);
      expect(JSON.parse(out.psJson.stdout).find((e: { id: string }) => e.id === id)).toMatchObject({ id, name: "damaged1", status: "damaged" });
      const inspect = bunker(["inspect", "damaged1"]);
      expect(inspect.code).toBe(0);
      expect(JSON.parse(inspect.stdout)[0]).toMatchObject({ id, name: "damaged1", status: "damaged", damaged: true });
      expect(JSON.parse(inspect.stdout)[0].problem).toMatch(problem);
      expect(bunker(["wait", "damaged1"])).toMatchObject({ code: 125 });
      const refused = bunker(["rm", "damaged1"]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^bunker: container damaged1 is damaged \(.*\): remove it with bunker rm -f damaged1\n$/);
      expect(existsSync(`${STATE}/${id}`)).toBe(true);
      expect(bunker(["rm", "-f", "damaged1"])).toMatchObject({ code: 0, stdout: "damaged1\n", stderr: "" });
      expect(existsSync(`${STATE}/${id}`)).toBe(false);
      expect(readdirSync(STATE).filter((e) => e.includes(id))).toEqual([]);
      expect(linkOf("damaged1", STATE)).toBeNull();
    });
  }

  test("a running container with damaged state keeps its process, address and cgroups until rm -f, which takes them all", async () => {
    const id = bunker(["run", "-d", "--name", "damagedrun", "--rootfs", suite.fs.path, "--", "sleep", "100"]).stdout.trim();
    const { pid, network } = JSON.parse(bunker(["inspect", id]).stdout)[0];
    const own = () => [...cgroups()].filter((c) => c.endsWith(`/${id}`));
    expect(own().length).toBeGreaterThan(0);
    writeFileSync(`${STATE}/${id}/state.json`, "{}");
    for (const [what, res] of Object.entries(listings((args) => bunker(args)))) expect([what, res.code, res.stderr]).toEqual([what, 0, ""]);
    // Nothing is known of its processes: nothing of it is taken while they may live.
    expect(alive(pid)).toBe(true);
    expect(leaseIds()).toContain(id);
    const other = bunker(["run", "-d", "--rootfs", suite.fs.path, "--", "sleep", "100"]).stdout.trim();
    expect(JSON.parse(bunker(["inspect", other]).stdout)[0].network.ip).not.toBe(network.ip);
    expect(bunker(["rm", "-f", "damagedrun"])).toMatchObject({ code: 0, stdout: "damagedrun\n", stderr: "" });
    expect(alive(pid)).toBe(false);
    expect(own()).toEqual([]);
    expect(leaseIds()).not.toContain(id);
    await until(() => !existsSync(`/sys/class/net/bk${id}`), 5000, "the veth to go");
    expect(existsSync(`${STATE}/${id}`)).toBe(false);
    expect(linkOf("damagedrun", STATE)).toBeNull();
    expect(bunker(["rm", "-f", other]).code).toBe(0);
  });
});

describe.skipIf(!ready)("containers coming and going under a listing", () => {
  test("ps, stats and inspect never fail while other containers are run and removed", async () => {
    const failures: string[] = [];
    const check = async (args: string[]) => {
      const p = Bun.spawn([BUNKER, ...args], { stdout: "pipe", stderr: "pipe" });
      const [code, stderr] = await Promise.all([p.exited, new Response(p.stderr).text()]);
      if (code !== 0 || stderr !== "") failures.push(`${args.join(" ")}: ${code} ${stderr.trim()}`);
    };
    let running = true;
    const churn = async (n: number) => {
      for (let i = 0; i < n; i++) await check(["run", "--rm", "--rootfs", suite.fs.path, "--", "true"]);
    };
    const list = async (args: string[], counter: { n: number }) => {
      while (running) {
        await check(args);
        counter.n++;
      }
    };
    const ps = { n: 0 };
    const psJson = { n: 0 };
    const stats = { n: 0 };
    const listers = [list(["ps", "-a"], ps), list(["ps", "-a", "--json"], psJson), list(["stats", "--no-stream"], stats)];
    await Promise.all([churn(15), churn(15)]);
    running = false;
    await Promise.all(listers);
    expect(failures).toEqual([]);
    // Enough listings overlapped the 30 removals to have met them.
    expect(ps.n + psJson.n).toBeGreaterThanOrEqual(20);
    expect(stats.n).toBeGreaterThanOrEqual(2);
  }, 60_000);
});

const rootless = ready && existsSync("/usr/bin/setpriv");
if (ready && !rootless) console.warn("skipping rootless state tests: setpriv is missing");

describe.skipIf(!rootless)("rootless", () => {
  let user: TestUser;
  let bin: { path: string; dir: string };
  let fs: Rootfs;
  beforeAll(() => {
    user = createUser("bunker-ci-state", false);
    bin = publicBinary(BUNKER);
    fs = makeRootfs();
    giveRootfs(fs, user);
  });
  afterAll(() => {
    fs.remove();
    rmSync(bin.dir, { recursive: true, force: true });
    removeUser(user);
  });
  const as = (args: string[]) => runAs(user, [bin.path, ...args], {}, bin.dir);
  const dir = () => `/tmp/bunker-${user.uid}`;

  test("the next ps clears what a killed bunker left in the user's state directory", async () => {
    expect(as(["ps"]).code).toBe(0);
    const paths = plantLeftovers(dir(), await deadProcess(), user);
    expect(as(["ps", "-a"])).toMatchObject({ code: 0, stderr: "" });
    for (const p of paths) expect([p, present(p)]).toEqual([p, false]);
    expect(as(["run", "--rm", "--name", "halfmade", "--network", "none", "--rootfs", fs.path, "--", "true"]).code).toBe(0);
  });

  test("a full state directory: run fails with one line and leaves no trace; the next run works once there is room", () => {
    const mnt = `${bin.dir}/full`;
    mkdirSync(mnt);
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=4m,mode=0700,uid=${user.uid},gid=${user.gid}`, "tmpfs", mnt]).exitCode).toBe(0);
    try {
      const env = { XDG_RUNTIME_DIR: mnt };
      expect(runAs(user, ["dd", "if=/dev/zero", `of=${mnt}/fill`, "bs=64k", "count=100"]).code).not.toBe(0);
      const r = runAs(user, [bin.path, "run", "--name", "nospace", "--network", "none", "--rootfs", fs.path, "--", "true"], env, bin.dir);
      expect(r.code).toBe(125);
      // (A user without subordinate ranges is also warned that one ID is mapped.)
      expect(r.stderr.split("\n").filter((l) => l.startsWith("bunker: "))).toEqual([expect.stringMatching(new RegExp(`^bunker: record container [0-9a-f]{12} in ${mnt}/bunker: .*: No space left on device$`))]);
      // Nothing half-made: no directory, no temporary file, the name not taken.
      expect(readdirSync(`${mnt}/bunker`).filter((e) => e !== "names")).toEqual([]);
      expect(linkOf("nospace", `${mnt}/bunker`)).toBeNull();
      rmSync(`${mnt}/fill`);
      expect(runAs(user, [bin.path, "run", "--rm", "--name", "nospace", "--network", "none", "--rootfs", fs.path, "--", "true"], env, bin.dir).code).toBe(0);
    } finally {
      Bun.spawnSync(["umount", mnt]);
    }
  });

  test("a damaged state: listed as such, nothing crashes, rm -f removes it", () => {
    expect(as(["run", "--name", "udamaged", "--network", "none", "--rootfs", fs.path, "--", "true"]).code).toBe(0);
    const id = readlinkSync(`${dir()}/names/udamaged`);
    writeFileSync(`${dir()}/${id}/state.json`, "{}");
    chownSync(`${dir()}/${id}/state.json`, user.uid, user.gid);
    const out = listings(as);
    for (const [what, res] of Object.entries(out)) expect([what, res.code, res.stderr]).toEqual([what, 0, ""]);
    expect(out.psAll.stdout).toMatch(new RegExp(`^${id} +udamaged +Damaged: `, "m"));
    expect(as(["rm", "udamaged"]).code).toBe(1);
    expect(as(["rm", "-f", "udamaged"])).toMatchObject({ code: 0, stdout: "udamaged\n" });
    expect(existsSync(`${dir()}/${id}`)).toBe(false);
    expect(linkOf("udamaged", dir())).toBeNull();
  });
});
