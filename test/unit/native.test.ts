// The interpreter in native/child.c, run for real in a cloned child (no namespaces).

import { afterAll, describe, expect, test } from "bun:test";
import { dlopen, FFIType } from "bun:ffi";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChildProgram } from "../../src/child/program";
import { planHandshake } from "../../src/runtime/plan";
import { BunkerError } from "../../src/errors";
import { openPipes, spawnChild } from "../../src/runtime/spawn";
import { AT, O } from "../../src/sys/constants";
import { Errno } from "../../src/sys/errno";
import { until } from "../helpers/bunker";
import { closeFd, exitCodeOf, pipe, waitFor } from "../../src/sys/libc";

const dir = mkdtempSync(join(tmpdir(), "bunker-native-"));

// Which build of the interpreter this file runs: the one TinyCC compiles from the source (the
// default under bun test), or, with BUNKER_TEST_CHILD_OBJECT naming a file, that prebuilt object
// as an executable carries it (test/unit/native-object.test.ts runs this file so).
const objectFile = process.env.BUNKER_TEST_CHILD_OBJECT;
if (objectFile) (globalThis as { BUNKER_CHILD_OBJECT?: string }).BUNKER_CHILD_OBJECT = readFileSync(objectFile).toString("base64");

test(`the interpreter is ${objectFile ? "the prebuilt object" : "compiled at run time"}`, () => {
  const { loadNative } = require("../../src/sys/native") as typeof import("../../src/sys/native");
  expect(loadNative().origin).toBe(objectFile ? "prebuilt object" : "compiled at run time (this build carries no prebuilt object)");
});

function program(build: (p: ChildProgram) => void): { p: ChildProgram; pipes: ReturnType<typeof openPipes> } {
  const pipes = openPipes();
  const p = new ChildProgram();
  planHandshake(p, pipes);
  build(p);
  return { p, pipes };
}

function exec(p: ChildProgram, path: string, args: string[] = [path]) {
  p.call(`exec "${path}"`, "execve", [p.str(path), p.arena.strv(args), p.arena.strv([])], {
    continueOnFail: true,
    exec: { command: path, searched: false },
  });
}

async function runIt(build: (p: ChildProgram) => void): Promise<number> {
  const { p, pipes } = program(build);
  const { pid } = await spawnChild(p, pipes, 0, () => {});
  return exitCodeOf(waitFor(pid));
}

/** This process's children, zombies included (a child not reaped stays listed). */
function children(): string[] {
  return readdirSync("/proc/self/task").flatMap((t) => readFileSync(`/proc/self/task/${t}/children`, "utf8").split(" ").filter(Boolean));
}

async function failure(build: (p: ChildProgram) => void): Promise<BunkerError> {
  try {
    await runIt(build);
  } catch (e) {
    if (e instanceof BunkerError) return e;
    throw e;
  }
  throw new Error("the program did not fail");
}

