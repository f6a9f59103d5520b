// bunker import FILE|- [REF]; bunker images [-q] [--digests] [--json];
// bunker tag SOURCE TARGET; bunker rmi [-f] REF...; bunker image ls|rm|inspect|prune

import { BunkerError } from "../errors";
import { columns, duration, jsonText, writeErr, writeOut } from "../output";
import { formatBytes } from "../spec/resources";
import { familiarName, parseReference } from "../image/reference";
import { hexOf, listImages, openStore, findImage, type ImageRecord } from "../image/store";
import { archiveStream, importImage, pruneUnusedLayers, removeImage, tagImage } from "../image/images";
import { barProgress, lineProgress, type Progress } from "../image/progress";
import { imagesInUse, usersOfImage } from "../runtime/image-rootfs";
import { sweepLeftovers, useRootlessStoreHelpers } from "../runtime/userns-helper";
import { imageEvent } from "../runtime/events";
import { UsageError, type OptionDefs } from "../options";
import { parseCommand, runGroup } from "./usage";

const shortId = (id: string) => hexOf(id).slice(0, 12);

const importOptions: OptionDefs = {
  change: { type: "string", alias: ["c"], multiple: true, valueHint: "INSTRUCTION", description: "Set the image's config as a Dockerfile line does: CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, VOLUME, LABEL, STOPSIGNAL (repeatable)" },
  message: { type: "string", alias: ["m"], valueHint: "TEXT", description: "A comment for the image's history" },
};

export async function importCmd(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, importOptions, {
    name: "import",
    description: "Make an image of one layer from a root filesystem tarball (plain, gzip or zstd; - reads stdin)",
    positional: "FILE|- [REPOSITORY[:TAG]]",
    examples: ["bunker import alpine-minirootfs.tar.gz alpine", "tar -C ./rootfs -c . | bunker import -c 'CMD [\"sh\"]' - mybox:1"],
  });
  if (!parsed) return 0;
  const [file, ref, extra] = parsed.rest;
  if (file === undefined) throw new UsageError("import: give a tarball, or - for stdin");
  if (extra !== undefined) throw new UsageError(`import: unexpected argument "${extra}"`);
  if (ref !== undefined) parseReference(ref);
  const stream = archiveStream(file, "import");
  const message = parsed.values.message as string | undefined;
  const change = (parsed.values.change as string[] | undefined) ?? [];
  useRootlessStoreHelpers();
  const image = await importImage(stream, ref, { change, ...(message !== undefined ? { message } : {}) });
  imageEvent("import", image.id, ref);
  await sweepLeftovers();
  await writeOut(`${image.id}\n`);
  return 0;
}

const listOptions: OptionDefs = {
  quiet: { type: "boolean", alias: ["q"], description: "Only image ids" },
  digests: { type: "boolean", description: "Show the digests images were pulled by" },
  json: { type: "boolean", description: "JSON, one array" },
};

function rowsOf(images: ImageRecord[], digests: boolean): string[][] {
  const rows = [["REPOSITORY", "TAG", ...(digests ? ["DIGEST"] : []), "IMAGE ID", "CREATED", "SIZE"]];
  for (const i of images) {
    const names = i.names.length ? i.names : [undefined];
    for (const n of names) {
      const r = n !== undefined ? parseReference(n) : undefined;
      const repo = r ? familiarName({ domain: r.domain, path: r.path }) : "<none>";
      const digest = i.digests.find((d) => r && d.startsWith(`${r.domain}/${r.path}@`))?.split("@")[1] ?? (i.digests[0]?.split("@")[1] ?? "<none>");
      rows.push([repo, r?.tag ?? "<none>", ...(digests ? [digest] : []), shortId(i.id), `${duration(i.config.created ?? i.added)} ago`, formatBytes(i.size)]);
    }
  }
  return rows;
}

function summary(i: ImageRecord): Record<string, unknown> {
  return { id: i.id, names: i.names, digests: i.digests, created: i.config.created ?? null, added: i.added, size: i.size, layers: i.layers.length, architecture: i.config.architecture, os: i.config.os };
}

