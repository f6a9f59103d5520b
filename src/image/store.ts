// The image store: content-addressed blobs, each layer unpacked once into a
// directory named by its ChainID and shared by every image and container
// that stacks it, and image records by config digest with their names.
//
//   ROOT/blobs/sha256/HEX     image configs, and layers as the archives they came as, by digest
//   ROOT/layers/HEX           an unpacked layer, by ChainID: complete once renamed in
//   ROOT/images/HEX.json      an image record, by its config's digest
//   ROOT/containers/ID        a container's upper and work directories
//   ROOT/tmp                  staging: what a killed bunker left there is removed
//   ROOT/lock                 held while records change
//
// ROOT is /var/lib/bunker for root and $XDG_DATA_HOME/bunker (or
// ~/.local/share/bunker) for a user; BUNKER_STORAGE moves it.

import { CryptoHasher } from "bun";
import { chmodSync, mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { BunkerError } from "../errors";
import { fileType, lockFile, makeDir, privateDir, readText, writeAtomic } from "../sys/fs";
import { formatReference, parseReference } from "./reference";
import type { ImageHealthcheck } from "../spec/health";

/** The parts of an OCI image config bunker reads (image-spec config.md). */
export interface ImageConfig {
  created?: string;
  architecture: string;
  os: string;
  variant?: string;
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    ExposedPorts?: Record<string, object>;
    Volumes?: Record<string, object>;
    StopSignal?: string;
    Labels?: Record<string, string>;
    Healthcheck?: ImageHealthcheck;
  };
  rootfs: { type: "layers"; diff_ids: string[] };
  history?: { created?: string; created_by?: string; empty_layer?: boolean; comment?: string }[];
}

/** A layer as an archive: the blob it came as (compressed or not), kept for save. */
export interface LayerBlob {
  digest: string;
  size: number;
  /** application/vnd.oci.image.layer.v1.tar, +gzip or +zstd. */
  mediaType: string;
}

export interface ImageRecord {
  /** sha256:HEX of the config: the image's id. */
  id: string;
  /** Full references naming it: docker.io/library/alpine:latest. */
  names: string[];
  /** repository@sha256:... of the manifests it was pulled by. */
  digests: string[];
  /** Its layers' ChainIDs, bottom first. */
  layers: string[];
  /** Bytes of its unpacked layers. */
  size: number;
  /** Its layers as archives, bottom first (missing in a record made before blobs were kept). */
  blobs?: LayerBlob[];
  /** Bytes of each layer's uncompressed tar, bottom first (missing in older records). */
  layerSizes?: number[];
  /** When it came into the store. */
  added: string;
  config: ImageConfig;
}

let chosenRoot: string | undefined;

/** Another store for this command (--storage). */
export function useStore(path: string): void {
  chosenRoot = path;
}

export function storeRoot(): string {
  if (chosenRoot !== undefined) return chosenRoot;
  const env = process.env.BUNKER_STORAGE;
  if (env) return env;
  const uid = process.geteuid?.() ?? 0;
  if (uid === 0) return "/var/lib/bunker";
  const data = process.env.XDG_DATA_HOME || `${process.env.HOME ?? `/tmp/bunker-home-${uid}`}/.local/share`;
  return `${data}/bunker`;
}

/**
 * The store's root, made if missing: the caller's own and no one else's to
 * enter (0700). An image's setuid programs lie in its layers: another user
 * of the host who reached them could run them.
 */
export function openStore(): string {
  const root = storeRoot();
  const uid = process.geteuid?.() ?? 0;
  try {
    const parts = root.split("/").filter(Boolean);
    for (let i = 1; i < parts.length; i++) makeDir(`/${parts.slice(0, i).join("/")}`, 0o755);
    privateDir(root, uid);
    for (const d of ["blobs", "blobs/sha256", "layers", "images", "containers", "tmp"]) makeDir(`${root}/${d}`, 0o700);
  } catch (e) {
    throw new BunkerError(`image store ${root}: ${(e as Error).message}`);
  }
  return root;
}

export const hexOf = (digest: string) => digest.replace(/^sha256:/, "");
export const layerDir = (root: string, chainId: string) => `${root}/layers/${hexOf(chainId)}`;
export const blobPath = (root: string, digest: string) => `${root}/blobs/sha256/${hexOf(digest)}`;

/** ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). */
export function chainId(parent: string | undefined, diffId: string): string {
  return parent === undefined ? diffId : `sha256:${new CryptoHasher("sha256").update(`${parent} ${diffId}`).digest("hex")}`;
}

/** The ChainIDs of a stack of layers, bottom first. */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(chainId(out.at(-1), d));
  return out;
}

export function digestOf(bytes: Uint8Array | string): string {
  return `sha256:${new CryptoHasher("sha256").update(bytes).digest("hex")}`;
}

/** Runs `fn` holding the store's lock. */
export function withStoreLock<T>(root: string, fn: () => T): T {
  const held = lockFile(`${root}/lock`);
  try {
    return fn();
  } finally {
    held?.release();
  }
}

type Remover = (path: string) => Promise<void>;
let helperRemover: Remover | undefined;

