// A detached container's log: what it writes to stdout and stderr, kept
// apart as docker's json-file records beside its state, rotated at its cap,
// read back by `bunker logs` (filtered, followed) while it runs and after it
// ends, until it is removed. Written by the native waiter, or by bunker's
// own process where it stays (BUNKER_NATIVE=compile): the same records.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { bunker, BUNKER, isRoot, until } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";
import { runAs } from "../helpers/users";
import { userSuite } from "../helpers/user-suite";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn("skipping the log tests: they need root and busybox-static");

const suite = containerSuite(ready);
const run = (args: string[], env: Record<string, string> = {}) => bunker(["run", "-d", "--network", "none", ...args.slice(0, -1), "--rootfs", suite.fs.path, "--", "sh", "-c", args.at(-1)!], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env } });
const stopped = (name: string) => JSON.parse(bunker(["inspect", name]).stdout)[0].status === "stopped";
const logDir = (name: string) => dirname(JSON.parse(bunker(["inspect", name]).stdout)[0].logPath as string);

/** `bunker logs ARGS` with its two streams kept apart. */
function logs(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync([BUNKER, "logs", ...args]);
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe.skipIf(!ready)("bunker logs", () => {
  for (const [writer, env] of [
    ["the native waiter", {}],
    ["bunker's own process (BUNKER_NATIVE=compile)", { BUNKER_NATIVE: "compile" }],
  ] as const) {
    test(`stdout and stderr kept apart as json-file records, by ${writer}; a line without its newline, quotes and control characters`, async () => {
      const name = `logs-${writer.startsWith("the") ? "native" : "bun"}`;
      const r = run(["--name", name, `echo out1; echo err1 >&2; printf 'q"uote\\\\ tab\\t bell\\a'; echo; echo out2; printf unfinished; exit 3`], env);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      // wait: once its end is recorded, its log is complete.
      expect(bunker(["wait", name]).stdout).toBe("3\n");
      const [state] = JSON.parse(bunker(["inspect", name]).stdout);
      expect(state.exitCode).toBe(3);
      expect(state.logPath).toBe(join(logDir(name), "container.log"));
      const records = readFileSync(state.logPath, "utf8").trim().split("\n").map((l) => JSON.parse(l));
      // Each stream in its order (two pipes: which of two lines written at once comes first is not known).
      const of = (stream: string) => records.filter((x: { stream: string }) => x.stream === stream).map((x: { log: string }) => x.log);
      expect(of("stdout")).toEqual(["out1\n", 'q"uote\\ tab\t bell\x07\n', "out2\n", "unfinished"]);
      expect(of("stderr")).toEqual(["err1\n"]);
      for (const x of records) expect(x.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
      const l = logs([name]);
      expect(l).toEqual({ code: 0, stdout: 'out1\nq"uote\\ tab\t bell\x07\nout2\nunfinished', stderr: "err1\n" });
      const stamped = logs(["-t", name]).stdout.split("\n")[0]!;
      expect(stamped).toBe(`${records[0].time} out1`);
      expect(bunker(["rm", name]).code).toBe(0);
      // Gone with the container.
      expect(logs([name])).toMatchObject({ code: 125, stderr: `bunker: no such container: ${name}\n` });
    });
  }

  test("--tail, --since and --until choose lines; a long line comes in pieces of 16 KiB", async () => {
    const r = run(["--name", "logs-filter", `echo first; sleep 1.2; echo second; echo third; head -c 40000 /dev/zero | tr '\\0' x; echo`]);
    expect(r.code).toBe(0);
    expect(bunker(["wait", "logs-filter"]).code).toBe(0);
    const all = logs(["logs-filter"]).stdout.split("\n");
    expect(all.slice(0, 3)).toEqual(["first", "second", "third"]);
    expect(all[3]).toBe("x".repeat(40000));
    const records = readFileSync(join(logDir("logs-filter"), "container.log"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(records.slice(3).map((x: { log: string }) => x.log.length)).toEqual([16384, 16384, 40000 - 2 * 16384 + 1]);
    expect(logs(["--tail", "2", "logs-filter"]).stdout).toBe(`${"x".repeat(40000 - 16384)}\n`);
    expect(logs(["--tail", "0", "logs-filter"]).stdout).toBe("");
    // Between the first line's time and the second's: the first only; from the second's on: the rest.
    const second = records[1].time as string;
    expect(logs(["--until", second, "logs-filter"]).stdout).toBe("first\n");
    expect(logs(["--since", second, "--tail", "all", "logs-filter"]).stdout.split("\n").slice(0, 2)).toEqual(["second", "third"]);
    expect(logs(["--since", "1h", "logs-filter"]).stdout.startsWith("first\n")).toBe(true);
    expect(logs(["--since", "0s", "logs-filter"]).stdout).toBe("");
    const bad = logs(["--since", "yesterday", "logs-filter"]);
    expect([bad.code, bad.stderr]).toEqual([125, "bunker: --since yesterday: not a time (use 2026-11-30T10:00:00Z, a Unix time, or a duration such as 10m)\n"]);
    expect(bunker(["rm", "logs-filter"]).code).toBe(0);
  });

  test("a hostile output: lines of control characters (six bytes each, escaped) and bytes that are no UTF-8 come back, the waiter unharmed", async () => {
    const r = run(["--name", "logs-hostile", `head -c 40000 /dev/zero | tr '\\0' '\\001'; echo; printf '\\377ok\\n'`]);
    expect(r.code).toBe(0);
    expect(bunker(["wait", "logs-hostile"]).stdout).toBe("0\n");
    const out = Bun.spawnSync([BUNKER, "logs", "logs-hostile"]).stdout;
    expect(new Uint8Array(out).subarray(0, 40000).every((b) => b === 1)).toBe(true);
    // A byte that is no UTF-8 reads back as U+FFFD, as docker's reader gives it.
    expect(new TextDecoder().decode(new Uint8Array(out).subarray(40000))).toBe("\n\ufffdok\n");
    const records = readFileSync(join(logDir("logs-hostile"), "container.log"), "utf8").trim().split("\n");
    expect(records.map((l) => JSON.parse(l).log.length)).toEqual([16384, 16384, 40000 - 2 * 16384 + 1, 4]);
    expect(bunker(["rm", "logs-hostile"]).code).toBe(0);
  });

  test("-f follows a running container across rotations, every line once and in order, and ends when it does; the files stay within their cap", async () => {
    // 3000 numbered lines over about two seconds, into files of 16 KiB: a dozen rotations while it is followed.
    // They start once the follower has the first line: then none can be rotated away before it reads them.
    const mark = join(suite.fs.path, "tmp", "logs-follow-go");
    const r = run(["--name", "logs-follow", "--log-opt", "max-size=16k", "--log-opt", "max-file=3", `echo start; while [ ! -e /tmp/logs-follow-go ]; do sleep 0.02; done; i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); [ $((i % 100)) = 0 ] && sleep 0.05; done; echo done >&2`]);
    expect(r.code).toBe(0);
    const followed = Bun.spawn([BUNKER, "logs", "-f", "logs-follow"], { stdout: "pipe", stderr: "pipe" });
    const errText = new Response(followed.stderr).text();
    const reader = followed.stdout.getReader();
    let out = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      out += new TextDecoder().decode(value);
      if (out === "start\n") writeFileSync(mark, "");
    }
    rmSync(mark, { force: true });
    const [err, code] = await Promise.all([errText, followed.exited]);
    expect(code).toBe(0);
    expect(out).toBe(`start\n${Array.from({ length: 3000 }, (_, i) => `line ${i}\n`).join("")}`);
    expect(err).toBe("done\n");
    expect(stopped("logs-follow")).toBe(true);
    const files = readdirSync(logDir("logs-follow")).filter((f) => f.startsWith("container.log")).sort();
    expect(files).toEqual(["container.log", "container.log.1", "container.log.2"]);
    // A record is written whole: a file passes its cap by less than one record.
    for (const f of files) expect(statSync(join(logDir("logs-follow"), f)).size).toBeLessThanOrEqual(16384);
    // Afterwards, what the kept files hold: the last lines, in order.
    const kept = logs(["logs-follow"]).stdout.trim().split("\n");
    expect(kept.at(-1)).toBe("line 2999");
    expect(kept.length).toBeLessThan(3000);
    expect(bunker(["rm", "logs-follow"]).code).toBe(0);
  });

  test("-d --rm: readable while it runs; none for --log-driver none or a foreground run, each said; bad --log-opt refused", async () => {
    const r = run(["--rm", "--name", "logs-rm", "echo running; sleep 100"]);
    expect(r.code).toBe(0);
    await until(() => logs(["logs-rm"]).stdout === "running\n", 10_000, "the line to be logged");
    expect(bunker(["rm", "-f", "logs-rm"]).code).toBe(0);
    expect(run(["--name", "logs-none", "--log-driver", "none", "echo hidden"]).code).toBe(0);
    expect(bunker(["wait", "logs-none"]).code).toBe(0);
    expect(logs(["logs-none"])).toEqual({ code: 125, stdout: "", stderr: "bunker: logs logs-none: container logs-none has no log: it was run with --log-driver none\n" });
    expect(JSON.parse(bunker(["inspect", "logs-none"]).stdout)[0].logPath).toBeUndefined();
    expect(bunker(["rm", "logs-none"]).code).toBe(0);
    expect(bunker(["run", "--name", "logs-fg", "--network", "none", "--rootfs", suite.fs.path, "--", "echo", "shown"]).stdout).toBe("shown\n");
    expect(logs(["logs-fg"]).stderr).toBe("bunker: logs logs-fg: container logs-fg has no log: it was not run detached (-d): its output went where bunker's did\n");
    expect(bunker(["rm", "logs-fg"]).code).toBe(0);
    for (const [opts, said] of [
      [["--log-driver", "syslog"], "--log-driver syslog: use json-file or none"],
      [["--log-opt", "max-file=3", "--log-opt", "max-size=-1"], "--log-opt max-file: needs max-size (files rotate when one reaches it)"],
      [["--log-opt", "compress=true"], "--log-opt compress=true: unknown option (json-file takes max-size=SIZE and max-file=N)"],
      [["--log-opt", "max-size=10"], "--log-opt max-size=10: at least 4k"],
      [["--log-driver", "none", "--log-opt", "max-size=1m"], "--log-opt max-size=1m: the none log driver takes no options"],
    ] as const) {
      const bad = run([...opts, "true"]);
      expect([bad.code, bad.stderr]).toEqual([125, `bunker: ${said}\n`]);
    }
  });
});

describe.skipIf(!ready)("rootless", () => {
  const user = userSuite("bunker-ci-log");

  test("a user's detached container has its log too", async () => {
    const as = user.as;
    const r = as(["run", "-d", "--name", "logs-user", "--network", "none", "--rootfs", user.fs.path, "--", "sh", "-c", "echo mine; echo theirs >&2"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(as(["wait", "logs-user"]).code).toBe(0);
    const l = runAs(user.user, ["sh", "-c", `"$0" logs logs-user 2>/dev/null; echo; "$0" logs logs-user 2>&1 >/dev/null`, user.bin.path]);
    expect(l.stdout).toBe("mine\n\ntheirs\n");
    expect(as(["rm", "logs-user"]).code).toBe(0);
  });
});
