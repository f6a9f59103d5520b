// What capabilities a container can be given at all: those the kernel has
// and bunker itself holds in its bounding set.

import { ALL_CAP_LIMITS, type CapLimits } from "../security/plan";
import { readText } from "../sys/fs";

/** The kernel's highest capability number and bunker's own bounding set. */
export function capLimits(): CapLimits {
  let { lastCap, bounding } = ALL_CAP_LIMITS;
  try {
    const n = Number(readText("/proc/sys/kernel/cap_last_cap").trim());
    if (Number.isInteger(n)) lastCap = n;
    const m = readText("/proc/self/status").match(/^CapBnd:\s*([0-9a-f]+)$/m);
    if (m) bounding = BigInt(`0x${m[1]}`);
  } catch {
    // keep the defaults
  }
  return { lastCap, bounding };
}
