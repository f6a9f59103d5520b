// Credentials in the child, with raw system calls (glibc's wrappers would try
// to reach threads that do not exist in the child).

import { planParentCheck } from "../child/liveness";
import type { ChildProgram } from "../child/program";
import type { ContainerSpec, LinuxIDMapping } from "../spec/types";
import { isMapped } from "./idmap";

const mapped = (maps: readonly LinuxIDMapping[] | undefined, id: number) => maps !== undefined && isMapped(maps, id);

export function hasUserns(spec: ContainerSpec): boolean {
  return spec.oci.linux.namespaces.some((n) => n.type === "user" && !n.path);
}

/**
 * Right after the ID maps are written: become the container's root when it is
 * mapped, and drop the host's supplementary groups (unmapped, they would show
 * as nobody) where setgroups is allowed.
 */
export function planUsernsEntry(p: ChildProgram, spec: ContainerSpec, syncRead: number): void {
  if (!hasUserns(spec)) return;
  const { uidMappings, gidMappings } = spec.oci.linux;
  if (spec.bunker.setgroups) p.call("drop the host's supplementary groups", "setgroups", [0, 0]);
  if (!mapped(uidMappings, 0) || !mapped(gidMappings, 0)) return;
  p.call("become group 0 in the user namespace", "setresgid", [0, 0, 0]);
  p.call("become user 0 in the user namespace", "setresuid", [0, 0, 0]);
  planParentCheck(p, syncRead);
}

/** The --user switch, last before execve: groups, then group, then user. */
export function planSetUser(p: ChildProgram, spec: ContainerSpec, syncRead: number): void {
  const u = spec.oci.process.user;
  const userns = hasUserns(spec);
  const current = userns && !mapped(spec.oci.linux.uidMappings, 0) ? undefined : 0;
  if (u.uid === current && u.gid === 0 && !spec.bunker.setgroups) return;
  if (spec.bunker.setgroups) {
    const gids = u.additionalGids ?? [u.gid];
    const list = new Uint32Array(Math.max(1, gids.length));
    gids.forEach((g, i) => (list[i] = g));
    p.call(`set supplementary groups to ${gids.join(",") || "none"}`, "setgroups", [gids.length, p.arena.bytes(new Uint8Array(list.buffer))]);
  }
  p.call(`set group ID to ${u.gid}`, "setresgid", [u.gid, u.gid, u.gid]);
  p.call(`set user ID to ${u.uid}`, "setresuid", [u.uid, u.uid, u.uid]);
  planParentCheck(p, syncRead);
}
