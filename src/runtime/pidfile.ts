// The pid file OCI clients read (--pid-file): the decimal pid, no newline
// (containerd reads it with Atoi), replaced whole so a reader never sees half.

import { BunkerError } from "../errors";
import { AT, O } from "../sys/constants";
import { errnoMessage } from "../sys/errno";
import { absolute, cstr } from "../sys/fs";
import { closeFd, trySys } from "../sys/libc";

/**
 * The temporary file is made new (O_EXCL, O_NOFOLLOW): in a directory other
 * users may write, a planted file or symlink under its name is refused, never
 * written through.
 */
export function writePidFile(path: string, pid: number): void {
  const where = absolute(path);
  const tmp = `${where}.${process.pid}.tmp`;
  const fail = (what: string, r: number): never => {
    throw new BunkerError(`write the pid file ${where}: ${what}: ${errnoMessage(-r)}`);
  };
  const fd = trySys("openat", AT.FDCWD, cstr(tmp), O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.CLOEXEC, 0o644);
  if (fd < 0) fail(`create ${tmp}`, fd);
  const data = new TextEncoder().encode(String(pid));
  const n = trySys("write", fd, data, data.length);
  closeFd(fd);
  if (n !== data.length) {
    trySys("unlinkat", AT.FDCWD, cstr(tmp), 0);
    fail(`write ${tmp}`, n < 0 ? n : -5);
  }
  const r = trySys("renameat2", AT.FDCWD, cstr(tmp), AT.FDCWD, cstr(where), 0);
  if (r < 0) {
    trySys("unlinkat", AT.FDCWD, cstr(tmp), 0);
    fail(`rename ${tmp}`, r);
  }
}
