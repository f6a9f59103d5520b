// bunker system info: what this host offers bunker and the caller, found
// out the way bunker itself would (the same checks its commands make), and
// what will not work here and why.

import { release } from "node:os";
import { detectLayout } from "../cgroups/detect";
import { placements } from "../cgroups/tree";
import { parseSubids } from "../identity/subid";
import { helperPath, tunProblem } from "../net/helpers";
import { storeRoot } from "../image/store";
import { findExecutable, readText } from "../sys/fs";
import { versionString } from "../version";
import { hostUserNames } from "./processes";
import { chooseDriver, fuseOverlayfs } from "./rootfs-driver";
import { stateDir } from "./state";
import { FEATURES, has, kernelAtLeast, type Feature } from "../sys/kernel";

export interface HostInfo {
  bunker: string;
  kernel: { release: string; arch: string };
  user: { uid: number; gid: number; name?: string; subuid: string[]; subgid: string[] };
  userNamespaces: { unprivileged: boolean; why?: string };
  cgroups: { layout: string; v1: string[]; v2: string[]; forThisUser: string };
  helpers: Record<string, string | null>;
  /** The helpers' own words for their version. */
  versions: Record<string, string>;
  storage: { store: string; state: string; driver: string };
  /** What will not work here, each with its reason. */
  limits: string[];
}

const read = (path: string): string | undefined => {
  try {
    return readText(path).trim();
  } catch {
    // absent on this kernel or not readable: unknown
    return undefined;
  }
};


export function hostInfo(): HostInfo {
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  const name = hostUserNames().get(uid);
  const limits: string[] = [];
  const ranges = (file: string) => parseSubids(read(file) ?? "", name, uid, file).map((r) => `${r.start}-${r.start + r.count - 1}`);
  const subuid = ranges("/etc/subuid");
  const subgid = ranges("/etc/subgid");
  // User namespaces: Debian's switch, the count limit, and Ubuntu's AppArmor restriction.
  const clone = read("/proc/sys/kernel/unprivileged_userns_clone");
  const max = read("/proc/sys/user/max_user_namespaces");
  const apparmor = read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
  const usernsWhy = clone === "0" ? "kernel.unprivileged_userns_clone is 0" : max === "0" ? "user.max_user_namespaces is 0" : apparmor === "1" ? "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1)" : undefined;
  if (usernsWhy) limits.push(`rootless containers: unprivileged user namespaces are off (${usernsWhy})`);
  const layout = detectLayout();
  const where = placements(layout, uid);
  const forThisUser = typeof where === "string" ? `none: ${where}` : where.map((p) => p.parent).join(", ");
  if (typeof where === "string") limits.push(`resource limits (-m, --cpus, --pids-limit, ...) and pause: ${where}`);
  const helpers: Record<string, string | null> = {};
  for (const h of ["newuidmap", "newgidmap"]) helpers[h] = findExecutable(h, ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]) ?? null;
  for (const h of ["pasta", "slirp4netns"] as const) helpers[h] = helperPath(h, process.env.PATH ?? "") ?? null;
  helpers["fuse-overlayfs"] = findExecutable("fuse-overlayfs", (process.env.PATH ?? "/usr/bin:/bin").split(":")) ?? null;
  const versions: Record<string, string> = {};
  for (const h of ["pasta", "slirp4netns", "fuse-overlayfs"]) {
    const path = helpers[h];
    if (!path) continue;
    const r = Bun.spawnSync([path, "--version"], { stdout: "pipe", stderr: "pipe", timeout: 2000 });
    // Its own line about its version (fuse-overlayfs names fusermount3's too).
    const line = `${r.stdout.toString()}\n${r.stderr.toString()}`.split("\n").find((l) => l.startsWith(h) && /version/i.test(l));
    if (line) versions[h] = line.trim();
  }
  if (uid !== 0) {
    if (!subuid.length || !subgid.length) limits.push(`more than one ID in a container: no ranges for ${name ?? uid} in /etc/subuid and /etc/subgid (every file is then yours, root's inside)`);
    else if (!helpers.newuidmap || !helpers.newgidmap) limits.push("more than one ID in a container: newuidmap/newgidmap not found (install the uidmap package)");
    if (!helpers.pasta && !helpers.slirp4netns) limits.push("rootless networking (--network private): neither pasta (package passt) nor slirp4netns is installed");
    const tun = tunProblem();
    if (tun) limits.push(`rootless networking: ${tun}`);
  }
  let driver: string;
  try {
    driver = chooseDriver(uid === 0);
  } catch (e) {
    driver = `none: ${(e as Error).message}`;
  }
  if (driver === "copy") {
    const fuse = fuseOverlayfs(uid === 0);
    limits.push(`image containers get a copy of their image (slow to start, disk per container): overlayfs ${uid === 0 ? "is missing from this kernel" : has("userOverlay") ? "is missing" : `in a user namespace needs Linux 5.11 (this is ${release()})`}${"refusal" in fuse ? `, and ${fuse.refusal}` : ""}`);
  }
  limits.push(...kernelLimits());
  if (!kernelAtLeast("6.8")) limits.push(`images whose layer paths pass 255 bytes together: overlayfs's lowerdir+ needs Linux 6.8 (this is ${release()})`);
  return {
    bunker: versionString(),
    kernel: { release: release(), arch: process.arch },
    user: { uid, gid, ...(name !== undefined ? { name } : {}), subuid, subgid },
    userNamespaces: { unprivileged: usernsWhy === undefined, ...(usernsWhy ? { why: usernsWhy } : {}) },
    cgroups: {
      layout: layout.mode,
      v1: layout.v1.flatMap((h) => h.controllers),
      v2: layout.v2?.controllers ?? [],
      forThisUser,
    },
    helpers,
    versions,
    storage: { store: storeRoot(), state: stateDir(), driver },
    limits,
  };
}

/** What will not work for want of a system call this kernel lacks (where bunker has an older way, it takes it). */
function kernelLimits(): string[] {
  const lacks = (f: Feature) => `this kernel lacks ${FEATURES[f].name} (Linux ${FEATURES[f].since})`;
  const out: string[] = [];
  for (const f of ["mountApi", "openat2"] as const) if (!has(f)) out.push(`containers: ${lacks(f)}`);
  if (!has("mountSetattr")) out.push(`id-mapped mounts (idmap, ridmap): ${lacks("mountSetattr")}`);
  return out;
}
