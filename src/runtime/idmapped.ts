// Id-mapped mounts (a mount's uidMappings and gidMappings, or its idmap and
// ridmap options): mount_setattr gives a detached bind the maps of a user
// namespace, which exists only to carry them. Each distinct mapping gets one,
// held by a child that waits on its sync pipe while bunker writes its maps
// and opens its namespace file, then exits. The kernel lets only a process
// privileged over the source's filesystem id-map it, which the container's
// child in a user namespace of its own is not: bunker makes each such bind a
// detached tree itself, maps and flags set, and the child attaches it.

import { requireFeature } from "../sys/kernel";
import type { ContainerSpec, LinuxIDMapping, Mount } from "../spec/types";
import { BunkerError } from "../errors";
import { AT, CLONE, MOUNT_ATTR, O, OPEN_TREE } from "../sys/constants";
import { closeFd, trySys, waitFor } from "../sys/libc";
import { cstr } from "../sys/fs";
import { Errno, errnoMessage } from "../sys/errno";
import { ChildProgram } from "../child/program";
import { loadNative } from "../sys/native";
import { writeMapsAsRoot } from "../identity/maps";
import { planHandshake } from "./plan";
import { bindAttrs } from "../rootfs/plan";
import { ATIME_MODE } from "../rootfs/options";
import { closePipes, openPipes, spawnChild } from "./spawn";
import { MOUNT_ATTR_LAYOUT } from "../sys/layouts";

/** The maps an id-mapped mount takes: its own, else the container's user namespace's. */
export function mountMaps(m: Mount, spec: ContainerSpec): { uid: LinuxIDMapping[]; gid: LinuxIDMapping[] } | undefined {
  const opts = m.options ?? [];
  const asked = m.uidMappings !== undefined || m.gidMappings !== undefined || opts.includes("idmap") || opts.includes("ridmap");
  if (!asked) return undefined;
  const uid = m.uidMappings ?? spec.oci.linux.uidMappings;
  const gid = m.gidMappings ?? spec.oci.linux.gidMappings;
  if (!uid?.length || !gid?.length) throw new BunkerError(`the id-mapped mount on ${m.destination} has no maps: give uidMappings and gidMappings, or a user namespace with them`);
  return { uid, gid };
}

/** A user namespace with these maps, by an open descriptor of it. */
async function mapsNamespace(uid: readonly LinuxIDMapping[], gid: readonly LinuxIDMapping[]): Promise<number> {
  const pipes = openPipes();
  const p = new ChildProgram();
  planHandshake(p, pipes);
  // Released once its maps are written and its namespace opened: it has nothing left to do.
  p.call("exit, the namespace held by bunker", "exit_group", [0]);
  let fd = -1;
  try {
    const { pid } = await spawnChild(p, pipes, CLONE.NEWUSER, (pid) => {
      writeMapsAsRoot(pid, uid, gid);
      fd = trySys("openat", AT.FDCWD, cstr(`/proc/${pid}/ns/user`), O.RDONLY | O.CLOEXEC, 0);
      if (fd < 0) throw new BunkerError(`open the user namespace of an id-mapped mount: ${errnoMessage(-fd)}`);
    });
    // It has exited: its namespace lives on in `fd`.
    waitFor(pid);
    // Signals bunker receives are no longer for it.
    loadNative().forwardTo(-1);
    p.retain(null);
    return fd;
  } catch (e) {
    closePipes(pipes);
    if (fd >= 0) closeFd(fd);
    throw e;
  }
}

export interface IdmappedMounts {
  /** Each id-mapped bind's detached tree, by descriptor. */
  fds: Map<Mount, number>;
  close(): void;
}

/** A detached copy of the bind's source with the maps of `userns` and the bind's flags. */
function idmappedTree(m: Mount, userns: number): number {
  const { recursive, attrs, clear } = bindAttrs(m);
  const tree = trySys("open_tree", AT.FDCWD, cstr(m.source!), OPEN_TREE.CLONE | OPEN_TREE.CLOEXEC | (recursive ? AT.RECURSIVE : 0));
  if (tree < 0) throw new BunkerError(`open ${m.source} for the id-mapped mount on ${m.destination}: ${errnoMessage(-tree)}`);
  const deep = (m.options ?? []).includes("ridmap") ? AT.RECURSIVE : 0;
  // struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd }
  const mapped = trySys("mount_setattr", tree, cstr(""), AT.EMPTY_PATH | deep, new BigUint64Array([BigInt(MOUNT_ATTR.IDMAP), 0n, 0n, BigInt(userns)]), MOUNT_ATTR_LAYOUT.SIZE);
  const flagged = mapped < 0 || (attrs === 0 && clear === 0) ? 0 : trySys("mount_setattr", tree, cstr(""), AT.EMPTY_PATH | (recursive ? AT.RECURSIVE : 0), new BigUint64Array([BigInt(attrs), BigInt(clear | (attrs & ATIME_MODE ? ATIME_MODE : 0)), 0n, 0n]), MOUNT_ATTR_LAYOUT.SIZE);
  if (mapped < 0 || flagged < 0) {
    closeFd(tree);
    const why = errnoMessage(-(mapped < 0 ? mapped : flagged));
    throw new BunkerError(mapped < 0 ? `id-map ${m.source} for the mount on ${m.destination}: ${why}${-mapped === Errno.EINVAL ? " (its filesystem cannot be id-mapped)" : ""}` : `set the flags of the id-mapped mount on ${m.destination}: ${why}`);
  }
  return tree;
}

/** The detached trees of the spec's id-mapped binds (root only: the kernel allows them to no one else). */
export async function idmappedMounts(spec: ContainerSpec): Promise<IdmappedMounts> {
  const fds = new Map<Mount, number>();
  const byMaps = new Map<string, number>();
  const close = () => {
    for (const fd of fds.values()) closeFd(fd);
  };
  try {
    for (const m of spec.oci.mounts) {
      const maps = mountMaps(m, spec);
      if (!maps) continue;
      if (m.type !== "bind") throw new BunkerError(`the mount on ${m.destination}: only bind mounts can be id-mapped`);
      requireFeature("mountSetattr", `the id-mapped mount on ${m.destination}`);
      if ((process.geteuid?.() ?? 0) !== 0) throw new BunkerError(`the mount on ${m.destination}: id-mapped mounts need root`);
      const key = JSON.stringify(maps);
      let userns = byMaps.get(key);
      if (userns === undefined) {
        userns = await mapsNamespace(maps.uid, maps.gid);
        byMaps.set(key, userns);
      }
      fds.set(m, idmappedTree(m, userns));
    }
  } catch (e) {
    close();
    throw e;
  } finally {
    // Each tree keeps the maps it was given.
    for (const fd of byMaps.values()) closeFd(fd);
  }
  return { fds, close };
}