export async function images(argv: string[], name = "images"): Promise<number> {
  const parsed = await parseCommand(argv, listOptions, { name, description: "List images", positional: "[REPOSITORY[:TAG]]", examples: [`bunker ${name}`, `bunker ${name} -q alpine`] });
  if (!parsed) return 0;
  if (parsed.rest.length > 1) throw new UsageError(`${name}: unexpected argument "${parsed.rest[1]}"`);
  let list = listImages(openStore());
  const filter = parsed.rest[0];
  if (filter !== undefined) {
    const r = parseReference(filter);
    const repo = `${r.domain}/${r.path}`;
    // A tag is given when the last path component has one (a colon before it is a registry's port).
    const tagged = /:[^/]*$/.test(filter) ? `${repo}:${r.tag}` : undefined;
    list = list.filter((i) => i.names.some((n) => (tagged ? n === tagged : n.startsWith(`${repo}:`))));
  }
  const v = parsed.values;
  if (v.json) await writeOut(`${jsonText(list.map(summary), 2)}\n`);
  else if (v.quiet) await writeOut([...new Set(list.map((i) => shortId(i.id)))].map((id) => `${id}\n`).join(""));
  else await writeOut(columns(rowsOf(list, v.digests === true)));
  return 0;
}

export async function tag(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, {}, { name: "tag", description: "Give an image another name", positional: "SOURCE TARGET", examples: ["bunker tag alpine registry.example.com/alpine:3"], operands: "images" });
  if (!parsed) return 0;
  if (parsed.rest.length !== 2) throw new UsageError("tag: give the image and its new name");
  imageEvent("tag", tagImage(parsed.rest[0]!, parsed.rest[1]!).id, familiarName(parseReference(parsed.rest[1]!)));
  return 0;
}

const rmiOptions: OptionDefs = { force: { type: "boolean", alias: ["f"], description: "Remove an image containers use, or one with several names by id" } };

export async function rmi(argv: string[], name = "rmi"): Promise<number> {
  const parsed = await parseCommand(argv, rmiOptions, { name, description: "Remove images (by name: the name; the image goes with its last)", positional: "IMAGE...", examples: [`bunker ${name} alpine:3`, `bunker ${name} -f 3f2a1c9d8e7b`] });
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError(`${name}: give at least one image`);
  let failed: unknown;
  for (const ref of parsed.rest) {
    try {
      const r = removeImage(ref, parsed.values.force === true, usersOfImage);
      for (const n of r.untagged) imageEvent("untag", r.id, familiarName(parseReference(n)));
      if (r.deleted) imageEvent("delete", r.deleted);
      await writeOut(r.untagged.map((n) => `Untagged: ${familiarName(parseReference(n))}\n`).join("") + (r.deleted ? `Deleted: ${r.deleted}\n` : ""));
    } catch (e) {
      // As docker: every image is tried; the first failure is the command's.
      failed ??= e;
    }
  }
  pruneUnusedLayers(imagesInUse());
  await sweepLeftovers();
  if (failed) throw failed;
  return 0;
}

async function inspectImages(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, {}, { name: "image inspect", description: "Show images' records as JSON", positional: "IMAGE...", examples: ["bunker image inspect alpine"] });
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError("image inspect: give at least one image");
  const root = openStore();
  const out = parsed.rest.map((ref) => {
    const i = findImage(root, ref);
    if (!i) throw new BunkerError(`no such image: ${ref}`);
    return i;
  });
  await writeOut(`${jsonText(out, 2)}\n`);
  return 0;
}

async function pruneImages(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, { all: { type: "boolean", alias: ["a"], description: "Also images with names that no container uses" } }, { name: "image prune", description: "Remove images without names, and layers nothing uses", positional: "", examples: ["bunker image prune", "bunker image prune -a"] });
  if (!parsed) return 0;
  if (parsed.rest.length) throw new UsageError(`image prune: unexpected argument "${parsed.rest[0]}"`);
  const root = openStore();
  const used = imagesInUse();
  const deleted: string[] = [];
  for (const i of listImages(root)) {
    if (usersOfImage(i.id).length) continue;
    if (i.names.length && !parsed.values.all) continue;
    removeImage(i.id, true, () => []);
    imageEvent("delete", i.id);
    deleted.push(i.id);
  }
  const layers = pruneUnusedLayers(used);
  await sweepLeftovers();
  await writeOut(`${deleted.map((d) => `Deleted: ${d}\n`).join("")}Removed ${layers} layer${layers === 1 ? "" : "s"}\n`);
  return 0;
}

