// OCI mount options: the ones that are mount(2) flags, and the rest, which go
// to the filesystem as its data string.

import { MS } from "../sys/constants";

const FLAGS: Record<string, [set: boolean, flag: number]> = {
  ro: [true, MS.RDONLY],
  rw: [false, MS.RDONLY],
  nosuid: [true, MS.NOSUID],
  suid: [false, MS.NOSUID],
  nodev: [true, MS.NODEV],
  dev: [false, MS.NODEV],
  noexec: [true, MS.NOEXEC],
  exec: [false, MS.NOEXEC],
  sync: [true, MS.SYNCHRONOUS],
  async: [false, MS.SYNCHRONOUS],
  dirsync: [true, MS.DIRSYNC],
  noatime: [true, MS.NOATIME],
  atime: [false, MS.NOATIME],
  nodiratime: [true, MS.NODIRATIME],
  diratime: [false, MS.NODIRATIME],
  relatime: [true, MS.RELATIME],
  norelatime: [false, MS.RELATIME],
  strictatime: [true, MS.STRICTATIME],
  nostrictatime: [false, MS.STRICTATIME],
  nosymfollow: [true, MS.NOSYMFOLLOW],
  bind: [true, MS.BIND],
  rbind: [true, MS.BIND | MS.REC],
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

/** The propagation a mount's options (or linux.rootfsPropagation) ask for, or undefined for none. */
export function propagationOf(options: readonly string[] = []): number | undefined {
  let out: number | undefined;
  for (const o of options) if (PROPAGATION[o] !== undefined) out = PROPAGATION[o];
  return out;
}

export interface ParsedOptions {
  flags: number;
  data: string;
}

export function parseMountOptions(options: readonly string[] = []): ParsedOptions {
  let flags = 0;
  const data: string[] = [];
  for (const o of options) {
    const f = FLAGS[o];
    if (PROPAGATION[o] !== undefined) continue;
    if (f) {
      if (f[0]) flags |= f[1];
      else flags &= ~f[1];
    } else {
      data.push(o);
    }
  }
  return { flags, data: data.join(",") };
}
