// Tests of what only a newer kernel has: skipped, with the reason printed,
// on an older one (test/vm/run.ts --suite bullseye boots Linux 5.10).

import { release } from "node:os";

/** Whether the running kernel is older than `version` ("5.12"); says so, naming `what`, when it is. */
export function kernelBelow(version: string, what: string): boolean {
  const [a = 0, b = 0] = release().split(/[.-]/).map(Number);
  const [x = 0, y = 0] = version.split(".").map(Number);
  const below = a < x || (a === x && b < y);
  if (below) console.warn(`skipping ${what}: needs Linux ${version} or later (this kernel is ${release()})`);
  return below;
}
