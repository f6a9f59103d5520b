// OCI create/start's gate: a FIFO in the container's state directory. The
// created process holds it open for reading and writing and blocks reading
// it; `bunker start` writes one byte. Open read-write, the FIFO has a reader
// exactly as long as that process lives, so a start finds a dead container
// (ENXIO) instead of blocking, and the process never sees EOF meanwhile.

import { AT, O, S } from "../sys/constants";
import { Errno, SysError } from "../sys/errno";
import { cstr } from "../sys/fs";
import { closeFd, sys, trySys } from "../sys/libc";
import { BunkerError } from "../errors";

const NAME = "start.fifo";

export const gatePath = (dir: string) => `${dir}/${NAME}`;

/** Makes the gate in the container's directory: its descriptor (read-write, close-on-exec) for the child. */
export function openGate(dir: string): number {
  const path = gatePath(dir);
  sys(`create ${path}`, "mknodat", AT.FDCWD, cstr(path), S.IFIFO | 0o600, 0);
  return sys(`open ${path}`, "openat", AT.FDCWD, cstr(path), O.RDWR | O.CLOEXEC | O.NOFOLLOW, 0);
}

/** Whether the gate is still shut: created, and no start has gone through. */
export function gateShut(dir: string): boolean {
  return trySys("faccessat", AT.FDCWD, cstr(gatePath(dir)), 0, 0) === 0;
}

/**
 * Lets the created process go on to execve. False if nothing waits there (its
 * process is gone); the gate is removed either way.
 */
export function openGateForStart(dir: string): boolean {
  const path = gatePath(dir);
  const fd = trySys("openat", AT.FDCWD, cstr(path), O.WRONLY | O.NONBLOCK | O.CLOEXEC | O.NOFOLLOW, 0);
  if (fd === -Errno.ENXIO) {
    trySys("unlinkat", AT.FDCWD, cstr(path), 0);
    return false;
  }
  if (fd < 0) throw new BunkerError(new SysError(`open ${path}`, -fd).message);
  try {
    const n = trySys("write", fd, new Uint8Array([0]), 1);
    if (n < 0 && n !== -Errno.EPIPE) throw new BunkerError(new SysError(`write ${path}`, -n).message);
    trySys("unlinkat", AT.FDCWD, cstr(path), 0);
    return n === 1;
  } finally {
    closeFd(fd);
  }
}
