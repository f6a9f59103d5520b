// OCI mount options, as the new mount API takes them: per-mount flags
// (fsmount's attributes), the filesystem's own parameters (one fsconfig
// each), and propagation, applied once the mount is in place.

import { MOUNT_ATTR, MS } from "../sys/constants";

const ATTRS: Record<string, number> = {
  ro: MOUNT_ATTR.RDONLY,
  nosuid: MOUNT_ATTR.NOSUID,
  nodev: MOUNT_ATTR.NODEV,
  noexec: MOUNT_ATTR.NOEXEC,
  noatime: MOUNT_ATTR.NOATIME,
  strictatime: MOUNT_ATTR.STRICTATIME,
  nodiratime: MOUNT_ATTR.NODIRATIME,
  nosymfollow: MOUNT_ATTR.NOSYMFOLLOW,
};

/** The access-time mode bits: one mode is set, or the mode cleared, only with all of them cleared. */
export const ATIME_MODE = MOUNT_ATTR._ATIME;

/**
 * The recursive flags (runtime-spec 1.1: rro, rnosuid, ...): set on every
 * mount of a bind's tree, or cleared from every one (rrw, rsuid, ...). A
 * cleared access-time mode leaves the kernel's default, relatime.
 */
const RECURSIVE: Record<string, { set: number } | { clear: number }> = {
  rro: { set: MOUNT_ATTR.RDONLY },
  rrw: { clear: MOUNT_ATTR.RDONLY },
  rnosuid: { set: MOUNT_ATTR.NOSUID },
  rsuid: { clear: MOUNT_ATTR.NOSUID },
  rnodev: { set: MOUNT_ATTR.NODEV },
  rdev: { clear: MOUNT_ATTR.NODEV },
  rnoexec: { set: MOUNT_ATTR.NOEXEC },
  rexec: { clear: MOUNT_ATTR.NOEXEC },
  rnodiratime: { set: MOUNT_ATTR.NODIRATIME },
  rdiratime: { clear: MOUNT_ATTR.NODIRATIME },
  rnoatime: { set: MOUNT_ATTR.NOATIME },
  rstrictatime: { set: MOUNT_ATTR.STRICTATIME },
  rrelatime: { clear: ATIME_MODE },
  ratime: { clear: ATIME_MODE },
  rnorelatime: { clear: ATIME_MODE },
  rnostrictatime: { clear: ATIME_MODE },
  rnosymfollow: { set: MOUNT_ATTR.NOSYMFOLLOW },
  rsymfollow: { clear: MOUNT_ATTR.NOSYMFOLLOW },
};

/** Propagation types, applied by a mount call of their own once the mount is in place. */
const PROPAGATION: Record<string, number> = {
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

/** Options that ask for what a new mount is anyway (relatime is the default), or that bind mounts read. */
const DEFAULTS = new Set(["rw", "suid", "dev", "exec", "atime", "diratime", "relatime", "norelatime", "nostrictatime", "symfollow", "async", "defaults", "bind", "rbind"]);

/** The propagation a mount's options (or linux.rootfsPropagation) ask for, or undefined for none. */
export function propagationOf(options: readonly string[] = []): number | undefined {
  let out: number | undefined;
  for (const o of options) if (PROPAGATION[o] !== undefined) out = PROPAGATION[o];
  return out;
}

export interface FsOptions {
  /** MOUNT_ATTR_* flags for fsmount (a later "rw" clears an earlier "ro"). */
  attrs: number;
  /** Flags the recursive options clear from a bind's mounts (rrw, rsuid, ...). */
  clear: number;
  /** The filesystem's parameters in order: [key, value] (size=64m), or [key, null] for a flag (newinstance). */
  params: [string, string | null][];
}

export function fsOptions(options: readonly string[] = []): FsOptions {
  let attrs = 0;
  let clear = 0;
  const params: [string, string | null][] = [];
  for (const o of options) {
    const r = RECURSIVE[o];
    if (r) {
      // The later option wins, as for ro and rw: setting a flag undoes its clearing, and back.
      const bits = "set" in r ? r.set : r.clear;
      const mode = bits & ATIME_MODE ? ATIME_MODE : bits;
      attrs &= ~mode;
      clear &= ~mode;
      if ("set" in r) attrs |= r.set;
      else clear |= r.clear;
    } else if (ATTRS[o] !== undefined) attrs |= ATTRS[o];
    else if (o === "rw") attrs &= ~MOUNT_ATTR.RDONLY;
    else if (DEFAULTS.has(o) || PROPAGATION[o] !== undefined) continue;
    else {
      const eq = o.indexOf("=");
      params.push(eq >= 0 ? [o.slice(0, eq), o.slice(eq + 1)] : [o, null]);
    }
  }
  return { attrs, clear, params };
}
