// Deciding the container's identity on the host side, before clone: whether
// there is a user namespace, its ID maps and who writes them, and the --user
// the command runs as (looked up in the container's own passwd and group).

import type { LinuxIDMapping, User, UsernsSetup } from "../spec/types";
import { BunkerError } from "../errors";
import { FileError, findExecutable, readInRoot, readRegularFile, readText } from "../sys/fs";
import { Errno } from "../sys/errno";
import { buildMappings, isMapped, rangesOnly, singleMapping } from "./idmap";
import { parseGroup, parsePasswd, resolveUser, type PasswdEntry } from "./passwd";
import { parseSubids, type IdRange } from "./subid";

export type UsernsMode = "auto" | "private" | "keep-id" | "host";

export interface IdentityRequest {
  uid: number;
  gid: number;
  userns: UsernsMode;
  mapUid?: number;
  mapGid?: number;
  /** --user, as given. */
  user?: string;
  /** --group-add: more groups, by name (in the container's /etc/group) or number. */
  groupAdd?: readonly string[];
  /** The rootfs, or undefined for the host's root. */
  rootfs?: string;
  /** Reads the container's files instead of `rootfs` (an image's, through its layers). */
  readFile?: (path: string) => string | undefined;
  /** Where to look for newuidmap and newgidmap (the caller's PATH, then the usual places). */
  path: string;
  helperDirs?: readonly string[];
  /** The caller's subordinate ranges, when already known; otherwise read from /etc/subuid and /etc/subgid. */
  subids?: { uid: IdRange[]; gid: IdRange[] };
  /** The caller's name, when already known; otherwise looked up in the host's /etc/passwd. */
  name?: string;
}

export interface Identity {
  userns?: { uid: LinuxIDMapping[]; gid: LinuxIDMapping[]; setup: UsernsSetup; setgroups: boolean };
  user?: User;
  /** The user's name and home, for HOME, USER, LOGNAME and the default working directory. */
  account?: { name?: string; home: string };
  /** A line to print on stderr: something works less well than it could, and how to fix it. */
  notice?: string;
  /** --userns keep-id: the container's /etc/passwd (and /etc/group) with an entry for the caller, where it had none. */
  files?: { passwd?: string; group?: string };
}

const HELPER_DIRS = ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"];

function readSubids(file: string, name: string | undefined, id: number): IdRange[] {
  let text: string;
  try {
    text = readText(file);
  } catch {
    // missing or unreadable: the caller has no ranges there, as newuidmap would find
    return [];
  }
  return parseSubids(text, name, id, file);
}

function hostEntry(uid: number): PasswdEntry | undefined {
  try {
    return parsePasswd(readText("/etc/passwd")).find((u) => u.uid === uid);
  } catch {
    // no readable passwd: ranges are then looked up by number only
    return undefined;
  }
}

const callerName = (uid: number) => hostEntry(uid)?.name;

function hostGroupName(gid: number): string | undefined {
  try {
    return parseGroup(readText("/etc/group")).find((g) => g.gid === gid)?.name;
  } catch {
    // no readable group file: the user's name stands in
    return undefined;
  }
}

/** A file's text with `line` added at its end. */
const withLine = (text: string | undefined, line: string) => `${text === undefined || text === "" || text.endsWith("\n") ? (text ?? "") : `${text}\n`}${line}\n`;

/**
 * --userns keep-id, as podman: the caller gets an entry in the container's
 * /etc/passwd (their name, IDs, full name, home, and /bin/sh) and their group one in
 * /etc/group, where the container has none for those IDs, so that whoami, ls
 * -l and programs that look the user up work. Only new texts: the rootfs is
 * never written; the files are bound over the container's.
 */
