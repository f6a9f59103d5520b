// The mount layout, as child steps.
//
// The root (the rootfs, or the host's /) is copied as a detached mount tree,
// attached at a staging point and entered with pivot_root, and the old root
// is detached at once: from then on no path, however a hostile rootfs's
// symlinks and ".." parts lead it, reaches a host file. Everything inside the
// container is mounted after that. Host files bound into the container
// (volumes, device nodes without CAP_MKNOD, resolv.conf) are opened as mount
// trees before the pivot and attached after it. proc and sysfs are created as
// detached mounts between the pivot and the detach, because a user namespace
// may create them only while a full view of the host's is still in its mount
// namespace, and attached in their place later.

import type { ChildProgram, Slot } from "../child/program";
import type { ContainerSpec, ImageRoot, LinuxDevice, Mount } from "../spec/types";
import { AT, CLONE, FSCONFIG, FSMOUNT_CLOEXEC, FSOPEN_CLOEXEC, makedev, MNT_DETACH, MOUNT_ATTR, MOVE_MOUNT, MS, O, OPEN_TREE, RESOLVE, S } from "../sys/constants";
import { Errno } from "../sys/errno";
import { planMaskedPaths } from "./masked";
import { planCgroupfs, type CgroupfsView } from "./cgroupfs";
import { planDetachHostMounts } from "./hostmounts";
import { ATIME_MODE, fsOptions, propagationOf } from "./options";
import { OPEN_HOW_LAYOUT, MOUNT_ATTR_LAYOUT } from "../sys/layouts";
import { msOfAttrs, planPendingFlags, planRemount, remountFlags, type PendingFlags } from "./remount";
import { has } from "../sys/kernel";

/** What the host side learned before clone. */
export interface RootfsFacts {
  /** Contents for files bound over /etc/NAME; a file missing from the map is left alone. */
  etcFiles: Map<string, string>;
  /** Whether each /etc target already exists on the host (a read-only host root cannot get new files). */
  etcTargetExists: (name: string) => boolean;
  /** Whether a bind source is a directory or something else (a file, a device). */
  sourceIsDir: (path: string) => boolean;
  /** The host's cgroup hierarchies, for a "cgroup" mount; none: the mount is left out. */
  cgroupfs?: CgroupfsView;
  /**
   * Destinations resolved inside the rootfs (see mountpoints.ts): where each
   * mount point is created and mounted on. One not listed is used as given.
   */
  mountPoints?: ReadonlyMap<string, string>;
  /** With the host's root: its mount points, so that host mounts below a replaced directory are detached. */
  hostMounts?: readonly string[];
  /**
   * Id-mapped binds, made by bunker as detached trees with their maps and
   * flags (only a process privileged over the source's filesystem may): a
   * descriptor of each, which the child attaches.
   */
  idmapped?: ReadonlyMap<Mount, number>;
  /**
   * Without mount_setattr (before Linux 5.12): the MS flags of the host mount
   * `path` is on, and the host's mount points below `path` (relative to it),
   * for the bind remounts that set a tree's flags instead (see remount.ts).
   */
  mountFlags?: (path: string) => number;
  mountsBelow?: (path: string) => string[];
}

/** Where a mount on `dest` goes. */
const placeOf = (facts: RootfsFacts, dest: string) => facts.mountPoints?.get(dest) ?? dest;

const STAGING = "/tmp";

/** A detached mount (a host path's tree, or a new filesystem) waiting to be attached. */
interface Opened {
  /** A slot the child saved the tree's descriptor in, or a descriptor bunker opened. */
  slot: Slot | number;
  isDir: boolean;
  /** "proc" for a new filesystem; undefined for a bind. */
  fsType?: string;
  /** Flags the tree gets by bind remounts once attached, where mount_setattr is missing. */
  pending?: PendingFlags;
}


/** Where a tree's flags come from without mount_setattr: its host path (and the facts about it), or its top mount's MS flags. */
type FlagSource = { path: string; facts: RootfsFacts } | { keep: number };

