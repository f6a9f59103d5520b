// The set-up every integration file shares: the built binary, a busybox
// rootfs, and the leak check (test/helpers/leaks.ts) after each test and
// after the whole file. The check comes first and cleaning up after it, so
// that nothing bunker itself can remove (a container left behind, a bridge
// with a published port) is mistaken for a clean host.

import { afterAll, afterEach, beforeAll, beforeEach } from "bun:test";
import { writeFileSync } from "node:fs";
import { bunker, requireBinary } from "./bunker";
import { bridgeExists, keptContainers, leakedMounts, leakedPids, leaksSince, newContainers, snapshot, type Snapshot } from "./leaks";
import { makeRootfs, type Rootfs } from "./rootfs";

/** How long the kernel and exiting bunker processes may take to finish what a test ended. */
const SETTLE_MS = 2000;

/** What is still new since `before` once it has had SETTLE_MS to go. */
async function settledLeaks(before: Snapshot): Promise<string[]> {
  const end = Date.now() + SETTLE_MS;
  for (;;) {
    const leaks = leaksSince(before);
    if (leaks.length === 0 || Date.now() > end) return leaks;
    await Bun.sleep(20);
  }
}

/**
 * The check: what is new since `before` once it has settled. A test may keep
 * stopped containers (a run without --rm keeps its container, by design):
 * when nothing else is left, they are removed as a user would, with plain
 * bunker rm, which must then leave nothing either.
 */
async function leaksOf(before: Snapshot): Promise<string[]> {
  const leaks = await settledLeaks(before);
  if (leaks.length) return leaks;
  const kept = keptContainers(before);
  if (kept.length === 0) return [];
  const r = bunker(["rm", ...kept]);
  const after = (await settledLeaks(before)).map((l) => `after bunker rm of its stopped containers: ${l}`);
  return r.code === 0 ? after : [`bunker rm ${kept.join(" ")} failed: ${r.stderr.trim()}`, ...after];
}

/**
 * Undoes what can be undone of a leak, so that one test's leak does not fail
 * the next: new processes killed (containers die with their bunker), root's
 * new containers removed, new mounts detached (a namespace pinned where it
 * should have been refused), and with `bridge` a bridge made since `before`
 * removed and IPv4 forwarding set back.
 */
function cleanUp(before: Snapshot, bridge: boolean): void {
  for (const pid of leakedPids(before)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  const left = newContainers(before);
  if (left.length) bunker(["rm", "-f", ...left]);
  for (const point of leakedMounts(before)) Bun.spawnSync(["umount", "-l", point], { stdout: "ignore", stderr: "ignore" });
  if (bridge && !before.bridge && bridgeExists()) {
    bunker(["network", "prune"]);
    if (!bridgeExists() && before.forward === "0") writeFileSync("/proc/sys/net/ipv4/ip_forward", "0\n");
  }
}

function report(who: string, leaks: string[], after: string[]): string {
  const list = (l: string[]) => l.map((x) => `\n  ${x}`).join("");
  return `${who} left behind:${list(leaks)}${after.length ? `\nand after removing its containers and processes, still:${list(after)}` : ""}`;
}

/**
 * Compares the host with `before`, then cleans up (`cleanup` too: users,
 * files, whatever hides state), then fails naming what was left.
 */
export async function expectNoLeaks(before: Snapshot, cleanup: () => void = () => {}, who = "this file (its tests, beforeAll or afterAll)"): Promise<void> {
  const leaks = await leaksOf(before);
  if (leaks.length === 0) {
    cleanUp(before, true);
    cleanup();
    return;
  }
  cleanUp(before, true);
  const after = await settledLeaks(before);
  cleanup();
  throw new Error(report(who, leaks, after));
}

export interface LeakGuard {
  /** The host as it was before the file's first hook. */
  readonly before: Snapshot;
  /** The file's check: call at the end of its last afterAll, with the clean-up that would hide state (users' removal). */
  check(cleanup?: () => void): Promise<void>;
}

/**
 * Registers a leak check around every test of the file (so a leak is
 * reported under the name of the test that made it) and a snapshot before
 * the file's own hooks: call it before any beforeAll of the file.
 */
export function guardLeaks(ready: boolean): LeakGuard {
  let file: Snapshot | undefined;
  let test: Snapshot | undefined;
  beforeAll(() => {
    if (ready) file = snapshot();
  });
  beforeEach(() => {
    if (ready) test = snapshot();
  });
  afterEach(async () => {
    if (!test) return;
    const before = test;
    test = undefined;
    const leaks = await leaksOf(before);
    if (leaks.length === 0) return;
    cleanUp(before, false);
    throw new Error(report("this test", leaks, await settledLeaks(before)));
  });
  return {
    get before() {
      return file!;
    },
    check: (cleanup = () => {}) => expectNoLeaks(file!, cleanup),
  };
}

export interface Suite {
  /** The busybox rootfs made for this file. */
  readonly fs: Rootfs;
}

/**
 * Registers the shared set-up and the leak checks when `ready`. `teardown`
 * is the file's own clean-up of what it made in its hooks (containers,
 * tmux), run before the file's check; the rootfs goes after it.
 */
export function containerSuite(ready: boolean, teardown: () => void = () => {}): Suite {
  let fs: Rootfs | undefined;
  const guard = guardLeaks(ready);
  beforeAll(() => {
    if (!ready) return;
    requireBinary();
    fs = makeRootfs();
  });
  afterAll(async () => {
    if (!ready) return;
    teardown();
    await guard.check(() => fs?.remove());
  });
  return {
    get fs() {
      return fs!;
    },
  };
}
