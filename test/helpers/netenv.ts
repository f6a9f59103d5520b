// What the rootless network helpers need from the host, for the suites that
// run them to skip with the reason when it is missing.

import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";

/** Where bunker looks for the helpers besides PATH (src/net/helpers.ts: the usual places). */
const HELPER_DIRS = ["/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin"];

/** Every place pasta or slirp4netns is installed where bunker finds it. */
export const helperPaths = (name: "pasta" | "slirp4netns"): string[] => HELPER_DIRS.map((d) => `${d}/${name}`).filter((p) => existsSync(p));

export const helperInstalled = (name: "pasta" | "slirp4netns"): boolean => helperPaths(name).length > 0;

/** /dev/net/tun open to every user (0666, as udev makes it): the kernel checks access in the user's own namespaces. */
export function tunOpen(): boolean {
  try {
    accessSync("/dev/net/tun", constants.R_OK | constants.W_OK);
    return (statSync("/dev/net/tun").mode & 0o777) === 0o666;
  } catch {
    return false;
  }
}

/** Whether the host has a default route: pasta copies it, and cannot start without one (a VM with only lo). */
export const hasDefaultRoute = (): boolean =>
  readFileSync("/proc/net/route", "utf8")
    .split("\n")
    .slice(1)
    .some((l) => l.split(/\s+/)[1] === "00000000");