function setAttrs(p: ChildProgram, slot: Slot, attrs: number, clear: number, recursive: boolean, what: string, from: FlagSource): PendingFlags | undefined {
  if (attrs === 0 && clear === 0) return undefined;
  if (!has("mountSetattr")) {
    if ("keep" in from) return { set: attrs, clear, keep: from.keep, below: [] };
    const { path, facts } = from;
    const below = recursive ? (facts.mountsBelow?.(path) ?? []) : [];
    return { set: attrs, clear, keep: facts.mountFlags?.(path) ?? 0, below: below.map((rel) => ({ rel, keep: facts.mountFlags?.(`${path.replace(/\/+$/, "")}/${rel}`) ?? 0 })) };
  }
  // struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd }. Flags
  // are cleared only where a recursive option asks (rrw, rsuid, ...), so flags
  // the kernel locks stay as they are otherwise; the access-time mode is taken
  // only with the old one cleared.
  const attr = p.arena.words([attrs, clear | (attrs & ATIME_MODE ? ATIME_MODE : 0), 0, 0]);
  p.call(`${clear ? "set and clear" : "set"} mount flags on ${what}`, "mount_setattr", [slot, p.str(""), AT.EMPTY_PATH | (recursive ? AT.RECURSIVE : 0), attr, MOUNT_ATTR_LAYOUT.SIZE]);
  return undefined;
}

function openTree(p: ChildProgram, facts: RootfsFacts, source: string, recursive: boolean, attrs: number, isDir: boolean, clear = 0): Opened {
  const slot = p.newSlot();
  const flags = OPEN_TREE.CLONE | OPEN_TREE.CLOEXEC | (recursive ? AT.RECURSIVE : 0);
  p.call(`open ${source} for binding`, "open_tree", [AT.FDCWD, p.str(source), flags], { save: slot });
  const pending = setAttrs(p, slot, attrs, clear, recursive, source, { path: source, facts });
  return { slot, isDir, ...(pending ? { pending } : {}) };
}

/**
 * `path` of another container (process `pid`), opened as a mount tree. A
 * mount of another mount namespace cannot be copied from this one: the
 * child enters that namespace for the copy and comes back, the tree then
 * detached, as a new filesystem is, to be attached after the pivot. The path
 * is resolved there without following any symlink: what that container put
 * in its place cannot lead the bind anywhere else.
 */
function openTreeOf(p: ChildProgram, facts: RootfsFacts, pid: number, path: string, attrs: number): Opened {
  const own = p.newSlot();
  p.call("open this mount namespace", "openat", [AT.FDCWD, p.str("/proc/self/ns/mnt"), O.RDONLY | O.CLOEXEC, 0], { save: own });
  const theirs = p.newSlot();
  p.call(`open the mount namespace of process ${pid}`, "openat", [AT.FDCWD, p.str(`/proc/${pid}/ns/mnt`), O.RDONLY | O.CLOEXEC, 0], { save: theirs });
  p.call(`enter the mount namespace of process ${pid}`, "setns", [theirs, CLONE.NEWNS]);
  const found = p.newSlot();
  // struct open_how { u64 flags, mode, resolve }.
  const how = p.arena.words([O.PATH | O.CLOEXEC, 0, RESOLVE.IN_ROOT | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS]);
  p.call(`open ${path} of process ${pid}`, "openat2", [AT.FDCWD, p.str(path), how, OPEN_HOW_LAYOUT.SIZE], { save: found });
  const slot = p.newSlot();
  p.call(`copy ${path} of process ${pid} for binding`, "open_tree", [found, p.str(""), OPEN_TREE.CLONE | OPEN_TREE.CLOEXEC | AT.EMPTY_PATH | AT.RECURSIVE], { save: slot });
  p.call("return to this mount namespace", "setns", [own, CLONE.NEWNS]);
  for (const fd of [found, theirs, own]) p.call("close a descriptor", "close", [fd]);
  // Without mount_setattr, a bind remount sets every flag anew: those of that container's mount
  // there (bunker's tmpfs, or a read-only volume its spec put there), never fewer than `attrs`.
  const real = has("mountSetattr") ? 0 : (facts.mountFlags?.(`/proc/${pid}/root${path}`) ?? 0);
  const keep = msOfAttrs(attrs) | (real & (MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC));
  const pending = setAttrs(p, slot, attrs, 0, true, `${path} of process ${pid}`, { keep });
  return { slot, isDir: true, ...(pending ? { pending } : {}) };
}

