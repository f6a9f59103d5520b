// What the running kernel offers of the calls bunker relies on, found out
// once per process by a call that costs nothing (a bad descriptor, an empty
// range) and remembered. The kernel is asked rather than its version read:
// a distribution's kernel may carry a call back to an older version, and a
// seccomp filter (an outer container's, an old container runtime's) may
// refuse one the version has. The version names, in a refusal, what to
// upgrade to.

import { release as osRelease } from "node:os";
import { CLOSE_RANGE_CLOEXEC } from "./constants";
import { Errno } from "./errno";
import { MOUNT_ATTR_LAYOUT, OPEN_HOW_LAYOUT } from "./layouts";
import { closeFd, trySys } from "./libc";

/** A kernel feature bunker uses, with the first Linux version that has it. */
export const FEATURES = {
  /** openat2 (RESOLVE_IN_ROOT): paths in a rootfs resolved without leaving it. */
  openat2: { since: "5.6", name: "openat2" },
  /** fsopen, fsmount, open_tree, move_mount: every mount of a container. */
  mountApi: { since: "5.2", name: "the new mount API (fsopen, open_tree, move_mount)" },
  /** mount_setattr: flags on a whole mount tree (recursive read-only), id-mapped mounts. */
  mountSetattr: { since: "5.12", name: "mount_setattr" },
  closeRange: { since: "5.9", name: "close_range" },
  closeRangeCloexec: { since: "5.11", name: "close_range(CLOSE_RANGE_CLOEXEC)" },
  pidfd: { since: "5.3", name: "pidfd_open" },
  pidfdSignal: { since: "5.1", name: "pidfd_send_signal" },
  /** setns on a pidfd: every namespace of a process joined at once. */
  pidfdSetns: { since: "5.8", name: "setns on a pidfd" },
  clone3: { since: "5.3", name: "clone3" },
  /** overlayfs mounted in a user namespace. */
  userOverlay: { since: "5.11", name: "overlayfs in a user namespace" },
} as const;

export type Feature = keyof typeof FEATURES;

const known = new Map<Feature, boolean>();

/** The kernel's release string, as uname -r says it. */
export function kernelRelease(): string {
  return osRelease();
}

/** Whether the running kernel's version is at least `version` ("5.11"). */
export function kernelAtLeast(version: string): boolean {
  const [a = 0, b = 0] = kernelRelease().split(/[.-]/).map(Number);
  const [x = 0, y = 0] = version.split(".").map(Number);
  return a > x || (a === x && b >= y);
}

const zeros = (n: number) => new Uint8Array(n);
const empty = new Uint8Array([0]);
const ALL = 0xffffffff;

/** Whether the call answered anything but "no such system call". */
const answered = (r: number) => r !== -Errno.ENOSYS;

function probe(f: Feature): boolean {
  switch (f) {
    case "openat2":
      return answered(trySys("openat2", -1, new TextEncoder().encode("x\0"), zeros(OPEN_HOW_LAYOUT.SIZE), OPEN_HOW_LAYOUT.SIZE));
    case "mountApi":
      return answered(trySys("fsopen", null, 0)) && answered(trySys("open_tree", -1, empty, 0)) && answered(trySys("move_mount", -1, empty, -1, empty, 0));
    case "mountSetattr":
      return answered(trySys("mount_setattr", -1, empty, 0, zeros(MOUNT_ATTR_LAYOUT.SIZE), MOUNT_ATTR_LAYOUT.SIZE));
    case "closeRange":
      // A range past every descriptor: nothing is closed.
      return answered(trySys("close_range", ALL, ALL, 0));
    case "closeRangeCloexec":
      return has("closeRange") && trySys("close_range", ALL, ALL, CLOSE_RANGE_CLOEXEC) === 0;
    case "pidfd": {
      const fd = trySys("pidfd_open", process.pid, 0);
      if (fd >= 0) closeFd(fd);
      return answered(fd);
    }
    case "pidfdSignal":
      return answered(trySys("pidfd_send_signal", -1, 0, null, 0));
    case "pidfdSetns":
      // No call tells it apart without joining something: the version does.
      return has("pidfd") && kernelAtLeast(FEATURES.pidfdSetns.since);
    case "clone3":
      // A zero size is refused before anything is made.
      return answered(trySys("clone3", null, 0));
    case "userOverlay":
      return kernelAtLeast(FEATURES.userOverlay.since);
  }
}

/** Whether the kernel has `f`, asked once per process. */
export function has(f: Feature): boolean {
  let v = known.get(f);
  if (v === undefined) known.set(f, (v = probe(f)));
  return v;
}

/**
 * A refusal for a kernel without what it takes, one line:
 * "rootless overlay needs Linux 5.11 or later (this kernel is 5.10.0-46-amd64)".
 * Reported by the front ends like a failed system call (op and errno ENOSYS).
 */
export class KernelTooOld extends Error {
  readonly op: string;
  readonly errno = Errno.ENOSYS;
  constructor(
    readonly feature: Feature,
    what: string,
  ) {
    const f = FEATURES[feature];
    super(`${what} needs Linux ${f.since} or later (${what === f.name ? "" : `${f.name}; `}this kernel is ${kernelRelease()})`);
    this.op = what;
    this.name = "KernelTooOld";
  }
}

/** What every container needs of the kernel: its mounts, and paths in its rootfs resolved inside it. */
export function requireContainerKernel(): void {
  requireFeature("mountApi", "a container");
  requireFeature("openat2", "a container");
}

/** Throws KernelTooOld unless the kernel has `f`; `what` names what the user asked for. */
export function requireFeature(f: Feature, what: string): void {
  if (!has(f)) throw new KernelTooOld(f, what);
}
