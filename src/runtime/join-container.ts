// --network, --pid and --ipc container:ID: the running container whose
// namespace a new one joins, through its first process's namespace file.

import { BunkerError } from "../errors";
import { currentStatus, resolveContainer, type ContainerState } from "./store";

const KINDS = { network: "net", pid: "pid", ipc: "ipc" } as const;
const NAMES = { network: "network", pid: "PID", ipc: "IPC" } as const;

export interface JoinedContainer {
  /** The other container's id, as its namespace's owner. */
  id: string;
  /** Its first process, on the host. */
  pid: number;
  /** Its namespace file of the kind. */
  path: string;
}

/** The running container `ref` names, for joining its namespace of `kind` with --KIND container:REF. */
export function joinContainer(kind: keyof typeof KINDS, ref: string, uid: number): JoinedContainer & { state: ContainerState } {
  const flag = `--${kind} container:${ref}`;
  const other = resolveContainer(ref);
  if (currentStatus(other) !== "running" || other.pid === undefined) throw new BunkerError(`${flag}: container ${other.name ?? other.id} is not running`);
  if (uid !== 0) throw new BunkerError(`${flag}: joining another container's ${NAMES[kind]} namespace needs root (each rootless container has its own user namespace)`);
  return { id: other.id, pid: other.pid, path: `/proc/${other.pid}/ns/${KINDS[kind]}`, state: other };
}

/**
 * --pid and --ipc container:REF. As docker: only an IPC namespace its owner
 * shares may be joined (--ipc shareable, bunker's default), never one it
 * keeps private or has without /dev/shm.
 */
export function joinContainers(refs: { pid?: string; ipc?: string }, uid: number): { pid?: JoinedContainer; ipc?: JoinedContainer } {
  const out: { pid?: JoinedContainer; ipc?: JoinedContainer } = {};
  for (const kind of ["pid", "ipc"] as const) {
    const ref = refs[kind];
    if (ref === undefined) continue;
    const { state, ...joined } = joinContainer(kind, ref, uid);
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