/**
 * A bind's flags (ro, nosuid, noatime, ...) from its options, set on every
 * mount of its tree; recursive unless "bind" says otherwise. The recursive
 * options (rro, rrw, ...) add flags to set, or to clear.
 */
export function bindAttrs(m: Mount): { recursive: boolean; attrs: number; clear: number } {
  const opts = m.options ?? [];
  const { attrs, clear } = fsOptions(opts);
  return { recursive: !opts.includes("bind"), attrs, clear };
}

/**
 * fsopen/fsmount: a new filesystem as a detached mount. Its options become
 * per-mount flags, or the filesystem's parameters (size=64m, newinstance),
 * one fsconfig each: a bad one fails naming itself.
 */
function createDetached(p: ChildProgram, m: Mount): Opened {
  const type = m.type!;
  const ctx = p.newSlot();
  p.call(`create a ${type} filesystem`, "fsopen", [p.str(type), FSOPEN_CLOEXEC], { save: ctx });
  p.call(`name the ${type} filesystem`, "fsconfig", [ctx, FSCONFIG.SET_STRING, p.str("source"), p.str(m.source ?? type), 0]);
  const { attrs, params } = fsOptions(m.options);
  for (const [key, value] of params) {
    const what = `set ${value === null ? key : `${key}=${value}`} on the ${type} filesystem for ${m.destination}`;
    if (value === null) p.call(what, "fsconfig", [ctx, FSCONFIG.SET_FLAG, p.str(key), 0, 0]);
    else p.call(what, "fsconfig", [ctx, FSCONFIG.SET_STRING, p.str(key), p.str(value), 0]);
  }
  p.call(`set up the ${type} filesystem for ${m.destination}`, "fsconfig", [ctx, FSCONFIG.CMD_CREATE, 0, 0, 0]);
  const slot = p.newSlot();
  p.call(`mount the ${type} filesystem`, "fsmount", [ctx, FSMOUNT_CLOEXEC, attrs], { save: slot });
  p.call(`close the ${type} context`, "close", [ctx]);
  return { slot, isDir: true, fsType: type };
}

/**
 * An image's root filesystem: overlayfs of its layers (the top one first)
 * over the container's upper directory, made detached. It lives in the
 * container's mount namespace only: nothing of it is left on the host when
 * the container ends, however bunker ends.
 */
function openOverlay(p: ChildProgram, image: ImageRoot): Opened {
  const ctx = p.newSlot();
  p.call("create the overlay filesystem of the image", "fsopen", [p.str("overlay"), FSOPEN_CLOEXEC], { save: ctx });
  const set = (key: string, value: string, what: string) => p.call(what, "fsconfig", [ctx, FSCONFIG.SET_STRING, p.str(key), p.str(value), 0]);
  set("source", "overlay", "name the overlay filesystem");
  // fsconfig takes a string of at most 255 bytes: more layers than fit go one by one (lowerdir+, Linux 6.8).
  const lower = [...image.lower].reverse();
  if (lower.join(":").length <= 255) set("lowerdir", lower.join(":"), `stack the image's ${lower.length} layer${lower.length === 1 ? "" : "s"}`);
  else lower.forEach((l, i) => set("lowerdir+", l, `stack the image's layer ${lower.length - i} of ${lower.length} (lowerdir+ needs Linux 6.8)`));
  set("upperdir", image.upper, `take the container's changes in ${image.upper}`);
  set("workdir", image.work, `give overlayfs its work directory ${image.work}`);
  if (image.userxattr) p.call("keep whiteouts in user.* attributes (userxattr)", "fsconfig", [ctx, FSCONFIG.SET_FLAG, p.str("userxattr"), 0, 0]);
  p.call("set up the overlay filesystem", "fsconfig", [ctx, FSCONFIG.CMD_CREATE, 0, 0, 0]);
  const slot = p.newSlot();
  // nodev: a device node in an image opens only in the container's own /dev.
  p.call("mount the overlay filesystem", "fsmount", [ctx, FSMOUNT_CLOEXEC, MOUNT_ATTR.NODEV], { save: slot });
  p.call("close the overlay context", "close", [ctx]);
  return { slot, isDir: true, fsType: "overlay" };
}

