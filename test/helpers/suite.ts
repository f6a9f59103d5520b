// The set-up every integration file shares: the built binary, a busybox
// rootfs, and a leak check at the end (mounts, processes in other PID
// namespaces, containers' state) after removing containers left on purpose.

import { afterAll, beforeAll, expect } from "bun:test";
import { bunker, requireBinary } from "./bunker";
import { bridgeExists, leaksSince, newContainers, snapshot, type Snapshot } from "./leaks";
import { makeRootfs, type Rootfs } from "./rootfs";

/** Waits for the kernel to finish tearing namespaces down, then expects nothing new. */
export async function expectNoLeaks(before: Snapshot): Promise<void> {
  const left = newContainers(before);
  if (left.length) bunker(["rm", "-f", ...left]);
  // Root containers use the bunker0 bridge by default and it outlives them by design: a file that made it removes it.
  if (!before.bridge && bridgeExists()) bunker(["network", "prune"]);
  let leaks: string[] = [];
  for (let i = 0; i < 100; i++) {
    leaks = leaksSince(before);
    if (leaks.length === 0) break;
    await Bun.sleep(20);
  }
  expect(leaks).toEqual([]);
}

export interface Suite {
  /** The busybox rootfs made for this file. */
  readonly fs: Rootfs;
}

/** Registers the shared set-up and teardown when `ready`; `teardown` runs before the leak check. */
export function containerSuite(ready: boolean, teardown: () => void = () => {}): Suite {
  let fs: Rootfs | undefined;
  let before: Snapshot | undefined;
  beforeAll(() => {
    if (!ready) return;
    requireBinary();
    before = snapshot();
    fs = makeRootfs();
  });
  afterAll(async () => {
    if (!ready) return;
    teardown();
    fs?.remove();
    await expectNoLeaks(before!);
  });
  return {
    get fs() {
      return fs!;
    },
  };
}
