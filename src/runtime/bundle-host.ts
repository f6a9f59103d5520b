// What the OCI front end needs of the host, below it: the bundle's
// config.json and the other JSON files a client names, the security modules
// in force, the ID-map helpers, the client's console socket, a new file.

import { BunkerError } from "../errors";
import { AF_UNIX, AT, O, SOCK_CLOEXEC, SOCK_STREAM } from "../sys/constants";
import { errnoMessage } from "../sys/errno";
import { absolute, cstr, fileType, FileError, findExecutable, inodeOf, readRegularFile, readText } from "../sys/fs";
import { closeFd, sys, trySys } from "../sys/libc";
import { UNIX_PATH_MAX, unixAddress } from "../sys/sockaddr";
import { quoteArgValues } from "../security/seccomp/profile";

/** What a config is checked against on this host (see oci/bundle.ts). */
export interface HostFacts {
  /** The caller's uid and gid. */
  uid: number;
  gid: number;
  /** Whether the host has AppArmor or SELinux enforcing (a profile or label asked for then cannot be ignored). */
  lsm: { apparmor: boolean; selinux: boolean };
  /** newuidmap and newgidmap, where found: how an unprivileged caller writes maps beyond its own IDs. */
  helpers?: { newuidmap: string; newgidmap: string };
  /** Whether a path names a directory. */
  isDir: (path: string) => boolean;
  /** Whether the namespace file `path` is the host's own namespace of its kind (that of PID 1). */
  isHostNamespace: (path: string, type: string) => boolean;
}

/** config.json files are small; a bigger one is refused, not read whole. */
const CONFIG_MAX = 4 << 20;

/** The bundle's config.json, parsed; 64-bit seccomp argument values are kept exact (as text). */
export function readConfig(bundle: string): unknown {
  const type = fileType(bundle, true);
  if (type !== "dir") throw new BunkerError(`bundle ${bundle}: ${type === null ? "no such directory" : "not a directory"}`);
  return readJson(`${bundle}/config.json`, "", quoteArgValues);
}

function flag(path: string): string | null {
  try {
    return readText(path).trim();
  } catch {
    // no such file: the host has no such module enabled
    return null;
  }
}

const HELPER_DIRS = ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"];

export function bundleHost(): HostFacts {
  const dirs = [...(process.env.PATH ?? "").split(":").filter(Boolean), ...HELPER_DIRS];
  const newuidmap = findExecutable("newuidmap", dirs);
  const newgidmap = findExecutable("newgidmap", dirs);
  return {
    uid: process.geteuid?.() ?? 0,
    gid: process.getegid?.() ?? 0,
    lsm: { apparmor: flag("/sys/module/apparmor/parameters/enabled") === "Y", selinux: flag("/sys/fs/selinux/enforce") === "1" },
    ...(newuidmap && newgidmap ? { helpers: { newuidmap, newgidmap } } : {}),
    isDir: (p) => fileType(p, true) === "dir",
    isHostNamespace: (p, type) => {
      const file = { network: "net", mount: "mnt" }[type] ?? type;
      const host = inodeOf(`/proc/1/ns/${file}`);
      return host !== null && inodeOf(p) === host;
    },
  };
}

/** A JSON file a client names (config.json, --process, --resources): a regular file of at most 4 MiB; `what` names it in errors. */
export function readJson(path: string, what: string, prepare: (text: string) => string = (t) => t): unknown {
  const where = absolute(path);
  const label = what ? `${what} ${where}` : where;
  let text: string;
  try {
    text = readRegularFile(where, CONFIG_MAX);
  } catch (e) {
    if (e instanceof FileError) throw new BunkerError(`${label}: ${e.reason}`);
    throw e;
  }
  try {
    return JSON.parse(prepare(text));
  } catch (e) {
    throw new BunkerError(`${label}: not valid JSON: ${(e as Error).message}`);
  }
}

/** Writes `text` to `path`, which must not exist yet (never through a file or symlink already there). */
export function createNewFile(path: string, text: string): void {
  const fd = trySys("openat", AT.FDCWD, cstr(path), O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.CLOEXEC, 0o644);
  if (fd < 0) throw new BunkerError(fd === -17 ? `${path} exists: remove it first` : `create ${path}: ${errnoMessage(-fd)}`);
  try {
    const data = new TextEncoder().encode(text);
    const n = trySys("write", fd, data, data.length);
    if (n !== data.length) throw new BunkerError(`write ${path}: ${n < 0 ? errnoMessage(-n) : "short write"}`);
  } finally {
    closeFd(fd);
  }
}

export interface Console {
  fd: number;
  close(): void;
}

/** A socket connected to the client's --console-socket, close-on-exec. */
export function connectConsole(path: string): Console {
  const type = fileType(path, true);
  if (type !== "socket") throw new BunkerError(`--console-socket ${path}: ${type === null ? "no such file" : "not a socket"}`);
  const addr = unixAddress(path);
  if (!addr) throw new BunkerError(`--console-socket ${path}: the path is longer than a socket address holds (${UNIX_PATH_MAX} bytes)`);
  const fd = sys("create a socket for the console", "socket", AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const r = trySys("connect", fd, addr.addr, addr.len);
  if (r < 0) {
    closeFd(fd);
    throw new BunkerError(`connect to --console-socket ${path}: ${errnoMessage(-r)}`);
  }
  return { fd, close: () => closeFd(fd) };
}
