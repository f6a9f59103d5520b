// Writing a child's ID maps from the parent, while the child waits on the
// sync pipe: directly (one ID, setgroups denied; or anything, as root), or
// through the setuid helpers newuidmap/newgidmap for subordinate ranges.

import type { ContainerSpec, LinuxIDMapping } from "../spec/types";
import { BunkerError } from "../errors";
import { AT, O } from "../sys/constants";
import { errnoMessage } from "../sys/errno";
import { closeFd, trySys } from "../sys/libc";
import { helperArgs, mapText } from "./idmap";

function writeProcFile(pid: number, name: string, text: string): void {
  const path = `/proc/${pid}/${name}`;
  const fd = trySys("openat", AT.FDCWD, new TextEncoder().encode(`${path}\0`), O.WRONLY | O.CLOEXEC, 0);
  if (fd < 0) throw new BunkerError(`open ${path}: ${errnoMessage(-fd)}`);
  try {
    const data = new TextEncoder().encode(text);
    const n = trySys("write", fd, data, data.length);
    if (n < 0) throw new BunkerError(`write ${path} (${JSON.stringify(text.trim())}): ${errnoMessage(-n)}`);
  } finally {
    closeFd(fd);
  }
}

async function runHelper(helper: string, pid: number, maps: readonly LinuxIDMapping[]): Promise<void> {
  const args = helperArgs(maps);
  let proc;
  try {
    proc = Bun.spawn([helper, String(pid), ...args], { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: {} });
  } catch (e) {
    throw new BunkerError(`run ${helper}: ${(e as Error).message}`);
  }
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) {
    const why = err.trim().split("\n").pop()?.replace(/^[^:]*: /, "") || `exit status ${code}`;
    throw new BunkerError(`${helper} ${pid} ${args.join(" ")}: ${why}`);
  }
}

/** Writes uid_map and gid_map for `pid` as the spec says. */
export async function writeIdMaps(pid: number, spec: ContainerSpec): Promise<void> {
  const setup = spec.bunker.userns;
  const uid = spec.oci.linux.uidMappings ?? [];
  const gid = spec.oci.linux.gidMappings ?? [];
  // A joined user namespace (another container's) has its maps already.
  if (!setup || spec.oci.linux.namespaces?.some((n) => n.type === "user" && n.path !== undefined)) return;
  if (setup.writer === "helpers") {
    await Promise.all([runHelper(setup.newuidmap!, pid, uid), runHelper(setup.newgidmap!, pid, gid)]);
    return;
  }
  // Without CAP_SETGID over the parent namespace, gid_map may only be written after setgroups is denied.
  if (!spec.bunker.setgroups) writeProcFile(pid, "setgroups", "deny");
  writeProcFile(pid, "uid_map", mapText(uid));
  writeProcFile(pid, "gid_map", mapText(gid));
}

/** Writes `uid` and `gid` as `pid`'s maps directly: root's way, for a user namespace that only carries maps (an id-mapped mount's). */
export function writeMapsAsRoot(pid: number, uid: readonly LinuxIDMapping[], gid: readonly LinuxIDMapping[]): void {
  writeProcFile(pid, "uid_map", mapText(uid));
  writeProcFile(pid, "gid_map", mapText(gid));
}
