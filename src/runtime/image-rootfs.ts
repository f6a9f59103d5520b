// A container's root filesystem from an image: the image's layers from the
// store, and the container's own upper and work directories beside them
// (ROOT/containers/ID), made once its state records them and removed with
// it. The overlay itself is mounted by the container's child, in the
// container's mount namespace (rootfs/plan.ts); fuse-overlayfs by that
// program in the same namespaces (fuse-overlay.ts); a copy is made here.

import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, posix } from "node:path";
import { BunkerError } from "../errors";
import type { ContainerSpec, ImageRoot } from "../spec/types";
import { containerLayerDir, layerDir, openStore, removeImageRoot, storeRoot, type ImageRecord } from "../image/store";
import { listStates, type ContainerState } from "./store";
import { chooseDriver } from "./rootfs-driver";
import { copyTrees, useRootlessStoreHelpers } from "./userns-helper";

/**
 * The image's volumes (config.Volumes) as a container `own` gets them: those
 * whose path no mount of the run (`covered`) takes, in path order.
 */
function imageVolumes(image: ImageRecord, own: string, covered: readonly string[]): { destination: string; source: string }[] {
  const taken = new Set(covered.map((c) => posix.normalize(c).replace(/(.)\/$/, "$1")));
  const paths = Object.keys(image.config.config?.Volumes ?? {})
    .filter((v) => v.startsWith("/"))
    .map((v) => posix.normalize(v).replace(/(.)\/$/, "$1"))
    .filter((v) => v !== "/" && !v.split("/").includes("..") && !taken.has(v));
  return [...new Set(paths)].sort().map((destination, i) => ({ destination, source: `${own}/volumes/${i}` }));
}

/** The root filesystem of a container `id` of `image`; `covered`, the paths the run's own mounts take. */
export function imageRoot(image: ImageRecord, ref: string, id: string, covered: readonly string[] = []): ImageRoot {
  const root = openStore();
  const own = containerLayerDir(root, id);
  const volumes = imageVolumes(image, own, covered);
  return {
    id: image.id,
    ref,
    lower: image.layers.map((l) => layerDir(root, l)),
    upper: `${own}/upper`,
    work: `${own}/work`,
    userxattr: (process.geteuid?.() ?? 0) !== 0,
    driver: chooseDriver(),
    merged: `${own}/merged`,
    ...(volumes.length ? { volumes } : {}),
  };
}

/**
 * Makes the container's own directories (its state records them first):
 * upper and work for an overlay, the mount point for fuse-overlayfs, the
 * copy itself for copy. Its layers must all be there. A container started
 * again keeps what it has; one whose first preparation was cut short (a copy
 * or volumes half filled) is prepared anew.
 */
export async function prepareImageRoot(spec: ContainerSpec): Promise<void> {
  const image = spec.bunker.image;
  if (!image) return;
  for (const l of image.lower) if (!existsSync(l)) throw new BunkerError(`image ${image.ref}: its layer ${l} is missing from the store: pull or import it again`);
  const own = dirname(image.upper);
  // Written once everything below is made: a container started again finds it.
  const ready = `${own}/ready`;
  if (existsSync(ready)) return;
  const filled = image.driver === "copy" || image.volumes?.length;
  if (filled) useRootlessStoreHelpers();
  // An overlay's changes are whole at any moment, and kept; a copy cut short is not.
  if (filled && existsSync(own)) removeImageRoot(own);
  const make = (path: string, mode: number) => existsSync(path) || mkdirSync(path, { mode });
  try {
    make(own, 0o700);
    if (image.driver !== "copy") {
      make(image.upper, 0o755);
      make(image.work, 0o700);
    }
    if (image.driver !== "overlay") make(image.merged, 0o755);
  } catch (e) {
    throw new BunkerError(`make the root filesystem of container ${spec.bunker.id}: ${(e as Error).message}`);
  }
  if (image.driver === "copy") await copyTrees(image.lower, image.merged);
  for (const v of image.volumes ?? []) {
    try {
      mkdirSync(v.source, { recursive: true, mode: 0o755 });
    } catch (e) {
      throw new BunkerError(`make the volume ${v.destination} of container ${spec.bunker.id}: ${(e as Error).message}`);
    }
    // What the image has there, with its owners: a database's data directory keeps its owner's.
    await copyTrees(image.lower, v.source, v.destination);
  }
  writeFileSync(ready, "", { mode: 0o600 });
}

/** The trees a container's root filesystem is made of, as `export` merges them: its layers and its changes, or its copy. */
export function imageTrees(image: ImageRoot): string[] {
  return image.driver === "copy" ? [image.merged] : [...image.lower, image.upper];
}

/** Containers (by name, else id) whose root filesystem is of image `id`. */
export function usersOfImage(id: string): string[] {
  return listStates()
    .filter((s) => s.spec.bunker.image?.id === id)
    .map((s) => s.name ?? s.id);
}

/** The layers (hex of their ChainIDs) containers stack. */
export function imagesInUse(states: readonly ContainerState[] = listStates()): Set<string> {
  const out = new Set<string>();
  for (const s of states) for (const l of s.spec.bunker.image?.lower ?? []) out.add(l.slice(l.lastIndexOf("/") + 1));
  return out;
}

/** Container directories in the store whose container is gone (its bunker was killed between removing the state and them). */
export function reconcileImageRoots(states: readonly ContainerState[] = listStates()): void {
  const dir = `${storeRoot()}/containers`;
  if (!existsSync(dir)) return;
  const known = new Set(states.map((s) => s.id));
  for (const e of readdirSync(dir)) if (!known.has(e)) removeImageRoot(`${dir}/${e}`);
}
