// bunker load: images from an archive, as `docker save` writes one
// (manifest.json, each image's config and layer tars) or as an OCI image
// layout in a tar (oci-layout, index.json, blobs/sha256/...), plain or
// compressed. The archive's files are first put in a staging directory of
// the store (regular files only, at paths checked like any layer's), then
// each image's layers go into the store as a pull's do.

import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { BunkerError } from "../errors";
import { decompressed, describeArchive, storeLayer } from "./layers";
import { readTar } from "./tar";
import { layerPath } from "./unpack";
import { formatReference, parseReference } from "./reference";
import { blobPath, chainIds, clearStaging, digestOf, knownLayerSize, layerDir, openStore, saveImage, stagingDir, type ImageConfig, type ImageRecord, type LayerBlob } from "./store";
import { fileType } from "../sys/fs";

/** Writes the archive's regular files below `dir`; anything else in it is skipped. */
async function extract(stream: ReadableStream<Uint8Array>, dir: string): Promise<void> {
  for await (const { entry, content } of readTar(decompressed(stream))) {
    if (entry.type !== "file" && entry.type !== "dir") continue;
    const parts = layerPath(entry.path);
    if (parts.length === 0) continue;
    const path = join(dir, ...parts);
    if (entry.type === "dir") {
      mkdirSync(path, { recursive: true });
      continue;
    }
    mkdirSync(dirname(path), { recursive: true });
    // No symlink is ever written here: the path's parents are directories this function made.
    const sink = Bun.file(path).writer();
    for await (const chunk of content()) sink.write(chunk);
    await sink.end();
  }
}

/** A JSON file of the archive, read whole: one past 16 MiB is refused rather than read. */
function readSmall(path: string, what: string): Uint8Array {
  if (fileType(path) !== "file") throw new BunkerError(`load: the archive has no ${what}`);
  if (statSync(path).size > 16 << 20) throw new BunkerError(`load: ${what} is larger than 16 MiB`);
  return new Uint8Array(readFileSync(path));
}

interface LoadedImage {
  config: string;
  layers: string[];
  names: string[];
}

/** docker save's manifest.json: [{Config, RepoTags, Layers}]. */
function dockerImages(dir: string): LoadedImage[] {
  let manifest: { Config?: string; RepoTags?: string[] | null; Layers?: string[] }[];
  try {
    manifest = JSON.parse(new TextDecoder().decode(readSmall(join(dir, "manifest.json"), "manifest.json")));
  } catch {
    throw new BunkerError("load: manifest.json is not JSON");
  }
  if (!Array.isArray(manifest)) throw new BunkerError("load: manifest.json is not a list of images");
  return manifest.map((m, i) => {
    if (typeof m.Config !== "string" || !Array.isArray(m.Layers)) throw new BunkerError(`load: manifest.json's image ${i} has no Config or Layers`);
    return { config: m.Config, layers: m.Layers, names: m.RepoTags ?? [] };
  });
}

/** An OCI layout's index.json: each image manifest it names (through nested indexes too), with its ref.name annotation. */
function ociImages(dir: string): LoadedImage[] {
  const blob = (digest: string) => {
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new BunkerError(`load: "${digest}" is not a sha256 digest`);
    return `blobs/sha256/${digest.slice(7)}`;
  };
  const json = <T>(path: string): T => {
    const bytes = readSmall(join(dir, path), path);
    try {
      return JSON.parse(new TextDecoder().decode(bytes)) as T;
    } catch {
      throw new BunkerError(`load: ${path} is not JSON`);
    }
  };
  type Index = { manifests?: { mediaType?: string; digest: string; annotations?: Record<string, string> }[] };
  const out: LoadedImage[] = [];
  const walk = (index: Index, depth: number) => {
    for (const m of index.manifests ?? []) {
      const name = m.annotations?.["io.containerd.image.name"] ?? m.annotations?.["org.opencontainers.image.ref.name"];
      if (m.mediaType?.includes("index") || m.mediaType?.includes("manifest.list")) {
        if (depth < 4) walk(json<Index>(blob(m.digest)), depth + 1);
        continue;
      }
      const manifest = json<{ config?: { digest: string }; layers?: { digest: string }[] }>(blob(m.digest));
      if (!manifest.config || !manifest.layers) continue;
      out.push({ config: blob(manifest.config.digest), layers: manifest.layers.map((l) => blob(l.digest)), names: name ? [name] : [] });
    }
  };
  walk(json<Index>("index.json"), 0);
  return out;
}

