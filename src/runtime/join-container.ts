// --network, --pid and --ipc container:ID: the running container whose
// namespace a new one joins, through its first process's namespace file.
//
// A user's container has a user namespace of its own, which owns its other
// namespaces: one of the same user joins them through it, entering that user
// namespace first (the user owns it, so the kernel lets a process of theirs
// in) and making its own mount, UTS, IPC and PID namespaces inside it. Its ID
// maps are then the other's, which the new container's own flags must give
// too: its rootfs and --user are read against them.

import { BunkerError } from "../errors";
import type { LinuxIDMapping } from "../spec/types";
import type { Identity } from "../identity/resolve";
import { readLink } from "../sys/fs";
import { currentStatus, resolveContainer, type ContainerState } from "./store";

const KINDS = { network: "net", pid: "pid", ipc: "ipc" } as const;

export interface JoinedContainer {
  /** The other container's id, as its namespace's owner. */
  id: string;
  /** Its first process, on the host. */
  pid: number;
  /** Its namespace file of the kind. */
  path: string;
}

/** The user namespace a user's container joins with another's namespaces. */
export interface JoinedUserns {
  /** The namespace file, of the other container's first process. */
  path: string;
}

/** The running container `ref` names, for joining its namespace of `kind` with --KIND container:REF. */
export function joinContainer(kind: keyof typeof KINDS, ref: string): JoinedContainer & { state: ContainerState } {
  const flag = `--${kind} container:${ref}`;
  const other = resolveContainer(ref);
  if (currentStatus(other) !== "running" || other.pid === undefined) throw new BunkerError(`${flag}: container ${other.name ?? other.id} is not running`);
  return { id: other.id, pid: other.pid, path: `/proc/${other.pid}/ns/${KINDS[kind]}`, state: other };
}

/**
 * --pid and --ipc container:REF. As docker: only an IPC namespace its owner
 * shares may be joined (--ipc shareable, bunker's default), never one it
 * keeps private or has without /dev/shm.
 */
export function joinContainers(refs: { pid?: string; ipc?: string }): { pid?: JoinedContainer; ipc?: JoinedContainer } {
  const out: { pid?: JoinedContainer; ipc?: JoinedContainer } = {};
  for (const kind of ["pid", "ipc"] as const) {
    const ref = refs[kind];
    if (ref === undefined) continue;
    const { state, ...joined } = joinContainer(kind, ref);
    const mode = state.spec.bunker.ipcMode;
    if (kind === "ipc" && (mode === "private" || mode === "none")) {
      throw new BunkerError(`--ipc container:${ref}: container ${state.name ?? state.id} keeps its IPC namespace to itself (--ipc ${mode}): start it with --ipc shareable`);
    }
    if (kind === "ipc" && mode?.startsWith("container:")) {
      throw new BunkerError(`--ipc container:${ref}: container ${state.name ?? state.id} itself joined ${mode}: join that one`);
    }
    out[kind] = joined;
  }
  return out;
}

const sameMaps = (a: readonly LinuxIDMapping[] | undefined, b: readonly LinuxIDMapping[] | undefined) =>
  JSON.stringify((a ?? []).map((m) => [m.containerID, m.hostID, m.size])) === JSON.stringify((b ?? []).map((m) => [m.containerID, m.hostID, m.size]));

/**
 * For a user's container that joins other containers' namespaces (`joined`:
 * the flag and the container's id, each): the user namespace that owns them,
 * which it must enter first. Root's containers join without (root may enter
 * any namespace from the host's user namespace). All the containers named
 * must share one user namespace, whose ID maps this container's identity
 * must have too: the same user's containers with the same --userns,
 * --map-uid and --map-gid do.
 */
export function joinedUserns(uid: number, joined: readonly { flag: string; id: string }[], identity: Identity): JoinedUserns | undefined {
  if (uid === 0 || joined.length === 0) return undefined;
  let found: (JoinedUserns & { ns: string; flag: string }) | undefined;
  for (const { flag, id } of joined) {
    const other = resolveContainer(id);
    const name = other.name ?? other.id;
    const path = `/proc/${other.pid}/ns/user`;
    const ns = other.pid !== undefined && currentStatus(other) === "running" ? readLink(path) : null;
    if (ns === null) throw new BunkerError(`${flag}: container ${name} is not running`);
    if (ns === readLink("/proc/self/ns/user")) throw new BunkerError(`${flag}: container ${name} has no user namespace of its own to join`);
    if (found && found.ns !== ns) throw new BunkerError(`${flag} and ${found.flag}: the two containers are in different user namespaces, and a container can be in one only`);
    const linux = other.spec.oci.linux;
    const mine = identity.userns;
    if (!mine || !sameMaps(linux.uidMappings, mine.uid) || !sameMaps(linux.gidMappings, mine.gid)) {
      throw new BunkerError(`${flag}: container ${name}'s user namespace maps IDs otherwise than this container's would: give the same --userns, --map-uid and --map-gid as it was started with`);
    }
    found ??= { path, flag, ns };
  }
  return found && { path: found.path };
}

/** The containers a run joins namespaces of, each with the flag that names it: `network` is --network's choice. */
export function joinedOwners(network: { arg: string; joined?: string }, joins: { pid?: JoinedContainer; ipc?: JoinedContainer }, refs: { pid?: string; ipc?: string }): { flag: string; id: string }[] {
  const out: { flag: string; id: string }[] = [];
  if (network.joined?.startsWith("container:")) out.push({ flag: `--network ${network.arg}`, id: network.joined.slice("container:".length) });
  for (const kind of ["pid", "ipc"] as const) {
    const j = joins[kind];
    if (j) out.push({ flag: `--${kind} container:${refs[kind]}`, id: j.id });
  }
  return out;
}
