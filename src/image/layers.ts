// A layer's bytes on their way into the store: decompressed (gzip and zstd
// known by their magic numbers, else a plain tar), hashed as they stream
// (the DiffID is the uncompressed tar's digest), and unpacked into a staging
// directory that becomes the layer's directory, by ChainID, once complete.

import { CryptoHasher } from "bun";
import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { fileType } from "../sys/fs";
import { LayerError, unpackLayer, type UnpackOptions } from "./unpack";
import { requireFeature } from "../sys/kernel";
import { blobPath, chainId, layerDir, moveTree, stagingDir, type LayerBlob } from "./store";

const GZIP = [0x1f, 0x8b];
const ZSTD = [0x28, 0xb5, 0x2f, 0xfd];

const startsWith = (b: Uint8Array, magic: number[]) => magic.every((m, i) => b[i] === m);

const LAYER_TAR = "application/vnd.oci.image.layer.v1.tar";

/** The OCI media type of a layer archive that starts with `head`. */
export function layerMediaType(head: Uint8Array): string {
  return startsWith(head, GZIP) ? `${LAYER_TAR}+gzip` : startsWith(head, ZSTD) ? `${LAYER_TAR}+zstd` : LAYER_TAR;
}

/** A layer archive in a file: its digest, size and media type. */
export async function describeArchive(path: string): Promise<LayerBlob> {
  const hasher = new CryptoHasher("sha256");
  const head = new Uint8Array(4);
  let size = 0;
  for await (const chunk of Bun.file(path).stream()) {
    if (size < head.length) head.set(chunk.subarray(0, head.length - size), size);
    size += chunk.length;
    hasher.update(chunk);
  }
  return { digest: `sha256:${hasher.digest("hex")}`, size, mediaType: layerMediaType(head) };
}

/**
 * Passes `stream` through, writing its bytes to `path` and hashing them:
 * the layer's archive, kept as it came. `blob()` describes it once read.
 */
function keeping(stream: ReadableStream<Uint8Array>, path: string): { stream: ReadableStream<Uint8Array>; blob: () => LayerBlob } {
  const fd = openSync(path, "wx", 0o600);
  const hasher = new CryptoHasher("sha256");
  const head = new Uint8Array(4);
  let size = 0;
  const out = stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        if (size < head.length) head.set(chunk.subarray(0, head.length - size), size);
        size += chunk.length;
        hasher.update(chunk);
        for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
        c.enqueue(chunk);
      },
      flush() {
        closeSync(fd);
      },
    }),
  );
  return { stream: out, blob: () => ({ digest: `sha256:${hasher.digest("hex")}`, size, mediaType: layerMediaType(head) }) };
}

/** The chunks of `stream`, uncompressed. */
export async function* decompressed(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  // Enough of the start to tell the format.
  const head: Uint8Array[] = [];
  let have = 0;
  let done = false;
  while (have < 4 && !done) {
    const r = await reader.read();
    if (r.done) done = true;
    else {
      head.push(r.value);
      have += r.value.length;
    }
  }
  const first = new Uint8Array(have);
  let off = 0;
  for (const h of head) {
    first.set(h, off);
    off += h.length;
  }
  const rest = new ReadableStream<Uint8Array>({
    start(c) {
      if (first.length) c.enqueue(first);
      if (done) c.close();
    },
    async pull(c) {
      const r = await reader.read();
      if (r.done) c.close();
      else c.enqueue(r.value);
    },
    cancel(why) {
      return reader.cancel(why);
    },
  });
  const format = startsWith(first, GZIP) ? "gzip" : startsWith(first, ZSTD) ? "zstd" : undefined;
  const out = format ? rest.pipeThrough(new DecompressionStream(format as "gzip") as unknown as TransformStream<Uint8Array, Uint8Array>) : rest;
  try {
    for await (const chunk of out) yield chunk;
  } catch (e) {
    throw new LayerError(`the layer is not a valid ${format ?? "tar"} stream: ${(e as Error).message}`);
  }
}

/** Passes `source` through, adding every chunk to `hasher` and its length to `count`. */
export async function* hashing(source: AsyncIterable<Uint8Array>, hasher: CryptoHasher, count: { bytes: number }): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    hasher.update(chunk);
    count.bytes += chunk.length;
    yield chunk;
  }
}

type Unpacker = (source: AsyncIterable<Uint8Array>, dir: string) => Promise<string[]>;
let unpacker: Unpacker = (source, dir) => unpackLayer(source, dir, unpackOptions());

/** Another way to unpack layers (a user's, in a user namespace with their ranges: runtime/userns-helper.ts). */
export function useUnpacker(u: Unpacker): void {
  unpacker = u;
}

/** The unpacking a user may do: root keeps owners and devices; a user gets overlayfs's user xattrs. */
export function unpackOptions(): UnpackOptions {
  const root = (process.geteuid?.() ?? 0) === 0;
  return { chown: root, devices: root, opaqueXattr: root ? "trusted.overlay.opaque" : "user.overlay.opaque" };
}

export interface StoredLayer {
  diffId: string;
  chainId: string;
  /** Bytes of the uncompressed tar. */
  size: number;
  /** The archive as it came, kept in the store's blobs. */
  blob: LayerBlob;
  warnings: string[];
}

/**
 * Unpacks the layer `stream` on top of the chain `parent` (none for a base
 * layer) into the store, and returns its DiffID and ChainID. When `expect`
 * names the DiffID the image's config declares, a layer that does not match
 * it is refused and nothing of it is kept.
 */
export async function storeLayer(root: string, stream: ReadableStream<Uint8Array>, parent: string | undefined, expect?: string, verify: () => void = () => {}): Promise<StoredLayer> {
  // Before a byte of the layer is read (or downloaded): unpacking it needs the kernel's openat2.
  requireFeature("openat2", "unpacking an image layer");
  const staging = stagingDir(root, "layer");
  try {
    const kept = keeping(stream, `${staging.path}.blob`);
    const hasher = new CryptoHasher("sha256");
    const count = { bytes: 0 };
    const bytes = hashing(decompressed(kept.stream), hasher, count);
    const warnings = await unpacker(bytes, staging.path);
    // The tar's end leaves bytes unread (the padding after its two zero blocks): they count for the digest.
    for await (const _ of bytes);
    const diffId = `sha256:${hasher.digest("hex")}`;
    if (expect !== undefined && expect !== diffId) throw new LayerError(`the layer's content is ${diffId}, and the image says ${expect}`);
    // The caller's own checks (the downloaded blob's digest and size) before the layer is kept.
    verify();
    const blob = kept.blob();
    renameSync(`${staging.path}.blob`, blobPath(root, blob.digest));
    const chain = chainId(parent, diffId);
    const dest = layerDir(root, chain);
    if (fileType(dest) !== "dir") {
      try {
        await moveTree(staging.path, dest);
      } catch (e) {
        // Another pull made it meanwhile: that one stays.
        if (fileType(dest) !== "dir") throw e;
      }
    }
    return { diffId, chainId: chain, size: count.bytes, blob, warnings };
  } finally {
    rmSync(`${staging.path}.blob`, { force: true });
    staging.release();
  }
}
