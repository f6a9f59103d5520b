// Attaching to detached containers without a terminal (the terminal's case
// is in tty.test.ts): their output as it comes, stdout and stderr apart;
// input with -i; start -a connected before the first output; signals passed
// on; the container's status as attach's; who may attach.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readlinkSync } from "node:fs";
import { bunker, BUNKER, isRoot, until } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";
import { createUser, removeUser, runAs, type TestUser } from "../helpers/users";
import { userSuite } from "../helpers/user-suite";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn("skipping the attach tests: they need root and busybox-static");

const NAMES = ["at-out", "at-in", "at-start", "at-starti", "at-sig", "at-none", "at-stopped", "at-noin"];
const suite = containerSuite(ready, () => {
  for (const n of NAMES) bunker(["rm", "-f", n]);
});
const on = (name: string, extra: string[], script: string) => ["--name", name, "--network", "none", ...extra, "--rootfs", suite.fs.path, "--", "sh", "-c", script];
const state = (name: string) => JSON.parse(bunker(["inspect", name]).stdout)[0];
/** Runs `bunker ARGS` in the background, its output collected. */
function spawn(args: string[]) {
  return Bun.spawn([BUNKER, ...args], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
}
const text = (s: ReadableStream<Uint8Array>) => new Response(s).text();
/** Sockets its waiter holds: the attach socket, and one for each client attached (--network none: no others). */
function sockets(name: string): number {
  const pid = state(name).supervisor as number;
  try {
    return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:");
      } catch {
        return false;
      }
    }).length;
  } catch {
    return 0;
  }
}
/** Waits until `n` clients are attached to container `name`. */
const attached = (name: string, n: number) => until(() => sockets(name) === n + 1, 5000, `${n} attached to ${name}`);

