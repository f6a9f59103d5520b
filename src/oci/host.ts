// What creating from a bundle reads of the host: the bundle's config.json,
// the security modules in force, the ID-map helpers, the client's console
// socket.

import { BunkerError } from "../errors";
import { AF_UNIX, SOCK_CLOEXEC, SOCK_STREAM } from "../sys/constants";
import { errnoMessage } from "../sys/errno";
import { fileType, FileError, findExecutable, inodeOf, readRegularFile, readText } from "../sys/fs";
import { closeFd, sys, trySys } from "../sys/libc";
import type { BundleContext } from "./bundle";

/** config.json files are small; a bigger one is refused, not read whole. */
const CONFIG_MAX = 4 << 20;

/** The bundle's config.json, parsed; 64-bit seccomp argument values are kept exact (as text). */
export function readConfig(bundle: string): unknown {
  const type = fileType(bundle, true);
  if (type !== "dir") throw new BunkerError(`bundle ${bundle}: ${type === null ? "no such directory" : "not a directory"}`);
  const path = `${bundle}/config.json`;
  let text: string;
  try {
    text = readRegularFile(path, CONFIG_MAX);
  } catch (e) {
    if (e instanceof FileError) throw new BunkerError(`${path}: ${e.reason}`);
    throw e;
  }
  try {
    return JSON.parse(text.replace(/("value(?:Two)?"\s*:\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"'));
  } catch (e) {
    throw new BunkerError(`${path}: not valid JSON: ${(e as Error).message}`);
  }
}

function flag(path: string): string | null {
  try {
    return readText(path).trim();
  } catch {
    return null;
  }
}

const HELPER_DIRS = ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"];

export function bundleHost(): Omit<BundleContext, "bundle" | "id"> {
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

/** A socket connected to the client's --console-socket, close-on-exec. */
export function connectConsole(path: string): number {
  const type = fileType(path, true);
  if (type !== "socket") throw new BunkerError(`--console-socket ${path}: ${type === null ? "no such file" : "not a socket"}`);
  const bytes = new TextEncoder().encode(path);
  // struct sockaddr_un: sa_family, then a path of at most 107 bytes and its NUL.
  if (bytes.length > 107) throw new BunkerError(`--console-socket ${path}: the path is longer than a socket address holds (107 bytes)`);
  const addr = new Uint8Array(110);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(bytes, 2);
  const fd = sys("create a socket for the console", "socket", AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const r = trySys("connect", fd, addr, 2 + bytes.length + 1);
  if (r < 0) {
    closeFd(fd);
    throw new BunkerError(`connect to --console-socket ${path}: ${errnoMessage(-r)}`);
  }
  return fd;
}
