// The mount layout, as child steps. Everything inside the container is
// mounted after pivot_root, once the host's tree is detached, so a symlink in
// a hostile rootfs can only ever point at something inside the container.

import type { ChildProgram } from "../child/program";
import type { ContainerSpec } from "../spec/types";
import { AT, MNT_DETACH, MOUNT_ATTR, MOVE_MOUNT, MS, O, OPEN_TREE, S, makedev } from "../sys/constants";
import { Errno } from "../sys/errno";
import { parseMountOptions } from "./options";

/** What the host side learned about the rootfs before clone. */
export interface RootfsFacts {
  /** Contents for files bound over /etc/NAME; a file missing from the map is left alone. */
  etcFiles: Map<string, string>;
  /** Whether each /etc target already exists (a read-only root cannot get new files). */
  etcTargetExists: (name: string) => boolean;
}

const STAGING = "/tmp";

function pivotInto(p: ChildProgram, dir: string): void {
  p.call(`change directory to ${dir}`, "chdir", [p.str(dir)]);
  p.call(`pivot_root into ${dir}`, "pivot_root", [p.str("."), p.str(".")]);
  p.call("detach the old root", "umount2", [p.str("."), MNT_DETACH]);
  p.call("change directory to /", "chdir", [p.str("/")]);
}

/**
 * Copies the mount tree at `source` (the rootfs, or the host's /) into a
 * detached mount, attaches it at a staging point and pivots into it. A copy
 * rather than a bind of `source` onto itself, so that `--rootfs /` works too.
 */
function enterTree(p: ChildProgram, source: string, readonly: boolean): void {
  p.call("make / a private mount tree", "mount", [0, p.str("/"), 0, MS.REC | MS.PRIVATE, 0]);
  const tree = p.newSlot();
  p.call(`copy the mount tree at ${source}`, "open_tree", [AT.FDCWD, p.str(source), OPEN_TREE.CLONE | OPEN_TREE.CLOEXEC | AT.RECURSIVE], {
    save: tree,
  });
  if (readonly) {
    // struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd }
    const attr = p.arena.words([MOUNT_ATTR.RDONLY, 0, 0, 0]);
    p.call(`make the tree at ${source} read-only`, "mount_setattr", [tree, p.str(""), AT.EMPTY_PATH | AT.RECURSIVE, attr, 32]);
  }
  // The staging tmpfs lives only in the new mount namespace and goes away with the old root.
  p.call(`mount a staging tmpfs on ${STAGING}`, "mount", [p.str("tmpfs"), p.str(STAGING), p.str("tmpfs"), MS.NOSUID | MS.NODEV, p.str("mode=700")]);
  const newRoot = `${STAGING}/root`;
  p.call(`create ${newRoot}`, "mkdirat", [AT.FDCWD, p.str(newRoot), 0o700]);
  p.call(`attach the root at ${newRoot}`, "move_mount", [tree, p.str(""), AT.FDCWD, p.str(newRoot), MOVE_MOUNT.F_EMPTY_PATH]);
  p.call("close the tree descriptor", "close", [tree]);
  pivotInto(p, newRoot);
}

function mountAll(p: ChildProgram, spec: ContainerSpec): void {
  const hostRoot = spec.bunker.rootMode === "host";
  for (const m of spec.oci.mounts) {
    const dest = m.destination;
    if (hostRoot) {
      // Drop what the host had there (and below it) before covering it.
      p.call(`unmount the host's ${dest}`, "umount2", [p.str(dest), MNT_DETACH], { ignore: [Errno.EINVAL, Errno.ENOENT] });
    } else {
      p.call(`create mount point ${dest}`, "mkdirat", [AT.FDCWD, p.str(dest), 0o755], { ignore: [Errno.EEXIST] });
    }
    if (hostRoot && dest.startsWith("/dev/")) {
      p.call(`create mount point ${dest}`, "mkdirat", [AT.FDCWD, p.str(dest), 0o755], { ignore: [Errno.EEXIST] });
    }
    const { flags, data } = parseMountOptions(m.options);
    const type = m.type ?? "none";
    p.call(`mount ${type} on ${dest}`, "mount", [p.str(m.source ?? type), p.str(dest), p.str(type), flags, data ? p.str(data) : 0]);
  }
}

function makeDevices(p: ChildProgram, spec: ContainerSpec): void {
  for (const d of spec.oci.linux.devices ?? []) {
    if (d.type !== "c") continue;
    const mode = S.IFCHR | ((d.fileMode ?? 0o666) & 0o7777);
    p.call(`create device ${d.path}`, "mknodat", [AT.FDCWD, p.str(d.path), mode, makedev(d.major, d.minor)]);
  }
  const links: [string, string][] = [
    ["/dev/ptmx", "pts/ptmx"],
    ["/dev/fd", "/proc/self/fd"],
    ["/dev/stdin", "/proc/self/fd/0"],
    ["/dev/stdout", "/proc/self/fd/1"],
    ["/dev/stderr", "/proc/self/fd/2"],
  ];
  for (const [path, target] of links) {
    p.call(`link ${path} to ${target}`, "symlinkat", [p.str(target), AT.FDCWD, p.str(path)], { ignore: [Errno.EEXIST] });
  }
}

/**
 * Generated files are written into the container's private /dev tmpfs,
 * bind-mounted over their target and unlinked again, so nothing on the host
 * is written and nothing needs cleaning up.
 */
function bindEtcFiles(p: ChildProgram, spec: ContainerSpec, facts: RootfsFacts): void {
  if (!spec.bunker.etcFiles) return;
  const hostRoot = spec.bunker.rootMode === "host";
  for (const [name, content] of facts.etcFiles) {
    const target = `/etc/${name}`;
    if (hostRoot && !facts.etcTargetExists(name)) continue;
    const staged = `/dev/.bunker-${name}`;
    const fd = p.newSlot();
    const bytes = new TextEncoder().encode(content);
    p.call(`create ${staged}`, "openat", [AT.FDCWD, p.str(staged), O.WRONLY | O.CREAT | O.EXCL | O.CLOEXEC, 0o644], { save: fd });
    p.call(`write ${staged}`, "write", [fd, p.arena.bytes(bytes), bytes.length], { expect: { value: bytes.length, errno: Errno.EIO } });
    p.call(`close ${staged}`, "close", [fd]);
    if (!hostRoot) {
      const t = p.newSlot();
      p.call(`create ${target}`, "openat", [AT.FDCWD, p.str(target), O.RDONLY | O.CREAT | O.CLOEXEC | O.NOCTTY, 0o644], { save: t });
      p.call(`close ${target}`, "close", [t]);
    }
    p.call(`bind-mount ${target}`, "mount", [p.str(staged), p.str(target), 0, MS.BIND, 0]);
    p.call(`remove ${staged}`, "unlinkat", [AT.FDCWD, p.str(staged), 0]);
  }
}

/** Steps that build the container's filesystem view, ending with / as cwd. */
export function planRootfs(p: ChildProgram, spec: ContainerSpec, facts: RootfsFacts): void {
  const hostRoot = spec.bunker.rootMode === "host";
  enterTree(p, hostRoot ? "/" : spec.oci.root.path, hostRoot);
  p.call("clear the umask", "umask", [0]);
  mountAll(p, spec);
  makeDevices(p, spec);
  bindEtcFiles(p, spec, facts);
  if (spec.bunker.rootMode === "dir" && spec.oci.root.readonly) {
    p.call("make / read-only", "mount", [0, p.str("/"), 0, MS.REMOUNT | MS.BIND | MS.RDONLY, 0]);
  }
}