describe("native child program", () => {
  test("a clean run ends in execve and the command's status", async () => {
    expect(await runIt((p) => exec(p, "/bin/sh", ["sh", "-c", "exit 3"]))).toBe(3);
  });

  test("the first failing step is reported by its description and errno", async () => {
    const e = await failure((p) => {
      p.call("open /no/such/file", "openat", [AT.FDCWD, p.str("/no/such/file"), O.RDONLY, 0]);
      exec(p, "/bin/true");
    });
    expect(e.message).toBe("open /no/such/file: No such file or directory");
    expect(e.exitCode).toBe(125);
  });

  test("ignored errno values count as success", async () => {
    const e = await failure((p) => {
      p.call("mkdir existing", "mkdirat", [AT.FDCWD, p.str(dir), 0o755], { ignore: [Errno.EEXIST] });
      p.call("mkdir existing again", "mkdirat", [AT.FDCWD, p.str(dir), 0o755]);
      exec(p, "/bin/true");
    });
    expect(e.message).toBe("mkdir existing again: File exists");
  });

  test("a saved descriptor feeds later steps, and a short write fails its expectation", async () => {
    const file = join(dir, "slot");
    const data = new TextEncoder().encode("hello");
    expect(
      await runIt((p) => {
        const fd = p.newSlot();
        p.call("create file", "openat", [AT.FDCWD, p.str(file), O.WRONLY | O.CREAT | O.TRUNC | O.CLOEXEC, 0o644], { save: fd });
        p.call("write file", "write", [fd, p.arena.bytes(data), data.length], { expect: { value: data.length, errno: Errno.EIO } });
        p.call("close file", "close", [fd]);
        exec(p, "/bin/true");
      }),
    ).toBe(0);
    expect(readFileSync(file, "utf8")).toBe("hello");
    const e = await failure((p) => {
      const fd = p.newSlot();
      p.call("open file", "openat", [AT.FDCWD, p.str(file), O.WRONLY | O.CLOEXEC, 0], { save: fd });
      p.call("write file", "write", [fd, p.arena.bytes(data), 2], { expect: { value: 5, errno: Errno.EIO } });
      exec(p, "/bin/true");
    });
    expect(e.message).toBe("write file: Input/output error");
  });

  test("execve along a path list: a later candidate runs after misses", async () => {
    expect(
      await runIt((p) => {
        exec(p, "/no/such/true");
        exec(p, "/bin/sh", ["sh", "-c", "exit 4"]);
      }),
    ).toBe(4);
  });

  test("a real error beats a later not-found, as with execvp", async () => {
    const notExec = join(dir, "script");
    writeFileSync(notExec, "#!/bin/sh\n", { mode: 0o644 });
    const e = await failure((p) => {
      exec(p, "/no/such/a");
      exec(p, notExec);
      exec(p, "/no/such/b");
    });
    expect(e.message).toBe(`exec "${notExec}": permission denied`);
    expect(e.exitCode).toBe(126);
  });

  test("only not-found errors give 127", async () => {
    const e = await failure((p) => {
      exec(p, "/no/such/a");
      exec(p, "/no/such/b");
    });
    expect(e.exitCode).toBe(127);
  });

  test("probes: the first alternative found ends the group, the rest are skipped; all missing fail at the group's end", async () => {
    const marker = join(dir, "probed");
    const probe = (p: ChildProgram, path: string) =>
      p.call(`find "${path}"`, "faccessat", [AT.FDCWD, p.str(path), 1, 0], { probe: true, exec: { command: path, searched: true } });
    // Found at the second place: the third is skipped (it would fail with EACCES, a real error), and the program goes on.
    const notExec = join(dir, "probe-not-exec");
    writeFileSync(notExec, "", { mode: 0o644 });
    expect(
      await runIt((p) => {
        probe(p, "/no/such/a");
        probe(p, "/bin/sh");
        probe(p, notExec);
        p.call("create the marker", "openat", [AT.FDCWD, p.str(marker), O.WRONLY | O.CREAT | O.CLOEXEC, 0o644]);
        exec(p, "/bin/true");
      }),
    ).toBe(0);
    expect(existsSync(marker)).toBe(true);
    rmSync(marker);
    // None found: the group fails before the next step, with execvp's choice of error.
    const e = await failure((p) => {
      probe(p, "/no/such/a");
      probe(p, notExec);
      probe(p, "/no/such/b");
      p.call("create the marker", "openat", [AT.FDCWD, p.str(marker), O.WRONLY | O.CREAT | O.CLOEXEC, 0o644]);
      exec(p, "/bin/true");
    });
    expect(e.message).toBe(`exec "${notExec}": permission denied`);
    expect(existsSync(marker)).toBe(false);
    const missing = await failure((p) => {
      probe(p, "/no/such/a");
      probe(p, "/no/such/b");
      exec(p, "/bin/true");
    });
    expect(missing).toMatchObject({ message: 'exec "/no/such/a": not found in PATH', exitCode: 127 });
  });

  test("the child stops at once when bunker gives up before releasing it: it runs nothing and is reaped", async () => {
    const marker = join(dir, "ran-after-give-up");
    const { p, pipes } = program((prog) => exec(prog, "/bin/sh", ["sh", "-c", `echo > ${marker}`]));
    const before = children();
    let child = "";
    await expect(
      spawnChild(p, pipes, 0, () => {
        child = children().find((c) => !before.includes(c)) ?? "";
        throw new Error("set-up failed");
      }),
    ).rejects.toThrow("set-up failed");
    // It was there while bunker set up, and is gone now: not left blocked, nor a zombie.
    expect(child).toMatch(/^\d+$/);
    expect(children()).toEqual(before);
    expect(existsSync(`/proc/${child}`)).toBe(false);
    expect(existsSync(marker)).toBe(false);
  });

  test("bunker closing the sync pipe without releasing the child: it reports ECANCELED at that step and runs nothing after", async () => {
    const marker = join(dir, "ran-after-cancel");
    const { p, pipes } = program((prog) => exec(prog, "/bin/sh", ["sh", "-c", `echo > ${marker}`]));
    // The release is written into a spare pipe instead: all the child sees is the end of its sync pipe.
    let spare = -1;
    const e = await spawnChild(p, pipes, 0, () => {
      const [r, w] = pipe("create a spare pipe", O.CLOEXEC);
      closeFd(pipes.syncWrite);
      pipes.syncWrite = w;
      spare = r;
    }).then(
      () => null,
      (err: unknown) => err,
    );
    closeFd(spare);
    expect(e).toBeInstanceOf(BunkerError);
    expect([(e as BunkerError).message, (e as BunkerError).exitCode]).toEqual(["wait for bunker to finish setting up: Operation canceled", 125]);
    expect(existsSync(marker)).toBe(false);
  });

  test("a step can check that bunker still holds the sync pipe", async () => {
    const { planParentCheck } = require("../../src/child/liveness") as typeof import("../../src/child/liveness");
    const pipes = openPipes();
    const p = new ChildProgram();
    planHandshake(p, pipes);
    planParentCheck(p, pipes.syncRead);
    exec(p, "/bin/sh", ["sh", "-c", "exit 5"]);
    const { pid } = await spawnChild(p, pipes, 0, () => {});
    expect(exitCodeOf(waitFor(pid))).toBe(5);
  });

  // Ctrl-C while the set-up hangs in a step: the child is bunker's code until execve, and as PID 1
  // of a new PID namespace it would drop every signal but SIGKILL, so bunker kills it and says so.
  if (process.geteuid?.() !== 0) console.warn("skipping Ctrl-C during set-up as PID 1 of a new PID namespace: it needs root");
  for (const [where, flags] of [
    ["in bunker's PID namespace", 0],
    ["as PID 1 of a new PID namespace", 0x20000000 /* CLONE_NEWPID */],
  ] as const) {
    test.skipIf(flags !== 0 && process.geteuid?.() !== 0)(`Ctrl-C while a set-up step blocks ends it, ${where}: 130 and a message`, async () => {
      const { planSignalReset } = require("../../src/runtime/plan") as typeof import("../../src/runtime/plan");
      const { FORWARDED_SIGNALS } = require("../../src/runtime/spawn") as typeof import("../../src/runtime/spawn");
      const { pipe } = require("../../src/sys/libc") as typeof import("../../src/sys/libc");
      // A step that never returns on its own: a read from a pipe nobody writes to.
      const [stuck, keepOpen] = pipe("stuck pipe", 0);
      const { p, pipes } = program((prog) => {
        planSignalReset(prog, FORWARDED_SIGNALS);
        prog.call("read from a pipe nobody writes", "read", [stuck, prog.arena.alloc(8).addr, 1]);
        exec(prog, "/bin/true");
      });
      // Once the child exists (and bunker's forwarding handlers are in place), Ctrl-C reaches this process.
      const self = process.pid;
      const interrupter = Bun.spawn([
        process.execPath,
        "-e",
        `const fs = require("fs");
         const children = () => fs.readdirSync("/proc/${self}/task").flatMap((t) => fs.readFileSync("/proc/${self}/task/" + t + "/children", "utf8").split(" ").filter(Boolean));
         const child = () => children().find((c) => c !== String(process.pid));
         let end = Date.now() + 10000;
         while (!child() && Date.now() < end) Bun.sleepSync(2);
         const pid = child();
         process.kill(${self}, "SIGINT");
         // A child that drops it would leave the test blocked in a read: end it so the test fails instead.
         const alive = () => { try { return fs.readFileSync("/proc/" + pid + "/stat", "utf8").split(") ")[1][0] !== "Z"; } catch { return false; } };
         end = Date.now() + 5000;
         while (pid && alive() && Date.now() < end) Bun.sleepSync(2);
         if (pid && alive()) { console.log("still there"); process.kill(Number(pid), "SIGKILL"); }`,
      ], { stdout: "pipe" });
      try {
        let err: unknown;
        try {
          const { pid } = await spawnChild(p, pipes, flags, () => {});
          waitFor(pid);
        } catch (e) {
          err = e;
        }
        expect(await new Response(interrupter.stdout).text()).toBe("");
        expect(err).toBeInstanceOf(BunkerError);
        expect([(err as BunkerError).message, (err as BunkerError).exitCode]).toEqual(["interrupted by SIGINT while the container was being set up", 130]);
      } finally {
        closeFd(stuck);
        closeFd(keepOpen);
        await interrupter.exited;
      }
    });
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("signal dispositions", () => {
  test("nonDefaultSignals sees what this process handles or ignores", () => {
    const { loadNative } = require("../../src/sys/native") as typeof import("../../src/sys/native");
    const n = loadNative();
    const before = n.nonDefaultSignals();
    process.on("SIGUSR2", () => {});
    expect(n.nonDefaultSignals()).toContain(12);
    expect(before.every((s) => s !== 9 && s !== 19)).toBe(true);
  });
});

describe("signal forwarding", () => {
  test("a signal to bunker reaches the target pid; after forwardTo(-1) nothing is sent", async () => {
    const { loadNative } = require("../../src/sys/native") as typeof import("../../src/sys/native");
    const { libcAddress, setSignalHandler } = require("../../src/sys/libc") as typeof import("../../src/sys/libc");
    const { syscallNumber } = require("../../src/sys/syscalls") as typeof import("../../src/sys/syscalls");
    const n = loadNative();
    n.forwardInit(libcAddress.syscall, syscallNumber("kill"), syscallNumber("write"), -1);
    // As once the container's command runs (until then a signal kills the set-up: see the tests above).
    expect(n.forwardStarted()).toBe(0);
    setSignalHandler(10, n.forwardHandler);
    // Pending until a target is known, then delivered.
    process.kill(process.pid, "SIGUSR1");
    const target = Bun.spawn(["sleep", "30"]);
    n.forwardTo(target.pid);
    expect(await target.exited).toBe(128 + 10);
    expect(target.signalCode).toBe("SIGUSR1");
    // raise() runs the handler on this thread before it returns: whatever the handler does is done
    // by then, and a process it signalled has the signal pending or is already on its way out.
    const { raise } = dlopen("libc.so.6", { raise: { args: [FFIType.i32], returns: FFIType.i32 } }).symbols;
    const status = (pid: number) => readFileSync(`/proc/${pid}/status`, "utf8");
    const signalled = (pid: number) => !/^State:\s+S /m.test(status(pid)) || !/^SigPnd:\s+0+$/m.test(status(pid)) || !/^ShdPnd:\s+0+$/m.test(status(pid));
    const sleeper = async () => {
      const p = Bun.spawn(["sleep", "30"]);
      await until(() => status(p.pid).startsWith("Name:\tsleep\n") && !signalled(p.pid), 5000, "sleep to sleep");
      return p;
    };
    // Control: with a target, the signal raised is sent to it before raise() returns.
    const control = await sleeper();
    n.forwardTo(control.pid);
    raise(10);
    expect(signalled(control.pid)).toBe(true);
    expect(await control.exited).toBe(128 + 10);
    const other = await sleeper();
    n.forwardTo(-1);
    raise(10);
    // Dropped, not kept: a kept signal would go to the next target as soon as there is one.
    n.forwardTo(other.pid);
    expect(signalled(other.pid)).toBe(false);
    other.kill();
    await other.exited;
  });

  test("a signal during the set-up ends it; once the command runs (its report pipe at end of file), it is passed on as it is", async () => {
    const { loadNative } = require("../../src/sys/native") as typeof import("../../src/sys/native");
    const { libcAddress, setSignalHandler } = require("../../src/sys/libc") as typeof import("../../src/sys/libc");
    const { syscallNumber } = require("../../src/sys/syscalls") as typeof import("../../src/sys/syscalls");
    const n = loadNative();
    // The error pipe as spawnChild has it: execve closes the last write end, which bunker reads a moment later.
    const [report, writeEnd] = pipe("create a report pipe", O.CLOEXEC);
    try {
      n.forwardInit(libcAddress.syscall, syscallNumber("kill"), syscallNumber("write"), -1, report);
      setSignalHandler(10, n.forwardHandler);
      const settingUp = Bun.spawn(["sleep", "30"]);
      n.forwardTo(settingUp.pid);
      process.kill(process.pid, "SIGUSR1");
      await settingUp.exited;
      expect(settingUp.signalCode).toBe("SIGKILL");
      closeFd(writeEnd);
      const running = Bun.spawn(["sleep", "30"]);
      n.forwardTo(running.pid);
      process.kill(process.pid, "SIGUSR1");
      await running.exited;
      expect(running.signalCode).toBe("SIGUSR1");
      // Only the first counts as an interrupted set-up.
      expect(n.forwardStarted()).toBe(10);
      n.forwardTo(-1);
    } finally {
      closeFd(report);
    }
  });
});
