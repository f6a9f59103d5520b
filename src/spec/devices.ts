// --device HOST[:CONTAINER][:PERMS] and --device-cgroup-rule, in docker's syntax.

import type { LinuxDeviceCgroup } from "./types";
import { SpecError } from "./validate";

export interface DeviceFlag {
  /** The node on the host, as given. */
  host: string;
  /** Where it goes in the container: in its own /dev. */
  path: string;
  /** What the device rules allow of it: some of r, w and m. */
  access: string;
}

const PERMS = /^[rwm]{1,3}$/;

function checkPerms(perms: string, what: string): string {
  if (!PERMS.test(perms) || new Set(perms).size !== perms.length) throw new SpecError(`${what}: "${perms}" is not a set of permissions (some of r, w and m, e.g. rw)`);
  return perms;
}

export function parseDevice(value: string): DeviceFlag {
  const what = `--device ${value}`;
  const parts = value.split(":");
  if (parts.length > 3 || parts.some((p) => p === "")) throw new SpecError(`${what}: give HOST[:CONTAINER][:PERMS], e.g. /dev/fuse or /dev/sdb:/dev/xvdc:r`);
  const host = parts[0]!;
  let path = host;
  let access = "rwm";
  // docker's reading of two parts: a second that is permissions is permissions.
  if (parts.length === 3) [path, access] = [parts[1]!, checkPerms(parts[2]!, what)];
  else if (parts.length === 2 && PERMS.test(parts[1]!)) access = checkPerms(parts[1]!, what);
  else if (parts.length === 2) path = parts[1]!;
  if (!host.startsWith("/")) throw new SpecError(`${what}: the host path "${host}" must be absolute`);
  if (!path.startsWith("/dev/") || path.split("/").some((p) => p === ".." || p === ".")) throw new SpecError(`${what}: the container path "${path}" must lie in /dev (without . or ..)`);
  return { host, path: path.replace(/\/+$/, ""), access };
}

/** --device-cgroup-rule "c 1:3 rwm", "b 8:* r", "a *:* m": an allow rule of the device cgroup. */
export function parseDeviceRule(value: string): LinuxDeviceCgroup {
  const what = `--device-cgroup-rule "${value}"`;
  const m = value.trim().match(/^([abc])\s+(\d+|\*):(\d+|\*)\s+(\S+)$/);
  if (!m) throw new SpecError(`${what}: give TYPE MAJOR:MINOR PERMS, e.g. "c 1:3 rwm" or "b 8:* r" (TYPE a, b or c; * for any number)`);
  const num = (s: string, max: number) => {
    if (s === "*") return undefined;
    if (Number(s) > max) throw new SpecError(`${what}: ${s} is out of range (0-${max})`);
    return Number(s);
  };
  const major = num(m[2]!, 4095);
  const minor = num(m[3]!, 2 ** 20 - 1);
  return {
    allow: true,
    type: m[1] as "a" | "b" | "c",
    ...(major !== undefined ? { major } : {}),
    ...(minor !== undefined ? { minor } : {}),
    access: checkPerms(m[4]!, what),
  };
}
