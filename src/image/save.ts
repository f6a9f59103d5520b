// bunker save: images as one tar archive that both `docker load` and OCI
// tools read: an OCI image layout (oci-layout, index.json, blobs/sha256/...)
// whose blobs docker's manifest.json names too, as docker save writes since
// version 25. A layer goes as the archive it came as (kept in the store's
// blobs); a layer whose archive the store lacks is rebuilt from its files,
// which gives it a new digest, and so the image a new config and id.

import { closeSync, openSync, readSync, rmSync, statSync, writeSync } from "node:fs";
import { BunkerError } from "../errors";
import { fileType } from "../sys/fs";
import { describeArchive } from "./layers";
import { familiarName, parseReference } from "./reference";
import { blobPath, digestOf, findImage, hexOf, layerDir, listImages, openStore, stagingDir, type ImageConfig, type ImageRecord, type LayerBlob } from "./store";
import { TAR_END, tarHeader, tarPadding } from "./tar-write";

const MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const CONFIG = "application/vnd.oci.image.config.v1+json";
const INDEX = "application/vnd.oci.image.index.v1+json";

/** Writes a layer's directory as an uncompressed layer tar to the descriptor `out`. */
export type LayerRebuilder = (dir: string, out: number) => Promise<void>;

/** A file of the archive: bytes in memory, or a file of the store. */
type Part = { bytes: Uint8Array } | { file: string; size: number };

interface SavedImage {
  names: string[];
  manifest: { digest: string; size: number };
  config: string;
  layers: string[];
}

/** The images `refs` name, each with the names it is saved under: the name given, or all its names when given by id. */
function chosen(root: string, refs: readonly string[]): { image: ImageRecord; names: string[] }[] {
  const out = new Map<string, { image: ImageRecord; names: Set<string> }>();
  for (const ref of refs) {
    const image = findImage(root, ref);
    if (!image) throw new BunkerError(`save: no such image: ${ref}`);
    let names = image.names;
    try {
      const r = parseReference(ref);
      const full = `${r.domain}/${r.path}:${r.tag ?? "latest"}`;
      if (r.digest === undefined && image.names.includes(full)) names = [full];
    } catch {
      // an id: the image goes with all its names
    }
    const seen = out.get(image.id) ?? { image, names: new Set<string>() };
    for (const n of names) seen.names.add(n);
    out.set(image.id, seen);
  }
  return [...out.values()].map((v) => ({ image: v.image, names: [...v.names] }));
}

/** The stored archive of layer `i` of `image`, or of the same layer in another image. */
function storedBlob(root: string, image: ImageRecord, i: number, all: readonly ImageRecord[]): LayerBlob | undefined {
  const candidates = [image, ...all.filter((o) => o.layers[i] === image.layers[i])];
  for (const c of candidates) {
    const b = c.blobs?.[i];
    if (!b) continue;
    try {
      if (statSync(blobPath(root, b.digest)).size === b.size) return b;
    } catch {
      // not kept: another image's may be
    }
  }
  return undefined;
}

function writeAllTo(out: number, bytes: Uint8Array): void {
  for (let off = 0; off < bytes.length; ) off += writeSync(out, bytes, off);
}

const fileEntry = (path: string, size: number) => ({ path, type: "file" as const, mode: 0o644, uid: 0, gid: 0, size, mtime: 0, linkname: "", devmajor: 0, devminor: 0, xattrs: new Map<string, Uint8Array>() });

/** Writes `part` as the archive's file `path`. */
function writePart(out: number, path: string, part: Part): void {
  const size = "bytes" in part ? part.bytes.length : part.size;
  writeAllTo(out, tarHeader(fileEntry(path, size)));
  if ("bytes" in part) writeAllTo(out, part.bytes);
  else {
    const fd = openSync(part.file, "r");
    try {
      const buf = new Uint8Array(256 << 10);
      let left = size;
      while (left > 0) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, left), null);
        if (n <= 0) throw new BunkerError(`save: ${part.file} is shorter than the store says`);
        writeAllTo(out, buf.subarray(0, n));
        left -= n;
      }
    } finally {
      closeSync(fd);
    }
  }
  writeAllTo(out, tarPadding(size));
}

/**
 * Writes the images `refs` name as one archive to the descriptor `out`;
 * returns a line for each image whose id changed (a layer rebuilt).
 */
