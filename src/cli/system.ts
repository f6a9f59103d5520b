// bunker system df [--json]; bunker system prune [-a] [-f] [--volumes]

import { readdirSync, statSync } from "node:fs";
import { BunkerError } from "../errors";
import { columns, jsonText, writeOut } from "../output";
import { formatBytes } from "../spec/resources";
import { discarded, listImages, openStore, pruneLayers } from "../image/store";
import { removeImage } from "../image/images";
import { imagesInUse, reconcileImageRoots, usersOfImage } from "../runtime/image-rootfs";
import { removeContainer } from "../runtime/remove";
import { currentStatus, listStates } from "../runtime/store";
import { listVolumes, volumePath } from "../runtime/volume-store";
import { volumesInUse } from "../runtime/volume-use";
import { UsageError } from "../options";
import { parseCommand, runGroup } from "./usage";

/** Bytes below `path`, as du counts them (each inode once, links not followed). */
export function diskUse(path: string): number {
  if (path === "") return 0;
  const r = Bun.spawnSync(["du", "-sb", "--", path], { stdout: "pipe", stderr: "ignore" });
  return Number(r.stdout.toString().split("\t")[0]) || 0;
}

interface Usage {
  images: { count: number; active: number; bytes: number; reclaimable: number };
  containers: { count: number; active: number; bytes: number; reclaimable: number };
  volumes: { count: number; active: number; bytes: number; reclaimable: number };
}

function usage(): Usage {
  const root = openStore();
  const states = listStates();
  const images = listImages(root);
  const used = imagesInUse(states);
  const layerBytes = new Map<string, number>();
  for (const l of readdirSync(`${root}/layers`)) if (!discarded(l)) layerBytes.set(l, diskUse(`${root}/layers/${l}`));
  // The archives layers came as (kept for save) count with the images, in use while an image of theirs is.
  const activeImages = images.filter((i) => usersOfImage(i.id).length > 0);
  const activeBlobs = new Set(activeImages.flatMap((i) => (i.blobs ?? []).map((b) => b.digest.slice(7))));
  const blobBytes = new Map<string, number>();
  // Blobs are plain files: their size, without a du for each.
  for (const f of readdirSync(`${root}/blobs/sha256`)) blobBytes.set(f, statSync(`${root}/blobs/sha256/${f}`, { throwIfNoEntry: false })?.size ?? 0);
  const all = [...layerBytes.values(), ...blobBytes.values()].reduce((a, b) => a + b, 0);
  const inUse = [...layerBytes].filter(([l]) => used.has(l)).reduce((a, [, b]) => a + b, 0) + [...blobBytes].filter(([f]) => activeBlobs.has(f)).reduce((a, [, b]) => a + b, 0);
  const containers = states.filter((s) => s.spec.bunker.image);
  const own = (id: string) => diskUse(`${root}/containers/${id}`);
  const sizes = containers.map((s) => ({ s, bytes: own(s.id) }));
  const volumesUsed = volumesInUse(states);
  const volumes = listVolumes().map((r) => ({ used: volumesUsed.has(r.Name), bytes: diskUse(volumePath(r.Name)?.data ?? "") }));
  return {
    images: { count: images.length, active: activeImages.length, bytes: all, reclaimable: all - inUse },
    containers: {
      count: containers.length,
      active: containers.filter((s) => currentStatus(s) !== "stopped").length,
      bytes: sizes.reduce((a, c) => a + c.bytes, 0),
      reclaimable: sizes.filter((c) => currentStatus(c.s) === "stopped").reduce((a, c) => a + c.bytes, 0),
    },
    volumes: {
      count: volumes.length,
      active: volumes.filter((v) => v.used).length,
      bytes: volumes.reduce((a, v) => a + v.bytes, 0),
      reclaimable: volumes.filter((v) => !v.used).reduce((a, v) => a + v.bytes, 0),
    },
  };
}

async function df(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, { json: { type: "boolean", description: "JSON" } }, { name: "system df", description: "Disk the image store takes: images' layers and the archives they came as, containers' own directories, volumes", positional: "", examples: ["bunker system df", "bunker system df --json"] });
  if (!parsed) return 0;
  if (parsed.rest.length) throw new UsageError(`system df: unexpected argument "${parsed.rest[0]}"`);
  const u = usage();
  if (parsed.values.json) {
    await writeOut(`${jsonText(u, 2)}\n`);
    return 0;
  }
  const pct = (part: number, whole: number) => (whole ? ` (${Math.round((part / whole) * 100)}%)` : "");
  const rows = [
    ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
    ["Images", String(u.images.count), String(u.images.active), formatBytes(u.images.bytes), `${formatBytes(u.images.reclaimable)}${pct(u.images.reclaimable, u.images.bytes)}`],
    ["Containers", String(u.containers.count), String(u.containers.active), formatBytes(u.containers.bytes), `${formatBytes(u.containers.reclaimable)}${pct(u.containers.reclaimable, u.containers.bytes)}`],
    ["Local Volumes", String(u.volumes.count), String(u.volumes.active), formatBytes(u.volumes.bytes), `${formatBytes(u.volumes.reclaimable)}${pct(u.volumes.reclaimable, u.volumes.bytes)}`],
  ];
  await writeOut(columns(rows));
  return 0;
}