/** How trees the user cannot remove as themself are removed (files of their subordinate IDs): see runtime/userns-helper.ts. */
export function useTreeRemover(r: Remover): void {
  helperRemover = r;
}

type Mover = (from: string, to: string) => Promise<void>;
let helperMover: Mover | undefined;

/** How trees the user cannot move as themself are moved (a directory one of their subordinate IDs owns): see runtime/userns-helper.ts. */
export function useTreeMover(m: Mover): void {
  helperMover = m;
}

/**
 * Renames the tree `from` to `to`. Moving a directory to another directory
 * rewrites its "..", which rename(2) allows only with write access to the
 * directory itself: one that belongs to one of the user's subordinate IDs (a
 * layer whose "." entry names an owner) moves through the helper.
 */
export async function moveTree(from: string, to: string): Promise<void> {
  try {
    renameSync(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EACCES" || !helperMover) throw e;
    await helperMover(from, to);
  }
}

/** Removes what can be removed of `path`; what the user may not remove stays for sweepStore. */
function removeWhatCan(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    // files of other IDs (a user's subordinate ones) in it: the sweep's helper removes them
  }
}

/** Where discardTree puts a layer it cannot move to tmp: beside itself in layers/, under a name no listing takes for a layer. */
const GONE_BESIDE = ".gone-";

/**
 * Moves `path` out of the way into the store's tmp (a rename, which needs no
 * right over what is inside) and removes what the user can of it; the rest
 * goes with the next sweepStore. A directory of one of the user's
 * subordinate IDs (a layer whose "." names an owner) cannot change parents
 * (see moveTree): it is renamed beside itself instead, which asks nothing of it.
 */
export function discardTree(root: string, path: string): void {
  const name = Math.random().toString(36).slice(2, 12);
  let gone = `${root}/tmp/gone-${name}`;
  try {
    renameSync(path, gone);
  } catch (e) {
    // Only a layer's top directory is a tree's own (the tar's "."); containers' and volumes' are bunker's.
    if ((e as NodeJS.ErrnoException).code !== "EACCES" || dirname(path) !== `${root}/layers`) return; // already gone
    gone = `${dirname(path)}/${GONE_BESIDE}${name}`;
    try {
      renameSync(path, gone);
    } catch {
      return;
    }
  }
  removeWhatCan(gone);
}

/** Whether a store directory's entry is a tree discardTree left beside the others. */
export const discarded = (name: string): boolean => name.startsWith(GONE_BESIDE);

/** Removes what discardTree left in the store's tmp, through the helper where the user alone cannot. */
export async function sweepStore(root: string): Promise<void> {
  let entries: string[];
  try {
    entries = readdirSync(`${root}/tmp`);
  } catch {
    // no store yet
    return;
  }
  const gone = entries.filter((e) => e.startsWith("gone-")).map((e) => `${root}/tmp/${e}`);
  try {
    for (const e of readdirSync(`${root}/layers`)) if (discarded(e)) gone.push(`${root}/layers/${e}`);
  } catch {
    // no layers yet
  }
  for (const path of gone) {
    removeWhatCan(path);
    if (fileType(path) !== null && helperRemover) await helperRemover(path);
  }
}

/**
 * A staging directory in the store's tmp, which the caller renames into
 * place or removes, then releases. Its lock (tmp/NAME.lock) is held while it
 * is in use: one whose lock is free was left by a killed bunker.
 */
export function stagingDir(root: string, what: string): { path: string; release(): void } {
  const path = mkdtempSync(`${root}/tmp/${what}-`);
  const held = lockFile(`${path}.lock`)!;
  return {
    path,
    release: () => {
      discardTree(root, path);
      rmSync(`${path}.lock`, { force: true });
      held.release();
    },
  };
}

/**
 * Removes what killed bunkers left in the store's tmp: staging directories
 * whose lock nobody holds, and the files beside them (NAME.blob, a layer's
 * archive on its way into blobs/) that their lock covers too.
 */
export function clearStaging(root: string): void {
  for (const e of readdirSync(`${root}/tmp`)) {
    if (e.endsWith(".lock") || e.startsWith("gone-")) continue;
    const path = `${root}/tmp/${e}`;
    const held = lockFile(`${root}/tmp/${e.replace(/\.blob$/, "")}.lock`, false);
    if (!held) continue;
    try {
      discardTree(root, path);
      if (!e.endsWith(".blob")) rmSync(`${path}.lock`, { force: true });
    } finally {
      held.release();
    }
  }
  // A lock file whose directory is gone.
  for (const e of readdirSync(`${root}/tmp`)) {
    if (!e.endsWith(".lock") || fileType(`${root}/tmp/${e.slice(0, -5)}`) !== null) continue;
    const held = lockFile(`${root}/tmp/${e}`, false);
    if (held) {
      rmSync(`${root}/tmp/${e}`, { force: true });
      held.release();
    }
  }
}

const recordPath = (root: string, id: string) => `${root}/images/${hexOf(id)}.json`;

export function readImage(root: string, id: string): ImageRecord | null {
  try {
    return JSON.parse(readText(recordPath(root, id), 16 << 20)) as ImageRecord;
  } catch {
    // no such image, or a record being replaced: none
    return null;
  }
}

