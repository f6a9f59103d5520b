// bunker export: a container's root filesystem as the container sees it
// (an image's layers merged with its own changes, or its --rootfs
// directory), as a tar archive; volumes and bunker's own mounts are not in it.

import { containerIdOf } from "../identity/idmap";
import { BunkerError } from "../errors";
import { imageTrees } from "./image-rootfs";
import { resolveContainer } from "./store";
import { archiveTrees } from "./userns-helper";

/** Writes the root filesystem of container `ref` to the descriptor `out`. */
export async function exportContainer(ref: string, out: number): Promise<void> {
  const s = resolveContainer(ref);
  const spec = s.spec;
  const name = s.name ?? s.id;
  if (spec.bunker.rootMode === "host") throw new BunkerError(`export ${name}: it runs on the host's root (--host-root) and has no root filesystem of its own`);
  const layers = spec.bunker.rootMode === "image" && spec.bunker.image ? imageTrees(spec.bunker.image) : [spec.oci.root.path];
  const uids = spec.oci.linux?.uidMappings;
  const gids = spec.oci.linux?.gidMappings;
  // As the container sees them: an ID none maps to is 65534 (nobody), as the kernel shows it.
  const owner = uids?.length || gids?.length ? (id: number, kind: "uid" | "gid") => containerIdOf((kind === "uid" ? uids : gids) ?? [], id) ?? 65534 : undefined;
  await archiveTrees(layers, "merged", out, owner);
}