function enterTree(p: ChildProgram, facts: RootfsFacts, source: string | ImageRoot, readonly: boolean): PendingFlags | undefined {
  // nodev: a device node in an image or a host directory opens only in the container's own /dev.
  // An image's root made otherwise than by the kernel's overlayfs (fuse-overlayfs's mount, or a copy) is bound as a directory is.
  const dir = typeof source === "string" ? source : source.driver === "overlay" ? undefined : source.merged;
  const root = dir !== undefined ? openTree(p, facts, dir, true, MOUNT_ATTR.NODEV | (readonly ? MOUNT_ATTR.RDONLY : 0), true) : openOverlay(p, source as ImageRoot);
  // The staging tmpfs exists only in the new mount namespace and leaves with the old root.
  p.call(`mount a staging tmpfs on ${STAGING}`, "mount", [p.str("tmpfs"), p.str(STAGING), p.str("tmpfs"), MS.NOSUID | MS.NODEV, p.str("mode=700")]);
  const newRoot = `${STAGING}/root`;
  p.call(`create ${newRoot}`, "mkdirat", [AT.FDCWD, p.str(newRoot), 0o700]);
  p.call(`attach the root at ${newRoot}`, "move_mount", [root.slot, p.str(""), AT.FDCWD, p.str(newRoot), MOVE_MOUNT.F_EMPTY_PATH]);
  p.call("close the root's tree descriptor", "close", [root.slot]);
  p.call(`change directory to ${newRoot}`, "chdir", [p.str(newRoot)]);
  p.call(`pivot_root into ${newRoot}`, "pivot_root", [p.str("."), p.str(".")]);
  return root.pending;
}

function leaveOldRoot(p: ChildProgram): void {
  // After pivot_root(".", ".") the old root sits on top of ".", the new root.
  p.call("detach the old root", "umount2", [p.str("."), MNT_DETACH]);
  p.call("change directory to /", "chdir", [p.str("/")]);
}

/** mkdir -p, component by component, from the new root. */
function makeParents(p: ChildProgram, path: string): void {
  const parts = path.split("/").filter(Boolean);
  for (let i = 1; i < parts.length; i++) {
    const dir = `/${parts.slice(0, i).join("/")}`;
    p.call(`create directory ${dir}`, "mkdirat", [AT.FDCWD, p.str(dir), 0o755], { ignore: [Errno.EEXIST] });
  }
}

/**
 * Creates the mount point unless something is there already. Neither mkdirat
 * nor mknodat opens what it finds or follows a final symlink: a FIFO in the
 * rootfs cannot block the set-up, and whatever non-directory is there is
 * simply mounted over, as a file would be.
 */
function makeTarget(p: ChildProgram, path: string, isDir: boolean, parents: boolean): void {
  if (parents) makeParents(p, path);
  if (isDir) {
    p.call(`create mount point ${path}`, "mkdirat", [AT.FDCWD, p.str(path), 0o755], { ignore: [Errno.EEXIST] });
    return;
  }
  p.call(`create mount point ${path}`, "mknodat", [AT.FDCWD, p.str(path), S.IFREG | 0o644, 0], { ignore: [Errno.EEXIST] });
}

