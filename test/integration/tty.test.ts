// -t through a real terminal: tmux runs bunker, keys are typed, the screen is read.

import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { bunker, BUNKER, isRoot } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";

const tmux = ["/usr/bin/tmux", "/bin/tmux"].find(existsSync);
const ready = isRoot && busyboxAvailable() && tmux !== undefined;
if (!ready) console.warn(`skipping terminal tests: ${!isRoot ? "they need root" : !tmux ? "tmux is not installed" : "busybox-static is missing"}`);

const SOCK = `bunker-test-${process.pid}`;

const t = (...args: string[]) => Bun.spawnSync([tmux!, "-L", SOCK, ...args], { stdout: "pipe", stderr: "pipe" });
const screen = () => t("capture-pane", "-p", "-t", "w").stdout.toString();

async function until(pred: (s: string) => boolean, what: string, ms = 8000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const s = screen();
    if (pred(s)) return s;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; screen:\n${s}`);
    await Bun.sleep(50);
  }
}

const keys = (...k: string[]) => t("send-keys", "-t", "w", ...k);

/** Types `line` until the screen shows what `pred` wants: for what the shell tells only when asked. */
async function askUntil(line: string, pred: (s: string) => boolean, what: string, ms = 8000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    keys(line, "Enter");
    try {
      return await until(pred, what, 500);
    } catch (e) {
      if (Date.now() > end) throw e;
    }
  }
}

/** Processes running `cmd` (NULs as spaces), each with the fields of its stat after the name. */
function processesOf(cmd: string): string[][] {
  const found: string[][] = [];
  for (const e of readdirSync("/proc")) {
    try {
      if (!/^\d+$/.test(e) || readFileSync(`/proc/${e}/cmdline`, "utf8").replaceAll("\0", " ").trim() !== cmd) continue;
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      found.push(stat.slice(stat.lastIndexOf(")") + 2).split(" "));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Whether a process running `cmd` is in the foreground of its terminal: its group is the one the terminal signals. */
// state ppid pgrp session tty_nr tpgid: the terminal's foreground group is this process's.
const inForeground = (cmd: string) => processesOf(cmd).some((f) => f[2] === f[5]);

/** Whether a process running `cmd` is still there (a zombie counts as gone). */
const alive = (cmd: string) => processesOf(cmd).some((f) => f[0] !== "Z");

const foreground = async (cmd: string) => {
  const end = Date.now() + 8000;
  while (!inForeground(cmd)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${cmd} to run in the foreground`);
    await Bun.sleep(10);
  }
};

const suite = containerSuite(ready, () => t("kill-server"));

describe.skipIf(!ready)("bunker run -it", () => {
  test("a pty, its size following the window, Ctrl-C to the foreground job, the status, the caller's terminal restored", async () => {
    const marks = `${suite.fs.path}/../stty`;
    t("new-session", "-d", "-s", "w", "-x", "120", "-y", "40", "sh");
    keys(`stty -g > ${marks}.before; ${BUNKER} run -it --rm --rootfs ${suite.fs.path} -- sh; echo outer=$?; stty -g > ${marks}.after`, "Enter");
    await until((s) => s.includes("/ #"), "the container's prompt");
    keys("tty; stty size", "Enter");
    await until((s) => /\/dev\/pts\/\d+\n40 120/.test(s), "tty and size");
    t("resize-window", "-t", "w", "-x", "100", "-y", "30");
    await askUntil("stty size", (s) => s.includes("30 100"), "the new size");
    keys("sleep 4801", "Enter");
    await foreground("sleep 4801");
    keys("C-c");
    keys("echo job=$?", "Enter");
    await until((s) => s.includes("job=130"), "Ctrl-C to reach the job, not bunker");
    expect(alive("sleep 4801")).toBe(false);
    keys("sleep 4802", "Enter");
    await foreground("sleep 4802");
    keys("C-z");
    await until((s) => /Stopped/.test(s), "Ctrl-Z to suspend the job");
    keys("kill -9 %1; wait; echo reaped", "Enter");
    await until((s) => /^reaped$/m.test(s), "the stopped job to be gone");
    // ash reports the killed job at the next prompt: let it, so exit is not refused.
    keys("jobs; echo listed", "Enter");
    await until((s) => /^listed$/m.test(s), "the job list");
    keys("exit 7", "Enter");
    await until((s) => s.includes("outer=7"), "the container's status");
    // The outer shell writes the terminal's settings next: once they are there, whole.
    await until(() => existsSync(`${marks}.after`) && readFileSync(`${marks}.after`, "utf8").endsWith("\n"), "the caller's terminal settings");
    expect(readFileSync(`${marks}.after`, "utf8")).toBe(readFileSync(`${marks}.before`, "utf8"));
    rmSync(`${marks}.before`);
    rmSync(`${marks}.after`);
    t("kill-session", "-t", "w");
  }, 30_000);

  test("exec -it into a running container gets its own pty", async () => {
    const id = bunker(["run", "-d", "--rootfs", suite.fs.path, "--", "sleep", "100"]).stdout.trim();
    t("new-session", "-d", "-s", "w", "-x", "90", "-y", "20", "sh");
    keys(`${BUNKER} exec -it ${id} sh; echo outer=$?`, "Enter");
    await until((s) => s.includes("/ #"), "the prompt");
    keys("tty; stty size; exit 4", "Enter");
    const s = await until((x) => x.includes("outer=4"), "exit");
    expect(s).toMatch(/\/dev\/pts\/\d+\n20 90/);
    t("kill-session", "-t", "w");
    bunker(["rm", "-f", id]);
  }, 30_000);
});

