// Where mounts land in a rootfs directory, decided on the host before clone.
// Each target is resolved inside the rootfs as the kernel will resolve it
// after pivot_root (symlinks followed, but never out of the rootfs), which
// also tells which directories and files the child has to create for it.
// Knowing those first lets bunker record them before they exist and remove
// them when the container ends; the child then creates and mounts exactly
// the resolved path, so what it makes is what was recorded.

import { fileType, readLink, type FileType } from "../sys/fs";

export interface Target {
  /** The mount's destination, absolute, as the spec gives it. */
  dest: string;
  /** A directory mount point (anything but a bind of a non-directory). */
  dir: boolean;
}

export interface MountPoint {
  /** The path to create and mount on, inside the container. */
  path: string;
  /** What is missing there now and the child will create, parents first. */
  created: string[];
}

/** What is at a path of the rootfs, without following a final symlink; null if nothing. */
export type Lookup = (path: string) => { type: FileType | null; link?: string };

const MAX_LINKS = 40;

export function hostLookup(root: string): Lookup {
  return (path) => {
    let type: FileType | null;
    try {
      type = fileType(`${root}${path}`);
    } catch {
      type = null;
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
function resolveOne(t: Target, covered: ReadonlySet<string>, lookup: Lookup): MountPoint {
  const asGiven: MountPoint = { path: t.dest, created: [] };
  const todo = t.dest.split("/").filter((p) => p !== "" && p !== ".");
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === ".") continue;
    if (part === "..") {
      done.pop();
      continue;
    }
    const here = [...done, part];
    const path = join(here);
    if (covered.has(path)) return asGiven;
    const found = lookup(path);
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
 * Targets in the order the child mounts them; the result maps each
 * destination to where it lands (the first target wins for a destination
 * given twice: the second one is stacked on the same place).
 */
export function resolveMountPoints(targets: readonly Target[], lookup: Lookup): Map<string, MountPoint> {
  const out = new Map<string, MountPoint>();
  const covered = new Set<string>();
  for (const t of targets) {
    const known = out.get(t.dest);
    if (known) continue;
    const mp = resolveOne(t, covered, lookup);
    out.set(t.dest, mp);
    covered.add(mp.path);
  }
  return out;
}