describe.skipIf(!ready)("attach without a terminal", () => {
  test("its output from then on, stdout and stderr apart; its status is attach's", async () => {
    // It waits for a mark before it writes: what it writes comes after attach has connected.
    expect(bunker(["run", "-d", ...on("at-out", [], "while [ ! -e /tmp/go-out ]; do sleep 0.05; done; echo out1; echo err1 >&2; echo out2; exit 7")]).code).toBe(0);
    const a = spawn(["attach", "at-out"]);
    await attached("at-out", 1);
    expect(bunker(["exec", "at-out", "touch", "/tmp/go-out"]).code).toBe(0);
    expect(await a.exited).toBe(7);
    expect(await text(a.stdout)).toBe("out1\nout2\n");
    expect(await text(a.stderr)).toBe("err1\n");
    expect(bunker(["rm", "at-out"]).code).toBe(0);
  });

  test("-d -i: attach passes input; --no-stdin does not; without -i nothing is passed", async () => {
    expect(bunker(["run", "-d", "-i", ...on("at-in", [], "while read l; do echo got:$l; [ $l = quit ] && exit 3; done")]).code).toBe(0);
    const quiet = spawn(["attach", "--no-stdin", "at-in"]);
    quiet.stdin.write("ignored\n");
    await quiet.stdin.end();
    const a = spawn(["attach", "at-in"]);
    await attached("at-in", 2);
    a.stdin.write("hello\n");
    a.stdin.flush();
    await until(() => bunker(["logs", "at-in"]).stdout.includes("got:hello"), 5000, "the first line through");
    a.stdin.write("quit\n");
    await a.stdin.end();
    expect(await a.exited).toBe(3);
    expect(await text(a.stdout)).toBe("got:hello\ngot:quit\n");
    expect(await quiet.exited).toBe(3);
    expect(await text(quiet.stdout)).toBe("got:hello\ngot:quit\n");
    expect(bunker(["logs", "at-in"]).stdout).toBe("got:hello\ngot:quit\n");
    expect(bunker(["rm", "at-in"]).code).toBe(0);
    // Without -i its stdin is /dev/null: what attach is given goes nowhere.
    expect(bunker(["run", "-d", ...on("at-noin", [], "read l; echo read=$?; sleep 100")]).code).toBe(0);
    await until(() => bunker(["logs", "at-noin"]).stdout === "read=1\n", 5000, "the end of its input");
    expect(bunker(["rm", "-f", "at-noin"]).code).toBe(0);
  });

  test("start -a: attached before the first output, every time; -ai passes input; the status is start's", async () => {
    expect(bunker(["create", ...on("at-start", [], "echo first; echo second >&2; exit 9")]).code).toBe(0);
    for (let i = 0; i < 3; i++) {
      const r = bunker(["start", "-a", "at-start"]);
      expect([r.code, r.stdout, r.stderr]).toEqual([9, "first\n", "second\n"]);
    }
    expect(bunker(["rm", "at-start"]).code).toBe(0);
    expect(bunker(["create", "-i", ...on("at-starti", [], "read x; echo got $x")]).code).toBe(0);
    expect(bunker(["start", "-ai", "at-starti"], { stdin: "data\n" })).toMatchObject({ code: 0, stdout: "got data\n" });
    expect(bunker(["rm", "at-starti"]).code).toBe(0);
  });

  test("signals attach receives go to the container (--sig-proxy), not with --sig-proxy=false", async () => {
    expect(bunker(["run", "-d", ...on("at-sig", [], "trap 'echo got-usr1' USR1; trap 'echo got-term; exit 4' TERM; echo ready; while :; do sleep 0.05; done")]).code).toBe(0);
    await until(() => bunker(["logs", "at-sig"]).stdout === "ready\n", 5000, "the traps");
    const off = spawn(["attach", "--sig-proxy=false", "at-sig"]);
    const on_ = spawn(["attach", "at-sig"]);
    await attached("at-sig", 2);
    // Not passed on: attach itself ends of it, and the container keeps running.
    off.kill("SIGUSR1");
    expect(await off.exited).not.toBe(0);
    on_.kill("SIGUSR1");
    await until(() => bunker(["logs", "at-sig"]).stdout.includes("got-usr1"), 5000, "SIGUSR1 passed on");
    expect(state("at-sig").status).toBe("running");
    expect(bunker(["logs", "at-sig"]).stdout.match(/got-usr1/g)?.length).toBe(1);
    on_.kill("SIGTERM");
    expect(await on_.exited).toBe(4);
    expect(await text(on_.stdout)).toBe("got-usr1\ngot-term\n");
    expect(bunker(["rm", "at-sig"]).code).toBe(0);
  });

  test("run --sig-proxy=false: a signal to a foreground bunker is not passed on (it ends bunker, and the container with it)", async () => {
    const script = "trap 'echo got-usr1' USR1; echo ready; i=0; while [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; echo done";
    for (const proxy of [true, false]) {
      const p = Bun.spawn([BUNKER, "run", "--rm", `--sig-proxy=${proxy}`, "--network", "none", "--rootfs", suite.fs.path, "--", "sh", "-c", script], { stdout: "pipe", stderr: "pipe" });
      const reader = p.stdout.getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toBe("ready\n");
      p.kill("SIGUSR1");
      let rest = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        rest += new TextDecoder().decode(value);
      }
      const code = await p.exited;
      // Passed on: the container traps it and goes on to its end. Not: bunker ends of it, and the container with it.
      if (proxy) expect([code, rest]).toEqual([0, "got-usr1\ndone\n"]);
      else expect([p.signalCode, rest]).toEqual(["SIGUSR1", ""]);
    }
    // A --rm container whose bunker was killed: the next command finishes it.
    expect(bunker(["ps", "-aq"]).stdout).toBe("");
  });

  test("--log-driver none still attaches; a stopped container, several at once, or unknown keys are refused", async () => {
    expect(bunker(["run", "-d", "--log-driver", "none", ...on("at-none", [], "while [ ! -e /tmp/go-none ]; do sleep 0.05; done; echo unlogged")]).code).toBe(0);
    const a = spawn(["attach", "at-none"]);
    await attached("at-none", 1);
    expect(bunker(["exec", "at-none", "touch", "/tmp/go-none"]).code).toBe(0);
    expect(await a.exited).toBe(0);
    expect(await text(a.stdout)).toBe("unlogged\n");
    expect(bunker(["rm", "at-none"]).code).toBe(0);
    expect(bunker(["create", ...on("at-stopped", [], "true")]).code).toBe(0);
    expect(bunker(["attach", "at-stopped"])).toMatchObject({ code: 125, stderr: "bunker: container at-stopped is not running: start it first\n" });
    expect(bunker(["attach", "at-stopped", "at-out"])).toMatchObject({ code: 125, stderr: "bunker: attach: one container at a time, not 2\n" });
    expect(bunker(["attach", "--detach-keys", "ctrl-1", "at-stopped"])).toMatchObject({ code: 125, stderr: 'bunker: --detach-keys ctrl-1: "ctrl-1" is not a key (use one character, or ctrl- with a-z, @, [, \\, ], ^ or _)\n' });
    expect(bunker(["rm", "at-stopped"]).code).toBe(0);
  });
});

describe.skipIf(!ready)("attach as a user", () => {
  const user = userSuite("bunker-ci-att", (u) => u.as(["rm", "-f", "at-user"]));
  let other: TestUser | undefined;
  beforeAll(() => {
    other = createUser("bunker-ci-att2", false);
  });
  afterAll(() => {
    if (other) removeUser(other);
  });

  test("a user's detached container takes input through attach; another user cannot reach its socket", async () => {
    const as = (args: string[], stdin?: string) => runAs(user.user, ["sh", "-c", `${stdin !== undefined ? `printf '${stdin}' | ` : ""}"$0" "$@"`, user.bin.path, ...args]);
    expect(as(["run", "-d", "-i", "--name", "at-user", "--rootfs", user.fs.path, "--", "sh", "-c", "read l; echo got:$l as $(id -u); exit 6"]).code).toBe(0);
    const id = JSON.parse(as(["inspect", "at-user"]).stdout)[0].id as string;
    const dir = JSON.parse(as(["inspect", "at-user"]).stdout)[0].logPath.replace(/\/container\.log$/, "");
    // The socket sits in the user's own state directory, which no one else may enter.
    expect(runAs(other!, ["sh", "-c", `test -e ${dir}/attach.sock || echo unreachable`]).stdout).toBe("unreachable\n");
    expect(runAs(user.user, ["sh", "-c", `test -S ${dir}/attach.sock && echo reachable`]).stdout).toBe("reachable\n");
    const r = as(["attach", id], "hi\\n");
    expect([r.code, r.stdout]).toEqual([6, "got:hi as 0\n"]);
    expect(as(["rm", "at-user"]).code).toBe(0);
  });
});
