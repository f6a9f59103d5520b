// Memory files (memfd_create) for what bunker carries inside its executable:
// source for the run-time compiler, the interpreter bun:ffi maps, the waiter
// the kernel execs. Nothing is written to a path another user could swap.

import { F_ADD_SEALS, F_SEAL, MFD } from "./constants";
import { Errno, SysError } from "./errno";
import { cstr } from "./fs";
import { closeFd, trySys, writeAll } from "./libc";


/** What the file is for: read as data, mapped as code (dlopen), or exec'd. */
export type MemoryFileUse = "data" | "map" | "exec";

/**
 * A close-on-exec memory file named `name` holding `data` (`what`, for the
 * message of a failed write); throws a SysError (`createOp`: what its message
 * says failed, when the file cannot be made).
 * Code is said to be executable where the kernel asks (6.3 and later; before,
 * it knows neither flag). vm.memfd_noexec=2 refuses that: code that is only
 * mapped then takes a sealed non-executable file, whose mapping the kernel
 * still lets be executable; code to exec has no other way.
 */
export function memoryFile(name: string, what: string, data: Uint8Array, use: MemoryFileUse, createOp = "memfd_create"): number {
  const tries = use === "data" ? [0] : use === "map" ? [MFD.EXEC, MFD.NOEXEC_SEAL, 0] : [MFD.EXEC, 0];
  const retry = (r: number) => r === -Errno.EINVAL || (use === "map" && r === -Errno.EACCES);
  let fd = -Errno.EINVAL;
  for (const flags of tries) {
    fd = trySys("memfd_create", cstr(name), MFD.CLOEXEC | MFD.ALLOW_SEALING | flags);
    if (fd >= 0 || !retry(fd)) break;
  }
  if (fd < 0) throw new SysError(createOp, -fd);
  try {
    writeAll(`write ${what}`, fd, data);
    // Sealed: whoever reaches the file later (a container through its init's
    // /proc/1/exe) can neither change nor resize it.
    const sealed = trySys("fcntl", fd, F_ADD_SEALS, F_SEAL.SEAL | F_SEAL.SHRINK | F_SEAL.GROW | F_SEAL.WRITE);
    if (sealed < 0) throw new SysError(`seal ${what}`, -sealed);
  } catch (e) {
    closeFd(fd);
    throw e;
  }
  return fd;
}
