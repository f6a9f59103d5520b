// bunker events: what happens to containers, as each bunker process that
// causes it appends it to events.log in its state directory (root's or the
// user's own), read back in docker's text, JSON and template forms, in time
// windows, filtered, and followed as it grows; whole lines from concurrent
// writers; nothing of root's for another user; and a hostile events file
// (a symlink, a FIFO, someone else's file, a huge line) neither followed,
// nor waited on, nor believed.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { chownSync, existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { bunker, BUNKER, isRoot, until } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";
import { runAs } from "../helpers/users";
import { userSuite } from "../helpers/user-suite";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn("skipping the events tests: they need root and busybox-static");

const suite = containerSuite(ready);
const LOG = "/run/bunker/events.log";

/** Now, in nanoseconds since the epoch. */
const nowNs = () => BigInt(Date.now()) * 1_000_000n;
/** A time as --since and --until take a Unix time: seconds and nanoseconds. */
const unix = (ns: bigint) => `${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, "0")}`;
/** docker's form of an event's time, in UTC. */
const stamp = (ns: bigint) => `${new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19)}.${String(ns % 1_000_000_000n).padStart(9, "0")}Z`;

const run = (args: string[], cmd: string) => bunker(["run", "--network", "none", ...args, "--rootfs", suite.fs.path, "--", "sh", "-c", cmd]);

interface Event {
  status?: string;
  id?: string;
  from?: string;
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: string;
  time: number;
  /** Exactly, from the line's text (JSON.parse rounds it). */
  nanos: bigint;
}

/** Past events from `since` to now, as --format json gives them. */
function past(since: bigint, ...filters: string[]): Event[] {
  const r = bunker(["events", "--since", unix(since), "--until", "0s", ...filters.flatMap((f) => ["--filter", f]), "--format", "json"]);
  expect([r.code, r.stderr]).toEqual([0, ""]);
  return r.stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => ({ ...JSON.parse(l), nanos: BigInt(/"timeNano":(\d+)\}$/.exec(l)![1]!) }));
}

const actions = (es: Event[]) => es.map((e) => e.Action);

