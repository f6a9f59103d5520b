// Socket addresses bunker builds for connect and bind.

import { AF_UNIX } from "./constants";
import { SOCKADDR_UN_LAYOUT as SUN } from "./layouts";

/** The longest path a struct sockaddr_un holds (its NUL after it). */
export const UNIX_PATH_MAX = SUN.SIZE - SUN.path - 1;

/** struct sockaddr_un for `path`, and the length to pass with it; null when the path is too long for one. */
export function unixAddress(path: string): { addr: Uint8Array; len: number } | null {
  const bytes = new TextEncoder().encode(path);
  if (bytes.length > UNIX_PATH_MAX) return null;
  const addr = new Uint8Array(SUN.SIZE);
  new DataView(addr.buffer).setUint16(SUN.family, AF_UNIX, true);
  addr.set(bytes, SUN.path);
  return { addr, len: SUN.path + bytes.length + 1 };
}
