// bunker pull: a reference's manifest (through an index, for this machine's
// platform), its config, and its layers, each downloaded, checked against
// its digest and size, and unpacked into the store as it streams, a few at a
// time. A layer the store has already (by ChainID) is not downloaded.

import { CryptoHasher } from "bun";
import { writeFileSync } from "node:fs";
import { BunkerError, within } from "../errors";
import { credentialsFor } from "./auth";
import { imageArch } from "./images";
import { storeLayer } from "./layers";
import { formatReference, isLoopbackRegistry, parseReference, registryHost, repositoryName, type Reference } from "./reference";
import { ACCEPT, failure, MANIFEST_TYPES, Registry, RegistryError } from "./registry";
import { blobPath, chainIds, clearStaging, digestOf, findImage, knownLayerSize, layerDir, openStore, saveImage, type ImageConfig, type ImageRecord, type LayerBlob } from "./store";
import { fileType } from "../sys/fs";
import { silentProgress, type Progress } from "./progress";

export interface PullOptions {
  /** os/arch[/variant]; this machine's by default. */
  platform?: string;
  /** Check TLS certificates (--tls-verify=false turns it off, and allows plain HTTP). */
  tlsVerify?: boolean;
  /** How progress shows (silent by default). */
  progress?: Progress;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
}

interface Manifest {
  mediaType?: string;
  manifests?: Descriptor[];
  config?: Descriptor;
  layers?: Descriptor[];
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function parsePlatform(p: string | undefined): { os: string; architecture: string; variant?: string } {
  if (p === undefined) return { os: "linux", architecture: imageArch() };
  const [os, architecture, variant, extra] = p.split("/");
  if (!os || !architecture || extra !== undefined) throw new BunkerError(`--platform ${p}: use os/arch[/variant], e.g. linux/arm64/v8`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** The index entry for `want`: os and architecture equal, the variant too when both name one (arm64's v8 is its default). */
export function choosePlatform(entries: readonly Descriptor[], want: { os: string; architecture: string; variant?: string }): Descriptor | undefined {
  const fits = entries.filter((e) => e.platform?.os === want.os && e.platform?.architecture === want.architecture);
  if (want.variant !== undefined) {
    const exact = fits.find((e) => e.platform?.variant === want.variant);
    if (exact) return exact;
    if (!(want.architecture === "arm64" && want.variant === "v8")) return undefined;
  }
  return fits.find((e) => !e.platform?.variant || (want.architecture === "arm64" && e.platform.variant === "v8")) ?? fits[0];
}

async function readManifest(reg: Registry, ref: Reference, reference: string, what: string): Promise<{ manifest: Manifest; digest: string; bytes: Uint8Array }> {
  const res = await reg.get(`${ref.path}/manifests/${reference}`, ACCEPT, what);
  if (!res.ok) throw await failure(res, what);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes.length > 4 << 20) throw new RegistryError(`${what}: a manifest of ${bytes.length} bytes`);
  const digest = digestOf(bytes);
  // Asked for by digest: the content must be that.
  if (DIGEST.test(reference) && digest !== reference) throw new RegistryError(`${what}: the registry sent a manifest whose digest is ${digest}, not ${reference}`);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(new TextDecoder().decode(bytes)) as Manifest;
  } catch {
    throw new RegistryError(`${what}: the manifest is not JSON`);
  }
  const type = manifest.mediaType ?? res.headers.get("content-type") ?? "";
  manifest.mediaType = type;
  return { manifest, digest, bytes };
}

/** A blob checked against its digest and size as it streams: `check` says whether it was whole and right. */
function checkedStream(body: ReadableStream<Uint8Array>, d: Descriptor, what: string, onBytes: (n: number) => void): { stream: ReadableStream<Uint8Array>; check: () => void } {
  const hasher = new CryptoHasher("sha256");
  let size = 0;
  const stream = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        size += chunk.length;
        if (size > d.size) return c.error(new RegistryError(`${what}: the blob is larger than the ${d.size} bytes its manifest says`));
        hasher.update(chunk);
        onBytes(chunk.length);
        c.enqueue(chunk);
      },
    }),
  );
  return {
    stream,
    check: () => {
      if (size !== d.size) throw new RegistryError(`${what}: the blob has ${size} bytes, its manifest says ${d.size}`);
      const got = `sha256:${hasher.digest("hex")}`;
      if (got !== d.digest) throw new RegistryError(`${what}: the blob's digest is ${got}, not ${d.digest}: refused`);
    },
  };
}

/** A config is read whole: one past this size is refused before it is fetched. */
const CONFIG_MAX = 16 << 20;

async function fetchBlob(reg: Registry, ref: Reference, d: Descriptor, what: string): Promise<Uint8Array> {
  if (!(d.size >= 0 && d.size <= CONFIG_MAX)) throw new RegistryError(`${what}: its manifest says ${d.size} bytes, more than a config may have`);
  const res = await reg.get(`${ref.path}/blobs/${d.digest}`, undefined, what);
  if (!res.ok) throw await failure(res, what);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes.length !== d.size || digestOf(bytes) !== d.digest) throw new RegistryError(`${what}: the blob does not match its digest ${d.digest}: refused`);
  return bytes;
}

