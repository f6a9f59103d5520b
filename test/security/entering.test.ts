// Processes that enter a running container, seen and seized from inside it.
// A container allowed to ptrace (--cap-add SYS_PTRACE, as root) watches its
// PID namespace, seizes every new process the moment it appears and reports
// what that process holds. Nothing it can seize may hold more than the
// container (capabilities, seccomp, no_new_privs) or share memory with the
// bunker process on the host that made it: through bunker's memory a seized
// process would run code as root on the host.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { dlopen, FFIType as T } from "bun:ffi";
import { readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { join } from "node:path";
import { BUNKER, isRoot, NATIVE_INIT_READY, requireBinary } from "../helpers/bunker";
import { hostBunCopy } from "../helpers/hostbun";
import { guardLeaks } from "../helpers/suite";
import { SYSCALL_TABLE } from "../../src/sys/syscall-table";

const ready = isRoot;
if (!ready) console.warn("skipping the entering suite: it needs root (a container holding CAP_SYS_PTRACE)");

// Outside /tmp, which a run without --rootfs replaces: a copy of Bun the container can run.
let hostDir: string;
let hostBun: string;

// Before the file's own hooks: its snapshot comes first, its check before the users and files go.
const guard = guardLeaks(ready);

beforeAll(() => {
  if (!ready) return;
  requireBinary();
  ({ dir: hostDir, bun: hostBun } = hostBunCopy("bunker-entering"));
});

afterAll(async () => {
  if (!ready) return;
  await guard.check(() => {
    rmSync(hostDir, { recursive: true, force: true });
  });
});

/**
 * Seizes the first process that appears in the container after "ready" and
 * keeps it stopped until a line arrives on stdin; prints what it holds.
 */
const WATCHER = `
  const { dlopen, FFIType: T, ptr } = require("bun:ffi");
  const fs = require("fs");
  const c = dlopen("libc.so.6", {
    ptrace: { args: [T.i64, T.i64, T.u64, T.u64], returns: T.i64 },
    waitpid: { args: [T.i32, T.ptr, T.i32], returns: T.i32 },
  }).symbols;
  const pids = () => fs.readdirSync("/proc").filter((e) => /^\\d+$/.test(e));
  const known = new Set(pids());
  // Written at once: a pipe's output is otherwise buffered until exit.
  const say = (line) => fs.writeSync(1, line + "\\n");
  say("ready");
  for (;;) {
    const fresh = pids().filter((p) => !known.has(p));
    for (const p of fresh) known.add(p);
    const p = fresh.find((p) => c.ptrace(0x4206 /* SEIZE */, Number(p), 0, 0) === 0n);
    if (p === undefined) continue;
    c.ptrace(0x4207 /* INTERRUPT */, Number(p), 0, 0);
    c.waitpid(Number(p), ptr(new Int32Array(1)), 0x40000000);
    const st = fs.readFileSync("/proc/" + p + "/status", "utf8");
    const f = (k) => new RegExp("^" + k + ":\\\\s*(\\\\S+)", "m").exec(st)[1];
    say("seized CapEff=" + f("CapEff") + " Seccomp=" + f("Seccomp") + " NoNewPrivs=" + f("NoNewPrivs"));
    fs.readSync(0, Buffer.alloc(16));
    c.ptrace(0x11 /* DETACH */, Number(p), 0, 0);
    // PID 1's end would kill the rest of the namespace: stay until stdin closes.
    while (fs.readSync(0, Buffer.alloc(16)) > 0);
    process.exit(0);
  }`;

const KCMP_VM = 1;
const libc = () => dlopen("libc.so.6", { syscall: { args: [T.i64, T.i64, T.i64, T.i64, T.i64, T.i64], returns: T.i64 } });
/** kcmp(2): 0 when the two processes share one address space. */
function sameMemory(a: number, b: number): boolean {
  const l = libc();
  try {
    const nr = SYSCALL_TABLE.kcmp![process.arch === "arm64" ? 1 : 0]!;
    const r = Number(l.symbols.syscall(nr, a, b, KCMP_VM, 0, 0));
    if (r < 0) throw new Error(`kcmp ${a} ${b} failed`);
    return r === 0;
  } finally {
    l.close();
  }
}

/** Host pids of stopped (traced) processes in the PID namespace of `pid`. */
function tracedIn(pid: number): number[] {
  const ns = readlinkSync(`/proc/${pid}/ns/pid`);
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/ns/pid`) !== ns) continue;
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      if (stat[stat.lastIndexOf(")") + 2] === "t") out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Reads lines from a stream until `pred` matches one; fails after `ms`. */
async function lineMatching(reader: { read(): Promise<{ done: boolean; value?: Uint8Array }> }, acc: { text: string }, pred: RegExp, ms: number): Promise<string> {
  const end = Date.now() + ms;
  const dec = new TextDecoder();
  for (;;) {
    const m = acc.text.match(pred);
    if (m) return m[0];
    if (Date.now() > end) throw new Error(`no line matching ${pred} within ${ms} ms; got ${JSON.stringify(acc.text)}`);
    const r = await Promise.race([reader.read(), Bun.sleep(end - Date.now()).then(() => null)]);
    if (r === null) continue;
    if (r.done) throw new Error(`output ended before ${pred}; got ${JSON.stringify(acc.text)}`);
    acc.text += dec.decode(r.value, { stream: true });
  }
}

// The docker default set, as the seized process must show it (root's exec keeps the bounding set).
const CONTAINER_CAPS_WITH_PTRACE = "00000000a80c25fb";

describe("a process entering a container", () => {
  test.skipIf(!ready)("exec's process, seized before it runs the command, holds only the container's privileges and its own memory (root)", async () => {
    const name = `entering-${process.pid}`;
    const watcher = Bun.spawn([BUNKER, "run", "--host-root", "--rm", "-i", "--name", name, "--network", "none", "-w", "/", "--cap-add", "SYS_PTRACE", "--", hostBun, "-e", WATCHER], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    const reader = watcher.stdout.getReader();
    const acc = { text: "" };
    let exec: ReturnType<typeof Bun.spawn> | undefined;
    try {
      await lineMatching(reader, acc, /ready\n/, 10_000);
      // A command that is nowhere along a long PATH: the process stays bunker's code, trying
      // one directory after another, until it gives up with 127. Whatever is seized is pre-exec.
      const path = Array.from({ length: 12000 }, (_, i) => `/n/${i}`).join(":");
      exec = Bun.spawn([BUNKER, "exec", "-e", `PATH=${path}`, name, "no-such-command"], { stdout: "pipe", stderr: "pipe" });
      const seized = await lineMatching(reader, acc, /seized [^\n]*\n/, 10_000);
      expect(seized).toBe(`seized CapEff=${CONTAINER_CAPS_WITH_PTRACE} Seccomp=2 NoNewPrivs=1\n`);
      // Seen from the host: the seized process does not share bunker's address space.
      const inspect = JSON.parse(Bun.spawnSync([BUNKER, "inspect", name]).stdout.toString());
      const traced = tracedIn(inspect.pid ?? inspect[0]?.pid);
      expect(traced.length).toBe(1);
      expect(sameMemory(exec.pid, exec.pid)).toBe(true);
      expect(sameMemory(traced[0]!, exec.pid)).toBe(false);
      watcher.stdin.write("go\n");
      watcher.stdin.flush();
      expect(await exec.exited).toBe(127);
      watcher.stdin.end();
      expect(await watcher.exited).toBe(0);
    } finally {
      exec?.kill(9);
      watcher.kill(9);
      await watcher.exited;
      Bun.spawnSync([BUNKER, "rm", "-f", name]);
    }
  });

  // Both kinds of init: native/init.c, and (BUNKER_NATIVE=compile) a copy of bunker that rewrites its own command line and environment.
  for (const [kind, native] of [
    ["the native init", {}],
    ["init as a copy of bunker", { BUNKER_NATIVE: "compile" }],
  ] as const) {
    test.skipIf(!ready)(`--init's PID 1 holds only the container's privileges, and shows neither bunker's command line nor the caller's environment (${kind})`, () => {
      const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", SECRET_TOKEN: "do-not-show", ...native };
      const r = Bun.spawnSync(
        [BUNKER, "run", "--host-root", "--rm", "--init", "--network", "none", "-w", "/", "--", "sh", "-c", `${kind === "the native init" ? `${NATIVE_INIT_READY}; ` : ""}tr '\\0' ' ' < /proc/1/cmdline; echo; cat /proc/1/comm; grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/1/status`],
        { env, stdout: "pipe", stderr: "pipe" },
      );
      expect(r.stderr.toString()).toBe("");
      expect(r.stdout.toString()).toBe("init \ninit\nCapEff:\t00000000a80425fb\nNoNewPrivs:\t1\nSeccomp:\t2\n");
      // A container that may read init's memory finds no trace of the caller's environment there
      // (the native init's is empty; the copy's is overwritten with NULs).
      const traced = Bun.spawnSync([BUNKER, "run", "--host-root", "--rm", "--init", "--network", "none", "-w", "/", "--cap-add", "SYS_PTRACE", "--", "sh", "-c", "cat /proc/1/environ > /dev/null && echo readable; grep -c do-not-show /proc/1/environ"], {
        env,
        stdout: "pipe",
        stderr: "pipe",
      });
      expect(traced.stdout.toString()).toBe("readable\n0\n");
    });
  }
});