const pullOptions: OptionDefs = {
  platform: { type: "string", valueHint: "OS/ARCH[/VARIANT]", description: "The image for another platform (linux/arm64/v8); default this machine's" },
  quiet: { type: "boolean", alias: ["q"], description: "No progress, only the image's id" },
  "tls-verify": { type: "string", valueHint: "true|false", description: "Check the registry's certificate (false also allows plain HTTP); loopback registries use HTTP" },
};

/** Bars on a terminal, lines otherwise, on stderr. */
export function pullProgress(): Progress {
  const write = (text: string) => void writeErr(text);
  return process.stderr.isTTY ? barProgress(write) : lineProgress((line) => write(`${line}\n`));
}

/** --tls-verify's value, as podman spells it. */
export function tlsVerifyOption(v: unknown): boolean {
  if (v === undefined || v === "true" || v === "") return true;
  if (v === "false") return false;
  throw new UsageError(`--tls-verify takes true or false, not "${v}"`);
}

export async function pull(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, pullOptions, { name: "pull", description: "Download an image from a registry into the store", positional: "NAME[:TAG|@DIGEST]", examples: ["bunker pull alpine:3.20", "bunker pull --platform linux/arm64 -q debian:bookworm"] });
  if (!parsed) return 0;
  if (parsed.rest.length !== 1) throw new UsageError("pull: give one image reference");
  const v = parsed.values;
  const quiet = v.quiet === true;
  const { pullImage } = await import("../image/pull");
  useRootlessStoreHelpers();
  const image = await pullImage(parsed.rest[0]!, {
    ...(v.platform !== undefined ? { platform: v.platform as string } : {}),
    tlsVerify: tlsVerifyOption(v["tls-verify"]),
    ...(quiet ? {} : { progress: pullProgress() }),
  });
  await sweepLeftovers();
  const pulled = parseReference(parsed.rest[0]!);
  imageEvent("pull", familiarName(pulled), familiarName({ domain: pulled.domain, path: pulled.path }));
  await writeOut(quiet ? `${image.id}\n` : `${familiarName(parseReference(parsed.rest[0]!))}: ${image.id}\n`);
  return 0;
}

const loadOptions: OptionDefs = {
  input: { type: "string", alias: ["i"], valueHint: "FILE", description: "Read the archive from FILE instead of stdin" },
  quiet: { type: "boolean", alias: ["q"], description: "No progress" },
};

export async function load(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, loadOptions, { name: "load", description: "Load images from a docker save archive or an OCI layout in a tar (plain, gzip or zstd)", positional: "", examples: ["bunker load -i alpine.tar", "docker save alpine | bunker load"] });
  if (!parsed) return 0;
  if (parsed.rest.length) throw new UsageError(`load: unexpected argument "${parsed.rest[0]}" (the archive comes with -i FILE, or on stdin)`);
  const file = parsed.values.input as string | undefined;
  const stream = archiveStream(file ?? "-", "load");
  const { loadImages } = await import("../image/load");
  const quiet = parsed.values.quiet === true;
  useRootlessStoreHelpers();
  const loaded = await loadImages(stream, quiet ? undefined : (line) => void writeErr(`${line}\n`));
  for (const i of loaded) imageEvent("load", i.id, i.names[0] !== undefined ? familiarName(parseReference(i.names[0])) : undefined);
  await sweepLeftovers();
  await writeOut(loaded.map((i) => (i.names.length ? i.names.map((n) => `Loaded image: ${familiarName(parseReference(n))}\n`).join("") : `Loaded image ID: ${i.id}\n`)).join(""));
  return 0;
}

/** bunker image ls|rm|inspect|prune|import|tag|pull|load|save. */
export async function image(argv: string[]): Promise<number> {
  return runGroup(argv, {
    name: "image",
    description: "Manage images: list, remove, inspect, prune, import, tag, pull, load and save them",
    commands: {
      ls: (rest) => images(rest, "image ls"),
      list: (rest) => images(rest, "image ls"),
      rm: (rest) => rmi(rest, "image rm"),
      inspect: inspectImages,
      prune: pruneImages,
      import: importCmd,
      tag,
      pull,
      load,
      save: async (rest) => (await import("./save")).save(rest),
    },
    examples: ["bunker image ls", "bunker image prune -a"],
  });
}
