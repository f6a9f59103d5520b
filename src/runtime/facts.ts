// What the rootfs planner is told about the host and the container before
// clone: the /etc files bunker writes (hostname, hosts, resolv.conf; passwd
// and group for --userns keep-id), the
// cgroup view, the host's mount points for the no-rootfs view, and which
// sources of binds are directories.

import type { RootfsFacts } from "../rootfs/plan";
import { mountPointsOf } from "../rootfs/hostmounts";
import { cgroupfsView } from "../cgroups/view";
import { detectLayout } from "../cgroups/detect";
import type { ContainerSpec } from "../spec/types";
import { fileType, mountFlagsOf, readText } from "../sys/fs";
import { has } from "../sys/kernel";
import { msOfStatfs } from "../rootfs/remount";
import { realpathSync } from "node:fs";
import { BunkerError } from "../errors";
import { resolvConfWith } from "../spec/hosts";
import { hostname as hostnameOfHost } from "node:os";

export interface HostsEntry {
  /** The container's address, and other names' lines to add. */
  ip: string;
  extra: string[];
  /** The container's name besides its hostname. */
  name?: string;
}

export function hostsFile(hostname: string, base?: string, entry?: HostsEntry): string {
  const names = entry?.name && entry.name !== hostname ? `${hostname} ${entry.name}` : hostname;
  const own = entry ? [`${entry.ip}\t${names}`, ...entry.extra] : [`127.0.1.1\t${names}`];
  if (base !== undefined) {
    const lines = base.endsWith("\n") || base === "" ? base : `${base}\n`;
    return `${lines}${own.join("\n")}\n`;
  }
  return [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "ff00::0\tip6-mcastprefix",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
    ...own,
    "",
  ].join("\n");
}

/** --add-host NAME:host-gateway: the address the container reaches the host at (its host.bunker.internal). */
function hostGateway(entry: HostsEntry | undefined, name: string): string {
  const line = entry?.extra.find((l) => l.endsWith("\thost.bunker.internal"));
  if (!line) throw new BunkerError(`--add-host ${name}:host-gateway: this container's network reaches no address of the host (with --network none or host there is none to give)`);
  return line.split("\t")[0]!;
}

function isRegularFile(path: string): boolean {
  try {
    return fileType(path) === "file";
  } catch {
    // unreachable counts as absent: bunker then writes its own file there
    return false;
  }
}

export function rootfsFacts(spec: ContainerSpec, net?: { hostsEntry?: HostsEntry; resolvConf?: string }, name?: string): RootfsFacts {
  const etcFiles = new Map<string, string>();
  // With the host's UTS namespace (--uts host), the host's name.
  const hostname = spec.oci.hostname ?? (spec.oci.linux.namespaces.some((n) => n.type === "uts") ? spec.bunker.id : hostnameOfHost());
  etcFiles.set("hostname", `${hostname}\n`);
  let base: string | undefined;
  if (spec.bunker.network === "host") {
    try {
      base = readText("/etc/hosts");
    } catch {
      // no host file to start from: bunker's own lines only
      base = undefined;
    }
  }
  const extra = (spec.bunker.extraHosts ?? []).map((h) => `${h.ip === "host-gateway" ? hostGateway(net?.hostsEntry, h.name) : h.ip}\t${h.name}`);
  etcFiles.set("hosts", hostsFile(hostname, base, net?.hostsEntry ? { ...net.hostsEntry, ...(name !== undefined ? { name } : {}) } : undefined) + (extra.length ? `${extra.join("\n")}\n` : ""));
  const resolv = spec.bunker.dns ? resolvConfWith(net?.resolvConf ?? "", spec.bunker.dns) : net?.resolvConf;
  if (resolv !== undefined) etcFiles.set("resolv.conf", resolv);
  for (const [file, text] of Object.entries(spec.bunker.userFiles ?? {})) etcFiles.set(file, text);
  const cgroupfs = spec.oci.mounts.some((m) => m.type === "cgroup") ? cgroupfsView(detectLayout()) : undefined;
  return {
    ...(cgroupfs ? { cgroupfs } : {}),
    ...(spec.bunker.rootMode === "host" ? { hostMounts: mountPointsOf(readText("/proc/self/mountinfo", 4 << 20)) } : {}),
    ...(has("mountSetattr") ? {} : remountFacts()),
    etcFiles,
    etcTargetExists: (name) => isRegularFile(`/etc/${name}`),
    sourceIsDir: (path) => {
      try {
        return fileType(path, true) === "dir";
      } catch {
        // unreachable: the bind itself then fails with the reason
        return false;
      }
    },
  };
}

/** What bind remounts need to know of the host's mounts where mount_setattr is missing (see rootfs/remount.ts). */
function remountFacts(): Pick<RootfsFacts, "mountFlags" | "mountsBelow"> {
  let points: string[] | undefined;
  return {
    // A flag unknown is one not kept: the remount then fails, in a user namespace, rather than loosen it.
    mountFlags: (path) => msOfStatfs(mountFlagsOf(path) ?? 0),
    mountsBelow: (path) => {
      points ??= mountPointsOf(readText("/proc/self/mountinfo", 4 << 20));
      let top: string;
      try {
        top = realpathSync(path).replace(/\/+$/, "");
      } catch {
        return [];
      }
      // One remount a place: of mounts stacked there, the path reaches only the top one, and the others are covered.
      const rel = points.filter((m) => m.startsWith(`${top}/`) && m.length > top.length + 1).map((m) => m.slice(top.length + 1));
      return [...new Set(rel)];
    },
  };
}