function attach(p: ChildProgram, opened: Opened, dest: string): void {
  const what = opened.fsType ? `mount ${opened.fsType} on ${dest}` : `bind-mount onto ${dest}`;
  if (opened.isDir) {
    // move_mount says only EINVAL when a directory meets a file; name the real problem.
    const fd = p.newSlot();
    p.call(what, "openat", [AT.FDCWD, p.str(dest), O.PATH | O.DIRECTORY | O.CLOEXEC, 0], { save: fd });
    p.call(`close ${dest}`, "close", [fd]);
  }
  // Following symlinks is safe here: "/" is the container's root and nothing else is reachable.
  p.call(what, "move_mount", [opened.slot, p.str(""), AT.FDCWD, p.str(dest), MOVE_MOUNT.F_EMPTY_PATH | MOVE_MOUNT.T_SYMLINKS]);
  p.call(`close the descriptor of the mount for ${dest}`, "close", [opened.slot]);
  if (opened.pending) planPendingFlags(p, dest, opened.pending, dest);
}

/** A mount's propagation type, where asked for: a new filesystem is private already, unless `always`. */
function planPropagation(p: ChildProgram, dest: string, flags: number | undefined, always = false): void {
  if (flags === undefined || ((flags & MS.PRIVATE) !== 0 && !always)) return;
  p.call(`set the propagation of ${dest}`, "mount", [0, p.str(dest), 0, flags, 0]);
}

function mountOne(p: ChildProgram, m: Mount, hostRoot: boolean, opened: Opened | undefined, facts: RootfsFacts): void {
  mountIt(p, m, hostRoot, opened, facts);
  if (m.type === "cgroup") return;
  const dest = placeOf(facts, m.destination);
  // A bind was copied while tied to the host's mount (see planRootfs): private unless it asks otherwise.
  if (m.type === "bind") planPropagation(p, dest, propagationOf(m.options) ?? MS.REC | MS.PRIVATE, true);
  else planPropagation(p, dest, propagationOf(m.options));
}

function mountIt(p: ChildProgram, m: Mount, hostRoot: boolean, opened: Opened | undefined, facts: RootfsFacts): void {
  if (m.type === "cgroup") {
    // Mounted over whatever the new /sys has there: an empty sysfs directory, or the host's tree in a bound /sys.
    if (facts.cgroupfs) planCgroupfs(p, facts.cgroupfs);
    return;
  }
  const dest = placeOf(facts, m.destination);
  const underDev = dest.startsWith("/dev/");
  if (hostRoot && !underDev) {
    // Drop what the host had there (and below it) before covering it. In a
    // user namespace the host's mounts are locked together and stay, covered.
    p.call(`unmount the host's ${dest}`, "umount2", [p.str(dest), MNT_DETACH], { ignore: [Errno.EINVAL, Errno.ENOENT, Errno.EPERM] });
    planDetachHostMounts(p, dest, facts.hostMounts ?? []);
  }
  // Every other mount was made before the root was entered (see planRootfs).
  if (!opened) throw new Error(`the mount on ${m.destination} was not made before the root was entered`);
  if (!hostRoot || underDev) makeTarget(p, dest, opened.isDir, true);
  attach(p, opened, dest);
}

const NODE_TYPE: Record<LinuxDevice["type"], number> = { c: S.IFCHR, u: S.IFCHR, b: S.IFBLK, p: S.IFIFO };

function makeDevices(p: ChildProgram, spec: ContainerSpec, bound: Map<string, Opened>): void {
  for (const d of spec.oci.linux.devices ?? []) {
    const nested = d.path.split("/").length > 3;
    const host = bound.get(d.path);
    if (host) {
      makeTarget(p, d.path, false, nested);
      attach(p, host, d.path);
      continue;
    }
    if (nested) makeParents(p, d.path);
    const mode = NODE_TYPE[d.type] | ((d.fileMode ?? 0o666) & 0o7777);
    p.call(`create device ${d.path}`, "mknodat", [AT.FDCWD, p.str(d.path), mode, d.type === "p" ? 0 : makedev(d.major, d.minor)]);
    // mknod made it the container root's: only another owner needs a step.
    if ((d.uid ?? 0) !== 0 || (d.gid ?? 0) !== 0) {
      p.call(`give device ${d.path} to ${d.uid ?? -1}:${d.gid ?? -1}`, "fchownat", [AT.FDCWD, p.str(d.path), d.uid ?? -1, d.gid ?? -1, AT.SYMLINK_NOFOLLOW]);
    }
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
    const target = placeOf(facts, `/etc/${name}`);
    if (hostRoot && !facts.etcTargetExists(name)) continue;
    const staged = `/dev/.bunker-${name}`;
    const fd = p.newSlot();
    const bytes = new TextEncoder().encode(content);
    p.call(`create ${staged}`, "openat", [AT.FDCWD, p.str(staged), O.WRONLY | O.CREAT | O.EXCL | O.CLOEXEC, 0o644], { save: fd });
    p.call(`write ${staged}`, "write", [fd, p.arena.bytes(bytes), bytes.length], { expect: { value: bytes.length, errno: Errno.EIO } });
    p.call(`close ${staged}`, "close", [fd]);
    if (!hostRoot) makeTarget(p, target, false, target !== `/etc/${name}`);
    p.call(`bind-mount ${target}`, "mount", [p.str(staged), p.str(target), 0, MS.BIND, 0]);
    p.call(`remove ${staged}`, "unlinkat", [AT.FDCWD, p.str(staged), 0]);
  }
}