/** Runs `tasks` with at most `n` at once; the first failure is the result. */
async function limited(tasks: (() => Promise<void>)[], n: number): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (next < tasks.length && failed === undefined) {
      const t = tasks[next++]!;
      try {
        await t();
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, tasks.length) }, worker));
  if (failed !== undefined) throw failed;
}

const LAYER_TYPES = /^application\/vnd\.(oci\.image\.layer\.v1\.tar(\+gzip|\+zstd)?|docker\.image\.rootfs\.diff\.tar\.gzip)$/;

/** A layer's media type as OCI spells it (docker's gzip layer is OCI's tar+gzip). */
const ociLayerType = (t: string) => (t === "application/vnd.docker.image.rootfs.diff.tar.gzip" ? "application/vnd.oci.image.layer.v1.tar+gzip" : t);

export async function pullImage(refText: string, o: PullOptions = {}): Promise<ImageRecord> {
  const ref = parseReference(refText);
  const name = formatReference(ref);
  const what = `pull ${name}`;
  const want = parsePlatform(o.platform);
  const host = registryHost(ref);
  const tlsVerify = o.tlsVerify ?? true;
  const reg = new Registry(host, {
    plainHttp: isLoopbackRegistry(ref.domain) || !tlsVerify,
    tlsVerify,
    ...(credentialsFor(ref.domain) ? { credentials: credentialsFor(ref.domain)! } : {}),
  });
  const progress = o.progress ?? silentProgress;
  let { manifest, digest } = await readManifest(reg, ref, ref.digest ?? ref.tag!, what);
  if (manifest.mediaType === MANIFEST_TYPES.ociIndex || manifest.mediaType === MANIFEST_TYPES.dockerList || (manifest.manifests && !manifest.layers)) {
    const entry = choosePlatform(manifest.manifests ?? [], want);
    if (!entry) {
      const offered = (manifest.manifests ?? []).map((m) => [m.platform?.os, m.platform?.architecture, m.platform?.variant].filter(Boolean).join("/")).filter((p) => p && p !== "unknown/unknown");
      throw new RegistryError(`${what}: no image for ${[want.os, want.architecture, want.variant].filter(Boolean).join("/")} (it has ${offered.join(", ") || "none"})`);
    }
    ({ manifest } = await readManifest(reg, ref, entry.digest, what));
    // The image is known by the index's digest, as docker records it.
  }
  if (!manifest.config || !manifest.layers) throw new RegistryError(`${what}: the manifest (${manifest.mediaType || "no media type"}) is not an image manifest bunker reads`);
  const root = openStore();
  clearStaging(root);
  const configBytes = await fetchBlob(reg, ref, manifest.config, `${what}: its config`);
  let config: ImageConfig;
  try {
    config = JSON.parse(new TextDecoder().decode(configBytes)) as ImageConfig;
  } catch {
    throw new RegistryError(`${what}: its config is not JSON`);
  }
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== manifest.layers.length) throw new RegistryError(`${what}: its config names ${diffIds.length} layers and its manifest ${manifest.layers.length}`);
  const chains = chainIds(diffIds);
  // Bytes of each layer as the store keeps it (uncompressed); one the store had, as its records say (else as downloaded).
  const sizes = manifest.layers.map((l) => l.size);
  // Each layer as the archive it came as; one the store had already may have come as another (its blob then missing).
  const blobs: LayerBlob[] = manifest.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: ociLayerType(l.mediaType ?? "") }));
  const tasks = manifest.layers.map((layer, i) => async () => {
    const short = layer.digest.slice(7, 19);
    if (!LAYER_TYPES.test(layer.mediaType ?? "")) throw new RegistryError(`${what}: layer ${short} is ${layer.mediaType}, which bunker does not unpack`);
    if (fileType(layerDir(root, chains[i]!)) === "dir") {
      sizes[i] = knownLayerSize(root, chains[i]!) ?? sizes[i]!;
      progress.finish(short, "already here");
      return;
    }
    const lwhat = `${what}: layer ${short}`;
    const res = await reg.get(`${ref.path}/blobs/${layer.digest}`, undefined, lwhat);
    if (!res.ok || !res.body) throw await failure(res, lwhat);
    progress.start(short, layer.size);
    const { stream, check } = checkedStream(res.body, layer, lwhat, (n) => progress.advance(short, n));
    try {
      const stored = await storeLayer(root, stream, i === 0 ? undefined : chains[i - 1], diffIds[i], check);
      sizes[i] = stored.size;
      blobs[i] = stored.blob;
    } catch (e) {
      // The unpacker's own words, said of this layer.
      throw e instanceof RegistryError ? e : within(e, lwhat);
    }
    progress.finish(short, "done");
  });
  try {
    await limited(tasks, 3);
  } finally {
    progress.close();
  }
  const id = digestOf(configBytes);
  writeFileSync(blobPath(root, id), configBytes, { mode: 0o600 });
  const record: ImageRecord = {
    id,
    names: ref.tag !== undefined ? [`${repositoryName(ref)}:${ref.tag}`] : [],
    digests: [`${repositoryName(ref)}@${digest}`],
    layers: chains,
    size: sizes.reduce((n, s) => n + s, 0),
    layerSizes: sizes,
    blobs,
    added: new Date().toISOString(),
    config,
  };
  saveImage(root, record);
  return findImage(root, id) ?? record;
}