describe.skipIf(!ready)("bunker events", () => {
  test("a container whose bunker was killed dies with it: the next command records die (137) and, with restart policies, nothing more", async () => {
    const t0 = nowNs();
    expect(run(["-d", "--name", "ev-orphan"], "sleep 100").code).toBe(0);
    const [st] = JSON.parse(bunker(["inspect", "ev-orphan"]).stdout);
    process.kill(st.supervisor, "SIGKILL");
    await until(() => JSON.parse(bunker(["inspect", "ev-orphan"]).stdout)[0].status === "stopped", 5000, "its end, as the next command finds it");
    expect(bunker(["ps", "-a"]).stdout).toMatch(/ev-orphan +Exited \(killed with its bunker process\)/);
    const es = past(t0, "container=ev-orphan");
    expect(actions(es)).toEqual(["create", "start", "die"]);
    expect(es[2]!.Actor.Attributes.exitCode).toBe("137");
    expect(bunker(["rm", "ev-orphan"]).code).toBe(0);
  });

  test("a container's life: create, start, die, destroy, in order, with docker's fields, in text, JSON and template forms", () => {
    const t0 = nowNs();
    const r = run(["--rm", "--name", "ev-life", "--label", "tier=web"], "exit 3");
    expect(r.code).toBe(3);
    const es = past(t0, "container=ev-life");
    expect(actions(es)).toEqual(["create", "start", "die", "destroy"]);
    const id = es[0]!.Actor.ID;
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    for (const e of es) {
      expect(e).toMatchObject({ status: e.Action, id, from: suite.fs.path, Type: "container", scope: "local" });
      expect(e.Actor.ID).toBe(id);
      const attrs = { image: suite.fs.path, name: "ev-life", tier: "web", ...(e.Action === "die" ? { exitCode: "3" } : {}) };
      expect(e.Actor.Attributes).toEqual(attrs);
      // Nanoseconds, exact, and the seconds they make.
      expect(String(e.nanos)).toMatch(/^\d{19}$/);
      expect(e.time).toBe(Number(e.nanos / 1_000_000_000n));
      expect(e.nanos >= t0).toBe(true);
    }
    for (let i = 1; i < es.length; i++) expect(es[i]!.nanos >= es[i - 1]!.nanos).toBe(true);
    // docker's line: time, type, action, id, then the attributes sorted.
    const text = bunker(["events", "--since", unix(t0), "--until", "0s", "--filter", `container=${id}`]);
    // docker's other name for it.
    expect(bunker(["system", "events", "--since", unix(t0), "--until", "0s", "--filter", `container=${id}`])).toEqual(text);
    expect(text.stdout.split("\n")[2]).toBe(`${stamp(es[2]!.nanos)} container die ${id} (exitCode=3, image=${suite.fs.path}, name=ev-life, tier=web)`);
    const tpl = bunker(["events", "--since", unix(t0), "--until", "0s", "--filter", "container=ev-life", "--format", "{{.Status}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}\\t{{json .Actor.Attributes.tier}}"]);
    expect(tpl.stdout).toBe(`create ev-life <no value>\t"web"\nstart ev-life <no value>\t"web"\ndie ev-life 3\t"web"\ndestroy ev-life <no value>\t"web"\n`);
    // A field an event does not have is refused before anything is read.
    const bad = bunker(["events", "--until", "0s", "--format", "{{.Stauts}}"]);
    expect([bad.code, bad.stderr]).toEqual([125, "bunker: --format: {{.Stauts}}: an event has no field Stauts: did you mean .Status?\n"]);
  });

  test("a detached container's exec, pause, unpause, rename, stop (kill, die, stop) and rm, each in its place", () => {
    const t0 = nowNs();
    const d = run(["-d", "--name", "ev-ops"], "trap 'exit 0' TERM; while :; do sleep 0.1; done");
    expect([d.code, d.stderr]).toEqual([0, ""]);
    const id = d.stdout.trim();
    expect(bunker(["exec", "ev-ops", "sh", "-c", "exit 4"]).code).toBe(4);
    // One that never starts ends too: with its status.
    expect(bunker(["exec", "ev-ops", "no-such-command"]).code).toBe(127);
    for (const args of [["pause", "ev-ops"], ["unpause", "ev-ops"], ["rename", "ev-ops", "ev-ops2"], ["stop", "ev-ops2"], ["rm", "ev-ops2"]]) expect(bunker(args)).toMatchObject({ code: 0, stderr: "" });
    const es = past(t0, `container=${id}`);
    expect(actions(es)).toEqual([
      "create",
      "start",
      "exec_create: sh -c exit 4",
      "exec_start: sh -c exit 4",
      "exec_die",
      "exec_create: no-such-command",
      "exec_start: no-such-command",
      "exec_die",
      "pause",
      "unpause",
      "rename",
      "kill",
      "die",
      "stop",
      "destroy",
    ]);
    const execs = es.slice(2, 5).map((e) => e.Actor.Attributes.execID);
    expect(execs[0]).toMatch(/^[0-9a-f]+$/);
    expect(new Set(execs).size).toBe(1);
    expect(es[4]!.Actor.Attributes.exitCode).toBe("4");
    expect(es[5]!.Actor.Attributes.execID).not.toBe(execs[0]);
    expect(es[7]!.Actor.Attributes.exitCode).toBe("127");
    expect(es[10]!.Actor.Attributes).toMatchObject({ name: "ev-ops2", oldName: "ev-ops" });
    expect(es[11]!.Actor.Attributes.signal).toBe("15");
    // Its end recorded by the process that waited for it, whichever that was.
    expect(es[12]!.Actor.Attributes).toMatchObject({ exitCode: "0", name: "ev-ops2" });
    // event= filters by the action's name, exec_start taking "exec_start: CMD" too.
    expect(actions(past(t0, `container=${id}`, "event=exec_start", "event=stop"))).toEqual(["exec_start: sh -c exit 4", "exec_start: no-such-command", "stop"]);
  });

  test("an out-of-memory kill gives oom before die (foreground and detached); a plain SIGKILL gives no oom", () => {
    const t0 = nowNs();
    expect(run(["--rm", "--name", "ev-oom", "-m", "16m"], "x=a; while :; do x=$x$x; done").code).toBe(137);
    const d = run(["-d", "--name", "ev-oom-d", "-m", "16m"], "x=a; while :; do x=$x$x; done");
    expect(d.code).toBe(0);
    expect(bunker(["wait", "ev-oom-d"]).stdout).toBe("137\n");
    expect(bunker(["rm", "ev-oom-d"]).code).toBe(0);
    // The control: killed by a signal, with no memory pressure.
    expect(run(["--rm", "--name", "ev-kill9", "-m", "64m"], "sleep 30 & kill -9 $!; wait $!").code).toBe(137);
    const of = (name: string) => past(t0, `container=${name}`).map((e) => `${e.Action}${e.Actor.Attributes.exitCode ? ` ${e.Actor.Attributes.exitCode}` : ""}`);
    expect(of("ev-oom")).toEqual(["create", "start", "oom", "die 137", "destroy"]);
    expect(of("ev-oom-d")).toEqual(["create", "start", "oom", "die 137", "destroy"]);
    expect(of("ev-kill9")).toEqual(["create", "start", "die 137", "destroy"]);
  });

  test("--since and --until choose a window (Unix times, RFC 3339, durations); an --until to come ends the stream then", async () => {
    const t0 = nowNs();
    // A name of this run's own: --since 1h reaches back past this test.
    const name = `ev-win-${process.pid}-${Date.now()}`;
    expect(run(["--rm", "--name", name], "true").code).toBe(0);
    const es = past(t0, `container=${name}`);
    expect(actions(es)).toEqual(["create", "start", "die", "destroy"]);
    const [, start, die] = es as [Event, Event, Event, Event];
    const window = (since: string, until: string) => bunker(["events", "--since", since, "--until", until, "--filter", `container=${name}`, "--format", "{{.Action}}"]).stdout;
    // Both ends belong to the window.
    expect(window(unix(start.nanos), unix(die.nanos))).toBe("start\ndie\n");
    expect(window(stamp(start.nanos), stamp(die.nanos))).toBe("start\ndie\n");
    expect(window(unix(die.nanos + 1n), "0s")).toBe("destroy\n");
    expect(window("1h", "0s")).toBe("create\nstart\ndie\ndestroy\n");
    expect(window("0s", "0s")).toBe("");
    const bad = bunker(["events", "--since", "yesterday"]);
    expect([bad.code, bad.stderr]).toEqual([125, "bunker: --since yesterday: not a time (use 2026-11-30T10:00:00Z, a Unix time, or a duration such as 10m)\n"]);
    // An --until 3 s ahead: what happens before it is shown, then the command ends by itself.
    const end = nowNs() + 3_000_000_000n;
    const follower = Bun.spawn([BUNKER, "events", "--until", unix(end), "--filter", `container=${name}-2`, "--format", "{{.Action}}"], { stdout: "pipe", stderr: "pipe" });
    await until(() => listening(follower.pid), 5000, "the follower to open the events log");
    expect(run(["--rm", "--name", `${name}-2`], "true").code).toBe(0);
    const code = await follower.exited;
    expect(nowNs() >= end).toBe(true);
    expect([code, await new Response(follower.stdout).text()]).toEqual([0, "create\nstart\ndie\ndestroy\n"]);
  });

  test("filters: container (name, id), event, type, label, image; one key's values widen, different keys narrow; bad ones are named", () => {
    const t0 = nowNs();
    expect(run(["--rm", "--name", "ev-fa", "--label", "team=a", "--label", "solo"], "true").code).toBe(0);
    expect(run(["--rm", "--name", "ev-fb", "--label", "team=b"], "true").code).toBe(0);
    const names = (...f: string[]) => past(t0, ...f).filter((e) => e.Actor.Attributes.name?.startsWith("ev-f")).map((e) => `${e.Actor.Attributes.name} ${e.Action}`);
    expect(names("event=die")).toEqual(["ev-fa die", "ev-fb die"]);
    expect(names("event=create", "event=destroy", "container=ev-fb")).toEqual(["ev-fb create", "ev-fb destroy"]);
    const idA = past(t0, "container=ev-fa")[0]!.Actor.ID;
    expect(names(`container=${idA}`, "event=start")).toEqual(["ev-fa start"]);
    expect(names("label=team=b", "event=die")).toEqual(["ev-fb die"]);
    expect(names("label=solo", "event=die")).toEqual(["ev-fa die"]);
    expect(names("label=team", "event=die")).toEqual(["ev-fa die", "ev-fb die"]);
    expect(names(`image=${suite.fs.path}`, "event=die")).toEqual(["ev-fa die", "ev-fb die"]);
    expect(names("image=alpine", "event=die")).toEqual([]);
    expect(names("type=container", "event=die")).toEqual(["ev-fa die", "ev-fb die"]);
    expect(names("type=image")).toEqual([]);
    for (const [f, why] of [
      ["evnt=die", 'unknown key "evnt": did you mean event?'],
      ["event=dei", 'unknown event "dei": did you mean die?'],
      ["type=containr", "type is one of container, image, volume, network: did you mean container?"],
      ["die", "use KEY=VALUE (keys: container, event, image, label, network, type, volume)"],
    ]) {
      const r = bunker(["events", "--until", "0s", "--filter", f!]);
      expect([r.code, r.stderr]).toEqual([125, `bunker: events: --filter ${f}: ${why}\n`]);
    }
  });

  test("following: an event that happens after it started is shown as it happens", async () => {
    const follower = Bun.spawn([BUNKER, "events", "--filter", "container=ev-follow", "--format", "{{.Action}} {{.Actor.Attributes.exitCode}}"], { stdout: "pipe", stderr: "pipe" });
    try {
      await until(() => listening(follower.pid), 5000, "the follower to open the events log");
      expect(run(["--rm", "--name", "ev-follow"], "exit 7").code).toBe(7);
      let out = "";
      const reader = follower.stdout.getReader();
      const deadline = Date.now() + 5000;
      while (!out.includes("destroy") && Date.now() < deadline) {
        const { value, done } = await Promise.race([reader.read(), Bun.sleep(deadline - Date.now()).then(() => ({ value: undefined, done: true }))]);
        if (done) break;
        out += new TextDecoder().decode(value);
      }
      expect(out).toBe("create <no value>\nstart <no value>\ndie 7\ndestroy <no value>\n");
      // Still following: it ends only when told.
      expect(follower.exitCode).toBeNull();
    } finally {
      follower.kill("SIGKILL");
      await follower.exited;
    }
  });

  test("an image's import, tag, save, untag, delete and load; a container of it names it, and image= finds both", () => {
    const dir = mkdtempSync("/var/tmp/bunker-events-");
    // The copy driver: what the events say does not depend on how the root is made, and it works on any file system.
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", BUNKER_STORAGE: join(dir, "store"), BUNKER_STORAGE_DRIVER: "copy" };
    const b = (args: string[]) => {
      const r = bunker(args, { env });
      expect([args, r.code, r.stderr]).toEqual([args, 0, ""]);
      return r.stdout;
    };
    try {
      const t0 = nowNs();
      expect(Bun.spawnSync(["tar", "-C", suite.fs.path, "--numeric-owner", "-cf", join(dir, "fs.tar"), "."]).exitCode).toBe(0);
      const id = b(["import", join(dir, "fs.tar"), "ev-img:1"]).trim();
      expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
      b(["tag", "ev-img:1", "ev-img:2"]);
      b(["run", "--rm", "--network", "none", "ev-img:1", "true"]);
      b(["save", "-o", join(dir, "img.tar"), "ev-img:1"]);
      b(["rmi", "ev-img:2"]);
      b(["rmi", "ev-img:1"]);
      b(["load", "-q", "-i", join(dir, "img.tar")]);
      b(["rmi", "ev-img:1"]);
      const images = past(t0, "type=image").map((e) => `${e.Action} ${e.Actor.ID} ${e.Actor.Attributes.name ?? "-"}`);
      expect(images).toEqual([`import ${id} ev-img:1`, `tag ${id} ev-img:2`, "save ev-img:1 -", `untag ${id} ev-img:2`, `untag ${id} ev-img:1`, `delete ${id} -`, `load ${id} ev-img:1`, `untag ${id} ev-img:1`, `delete ${id} -`]);
      for (const e of past(t0, "type=image")) expect(e).toMatchObject({ status: e.Action, id: e.Actor.ID, Type: "image", scope: "local" });
      // A container of the image carries its name; image= finds the container's events and the image's.
      const named = past(t0, "image=ev-img:1", "event=start", "event=load");
      expect(named.map((e) => `${e.Type} ${e.Action}`)).toEqual(["container start", "image load"]);
      expect(named[0]!).toMatchObject({ from: "ev-img:1", Actor: { Attributes: { image: "ev-img:1" } } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("concurrent writers: containers started at once give whole lines, every one an event", async () => {
    const t0 = nowNs();
    const from = existsSync(LOG) ? statSync(LOG).size : 0;
    const names = ["ev-c1", "ev-c2", "ev-c3", "ev-c4", "ev-c5", "ev-c6"];
    const procs = names.map((n) => Bun.spawn([BUNKER, "run", "--rm", "--network", "none", "--name", n, "--label", `pad=${"x".repeat(3000)}`, "--rootfs", suite.fs.path, "--", "true"], { stdout: "ignore", stderr: "pipe" }));
    expect(await Promise.all(procs.map((p) => p.exited))).toEqual(names.map(() => 0));
    const text = readFileSync(LOG).subarray(from).toString("utf8");
    expect(text.endsWith("\n")).toBe(true);
    const lines = text.split("\n").slice(0, -1);
    // Every line parses, and each of ours is whole (its 3000-byte label intact).
    const mine = lines.map((l) => JSON.parse(l)).filter((e) => names.includes(e.Actor.Attributes.name));
    expect(mine.length).toBe(names.length * 4);
    for (const e of mine) expect(e.Actor.Attributes.pad).toBe("x".repeat(3000));
    for (const n of names) expect(actions(past(t0, `container=${n}`))).toEqual(["create", "start", "die", "destroy"]);
    // Root's log is root's alone.
    expect(statSync(LOG).mode & 0o777).toBe(0o600);
    expect(statSync(LOG).uid).toBe(0);
  });
});

/** Whether process `pid` has the events log (its own or root's) open: it is following from then on. */
function listening(pid: number): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`).endsWith("/events.log");
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

describe.skipIf(!ready)("a user's events", () => {
  const user = userSuite("bunker-ci-events");
  const as = (args: string[]) => runAs(user.user, [user.bin.path, ...args], {}, user.bin.dir);
  const userLog = () => `/tmp/bunker-${user.user.uid}/events.log`;

  test("a user sees their own events, not root's; root's log cannot be read or written by them", () => {
    const t0 = nowNs();
    expect(run(["--rm", "--name", "ev-root-only"], "true").code).toBe(0);
    const r = as(["run", "--rm", "--network", "none", "--name", "ev-user", "--rootfs", user.fs.path, "--", "sh", "-c", "exit 5"]);
    expect(r.code).toBe(5);
    const mine = as(["events", "--since", unix(t0), "--until", "0s", "--format", "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}"]);
    expect([mine.code, mine.stderr]).toEqual([0, ""]);
    expect(mine.stdout).toBe("create ev-user <no value>\nstart ev-user <no value>\ndie ev-user 5\ndestroy ev-user <no value>\n");
    expect(lstatSync(userLog()).uid).toBe(user.user.uid);
    expect(lstatSync(userLog()).mode & 0o777).toBe(0o600);
    // Root's: not the user's to see, and the user's not in it.
    expect(past(t0).map((e) => e.Actor.Attributes.name)).not.toContain("ev-user");
    const peek = runAs(user.user, ["sh", "-c", `cat ${LOG}; echo x >> ${LOG}`]);
    expect(peek.code).not.toBe(0);
    expect(peek.stdout).toBe("");
    expect(peek.stderr).toContain("Permission denied");
  });

  test("a symlink, a FIFO or another's file as the events log is refused by events, and a run goes on without writing there", () => {
    const dir = `/tmp/bunker-${user.user.uid}`;
    expect(existsSync(dir)).toBe(true);
    const bait = `${dir}/bait`;
    writeFileSync(bait, "");
    chownSync(bait, user.user.uid, user.user.gid);
    const runOne = () => as(["run", "--rm", "--network", "none", "--rootfs", user.fs.path, "--", "true"]);
    const cases: [string, () => void, string][] = [
      ["a symlink", () => symlinkSync(bait, userLog()), "a symbolic link"],
      ["a FIFO", () => expect(Bun.spawnSync(["mkfifo", userLog()]).exitCode).toBe(0), "a FIFO"],
    ];
    try {
      for (const [what, make, kind] of cases) {
        rmSync(userLog(), { force: true });
        make();
        const started = Date.now();
        const r = as(["events", "--since", "1h", "--until", "0s"]);
        expect([what, r.code, r.stderr]).toEqual([what, 125, `bunker: read events ${userLog()}: it is ${kind}, not a regular file\n`]);
        // A run is not held up, nor fails, for its event.
        expect([what, runOne().code]).toEqual([what, 0]);
        expect(Date.now() - started).toBeLessThan(20_000);
        expect(readFileSync(bait, "utf8")).toBe("");
      }
      // A regular file of someone else's (root's, here) is not the user's log.
      rmSync(userLog(), { force: true });
      writeFileSync(userLog(), "", { mode: 0o644 });
      const r = as(["events", "--since", "1h", "--until", "0s"]);
      expect([r.code, r.stderr]).toEqual([125, `bunker: read events ${userLog()}: it belongs to uid 0, not to you\n`]);
      expect(runOne().code).toBe(0);
      expect(readFileSync(userLog(), "utf8")).toBe("");
    } finally {
      rmSync(userLog(), { force: true });
      rmSync(bait, { force: true });
    }
  });

  test("lines that are no event (a huge one, broken JSON, another shape) are passed over; the events among them shown", () => {
    const t0 = nowNs();
    expect(as(["run", "--rm", "--network", "none", "--name", "ev-among", "--rootfs", user.fs.path, "--", "true"]).code).toBe(0);
    const good = readFileSync(userLog(), "utf8");
    const junk = `${"y".repeat(3 << 20)}\n{"Type":"container"\n[1,2]\n{"Type":"nope","Action":"x","Actor":{"ID":"a","Attributes":{}},"time":1,"timeNano":1}\n`;
    try {
      unlinkSync(userLog());
      writeFileSync(userLog(), junk + good + "x".repeat(200_000));
      chownSync(userLog(), user.user.uid, user.user.gid);
      const r = as(["events", "--since", unix(t0), "--until", "0s", "--format", "{{.Action}} {{.Actor.Attributes.name}}"]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(r.stdout).toBe("create ev-among\nstart ev-among\ndie ev-among\ndestroy ev-among\n");
    } finally {
      rmSync(userLog(), { force: true });
    }
  });
});