/**
 * The mount points planRootfs creates and mounts on, in its order, for
 * resolving them inside the rootfs first (see mountpoints.ts). Device nodes
 * and masked paths are left out: they lie in the container's own /dev,
 * /proc and /sys.
 */
export function mountTargets(spec: ContainerSpec, facts: RootfsFacts): string[] {
  const out = spec.oci.mounts.filter((m) => m.type !== "cgroup").map((m) => m.destination);
  if (spec.bunker.etcFiles) for (const name of facts.etcFiles.keys()) out.push(`/etc/${name}`);
  return out;
}

/** linux.sysctl, through the container's own /proc/sys: before readonlyPaths make it read-only. */
function planSysctl(p: ChildProgram, sysctl: Record<string, string>): void {
  for (const [key, value] of Object.entries(sysctl)) {
    const path = `/proc/sys/${key.replace(/\./g, "/")}`;
    const fd = p.newSlot();
    const bytes = new TextEncoder().encode(value);
    p.call(`open ${path} (sysctl ${key})`, "openat", [AT.FDCWD, p.str(path), O.WRONLY | O.CLOEXEC | O.NOFOLLOW, 0], { save: fd });
    p.call(`set sysctl ${key} to ${JSON.stringify(value)}`, "write", [fd, p.arena.bytes(bytes), bytes.length], { expect: { value: bytes.length, errno: Errno.EIO } });
    p.call(`close ${path}`, "close", [fd]);
  }
}

/** Whether device nodes must be bound from the host (no CAP_MKNOD over real devices in a user namespace). */
export function bindsDevices(spec: ContainerSpec): boolean {
  return spec.oci.linux.namespaces.some((n) => n.type === "user");
}

