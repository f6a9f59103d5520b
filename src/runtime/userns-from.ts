// spec.bunker.net.usernsFrom: a user's container made inside another user
// namespace (the rootless network namespace's) instead of one of its own, as
// --network container:ID makes it in the other container's. Its ID maps must
// be that namespace's, since its rootfs and --user were read against them;
// its other namespaces are its own, made after it enters that one.

import { BunkerError } from "../errors";
import { isMapped } from "../identity/idmap";
import type { ContainerSpec, LinuxIDMapping } from "../spec/types";
import { readText } from "../sys/fs";

/** The maps of /proc/PID/uid_map or gid_map, as the spec writes them. */
export function parseIdMap(text: string): LinuxIDMapping[] {
  return text
    .split("\n")
    .map((l) => l.trim().split(/\s+/).map(Number))
    .filter((f) => f.length === 3 && f.every(Number.isInteger))
    .map(([containerID, hostID, size]) => ({ containerID: containerID!, hostID: hostID!, size: size! }));
}

const key = (m: readonly LinuxIDMapping[]) => JSON.stringify(m.map((x) => [x.containerID, x.hostID, x.size]).sort((a, b) => a[0]! - b[0]!));

/**
 * Makes the spec enter `usernsFrom` (a process's user namespace file), when
 * set, instead of a user namespace of its own; refused if the maps the spec
 * was built with are not that namespace's (`maps`, read from its process
 * unless given).
 */
export function applyUsernsFrom(spec: ContainerSpec, maps?: { uid: LinuxIDMapping[]; gid: LinuxIDMapping[] }): void {
  const path = spec.bunker.net?.usernsFrom;
  if (path === undefined) return;
  const m = /^\/proc\/(\d+)\/ns\/user$/.exec(path);
  if (!m) throw new BunkerError(`the user namespace to make the container in (${path}) is not a process's /proc/PID/ns/user`);
  const own = spec.oci.linux.namespaces.find((n) => n.type === "user");
  if (!own) throw new BunkerError("a container without a user namespace cannot be made in the rootless network namespace's");
  let theirs = maps;
  if (!theirs) {
    try {
      theirs = { uid: parseIdMap(readText(`/proc/${m[1]}/uid_map`)), gid: parseIdMap(readText(`/proc/${m[1]}/gid_map`)) };
    } catch (e) {
      throw new BunkerError(`read the ID maps of ${path}: ${(e as Error).message}`);
    }
  }
  const { uidMappings = [], gidMappings = [] } = spec.oci.linux;
  if (key(uidMappings) !== key(theirs.uid) || key(gidMappings) !== key(theirs.gid)) {
    throw new BunkerError("the rootless network namespace maps IDs as your containers do by default: a container on a user-defined network cannot have --userns keep-id, --map-uid or --map-gid");
  }
  if (!isMapped(uidMappings, spec.oci.process.user.uid)) throw new BunkerError(`user ID ${spec.oci.process.user.uid} is not mapped in the rootless network namespace's user namespace`);
  spec.oci.linux.namespaces = spec.oci.linux.namespaces.map((n) => (n.type === "user" ? { type: "user", path } : n));
}
