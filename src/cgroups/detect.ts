// Which cgroup hierarchies the host has (v2 unified, hybrid, v1), where they
// are mounted, and where this process sits in each.

import { readText } from "../sys/fs";
import { readWords } from "./files";

export interface Hierarchy {
  version: 1 | 2;
  /** Where it is mounted on the host. */
  mount: string;
  /** Controllers it carries: v1 from its mount options, v2 from the root's cgroup.controllers. */
  controllers: string[];
  /** v1: the hierarchy's options as the kernel names it in /proc/self/cgroup ("cpu,cpuacct", "name=systemd"). */
  key: string;
  /** This process's cgroup in it, relative to the mount. */
  own: string;
}

export type LayoutMode = "unified" | "hybrid" | "legacy" | "none";

export interface Layout {
  mode: LayoutMode;
  v2?: Hierarchy;
  v1: Hierarchy[];
}

interface CgroupMount {
  mount: string;
  root: string;
  fsType: "cgroup" | "cgroup2";
  options: string[];
}

/** Undoes mountinfo's octal escapes (\040 for a space). */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function cgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(" ");
    const [fsType, , superOpts] = line.slice(sep + 3).split(" ");
    if (fsType !== "cgroup" && fsType !== "cgroup2") continue;
    out.push({ mount: unescape(left[4]!), root: unescape(left[3]!), fsType, options: (superOpts ?? "").split(",") });
  }
  return out;
}

/** /proc/PID/cgroup as hierarchy key ("" for v2) to path. */
export function parseProcCgroup(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = line.match(/^\d+:([^:]*):(.*)$/);
    if (match) m.set(match[1]!, match[2]!);
  }
  return m;
}

/** Mount options of a v1 cgroup that are not controllers. */
const NOT_CONTROLLERS = new Set(["rw", "ro", "none", "noprefix", "xattr", "clone_children", "cpuset_v2_mode", "favordynmods"]);

function v1Key(options: string[]): string {
  return options.filter((o) => !NOT_CONTROLLERS.has(o) && !o.startsWith("release_agent=")).join(",");
}

/** The path of `own` below a mount whose root is `root`; null when the mount does not show it. */
function below(root: string, own: string): string | null {
  if (root === "/") return own;
  if (own === root) return "/";
  return own.startsWith(`${root}/`) ? own.slice(root.length) : null;
}

export function layoutFrom(mountinfo: string, procCgroup: string, v2Controllers: (mount: string) => string[]): Layout {
  const own = parseProcCgroup(procCgroup);
  const v1: Hierarchy[] = [];
  const seen = new Set<string>();
  let v2: Hierarchy | undefined;
  for (const m of cgroupMounts(mountinfo)) {
    if (m.fsType === "cgroup2") {
      const path = below(m.root, own.get("") ?? "/");
      if (v2 || path === null) continue;
      v2 = { version: 2, mount: m.mount, controllers: v2Controllers(m.mount), key: "", own: path };
      continue;
    }
    const key = v1Key(m.options);
    const mine = own.get(key);
    if (key === "" || seen.has(key) || mine === undefined) continue;
    const path = below(m.root, mine);
    if (path === null) continue;
    seen.add(key);
    v1.push({ version: 1, mount: m.mount, controllers: key.split(",").filter((c) => !c.startsWith("name=")), key, own: path });
  }
  const v1Controllers = v1.some((h) => h.controllers.length > 0);
  const mode: LayoutMode = v1Controllers ? (v2 ? "hybrid" : "legacy") : v2 ? "unified" : "none";
  return { mode, ...(v2 ? { v2 } : {}), v1 };
}

let cached: Layout | undefined;

/** The host's cgroup layout as this process sees it. */
export function detectLayout(): Layout {
  if (!cached) {
    let mountinfo = "";
    let proc = "";
    try {
      mountinfo = readText("/proc/self/mountinfo", 4 << 20);
      proc = readText("/proc/self/cgroup");
    } catch {
      // no /proc: no cgroups bunker can find
    }
    cached = layoutFrom(mountinfo, proc, (mount) => readWords(`${mount}/cgroup.controllers`));
  }
  return cached;
}