export async function saveImages(refs: readonly string[], out: number, rebuild: LayerRebuilder): Promise<string[]> {
  if (refs.length === 0) throw new BunkerError("save: no image given");
  const root = openStore();
  const images = chosen(root, refs);
  const all = listImages(root);
  const staging = stagingDir(root, "save");
  const notes: string[] = [];
  try {
    const blobs = new Map<string, Part>();
    const saved: SavedImage[] = [];
    for (const { image, names } of images) {
      const layers: LayerBlob[] = [];
      let diffIds = image.config.rootfs.diff_ids;
      for (let i = 0; i < image.layers.length; i++) {
        const kept = storedBlob(root, image, i, all);
        if (kept) {
          layers.push(kept);
          blobs.set(kept.digest, { file: blobPath(root, kept.digest), size: kept.size });
          continue;
        }
        const dir = layerDir(root, image.layers[i]!);
        if (fileType(dir) !== "dir") throw new BunkerError(`save: layer ${i + 1} of ${names[0] ?? image.id} is missing from the store: pull or load the image again`);
        const path = `${staging.path}/layer-${i}-${hexOf(image.id).slice(0, 12)}.tar`;
        const fd = openSync(path, "wx", 0o600);
        try {
          await rebuild(dir, fd);
        } finally {
          closeSync(fd);
        }
        const made = await describeArchive(path);
        layers.push(made);
        blobs.set(made.digest, { file: path, size: made.size });
        // An uncompressed layer's digest is its DiffID.
        if (made.digest !== diffIds[i]) diffIds = diffIds.map((d, j) => (j === i ? made.digest : d));
      }
      let configBytes: Uint8Array;
      let configDigest = image.id;
      if (diffIds !== image.config.rootfs.diff_ids) {
        const config: ImageConfig = { ...image.config, rootfs: { type: "layers", diff_ids: diffIds } };
        configBytes = new TextEncoder().encode(JSON.stringify(config));
        configDigest = digestOf(configBytes);
        notes.push(`${names[0] ?? hexOf(image.id).slice(0, 12)}: layers without their archive in the store were rebuilt from their files: saved as image ${configDigest}`);
        blobs.set(configDigest, { bytes: configBytes });
      } else {
        const path = blobPath(root, image.id);
        if (fileType(path) !== "file") throw new BunkerError(`save: the config of ${names[0] ?? image.id} is missing from the store`);
        blobs.set(configDigest, { file: path, size: statSync(path).size });
      }
      const configPart = blobs.get(configDigest)!;
      const manifest = new TextEncoder().encode(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MANIFEST,
          config: { mediaType: CONFIG, digest: configDigest, size: "bytes" in configPart ? configPart.bytes.length : configPart.size },
          layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
        }),
      );
      const manifestDigest = digestOf(manifest);
      blobs.set(manifestDigest, { bytes: manifest });
      saved.push({ names, manifest: { digest: manifestDigest, size: manifest.length }, config: configDigest, layers: layers.map((l) => l.digest) });
    }
    const blob = (d: string) => `blobs/sha256/${hexOf(d)}`;
    const index = {
      schemaVersion: 2,
      mediaType: INDEX,
      manifests: saved.flatMap((s) => {
        const base = { mediaType: MANIFEST, digest: s.manifest.digest, size: s.manifest.size };
        if (s.names.length === 0) return [base];
        return s.names.map((n) => ({ ...base, annotations: { "io.containerd.image.name": n, "org.opencontainers.image.ref.name": parseReference(n).tag ?? "latest" } }));
      }),
    };
    const dockerManifest = saved.map((s) => ({
      Config: blob(s.config),
      RepoTags: s.names.length ? s.names.map((n) => familiarName(parseReference(n))) : null,
      Layers: s.layers.map(blob),
    }));
    const text = (v: unknown) => ({ bytes: new TextEncoder().encode(JSON.stringify(v)) });
    const dir = (path: string) => writeAllTo(out, tarHeader({ ...fileEntry(path, 0), type: "dir", mode: 0o755 }));
    dir("blobs");
    dir("blobs/sha256");
    for (const [digest, part] of blobs) writePart(out, blob(digest), part);
    writePart(out, "oci-layout", text({ imageLayoutVersion: "1.0.0" }));
    writePart(out, "index.json", text(index));
    writePart(out, "manifest.json", text(dockerManifest));
    writeAllTo(out, TAR_END);
    return notes;
  } finally {
    rmSync(staging.path, { recursive: true, force: true });
    staging.release();
  }
}
