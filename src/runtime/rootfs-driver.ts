// Which way a container of an image gets its root filesystem: the kernel's
// overlayfs where it may be mounted (always for root; for a user, in a user
// namespace from Linux 5.11), else fuse-overlayfs for a user who can open
// /dev/fuse, else a copy of the image's layers. --storage-driver (or
// $BUNKER_STORAGE_DRIVER) asks for one; one that cannot work here is refused
// with the reason.

import { accessSync, constants, readFileSync } from "node:fs";
import { BunkerError } from "../errors";
import type { RootfsDriver } from "../spec/types";
import { ROOTFS_DRIVERS } from "../spec/rootfs-drivers";
import { findExecutable } from "../sys/fs";
import { FEATURES, has, kernelRelease } from "../sys/kernel";

const DRIVERS: readonly RootfsDriver[] = ROOTFS_DRIVERS;

let requested: string | undefined;

/** The driver this command asks for (the global --storage-driver). */
export function useDriver(name: string): void {
  requested = name;
}

function overlayListed(): boolean {
  try {
    return /\toverlay$/m.test(readFileSync("/proc/filesystems", "utf8"));
  } catch {
    // no /proc: assume the kernel has it, and let the mount say otherwise
    return true;
  }
}

/** Why the kernel's overlayfs cannot give this caller a root filesystem, or undefined when it can. */
function overlayRefusal(root: boolean): string | undefined {
  if (root) return undefined;
  if (!has("userOverlay")) return `overlayfs in a user namespace needs Linux ${FEATURES.userOverlay.since} (this is ${kernelRelease()})`;
  if (!overlayListed()) return "this kernel has no overlayfs (/proc/filesystems does not list it)";
  return undefined;
}

/** The fuse-overlayfs program, or why it cannot be used. */
export function fuseOverlayfs(root: boolean): { path: string } | { refusal: string } {
  if (root) return { refusal: "fuse-overlayfs is for users: root's containers use overlay or copy" };
  const path = findExecutable("fuse-overlayfs", (process.env.PATH ?? "/usr/bin:/bin").split(":"));
  if (!path) return { refusal: "fuse-overlayfs not found: install the fuse-overlayfs package" };
  try {
    accessSync("/dev/fuse", constants.R_OK | constants.W_OK);
  } catch {
    return { refusal: "/dev/fuse cannot be opened for reading and writing by this user" };
  }
  return { path };
}

/** The driver for a container of this caller's. */
export function chooseDriver(root = (process.geteuid?.() ?? 0) === 0): RootfsDriver {
  const want = requested ?? (process.env.BUNKER_STORAGE_DRIVER || undefined);
  if (want !== undefined) {
    if (!DRIVERS.includes(want as RootfsDriver)) throw new BunkerError(`--storage-driver ${want}: use ${DRIVERS.join(", ")}`);
    const fuse = want === "fuse-overlayfs" ? fuseOverlayfs(root) : undefined;
    const refusal = want === "overlay" ? overlayRefusal(root) : fuse && "refusal" in fuse ? fuse.refusal : undefined;
    if (refusal !== undefined) throw new BunkerError(`--storage-driver ${want}: ${refusal}`);
    return want as RootfsDriver;
  }
  if (overlayRefusal(root) === undefined) return "overlay";
  if ("path" in fuseOverlayfs(root)) return "fuse-overlayfs";
  return "copy";
}
