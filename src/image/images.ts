// What the image commands do to the store: import a root filesystem
// tarball as a one-layer image, tag, untag and remove images, prune layers.

import { writeFileSync } from "node:fs";
import { BunkerError } from "../errors";
import { fileType } from "../sys/fs";
import { storeLayer } from "./layers";
import { formatReference, parseReference } from "./reference";
import { blobPath, clearStaging, digestOf, findImage, openStore, pruneLayers, saveImage, untagImage, type ImageConfig, type ImageRecord } from "./store";

export const DEFAULT_IMAGE_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The architecture as images name it (Go's GOARCH). */
export function imageArch(): string {
  return process.arch === "x64" ? "amd64" : process.arch;
}

/** A name to give an image: a reference without a digest. */
export function tagName(ref: string): string {
  const r = parseReference(ref);
  if (r.digest !== undefined) throw new BunkerError(`${ref}: an image is tagged by name, not by digest`);
  return formatReference(r);
}

/** Writes an image config as a blob; its digest is the image's id. */
export function storeConfig(root: string, config: ImageConfig): string {
  const text = JSON.stringify(config);
  const id = digestOf(text);
  writeFileSync(blobPath(root, id), text, { mode: 0o600 });
  return id;
}

/** A Dockerfile instruction's list: JSON (["a", "b"]) or, for CMD and ENTRYPOINT, a shell line run by /bin/sh -c. */
function commandOf(value: string, what: string): string[] {
  if (value.startsWith("[")) {
    let v: unknown;
    try {
      v = JSON.parse(value);
    } catch {
      throw new BunkerError(`--change ${what}: ${value} is not a JSON list of strings`);
    }
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw new BunkerError(`--change ${what}: ${value} is not a JSON list of strings`);
    return v as string[];
  }
  return ["/bin/sh", "-c", value];
}

/**
 * docker import's --change: the Dockerfile instructions that set an image's
 * config (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, VOLUME, LABEL, STOPSIGNAL).
 */
export function applyChange(config: NonNullable<ImageConfig["config"]>, change: string): void {
  const m = /^\s*([A-Za-z]+)\s+(.*?)\s*$/s.exec(change);
  if (!m) throw new BunkerError(`--change "${change}": give an instruction and its value (CMD ["sh"], ENV A=1, WORKDIR /src, ...)`);
  const [, word, value] = m as unknown as [string, string, string];
  switch (word.toUpperCase()) {
    case "CMD":
      config.Cmd = commandOf(value, "CMD");
      return;
    case "ENTRYPOINT":
      config.Entrypoint = commandOf(value, "ENTRYPOINT");
      return;
    case "ENV": {
      const pairs = value.includes("=") ? value.split(/\s+/).map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]) : [[value.split(/\s+/)[0]!, value.slice(value.split(/\s+/)[0]!.length).trim()]];
      for (const [k, v] of pairs) {
        if (!k) throw new BunkerError(`--change ENV ${value}: a variable needs a name`);
        config.Env = [...(config.Env ?? []).filter((e) => !e.startsWith(`${k}=`)), `${k}=${v}`];
      }
      return;
    }
    case "WORKDIR":
      if (!value.startsWith("/")) throw new BunkerError(`--change WORKDIR ${value}: must be absolute`);
      config.WorkingDir = value;
      return;
    case "USER":
      config.User = value;
      return;
    case "EXPOSE":
      for (const p of value.split(/\s+/)) config.ExposedPorts = { ...config.ExposedPorts, [p.includes("/") ? p : `${p}/tcp`]: {} };
      return;
    case "VOLUME":
      for (const v of value.startsWith("[") ? commandOf(value, "VOLUME") : value.split(/\s+/)) config.Volumes = { ...config.Volumes, [v]: {} };
      return;
    case "LABEL":
      for (const p of value.split(/\s+/)) config.Labels = { ...config.Labels, [p.slice(0, p.indexOf("="))]: p.slice(p.indexOf("=") + 1).replace(/^"(.*)"$/, "$1") };
      return;
    case "STOPSIGNAL":
      config.StopSignal = value;
      return;
    default:
      throw new BunkerError(`--change "${change}": ${word} is not an instruction import takes (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, VOLUME, LABEL, STOPSIGNAL)`);
  }
}

