// errno names and messages (the generic Linux values, shared by x86_64 and aarch64).

const errors: Record<number, [string, string]> = {
  1: ["EPERM", "Operation not permitted"],
  2: ["ENOENT", "No such file or directory"],
  3: ["ESRCH", "No such process"],
  4: ["EINTR", "Interrupted system call"],
  5: ["EIO", "Input/output error"],
  6: ["ENXIO", "No such device or address"],
  7: ["E2BIG", "Argument list too long"],
  8: ["ENOEXEC", "Exec format error"],
  9: ["EBADF", "Bad file descriptor"],
  10: ["ECHILD", "No child processes"],
  11: ["EAGAIN", "Resource temporarily unavailable"],
  12: ["ENOMEM", "Cannot allocate memory"],
  13: ["EACCES", "Permission denied"],
  14: ["EFAULT", "Bad address"],
  15: ["ENOTBLK", "Block device required"],
  16: ["EBUSY", "Device or resource busy"],
  17: ["EEXIST", "File exists"],
  18: ["EXDEV", "Invalid cross-device link"],
  19: ["ENODEV", "No such device"],
  20: ["ENOTDIR", "Not a directory"],
  21: ["EISDIR", "Is a directory"],
  22: ["EINVAL", "Invalid argument"],
  23: ["ENFILE", "Too many open files in system"],
  24: ["EMFILE", "Too many open files"],
  25: ["ENOTTY", "Inappropriate ioctl for device"],
  26: ["ETXTBSY", "Text file busy"],
  27: ["EFBIG", "File too large"],
  28: ["ENOSPC", "No space left on device"],
  29: ["ESPIPE", "Illegal seek"],
  30: ["EROFS", "Read-only file system"],
  31: ["EMLINK", "Too many links"],
  32: ["EPIPE", "Broken pipe"],
  33: ["EDOM", "Numerical argument out of domain"],
  34: ["ERANGE", "Numerical result out of range"],
  36: ["ENAMETOOLONG", "File name too long"],
  38: ["ENOSYS", "Function not implemented"],
  39: ["ENOTEMPTY", "Directory not empty"],
  40: ["ELOOP", "Too many levels of symbolic links"],
  71: ["EPROTO", "Protocol error"],
  75: ["EOVERFLOW", "Value too large for defined data type"],
  95: ["EOPNOTSUPP", "Operation not supported"],
  97: ["EAFNOSUPPORT", "Address family not supported by protocol"],
  98: ["EADDRINUSE", "Address already in use"],
  99: ["EADDRNOTAVAIL", "Cannot assign requested address"],
  101: ["ENETUNREACH", "Network is unreachable"],
  105: ["ENOBUFS", "No buffer space available"],
  111: ["ECONNREFUSED", "Connection refused"],
  125: ["ECANCELED", "Operation canceled"],
};

export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  ENOTDIR: 20,
  EISDIR: 21,
  EXDEV: 18,
  ENOTEMPTY: 39,
  EFBIG: 27,
  EINVAL: 22,
  EROFS: 30,
  EPIPE: 32,
  ERANGE: 34,
  ENOSYS: 38,
  ELOOP: 40,
  EPROTO: 71,
  ENODEV: 19,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ECONNREFUSED: 111,
  ECANCELED: 125,
} as const;

export function errnoName(e: number): string {
  return errors[e]?.[0] ?? `errno ${e}`;
}

export function errnoMessage(e: number): string {
  return errors[e]?.[1] ?? `Unknown error ${e}`;
}

/** A failed system call made by the parent, with the errno it returned. */
export class SysError extends Error {
  constructor(
    readonly op: string,
    readonly errno: number,
  ) {
    super(`${op}: ${errnoMessage(errno)}`);
    this.name = errnoName(errno);
  }
  get code(): string {
    return errnoName(this.errno);
  }
}
