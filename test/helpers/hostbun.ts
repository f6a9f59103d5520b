// A copy of the Bun running the tests, where a container without --rootfs
// (which sees the host's files but has its own /tmp) can run it: probes that
// need system calls busybox has no applet for.

import { chmodSync, copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";

export interface HostBun {
  /** The directory it lies in (0755, under /var/tmp), for other files the probes need. */
  dir: string;
  /** The copy of Bun. */
  bun: string;
  remove(): void;
}

export function hostBunCopy(prefix: string): HostBun {
  const dir = mkdtempSync(`/var/tmp/${prefix}-`);
  chmodSync(dir, 0o755);
  const bun = join(dir, "bun");
  copyFileSync(process.execPath, bun);
  chmodSync(bun, 0o755);
  return { dir, bun, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
