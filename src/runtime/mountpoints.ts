// The mount points a container's set-up creates in its rootfs directory
// (an empty etc/hostname, a volume's target and its parents, a missing
// /proc): resolved inside the rootfs and recorded before clone, removed once
// the last container using that rootfs has ended (see rootfs/claims.ts).

import { claimRootfs, pruneRootfsRecords, releaseRootfs, type RootfsClaim } from "../rootfs/claims";
import { resolveMountPoints, hostLookup } from "../rootfs/mountpoints";
import { mountTargets, type RootfsFacts } from "../rootfs/plan";
import type { ContainerSpec } from "../spec/types";
import { stateDir } from "./state";

const recordsDir = () => `${stateDir()}/rootfs`;

/**
 * Resolves the container's mount points, sets them in `facts` for the
 * planner and records what the child will create. `supervisor` is the
 * bunker process the container dies with.
 */
export function claimMountPoints(
  spec: ContainerSpec,
  facts: RootfsFacts,
  supervisor: { pid: number; start: number },
  pin?: string,
): RootfsClaim | undefined {
  if (spec.bunker.rootMode !== "dir") return undefined;
  const root = spec.oci.root.path;
  const targets = mountTargets(spec, facts);
  const user = { id: spec.bunker.id, ...supervisor, ...(pin !== undefined ? { pin } : {}) };
  return claimRootfs(recordsDir(), root, user, () => {
    const points = resolveMountPoints(targets, hostLookup(root));
    facts.mountPoints = new Map([...points].map(([dest, mp]) => [dest, mp.path]));
    return [...points.values()].flatMap((mp) => mp.created);
  });
}

export function releaseMountPoints(claim: RootfsClaim | undefined, pins?: readonly string[]): void {
  if (claim) releaseRootfs(claim, pins);
}

/** For commands that clean up after killed bunkers (see store.reconcile). */
export function pruneMountPoints(): void {
  pruneRootfsRecords(recordsDir());
}