function keepIdFiles(req: IdentityRequest, passwd: string | undefined, group: string | undefined): Identity["files"] {
  const out: Identity["files"] = {};
  const host = hostEntry(req.uid);
  const name = req.name ?? host?.name ?? `user${req.uid}`;
  if (!parsePasswd(passwd ?? "").some((u) => u.uid === req.uid)) {
    out.passwd = withLine(passwd, `${name}:*:${req.uid}:${req.gid}:${host?.gecos || name}:${host?.home || "/"}:/bin/sh`);
  }
  if (!parseGroup(group ?? "").some((g) => g.gid === req.gid)) out.group = withLine(group, `${hostGroupName(req.gid) ?? name}:x:${req.gid}:`);
  return out;
}

function mappings(req: IdentityRequest): { identity: Identity["userns"]; notice?: string } | undefined {
  const mode = req.userns === "auto" ? (req.uid === 0 ? "host" : "private") : req.userns;
  if (mode === "host") {
    if (req.uid !== 0) throw new BunkerError("--userns host needs root: an unprivileged caller always gets a user namespace");
    if (req.mapUid !== undefined || req.mapGid !== undefined) {
      throw new BunkerError("--map-uid and --map-gid need a user namespace: run rootless, or add --userns private");
    }
    return undefined;
  }
  const name = req.name ?? callerName(req.uid);
  // Both files list users (by name or UID), not groups.
  const subuid = req.subids?.uid ?? readSubids("/etc/subuid", name, req.uid);
  const subgid = req.subids?.gid ?? readSubids("/etc/subgid", name, req.uid);

  if (req.uid === 0) {
    // Root maps only subordinate IDs: container root must not be host root.
    if (mode === "keep-id") throw new BunkerError("--userns keep-id is for unprivileged callers");
    if (subuid.length === 0 || subgid.length === 0) {
      throw new BunkerError("--userns private as root needs ranges for root in /etc/subuid and /etc/subgid (for example root:100000:65536)");
    }
    if (req.mapUid !== undefined || req.mapGid !== undefined) throw new BunkerError("--map-uid and --map-gid are for unprivileged callers");
    return { identity: { uid: rangesOnly(subuid), gid: rangesOnly(subgid), setup: { writer: "direct" }, setgroups: true } };
  }

  const targetUid = mode === "keep-id" ? req.uid : (req.mapUid ?? 0);
  const targetGid = mode === "keep-id" ? req.gid : (req.mapGid ?? 0);
  const dirs = [...req.path.split(":"), ...(req.helperDirs ?? HELPER_DIRS)];
  const newuidmap = findExecutable("newuidmap", dirs);
  const newgidmap = findExecutable("newgidmap", dirs);
  const who = name ?? String(req.uid);
  if (subuid.length > 0 && subgid.length > 0 && newuidmap && newgidmap) {
    return {
      identity: {
        uid: buildMappings(req.uid, targetUid, subuid),
        gid: buildMappings(req.gid, targetGid, subgid),
        setup: { writer: "helpers", newuidmap, newgidmap },
        setgroups: true,
      },
    };
  }
  const why =
    subuid.length === 0 || subgid.length === 0
      ? `add ranges for ${who} to /etc/subuid and /etc/subgid (for example ${who}:100000:65536)${newuidmap && newgidmap ? "" : " and install the uidmap package"}`
      : "newuidmap and newgidmap were not found: install the uidmap package";
  return {
    identity: { uid: singleMapping(req.uid, targetUid), gid: singleMapping(req.gid, targetGid), setup: { writer: "direct" }, setgroups: false },
    notice: `only one user and one group ID are mapped into the container; for more, ${why}`,
  };
}

function containerFile(rootfs: string | undefined, path: string): string | undefined {
  try {
    return rootfs === undefined ? readRegularFile(path) : (readInRoot(rootfs, path) ?? undefined);
  } catch (e) {
    // A FIFO or a device there would have hung the read, a huge file been cut short: say so.
    if (e instanceof FileError && e.errno !== Errno.ENOENT) throw new BunkerError(`${rootfs ?? ""}${path}: ${e.reason}`);
    return undefined;
  }
}

