// How /sys/fs/cgroup looks inside a container: the host's hierarchies under
// the same names, mounted anew from within the container's cgroup namespace.

import type { Layout } from "./detect";

export interface CgroupfsMounts {
  unified: boolean;
  hierarchies: { dir: string; fsType: "cgroup" | "cgroup2"; data: string }[];
  links: { name: string; target: string }[];
}

const HOST_ROOT = "/sys/fs/cgroup/";

export function cgroupfsView(layout: Layout): CgroupfsMounts | undefined {
  if (layout.mode === "none") return undefined;
  // cgroup2 on /sys/fs/cgroup itself is the whole view; a stray v1 hierarchy would sit below it, unseen.
  if (layout.v2?.mount === "/sys/fs/cgroup") return { unified: true, hierarchies: [], links: [] };
  const hierarchies: CgroupfsMounts["hierarchies"] = [];
  const links: CgroupfsMounts["links"] = [];
  const taken = new Set<string>();
  for (const h of layout.v1) {
    const named = h.key.split(",").find((o) => o.startsWith("name="));
    const dir = h.mount.startsWith(HOST_ROOT) && !h.mount.slice(HOST_ROOT.length).includes("/") ? h.mount.slice(HOST_ROOT.length) : (named?.slice(5) ?? h.key);
    if (taken.has(dir)) continue;
    taken.add(dir);
    // A named hierarchy without controllers must say so, or the kernel would attach every free controller to it.
    hierarchies.push({ dir, fsType: "cgroup", data: h.controllers.length === 0 ? `none,${h.key}` : h.key });
    if (h.controllers.length > 1) for (const c of h.controllers) if (c !== dir) links.push({ name: c, target: dir });
  }
  if (layout.v2) {
    const dir = layout.v2.mount.startsWith(HOST_ROOT) ? layout.v2.mount.slice(HOST_ROOT.length) : "unified";
    if (!taken.has(dir) && !dir.includes("/")) hierarchies.push({ dir, fsType: "cgroup2", data: "" });
  }
  return { unified: false, hierarchies, links };
}
