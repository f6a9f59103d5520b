// native/health.c on its own, outside any container: it runs
// `EXE healthcheck run ID` from the executable it was given, every interval,
// stops when the process its pidfd names ends (while its own parent lives
// on), and refuses to start for a parent that is not its own. EXE here is a
// shell script that writes down each call.

import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compileHealth, type Arch } from "../../native/object";
import { trySys } from "../../src/sys/libc";

const host: Arch = process.arch === "arm64" ? "aarch64" : "x86_64";
const built = compileHealth(host);
if ("error" in built) console.warn(`skipping the health check timer's tests: ${built.error}`);

const dir = mkdtempSync(join(tmpdir(), "bunker-health-timer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const timer = join(dir, "bunker-health");
const calls = join(dir, "calls");
const fakeBunker = join(dir, "bunker");
if (!("error" in built)) {
  writeFileSync(timer, built.bytes);
  chmodSync(timer, 0o755);
  // Exits as $CHECK says (the timer passes its environment on): 0 a pass, 1 a failure.
  writeFileSync(fakeBunker, `#!/bin/sh\necho "$*" >> ${calls}\nexit \${CHECK:-0}\n`);
  chmodSync(fakeBunker, 0o755);
}

const O_PATH = 0o10000000;

/** Waits until `pred` holds, polling; fails after `ms`. */
async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** Starts the timer for a `sleep` standing in for the container, as a child of this process. */
function start(ppid = process.pid, timing = ["50", "0", "5000"], check = "0") {
  const container = Bun.spawn(["sleep", "30"]);
  const pidfd = trySys("pidfd_open", container.pid, 0);
  expect(pidfd).toBeGreaterThanOrEqual(0);
  const exe = openSync(fakeBunker, O_PATH);
  const proc = Bun.spawn([timer, String(ppid), "4", "3", "c0ffee", ...timing], { stdio: ["ignore", "ignore", "ignore", exe, pidfd], env: { CHECK: check } });
  closeSync(exe);
  trySys("close", pidfd);
  return { container, proc };
}

describe.skipIf("error" in built)("the health check timer", () => {
  test("runs `healthcheck run ID` from the executable it holds, every interval, and ends with the container while its parent lives", async () => {
    rmSync(calls, { force: true });
    const { container, proc } = start();
    await until(() => existsSync(calls) && readFileSync(calls, "utf8").split("\n").length > 3, 4000, "three checks");
    expect(new Set(readFileSync(calls, "utf8").trim().split("\n"))).toEqual(new Set(["healthcheck run c0ffee"]));
    expect(readFileSync(`/proc/${proc.pid}/comm`, "utf8")).toBe("bunker-health\n");
    container.kill("SIGKILL");
    // Its parent (this process) is alive: only the container's end can have ended it.
    expect(await Promise.race([proc.exited, Bun.sleep(2000).then(() => "still running")])).toBe(0);
  });

  test("during the start period, while no check has passed, it waits the start interval instead", async () => {
    rmSync(calls, { force: true });
    // Interval an hour, start interval 50 ms, start period an hour, checks that fail: only the start interval brings more.
    const { container, proc } = start(process.pid, ["3600000", "3600000", "50"], "1");
    await until(() => existsSync(calls) && readFileSync(calls, "utf8").split("\n").length > 2, 4000, "two checks in the start period");
    container.kill("SIGKILL");
    expect(await proc.exited).toBe(0);
  });

  test("exits at once for a parent that is not its own, and refuses bad arguments", async () => {
    rmSync(calls, { force: true });
    const { container, proc } = start(1);
    expect(await Promise.race([proc.exited, Bun.sleep(2000).then(() => "still running")])).toBe(0);
    expect(existsSync(calls)).toBe(false);
    container.kill("SIGKILL");
    for (const args of [[], ["1", "4", "3", "id", "0", "0", "50"], ["x", "4", "3", "id", "50", "0", "50"]]) expect(Bun.spawnSync([timer, ...args]).exitCode).toBe(2);
  });
});
