// Whether a root container's files can be run by other users of the host.
//
// A container run as root without a user namespace writes its rootfs as the
// host's root: a setuid-root or file-capability program it leaves there runs
// with root's privileges for any local user who can reach the file. bunker
// cannot refuse to make such files (package managers make them on every
// install, and nosuid inside the container would not stop a user outside
// from running one), so it says when the rootfs lies where other users can
// reach it. Container runtimes keep their own storage in directories only
// root may enter for the same reason.

import type { ContainerSpec } from "../spec/types";
import { AT, O, STATX } from "../sys/constants";
import { STATX_LAYOUT as SX } from "../sys/layouts";
import { closeFd, trySys } from "../sys/libc";
import { cstr, pathOfFd } from "../sys/fs";

/** The directory's path with every symlink resolved, or null if it cannot be opened. */
function realPath(path: string): string | null {
  const fd = trySys("openat", AT.FDCWD, cstr(path), O.PATH | O.DIRECTORY | O.CLOEXEC, 0);
  if (fd < 0) return null;
  try {
    return pathOfFd(fd);
  } finally {
    closeFd(fd);
  }
}

/**
 * Whether some user other than root may search every directory from / down
 * to `path`: each is searchable by everyone, or by a user or group other than
 * root's that owns it. (Different users at different levels are counted as
 * one: a warning may err on the side of caution.)
 */
export function reachableByOthers(path: string): boolean {
  const real = realPath(path);
  if (real === null) return false;
  const parts = real.split("/").filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    const dir = `/${parts.slice(0, i).join("/")}`;
    const buf = new Uint8Array(SX.SIZE);
    if (trySys("statx", AT.FDCWD, cstr(dir), AT.SYMLINK_NOFOLLOW, STATX.MODE | STATX.UID | STATX.GID, buf) < 0) return false;
    const dv = new DataView(buf.buffer);
    const mode = dv.getUint16(SX.mode, true);
    const uid = dv.getUint32(SX.uid, true);
    const gid = dv.getUint32(SX.gid, true);
    if (!(mode & 0o001) && !(uid !== 0 && mode & 0o100) && !(gid !== 0 && mode & 0o010)) return false;
  }
  return true;
}

/** A warning for a writable rootfs that root's container shares with other users of the host; undefined when there is none. */
export function rootfsExposure(spec: ContainerSpec, euid: number): string | undefined {
  if (euid !== 0 || spec.bunker.rootMode === "host" || spec.oci.root.readonly) return undefined;
  if (spec.oci.linux.namespaces.some((n) => n.type === "user")) return undefined;
  const path = spec.oci.root.path;
  // --rootfs /: the host's own tree, writable, is what was asked for; setuid files are the least of it.
  if (realPath(path) === "/" || !reachableByOthers(path)) return undefined;
  return `rootfs ${path} can be reached by other users of this host: a setuid or file-capability program the container writes there would give them root's privileges (keep the rootfs below a directory only root may enter, e.g. chmod 700 on a parent, or use --read-only)`;
}
