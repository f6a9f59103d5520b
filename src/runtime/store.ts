// Containers' state on disk: one directory per container under the state
// directory, state.json written atomically, a lock file for commands that
// race on one container, and names/NAME -> id links that make names unique.

import type { ContainerSpec } from "../spec/types";
import type { NetworkState } from "./network";
import type { CgroupState } from "../cgroups/tree";
import { listDir, lockFile, makeDir, makeLink, readLink, readText, removePath, writeAtomic } from "../sys/fs";
import { isAlive } from "../sys/proc";
import { BunkerError } from "./errors";
import { pruneMountPoints } from "./mountpoints";
import { stateDir } from "./state";

export type Status = "created" | "running" | "stopped";

export interface ContainerState {
  id: string;
  name?: string;
  status: Status;
  /** The container's first process, as the host sees it, and its start time. */
  pid?: number;
  pidStart?: number;
  /** The bunker process waiting on it (the foreground run, or a detached run's supervisor). */
  supervisor?: number;
  supervisorStart?: number;
  rootfs: string | null;
  command: string[];
  created: string;
  started?: string;
  finished?: string;
  exitCode?: number;
  /** /proc/PID/ns/TYPE paths of the running container, by type. */
  namespaces?: Record<string, string>;
  autoRemove: boolean;
  detached: boolean;
  /** Its network: mode, addresses, published ports, helper. */
  network?: NetworkState;
  /** Its cgroups, one directory per hierarchy. */
  cgroup?: CgroupState;
  /** Frozen by `bunker pause`. */
  paused?: boolean;
  /** The kernel killed a process of it for lack of memory; and the limit it had. */
  oomKilled?: boolean;
  memoryLimit?: number;
  /** Directories its namespaces were pinned into with --pin. */
  pinned?: string[];
  spec: ContainerSpec;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

export function validateName(name: string): void {
  if (!NAME.test(name)) throw new BunkerError(`invalid container name "${name}": letters, digits, _ . - (starting with a letter or digit), at most 128`);
  if (/^[0-9a-f]{12}$/.test(name)) throw new BunkerError(`invalid container name "${name}": it looks like a container id`);
}

const dirOf = (id: string) => `${stateDir()}/${id}`;
const namesDir = () => `${stateDir()}/names`;

/**
 * Makes the container's directory, writes its first state, then claims its
 * name; fails if the id or the name is taken. Writing the state first means a
 * bunker killed at any point leaves a container `ps` can show and `rm` can remove.
 */
export function createState(state: ContainerState): void {
  if (!makeDir(dirOf(state.id))) throw new BunkerError(`container id ${state.id} is already in use`);
  writeState(state);
  if (state.name !== undefined) {
    makeDir(namesDir());
    if (!makeLink(state.id, `${namesDir()}/${state.name}`)) {
      const other = readLink(`${namesDir()}/${state.name}`);
      removeState({ ...state, name: undefined });
      throw new BunkerError(`the name "${state.name}" is already in use by container ${other ?? "?"}: remove it first (bunker rm ${state.name})`);
    }
  }
}

export function writeState(state: ContainerState): void {
  writeAtomic(`${dirOf(state.id)}/state.json`, JSON.stringify(state));
}

export function readState(id: string): ContainerState | null {
  try {
    return JSON.parse(readText(`${dirOf(id)}/state.json`)) as ContainerState;
  } catch {
    return null;
  }
}

export function containerDir(id: string): string {
  return dirOf(id);
}

/** Every container with a state directory. */
export function listStates(): ContainerState[] {
  const out: ContainerState[] = [];
  for (const entry of listDir(stateDir())) {
    if (!/^[0-9a-f]{12}$/.test(entry)) continue;
    const s = readState(entry);
    if (s) out.push(s);
  }
  return out.sort((a, b) => a.created.localeCompare(b.created));
}

/** A container by id, unique id prefix, or name; unknown references are errors naming them. */
export function resolveContainer(ref: string): ContainerState {
  if (ref === "") throw new BunkerError("empty container reference");
  if (NAME.test(ref)) {
    const id = readLink(`${namesDir()}/${ref}`);
    if (id) {
      const s = readState(id);
      if (s) return s;
    }
  }
  if (/^[0-9a-f]+$/.test(ref)) {
    const matches = listDir(stateDir()).filter((e) => /^[0-9a-f]{12}$/.test(e) && e.startsWith(ref));
    if (matches.length > 1) throw new BunkerError(`container id prefix "${ref}" is ambiguous: ${matches.join(", ")}`);
    if (matches.length === 1) {
      const s = readState(matches[0]!);
      if (s) return s;
    }
  }
  throw new BunkerError(`no such container: ${ref}`);
}

/**
 * The state as it really is: "running" only while the recorded process
 * (pid and start time both) is alive. A vanished process reads as stopped.
 */
export function currentStatus(s: ContainerState): Status {
  // A container whose bunker died while starting it never finished starting.
  if (s.status === "created") return supervisorAlive(s) ? "created" : "stopped";
  if (s.status !== "running") return s.status;
  if (s.pid === undefined || s.pidStart === undefined) return "stopped";
  return isAlive(s.pid, s.pidStart) ? "running" : "stopped";
}

/** Whether the bunker process responsible for the container is still there. */
export function supervisorAlive(s: ContainerState): boolean {
  return s.supervisor !== undefined && s.supervisorStart !== undefined && isAlive(s.supervisor, s.supervisorStart);
}

/** Runs `fn` holding the container's lock. */
export function withLock<T>(id: string, fn: () => T): T {
  const lock = lockFile(`${dirOf(id)}/lock`);
  try {
    return fn();
  } finally {
    lock?.release();
  }
}

/** Removes the container's directory and its name. */
export function removeState(s: ContainerState): void {
  const dir = dirOf(s.id);
  if (s.name !== undefined && readLink(`${namesDir()}/${s.name}`) === s.id) removePath(`${namesDir()}/${s.name}`);
  for (const f of listDir(dir)) removePath(`${dir}/${f}`);
  removePath(dir, true);
}

/**
 * Clears what a killed bunker could not: containers meant to be removed when
 * they stop (--rm), once they have stopped and no bunker looks after them.
 */
export function reconcile(states: ContainerState[] = listStates()): ContainerState[] {
  pruneMountPoints();
  const kept: ContainerState[] = [];
  for (const s of states) {
    const orphaned = !supervisorAlive(s) && currentStatus(s) !== "running";
    if (orphaned && s.autoRemove) {
      withLock(s.id, () => removeState(s));
      continue;
    }
    kept.push(s);
  }
  return kept;
}