/** An archive named on the command line, as a stream: a file, a pipe (<(...)), or stdin for "-". */
export function archiveStream(path: string, what: string): ReadableStream<Uint8Array> {
  if (path === "-") return Bun.stdin.stream() as ReadableStream<Uint8Array>;
  const type = fileType(path, true);
  if (type === null) throw new BunkerError(`${what} ${path}: no such file`);
  if (type !== "file" && type !== "fifo" && type !== "char") throw new BunkerError(`${what} ${path}: not a file (${type === "dir" ? "a directory" : type})`);
  return Bun.file(path).stream() as ReadableStream<Uint8Array>;
}

/**
 * bunker import: a root filesystem tarball (plain, gzip or zstd; a file or
 * stdin) as an image of one layer, named `ref` if given.
 */
export async function importImage(stream: ReadableStream<Uint8Array>, ref: string | undefined, changes: { message?: string; change?: readonly string[] } = {}): Promise<ImageRecord> {
  const name = ref !== undefined ? tagName(ref) : undefined;
  // Checked before anything is read or written.
  const settings: NonNullable<ImageConfig["config"]> = { Env: [DEFAULT_IMAGE_PATH] };
  for (const c of changes.change ?? []) applyChange(settings, c);
  const root = openStore();
  clearStaging(root);
  const layer = await storeLayer(root, stream, undefined);
  const created = new Date().toISOString();
  const config: ImageConfig = {
    created,
    architecture: imageArch(),
    os: "linux",
    config: settings,
    rootfs: { type: "layers", diff_ids: [layer.diffId] },
    history: [{ created, created_by: "bunker import", ...(changes.message ? { comment: changes.message } : {}) }],
  };
  const id = storeConfig(root, config);
  const record: ImageRecord = { id, names: name ? [name] : [], digests: [], layers: [layer.chainId], size: layer.size, layerSizes: [layer.size], blobs: [layer.blob], added: created, config };
  saveImage(root, record);
  return findImage(root, id) ?? record;
}

/** bunker tag SOURCE TARGET. */
export function tagImage(source: string, target: string): ImageRecord {
  const root = openStore();
  const image = findImage(root, source);
  if (!image) throw new BunkerError(`no such image: ${source}`);
  const name = tagName(target);
  saveImage(root, { ...image, names: [name], digests: [] });
  return image;
}

/**
 * bunker rmi REF: by name, the name goes (and the image with its last one);
 * by id, the image goes, which takes -f while it still has several names.
 * `inUse` says which containers use it: removing an image they use is refused.
 */
export function removeImage(ref: string, force: boolean, inUse: (id: string) => string[]): { id: string; untagged: string[]; deleted?: string } {
  const root = openStore();
  const image = findImage(root, ref);
  if (!image) throw new BunkerError(`no such image: ${ref}`);
  let name: string | undefined;
  try {
    const full = tagName(ref);
    if (image.names.includes(full)) name = full;
  } catch {
    // an id, or a digest: the image itself
  }
  const users = inUse(image.id);
  if (name === undefined || image.names.length <= 1) {
    if (users.length && !force) throw new BunkerError(`image ${ref} is used by container${users.length > 1 ? "s" : ""} ${users.join(", ")}: remove ${users.length > 1 ? "them" : "it"} first, or use -f`);
    if (name === undefined && image.names.length > 1 && !force) throw new BunkerError(`image ${ref} has ${image.names.length} names (${image.names.join(", ")}): remove them one by one, or use -f`);
  }
  const untagged = name !== undefined ? [name] : image.names;
  const gone = untagImage(root, image, name);
  return { id: image.id, untagged, ...(gone ? { deleted: image.id } : {}) };
}

/** Layers no image stacks and no container uses: removed. */
export function pruneUnusedLayers(inUse: ReadonlySet<string>): number {
  return pruneLayers(openStore(), inUse);
}