describe.skipIf(!ready)("run -dit and attach", () => {
  test("a detached container's terminal: attach, its size following the window, the detach keys, attach again, its status", async () => {
    const r = bunker(["run", "-dit", "--name", "tty-dit", "--network", "none", "--rootfs", suite.fs.path, "--", "sh"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    // Before anyone attaches: docker's 24 by 80.
    expect(bunker(["exec", "tty-dit", "sh", "-c", "stty size < /proc/1/fd/0"]).stdout).toBe("24 80\n");
    t("new-session", "-d", "-s", "w", "-x", "120", "-y", "40", "sh");
    keys(`${BUNKER} attach tty-dit; echo attach=$?`, "Enter");
    await askUntil("stty size", (s) => s.includes("40 120"), "the attached window's size");
    keys("echo from $((6*7))", "Enter");
    await until((s) => s.includes("from 42"), "the container's answer");
    t("resize-window", "-t", "w", "-x", "100", "-y", "30");
    await askUntil("stty size", (s) => s.includes("30 100"), "the new size");
    keys("C-p", "C-q");
    await until((s) => s.includes("attach=0"), "the detach keys to end attach");
    expect(JSON.parse(bunker(["inspect", "tty-dit"]).stdout)[0].status).toBe("running");
    // Attached again, with other keys: ctrl-p passes through, ctrl-x then x leaves.
    keys(`clear; ${BUNKER} attach --detach-keys ctrl-x,x tty-dit; echo again=$?`, "Enter");
    await askUntil("echo still $((2+3))", (s) => s.includes("still 5"), "the second attach");
    keys("C-x", "x");
    await until((s) => s.includes("again=0"), "the other detach keys");
    keys(`clear; ${BUNKER} attach tty-dit; echo last=$?`, "Enter");
    await askUntil("echo last one", (s) => s.includes("last one"), "the third attach");
    keys("exit 5", "Enter");
    await until((s) => s.includes("last=5"), "its status as attach's");
    expect(JSON.parse(bunker(["inspect", "tty-dit"]).stdout)[0]).toMatchObject({ status: "stopped", exitCode: 5 });
    // A terminal's log is what it showed.
    expect(bunker(["logs", "tty-dit"]).stdout).toContain("from 42");
    t("kill-session", "-t", "w");
    expect(bunker(["rm", "tty-dit"]).code).toBe(0);
  }, 30_000);
});

describe.skipIf(!ready)("without a terminal", () => {
  test("piped input reaches the container and so does its end", () => {
    const r = bunker(["run", "--rm", "-i", "--rootfs", suite.fs.path, "--", "sh", "-c", "cat; echo after-eof"], { stdin: "piped line\n" });
    expect(r.stdout).toBe("piped line\nafter-eof\n");
  });

  test("-t with piped input: the terminal gets the input and an end-of-file", () => {
    const r = bunker(["run", "--rm", "-t", "-i", "--rootfs", suite.fs.path, "--", "sh", "-c", "read line; echo got:$line; cat; echo got-eof"], { stdin: "x\nmore\n" });
    // The terminal echoes what it is given (with its line endings), then the command's own lines.
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "x\r\nmore\r\ngot:x\r\nmore\r\ngot-eof\r\n", ""]);
  });
});