/** Steps that build the container's filesystem view, ending with / as cwd and the old root gone. */
export function planRootfs(p: ChildProgram, spec: ContainerSpec, facts: RootfsFacts): void {
  const hostRoot = spec.bunker.rootMode === "host";

  // Every mount of the spec is made now, detached, in the spec's order: host paths still resolve,
  // a user namespace may create proc and sysfs only next to a full view of the host's, and the
  // mount table lists mounts in the order they were made (Linux 6.8 on), which OCI wants to be the
  // config's. They are attached in the same order once the root is entered. Binds are copied
  // before the tree is made private, so that one asking for slave or shared propagation keeps
  // its tie to the host's mount (see mountOne); every other is made private once attached.
  const opened = new Map<Mount, Opened>();
  for (const m of spec.oci.mounts) {
    if (m.type === "cgroup") continue;
    if (m.destination === "/dev/shm" && spec.bunker.shmFrom !== undefined) {
      // --ipc container:ID: that container's /dev/shm, from inside its root.
      opened.set(m, openTreeOf(p, facts, spec.bunker.shmFrom, "/dev/shm", MOUNT_ATTR.NOSUID | MOUNT_ATTR.NODEV | MOUNT_ATTR.NOEXEC));
      continue;
    }
    if (m.type === "bind") {
      const prepared = facts.idmapped?.get(m);
      if (prepared !== undefined) {
        opened.set(m, { slot: prepared, isDir: facts.sourceIsDir(m.source!) });
        continue;
      }
      const { recursive, attrs, clear } = bindAttrs(m);
      opened.set(m, openTree(p, facts, m.source!, recursive, attrs, facts.sourceIsDir(m.source!), clear));
    } else opened.set(m, createDetached(p, m));
  }
  const devices = new Map<string, Opened>();
  if (bindsDevices(spec)) {
    // A FIFO needs no privilege to make; device nodes come from the host.
    for (const d of spec.oci.linux.devices ?? []) {
      if (d.type !== "p") devices.set(d.path, openTree(p, facts, spec.bunker.deviceSources?.[d.path] ?? d.path, false, MOUNT_ATTR.NOEXEC | MOUNT_ATTR.NOSUID, false));
    }
  }
  // From here on nothing of the host's mount table propagates into what is copied: the root.
  p.call("make / a private mount tree", "mount", [0, p.str("/"), 0, MS.REC | MS.PRIVATE, 0]);

  const rootFlags = enterTree(p, facts, hostRoot ? "/" : (spec.bunker.image ?? spec.oci.root.path), hostRoot);
  leaveOldRoot(p);
  if (rootFlags) planPendingFlags(p, "/", rootFlags, "the root");

  p.call("clear the umask", "umask", [0]);
  for (const m of spec.oci.mounts) mountOne(p, m, hostRoot, opened.get(m), facts);
  makeDevices(p, spec, devices);
  planSysctl(p, spec.oci.linux.sysctl ?? {});
  planMaskedPaths(p, spec.oci.linux.maskedPaths ?? [], spec.oci.linux.readonlyPaths ?? [], has("mountSetattr") ? undefined : (path) => flagsInside(spec, facts, path));
  bindEtcFiles(p, spec, facts);
  const rootPropagation = spec.oci.linux.rootfsPropagation;
  if (rootPropagation !== undefined) planPropagation(p, "/", propagationOf([rootPropagation.startsWith("r") ? rootPropagation : `r${rootPropagation}`]));
  if (!hostRoot && spec.oci.root.readonly && !has("mountSetattr")) planRemount(p, "/", flagsInside(spec, facts, "/"), MOUNT_ATTR.RDONLY, 0, "make / read-only");
  else if (!hostRoot && spec.oci.root.readonly) {
    const attr = p.arena.words([MOUNT_ATTR.RDONLY, 0, 0, 0]);
    p.call("make / read-only", "mount_setattr", [AT.FDCWD, p.str("/"), 0, attr, MOUNT_ATTR_LAYOUT.SIZE]);
  }
}

/**
 * The MS flags of the container's mount that `path` lies on, as bunker made
 * it: the spec's mount with the longest destination above it (a new
 * filesystem's options, or a bind's host mount), else the root.
 */
function flagsInside(spec: ContainerSpec, facts: RootfsFacts, path: string): number {
  const under = (dest: string) => path === dest || path.startsWith(dest.endsWith("/") ? dest : `${dest}/`);
  const m = spec.oci.mounts.filter((x) => x.type !== "cgroup" && under(x.destination)).sort((a, b) => b.destination.length - a.destination.length)[0];
  if (m === undefined) {
    const image = spec.bunker.image;
    // The image's overlay is made with nodev alone; any other root is a host directory bound with nodev added.
    if (image !== undefined && image.driver === "overlay") return msOfAttrs(MOUNT_ATTR.NODEV);
    const root = image !== undefined ? image.merged : spec.oci.root.path;
    return (facts.mountFlags?.(root) ?? 0) | MS.NODEV;
  }
  if (m.type === "bind") {
    const { attrs } = bindAttrs(m);
    return remountFlags(facts.mountFlags?.(`${m.source}${path.slice(m.destination.length)}`) ?? 0, attrs, 0) & ~(MS.REMOUNT | MS.BIND);
  }
  return msOfAttrs(fsOptions(m.options).attrs);
}