export function resolveIdentity(req: IdentityRequest): Identity {
  const out = resolveUserAndMaps(req);
  if (!req.groupAdd?.length) return out;
  // --group-add: after the user's own groups, each a group of the container's (by name or number), mapped.
  const groups = parseGroup((req.readFile ?? ((path: string) => containerFile(req.rootfs, path)))("/etc/group") ?? "");
  if (out.userns && !out.userns.setgroups) throw new BunkerError("--group-add: with only your own ID mapped, the container may not set groups (add ranges for you to /etc/subuid and /etc/subgid)");
  const extra = req.groupAdd.map((g) => {
    const gid = /^\d+$/.test(g) ? Number(g) : groups.find((e) => e.name === g)?.gid;
    if (gid === undefined) throw new BunkerError(`--group-add ${g}: no such group in the container's /etc/group`);
    if (out.userns && !isMapped(out.userns.gid, gid)) throw new BunkerError(`--group-add ${g}: group ID ${gid} is not mapped in the container's user namespace`);
    return gid;
  });
  out.user = { ...out.user!, additionalGids: [...new Set([...(out.user?.additionalGids ?? []), ...extra])] };
  return out;
}

function resolveUserAndMaps(req: IdentityRequest): Identity {
  const m = mappings(req);
  const out: Identity = {};
  if (m?.identity) out.userns = m.identity;
  if (m?.notice) out.notice = m.notice;

  // Without --user, the command runs as whatever the caller became: its own
  // IDs with keep-id, the --map-uid/--map-gid targets, else container root.
  let spec = req.user;
  if (spec === undefined && req.userns === "keep-id") spec = `${req.uid}:${req.gid}`;
  else if (spec === undefined && (req.mapUid !== undefined || req.mapGid !== undefined)) spec = `${req.mapUid ?? 0}:${req.mapGid ?? 0}`;
  const where = req.rootfs === undefined ? "" : req.rootfs.replace(/\/+$/, "");
  const files = { passwd: `${where}/etc/passwd`, group: `${where}/etc/group` };
  const read = req.readFile ?? ((path: string) => containerFile(req.rootfs, path));
  let passwd = read("/etc/passwd");
  let group = read("/etc/group");
  // Where the container has an /etc to bind them into (the host's root has the caller already).
  if (req.userns === "keep-id" && (req.rootfs !== undefined || req.readFile !== undefined)) {
    const files = keepIdFiles(req, passwd, group);
    if (files?.passwd !== undefined) passwd = files.passwd;
    if (files?.group !== undefined) group = files.group;
    if (files && Object.keys(files).length) out.files = files;
  }
  if (spec === undefined) {
    // Container root, with the groups the container's /etc/group gives root
    // (never bunker's own supplementary groups).
    const root = resolveUser("0:0", passwd, group, files);
    const gids = out.userns ? root.additionalGids.filter((g) => isMapped(out.userns!.gid, g)) : root.additionalGids;
    out.user = { uid: 0, gid: 0, additionalGids: gids };
    return out;
  }
  const resolved = resolveUser(spec, passwd, group, files);
  if (out.userns) {
    const { uid, gid } = out.userns;
    const hint = out.notice ? " (only one ID is mapped: see the notice above)" : "";
    if (!isMapped(uid, resolved.uid)) throw new BunkerError(`user ID ${resolved.uid} is not mapped in the container's user namespace${hint}`);
    if (!isMapped(gid, resolved.gid)) throw new BunkerError(`group ID ${resolved.gid} is not mapped in the container's user namespace${hint}`);
    resolved.additionalGids = resolved.additionalGids.filter((g) => isMapped(gid, g));
  }
  out.user = { uid: resolved.uid, gid: resolved.gid, additionalGids: resolved.additionalGids };
  out.account = { home: resolved.home, ...(resolved.name ? { name: resolved.name } : {}) };
  return out;
}