async function prune(argv: string[]): Promise<number> {
  const parsed = await parseCommand(
    argv,
    {
      all: { type: "boolean", alias: ["a"], description: "Also images with names that no container uses" },
      force: { type: "boolean", alias: ["f"], description: "Do not ask" },
      volumes: { type: "boolean", description: "Also anonymous volumes no container uses (with -a: every unused volume)" },
    },
    { name: "system prune", description: "Remove stopped containers, images without names (-a: every unused one) and layers nothing uses (--volumes: and unused volumes)", positional: "", examples: ["bunker system prune", "bunker system prune -a --volumes"] },
  );
  if (!parsed) return 0;
  if (parsed.rest.length) throw new UsageError(`system prune: unexpected argument "${parsed.rest[0]}"`);
  if (!parsed.values.force) {
    if (!process.stdin.isTTY) throw new UsageError("system prune: removes stopped containers and unused images: add -f to do it without asking");
    process.stdout.write(`This removes every stopped container${parsed.values.volumes ? `, ${parsed.values.all ? "every volume" : "every anonymous volume"} no container uses,` : ""} and ${parsed.values.all ? "every image no container uses" : "images without names"}. Are you sure? [y/N] `);
    const answer = await new Promise<string>((resolve) => process.stdin.once("data", (d) => resolve(String(d))));
    process.stdin.pause();
    if (!/^y(es)?\s*$/i.test(answer)) return 0;
  }
  const lines: string[] = [];
  let failed: unknown;
  for (const s of listStates()) {
    if (currentStatus(s) !== "stopped") continue;
    try {
      await removeContainer(s, false);
      lines.push(`Deleted container: ${s.id}`);
    } catch (e) {
      failed ??= e;
    }
  }
  if (parsed.values.volumes) {
    const v = await (await import("./volume")).pruneVolumes(parsed.values.all === true);
    for (const n of v.names) lines.push(`Deleted volume: ${n}`);
    for (const f of v.failures) failed ??= new BunkerError(f);
  }
  const root = openStore();
  for (const i of listImages(root)) {
    if (usersOfImage(i.id).length) continue;
    if (i.names.length && !parsed.values.all) continue;
    removeImage(i.id, true, () => []);
    lines.push(`Deleted image: ${i.id}`);
  }
  const layers = pruneLayers(root, imagesInUse());
  reconcileImageRoots();
  await (await import("../runtime/userns-helper")).sweepLeftovers();
  lines.push(`Deleted layers: ${layers}`);
  await writeOut(`${lines.join("\n")}\n`);
  if (failed) throw failed instanceof BunkerError ? failed : new BunkerError(String(failed));
  return 0;
}

async function info(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, { json: { type: "boolean", description: "JSON" } }, { name: "system info", description: "What this host offers bunker and you, and what will not work here and why", positional: "", examples: ["bunker system info", "bunker info --json"] });
  if (!parsed) return 0;
  if (parsed.rest.length) throw new UsageError(`system info: unexpected argument "${parsed.rest[0]}"`);
  const i = (await import("../runtime/doctor")).hostInfo();
  if (parsed.values.json) {
    await writeOut(`${jsonText(i, 2)}\n`);
    return 0;
  }
  const helper = (name: string) => (i.helpers[name] ? `${i.helpers[name]}${i.versions[name] ? ` (${i.versions[name]})` : ""}` : "not found");
  const lines = [
    `bunker:           ${i.bunker}`,
    `kernel:           ${i.kernel.release} (${i.kernel.arch})`,
    `user:             ${i.user.name ?? "?"} (uid ${i.user.uid}, gid ${i.user.gid})`,
    `subordinate IDs:  uid ${i.user.subuid.join(", ") || "none"}; gid ${i.user.subgid.join(", ") || "none"}`,
    `user namespaces:  ${i.userNamespaces.unprivileged ? "unprivileged ones allowed" : `off for users: ${i.userNamespaces.why}`}`,
    `cgroups:          ${i.cgroups.layout}${i.cgroups.v1.length ? `; v1: ${i.cgroups.v1.join(" ")}` : ""}${i.cgroups.v2.length ? `; v2: ${i.cgroups.v2.join(" ")}` : "; v2: no controllers"}`,
    `  your containers' cgroups: ${i.cgroups.forThisUser}`,
    "helpers:",
    ...["newuidmap", "newgidmap", "pasta", "slirp4netns", "fuse-overlayfs"].map((h) => `  ${h.padEnd(15)} ${helper(h)}`),
    `image store:      ${i.storage.store} (root filesystems: ${i.storage.driver})`,
    `container state:  ${i.storage.state}`,
    "volumes:          -v HOST:CONTAINER is read-only unless :rw is given (bunker's default); -v NAME:CONTAINER and --mount are read-write unless ro",
    "",
    i.limits.length ? `What will not work here:\n${i.limits.map((l) => `  - ${l}`).join("\n")}` : "Everything bunker does works here.",
  ];
  await writeOut(`${lines.join("\n")}\n`);
  return 0;
}

export async function system(argv: string[]): Promise<number> {
  return runGroup(argv, {
    name: "system",
    description: "Disk use of images and containers (df); remove what nothing uses (prune); what this host offers (info); what happened (events)",
    commands: { df, prune, info, events: async (rest: string[]) => (await import("./events")).events(rest) },
    examples: ["bunker system df", "bunker system info", "bunker system events --since 10m"],
  });
}