/** Names an archive gives an image, as references; a bare OCI tag ("latest") is no name. */
function namesOf(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const n of names) {
    if (/^[\w][\w.-]*$/.test(n) && !n.includes("/")) continue;
    try {
      const r = parseReference(n);
      if (r.digest === undefined) out.push(formatReference(r));
    } catch {
      // not a reference: the image stays unnamed by it
    }
  }
  return out;
}

/** Loads every image of the archive `stream`; returns them as stored. */
export async function loadImages(stream: ReadableStream<Uint8Array>, progress: (line: string) => void = () => {}): Promise<ImageRecord[]> {
  const root = openStore();
  clearStaging(root);
  const staging = stagingDir(root, "load");
  try {
    await extract(stream, staging.path);
    const oci = existsSync(join(staging.path, "index.json")) && existsSync(join(staging.path, "oci-layout"));
    if (!oci && !existsSync(join(staging.path, "manifest.json"))) throw new BunkerError("load: neither a docker save archive (manifest.json) nor an OCI layout (oci-layout, index.json)");
    const images = oci ? ociImages(staging.path) : dockerImages(staging.path);
    if (images.length === 0) throw new BunkerError("load: the archive holds no image");
    const out: ImageRecord[] = [];
    for (const img of images) {
      const configBytes = readSmall(join(staging.path, ...layerPath(img.config)), img.config);
      let config: ImageConfig;
      try {
        config = JSON.parse(new TextDecoder().decode(configBytes)) as ImageConfig;
      } catch {
        throw new BunkerError(`load: ${img.config} is not JSON`);
      }
      const diffIds = config.rootfs?.diff_ids ?? [];
      if (diffIds.length !== img.layers.length) throw new BunkerError(`load: ${img.config} names ${diffIds.length} layers, and the archive ${img.layers.length}`);
      const chains = chainIds(diffIds);
      const sizes: number[] = [];
      const blobs: LayerBlob[] = [];
      for (const [i, l] of img.layers.entries()) {
        const path = join(staging.path, ...layerPath(l));
        if (fileType(path) !== "file") throw new BunkerError(`load: the archive has no ${l}`);
        if (fileType(layerDir(root, chains[i]!)) === "dir") {
          const blob = await describeArchive(path);
          sizes.push(knownLayerSize(root, chains[i]!) ?? (blob.mediaType.endsWith("tar") ? blob.size : 0));
          // Kept for save as a stored layer's own archive is.
          if (fileType(blobPath(root, blob.digest)) !== "file") renameSync(path, blobPath(root, blob.digest));
          blobs.push(blob);
          continue;
        }
        progress(`${l}: loading`);
        const stored = await storeLayer(root, Bun.file(path).stream() as ReadableStream<Uint8Array>, i === 0 ? undefined : chains[i - 1], diffIds[i]);
        sizes.push(stored.size);
        blobs.push(stored.blob);
      }
      const id = digestOf(configBytes);
      writeFileSync(blobPath(root, id), configBytes, { mode: 0o600 });
      const record: ImageRecord = { id, names: namesOf(img.names), digests: [], layers: chains, size: sizes.reduce((a, b) => a + b, 0), layerSizes: sizes, blobs, added: new Date().toISOString(), config };
      saveImage(root, record);
      // As the archive named it (the store's record may have more names).
      out.push(record);
    }
    return out;
  } finally {
    staging.release();
  }
}
