// Where mounts land in a rootfs directory, decided on the host before clone.
// Each target is resolved inside the rootfs as the kernel will resolve it
// after pivot_root (symlinks followed, but never out of the rootfs), which
// also tells which directories and files the child has to create for it.
// Knowing those first lets bunker record them before they exist and remove
// them when the container ends; the child then creates and mounts exactly
// the resolved path, so what it makes is what was recorded.

import { fileType, readLink, type FileType } from "../sys/fs";

export interface MountPoint {
  /** The path to create and mount on, inside the container. */
  path: string;
  /** What is missing there now and the child will create, parents first. */
  created: string[];
}

/**
 * What is at a path of the rootfs, without following a final symlink (type
 * null: nothing); undefined when that cannot be told (no permission).
 */
export type Lookup = (path: string) => { type: FileType | null; link?: string } | undefined;

const MAX_LINKS = 40;

export function hostLookup(root: string): Lookup {
  return (path) => {
    let type: FileType | null;
    try {
      type = fileType(`${root}${path}`);
    } catch {
      // unreachable: the mount step that needs it fails with the reason
      return undefined;
    }
    if (type !== "symlink") return { type };
    const link = readLink(`${root}${path}`);
    return link === null ? { type } : { type, link };
  };
}

const join = (parts: readonly string[]) => `/${parts.join("/")}`;

/**
 * One target, with `covered` the places earlier mounts occupy: below one of
 * them the host cannot see what the child will (a tmpfs, a volume's own
 * directory), so the target is left as given and nothing is recorded.
 */
function resolveOne(dest: string, covered: ReadonlySet<string>, lookup: Lookup): MountPoint {
  const asGiven: MountPoint = { path: dest, created: [] };
  const todo = dest.split("/").filter((p) => p !== "" && p !== ".");
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === "..") {
      done.pop();
      continue;
    }
    const here = [...done, part];
    const path = join(here);
    if (covered.has(path)) return asGiven;
    const found = lookup(path);
    // What the host cannot see, it cannot claim to have made.
    if (found === undefined) return asGiven;
    if (found.type === "symlink") {
      if (found.link === undefined || ++links > MAX_LINKS) return asGiven;
      if (found.link.startsWith("/")) done.length = 0;
      todo.unshift(...found.link.split("/").filter((p) => p !== "" && p !== "."));
      continue;
    }
    if (found.type === null) {
      // Missing from here on: this part and every one after it are made by the child.
      if (todo.includes("..")) return asGiven;
      const created = [path];
      for (const rest of todo) {
        here.push(rest);
        created.push(join(here));
      }
      return { path: join(here), created };
    }
    // A file where a directory is needed: the child's step fails there and says so.
    if (found.type !== "dir" && todo.length > 0) return asGiven;
    done.push(part);
  }
  // The root itself: nothing to create, and nothing sensible to resolve to.
  if (done.length === 0) return asGiven;
  return { path: join(done), created: [] };
}

/**
 * Destinations (absolute, as the spec gives them) in the order the child
 * mounts on them; the result maps each to where it lands. A destination
 * given twice keeps its first place: the second mount is stacked on it.
 */
export function resolveMountPoints(dests: readonly string[], lookup: Lookup): Map<string, MountPoint> {
  const out = new Map<string, MountPoint>();
  const covered = new Set<string>();
  for (const dest of dests) {
    if (out.has(dest)) continue;
    const mp = resolveOne(dest, covered, lookup);
    out.set(dest, mp);
    covered.add(mp.path);
  }
  return out;
}
