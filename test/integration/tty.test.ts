// -t through a real terminal: tmux runs bunker, keys are typed, the screen is read.

import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
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

/** Whether a process runs `cmdline` (NULs as spaces) in a PID namespace other than this one's: the container's foreground job. */
function runningInContainer(cmdline: string): boolean {
  const own = readlinkSync("/proc/self/ns/pid");
  return readdirSync("/proc").some((e) => {
    if (!/^\d+$/.test(e)) return false;
    try {
      return readlinkSync(`/proc/${e}/ns/pid`) !== own && readFileSync(`/proc/${e}/cmdline`, "utf8").replaceAll("\0", " ").trim() === cmdline;
    } catch {
      return false;
    }
  });
}

async function poll(pred: () => boolean, what: string, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; screen:\n${screen()}`);
    await Bun.sleep(20);
  }
}

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
    // The new size reaches the pty when bunker's SIGWINCH relay has run: ask until it answers with it.
    const end = Date.now() + 8000;
    for (let i = 0; !screen().includes("30 100"); i++) {
      if (Date.now() > end) throw new Error(`timed out waiting for the new size; screen:\n${screen()}`);
      if (i % 10 === 0) keys("stty size", "Enter");
      await Bun.sleep(50);
    }
    keys("sleep 101", "Enter");
    await poll(() => runningInContainer("sleep 101"), "the job to start");
    keys("C-c");
    keys("echo job=$?", "Enter");
    await until((s) => s.includes("job=130"), "Ctrl-C to reach the job, not bunker");
    expect(runningInContainer("sleep 101")).toBe(false);
    keys("sleep 102", "Enter");
    await poll(() => runningInContainer("sleep 102"), "the job to start");
    keys("C-z");
    await until((s) => /Stopped/.test(s), "Ctrl-Z to suspend the job");
    keys("kill -9 %1; wait; echo reaped", "Enter");
    await until((s) => /^reaped$/m.test(s), "the stopped job to be gone");
    // ash reports the killed job at the next prompt: let it, so exit is not refused.
    keys("jobs; echo listed", "Enter");
    await until((s) => /^listed$/m.test(s), "the job list");
    keys("exit 7", "Enter");
    await until((s) => s.includes("outer=7"), "the container's status");
    // The outer shell writes its terminal's settings once more after bunker has ended.
    await poll(() => existsSync(`${marks}.after`) && readFileSync(`${marks}.after`, "utf8").endsWith("\n"), "the terminal settings after the run");
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

describe.skipIf(!ready)("without a terminal", () => {
  test("piped input reaches the container and so does its end", () => {
    const r = bunker(["run", "--rm", "-i", "--rootfs", suite.fs.path, "--", "sh", "-c", "cat; echo after-eof"], { stdin: "piped line\n" });
    expect(r.stdout).toBe("piped line\nafter-eof\n");
  });

  test("-t with -d is refused", () => {
    expect(bunker(["run", "-d", "-t", "--rootfs", suite.fs.path, "--", "true"])).toMatchObject({
      code: 125,
      stdout: "",
      stderr: "bunker: run: -t with -d: a detached container has no terminal to attach to; leave out -t\n",
    });
  });

  test("-t with piped input: the terminal gets the input and an end-of-file", () => {
    const r = bunker(["run", "--rm", "-t", "-i", "--rootfs", suite.fs.path, "--", "sh", "-c", "read line; echo got:$line; cat; echo got-eof"], { stdin: "x\nmore\n" });
    // The terminal echoes what it is given (with its line endings), then the command's own lines.
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "x\r\nmore\r\ngot:x\r\nmore\r\ngot-eof\r\n", ""]);
  });
});