export function listImages(root: string): ImageRecord[] {
  const out: ImageRecord[] = [];
  for (const e of readdirSync(`${root}/images`)) {
    if (!/^[0-9a-f]{64}\.json$/.test(e)) continue;
    const r = readImage(root, `sha256:${e.slice(0, 64)}`);
    if (r) out.push(r);
  }
  return out.sort((a, b) => b.added.localeCompare(a.added));
}

/**
 * Records `image` under its names: a name moves from any image that had it
 * (docker's retagging), and an image left without names or digests stays,
 * as docker's dangling <none>.
 */
export function saveImage(root: string, image: ImageRecord): void {
  withStoreLock(root, () => {
    const existing = readImage(root, image.id);
    const merged: ImageRecord = existing
      ? { ...existing, names: [...new Set([...existing.names, ...image.names])], digests: [...new Set([...existing.digests, ...image.digests])] }
      : image;
    for (const other of listImages(root)) {
      if (other.id === image.id) continue;
      const names = other.names.filter((n) => !image.names.includes(n));
      if (names.length !== other.names.length) writeAtomic(recordPath(root, other.id), JSON.stringify({ ...other, names }), 0o600);
    }
    writeAtomic(recordPath(root, image.id), JSON.stringify(merged), 0o600);
  });
}

/** The image `ref` names: a reference (alpine, ghcr.io/o/r:t, x@sha256:...), an id, or an id's prefix. */
export function findImage(root: string, ref: string): ImageRecord | null {
  const images = listImages(root);
  const hex = ref.replace(/^sha256:/, "");
  if (/^[0-9a-f]{12,64}$/.test(hex)) {
    const byId = images.filter((i) => hexOf(i.id).startsWith(hex));
    if (byId.length === 1) return byId[0]!;
    if (byId.length > 1) throw new BunkerError(`image id prefix ${ref} names ${byId.length} images: give more of it`);
  }
  let parsed;
  try {
    parsed = parseReference(ref);
  } catch {
    // not a reference: no image by that name
    return null;
  }
  if (parsed.digest !== undefined) {
    const want = `${parsed.domain}/${parsed.path}@${parsed.digest}`;
    return images.find((i) => i.digests.includes(want)) ?? null;
  }
  const name = formatReference(parsed);
  return images.find((i) => i.names.includes(name)) ?? null;
}

/** Bytes of the uncompressed tar of the stored layer `chain`, as an image record that has it says. */
export function knownLayerSize(root: string, chain: string): number | undefined {
  for (const i of listImages(root)) {
    const at = i.layers.indexOf(chain);
    const size = at >= 0 ? i.layerSizes?.[at] : undefined;
    if (size !== undefined) return size;
  }
  return undefined;
}

/** Removes `name` from the image holding it; the record goes with its last name unless other names or digests keep it. Returns whether the record went. */
export function untagImage(root: string, image: ImageRecord, name?: string): boolean {
  return withStoreLock(root, () => {
    const now = readImage(root, image.id);
    if (!now) return true;
    const names = name === undefined ? [] : now.names.filter((n) => n !== name);
    if (names.length > 0) {
      writeAtomic(recordPath(root, now.id), JSON.stringify({ ...now, names }), 0o600);
      return false;
    }
    rmSync(recordPath(root, now.id), { force: true });
    rmSync(blobPath(root, now.id), { force: true });
    return true;
  });
}

/** Layers no image stacks and no container uses, removed. Returns their count. */
export function pruneLayers(root: string, inUse: ReadonlySet<string>): number {
  return withStoreLock(root, () => {
    const wanted = new Set<string>(inUse);
    for (const i of listImages(root)) for (const l of i.layers) wanted.add(hexOf(l));
    let n = 0;
    for (const e of readdirSync(`${root}/layers`)) {
      if (wanted.has(e) || discarded(e)) continue;
      // Renamed away first: a directory being removed is never taken for a complete layer.
      if (fileType(`${root}/layers/${e}`) === null) continue;
      discardTree(root, `${root}/layers/${e}`);
      n++;
    }
    // Blobs no image names: configs of removed images, layer archives of images gone.
    const blobs = new Set<string>();
    for (const i of listImages(root)) {
      blobs.add(hexOf(i.id));
      for (const b of i.blobs ?? []) blobs.add(hexOf(b.digest));
    }
    for (const e of readdirSync(`${root}/blobs/sha256`)) if (!blobs.has(e)) rmSync(`${root}/blobs/sha256/${e}`, { force: true });
    return n;
  });
}

/** Removes a container's own directory of an image's root filesystem (its upper and work directories). */
export function removeImageRoot(dir: string): void {
  // overlayfs leaves work/work with no permissions, which a user could not descend into.
  try {
    chmodSync(`${dir}/work/work`, 0o700);
  } catch {
    // none there
  }
  // ROOT/containers/ID: the store's root is two levels up.
  discardTree(dirname(dirname(dir)), dir);
}

/** A container's upper and work directories, by container id. */
export function containerLayerDir(root: string, id: string): string {
  return `${root}/containers/${id}`;
}
