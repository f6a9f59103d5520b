// Containers' state on disk: one directory per container under the state
// directory, state.json written atomically, a lock file for commands that
// race on one container, and names/NAME -> id links that make names unique.
//
// A directory appears and disappears whole: it is built under a temporary
// name and renamed into place, and renamed away before it is emptied. So a
// reader sees a container with its state or no container, and a bunker
// killed mid-way leaves a temporary name the next command clears.

import type { ContainerSpec, NetworkMode, PortMapping } from "../spec/types";
import type { HelperName } from "../net/helpers";
import type { CgroupState } from "../cgroups/tree";
import { AT, RENAME_NOREPLACE } from "../sys/constants";
import { Errno, SysError } from "../sys/errno";
import { cstr, fileType, listDir, lockFile, makeDir, makeLink, readLink, readText, removePath, writeAtomic } from "../sys/fs";
import { randomBytes, trySys } from "../sys/libc";
import { isAlive } from "../sys/proc";
import { BunkerError } from "../errors";
import { abandonedTemp, clearTempFiles, isTempFile, parseTempName, removeTree, tempName } from "./leftovers";
import { stateDir } from "./state";
import { removeImageRoot } from "../image/store";
import { removeAnonymousVolumes } from "./volume-store";
import { dirname } from "node:path";
import { NAME, stateProblem } from "./state-shape";
import { containerEvent } from "./events";

export type Status = "created" | "running" | "stopped";

/** A container's network, as `inspect` shows it and a later bunker needs it to undo it (see network.ts). */
export interface NetworkState {
  mode: NetworkMode;
  ip?: string;
  gateway?: string;
  subnet?: string;
  bridge?: string;
  /** The address inside the container that reaches the host's loopback (a helper with allow_host_loopback). */
  hostLoopback?: string;
  /** What host.bunker.internal names: an address of the host as the container reaches it. */
  hostAddress?: string;
  ports: PortMapping[];
  helper?: { name: HelperName; pid: number; pidStart?: number };
  joined?: string;
  /** --network NAME: each network the container was put on when it started. */
  networks?: AttachedNetwork[];
}

/** A container's place on a network made by `network create`. */
export interface AttachedNetwork {
  name: string;
  id: string;
  ip: string;
  gateway: string;
  subnet: string;
  aliases: string[];
  /** On a dual-stack network. */
  ip6?: string;
  gateway6?: string;
  subnet6?: string;
  /** The interface inside (eth0, eth1...) and the veth's host end. */
  ifname: string;
  veth: string;
}

export interface ContainerState {
  id: string;
  name?: string;
  status: Status;
  /**
   * The container's first process, as the host sees it, and its start time:
   * recorded as soon as it is cloned, while it still waits to be set up.
   */
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
  /**
   * Its bunker process was killed before recording the end: the container,
   * whose first process dies with it (PR_SET_PDEATHSIG), went with it.
   */
  killedWithSupervisor?: boolean;
  /** /proc/PID/ns/TYPE paths of the running container, by type. */
  namespaces?: Record<string, string>;
  autoRemove: boolean;
  detached: boolean;
  /** Its network: mode, addresses, published ports, helper. */
  network?: NetworkState;
  /** Its log (a detached container's, with --log-driver json-file). */
  logPath?: string;
  /** The process running its periodic health check (runtime/health-monitor.ts): stopped when it ends. */
  healthMonitor?: { pid: number; pidStart?: number };
  /** fuse-overlayfs serving its root filesystem (an image's, for a user without overlayfs): stopped when it ends. */
  rootfsHelper?: { pid: number; pidStart?: number };
  /** Its cgroups, one directory per hierarchy. */
  cgroup?: CgroupState;
  /** Frozen by `bunker pause`. */
  paused?: boolean;
  /** The kernel killed a process of it for lack of memory; and the limit it had. */
  oomKilled?: boolean;
  memoryLimit?: number;
  /** How many times its restart policy started it again. */
  restartCount?: number;
  /** Waiting out its restart policy's back-off: `supervisor` is the process that will start it again. */
  restarting?: boolean;
  /** The last back-off, in ms: the next one is twice as long (docker's), unless it ran for 10 s. */
  restartDelay?: number;
  /** Why its last start (bunker start, or its restart policy's) failed. */
  error?: string;
  /** A container an OCI client created (bunker create): its id is the name, and its bundle. */
  oci?: OciRecord;
  /** Directories its namespaces were pinned into with --pin (recorded before pinning). */
  pinned?: string[];
  /** Its namespaces' identities ("net:[4026531840]"), recorded with its first pin: which pins are its own. */
  namespaceIds?: Record<string, string>;
  spec: ContainerSpec;
}

export interface OciRecord {
  bundle: string;
  annotations?: Record<string, string>;
}

/** A container directory whose state cannot be used, and why. */
export interface Damaged {
  id: string;
  problem: string;
  /** Names linked to it. */
  names: string[];
}

export type Entry = ContainerState | Damaged;

export const isDamaged = (e: Entry): e is Damaged => "problem" in e;

const ID = /^[0-9a-f]{12}$/;

/** A new container id: 12 random hex digits. */
export function newId(): string {
  return Array.from(randomBytes(6), (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Whether `s` has the form of a bunker container id (12 hex digits). */
export const isContainerId = (s: string) => ID.test(s);

/** What --name accepts (docker's rule): a narrower set than the names OCI ids may be (see NAME). */
const RUN_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

export function validateName(name: string): void {
  if (!RUN_NAME.test(name)) throw new BunkerError(`invalid container name "${name}": letters, digits, _ . - (starting with a letter or digit), at most 128`);
  if (ID.test(name)) throw new BunkerError(`invalid container name "${name}": it looks like a container id`);
}

const dirOf = (id: string) => `${stateDir()}/${id}`;
const namesDir = () => `${stateDir()}/names`;

function rename(from: string, to: string, flags = 0): number {
  return trySys("renameat2", AT.FDCWD, cstr(from), AT.FDCWD, cstr(to), flags);
}

/** Holds the names lock: taken to remove a name link, so a check and the removal are one step. */
function withNamesLock<T>(fn: () => T): T {
  makeDir(namesDir());
  const lock = lockFile(`${namesDir()}/.lock`);
  try {
    return fn();
  } finally {
    lock?.release();
  }
}

/** Removes names/NAME if it still points to `id`. */
function unclaimName(name: string, id: string): void {
  withNamesLock(() => {
    if (readLink(`${namesDir()}/${name}`) === id) removePath(`${namesDir()}/${name}`);
  });
}

/** Whether a container `id` exists or is being built by a live process. */
function idInUse(id: string): boolean {
  if (fileType(dirOf(id)) !== null) return true;
  for (const e of listDir(stateDir())) {
    const t = parseTempName(e);
    if (t && t.kind === "new" && t.id === id && !abandonedTemp(t)) return true;
  }
  // It may have been renamed into place since the first look.
  return fileType(dirOf(id)) !== null;
}

/** Claims names/NAME for `id`, taking over a link whose container never came to be or is gone. */
function claimName(name: string, id: string): void {
  const link = `${namesDir()}/${name}`;
  makeDir(namesDir());
  for (let attempt = 0; ; attempt++) {
    if (makeLink(id, link)) return;
    const other = readLink(link);
    const stale = attempt === 0 && withNamesLock(() => {
      const now = readLink(link);
      if (now === null || (ID.test(now) && idInUse(now))) return now === null;
      removePath(link);
      return true;
    });
    if (!stale) throw new BunkerError(`the name "${name}" is already in use by container ${other ?? "?"}: remove it first (bunker rm ${name})`);
  }
}

/**
 * bunker rename: the container takes `name` (claimed first, so two renames
 * to one name cannot both win), its state says so, and its old name goes.
 */
export function renameContainer(id: string, name: string): void {
  validateName(name);
  withLock(id, () => {
    const s = readState(id);
    if (!s) throw new ContainerGone(id);
    if (s.name === name) return;
    claimName(name, id);
    try {
      writeState({ ...s, name });
    } catch (e) {
      unclaimName(name, id);
      throw e;
    }
    if (s.name !== undefined) unclaimName(s.name, id);
  });
}

/**
 * Records a new container: its directory, built under a temporary name with
 * its first state, its name claimed, then renamed into place. Fails if the id
 * or the name is taken. Clears first what killed bunkers left.
 */
export function createState(state: ContainerState): void {
  clearLeftovers();
  const staging = `${stateDir()}/${tempName("new", state.id)}`;
  const fail = (what: string, e: unknown): never => {
    removeTree(staging);
    if (e instanceof BunkerError) throw e;
    throw new BunkerError(`${what}: ${e instanceof SysError ? e.message : String(e)}`);
  };
  try {
    makeDir(staging);
    writeAtomic(`${staging}/state.json`, JSON.stringify(state));
  } catch (e) {
    fail(`record container ${state.id} in ${stateDir()}`, e);
  }
  if (state.name !== undefined) {
    try {
      claimName(state.name, state.id);
    } catch (e) {
      fail(`claim the name ${state.name}`, e);
    }
  }
  const r = rename(staging, dirOf(state.id), RENAME_NOREPLACE);
  if (r < 0) {
    if (state.name !== undefined) unclaimName(state.name, state.id);
    fail(`record container ${state.id}`, r === -Errno.EEXIST ? new BunkerError(`container id ${state.id} is already in use`) : new SysError(`rename ${staging} to ${dirOf(state.id)}`, -r));
  }
  containerEvent("create", state);
}

/** Clears what killed bunkers left in the state directory: half-built and half-removed container directories. */
export function clearLeftovers(): void {
  for (const e of listDir(stateDir())) {
    const t = parseTempName(e);
    if (!t || !abandonedTemp(t)) continue;
    // A half-built container may have claimed its name already; a half-removed one may keep it still.
    if (fileType(dirOf(t.id)) === null) for (const name of namesOf(t.id)) unclaimName(name, t.id);
    removeTree(`${stateDir()}/${e}`);
  }
}

export function writeState(state: ContainerState): void {
  writeAtomic(`${dirOf(state.id)}/state.json`, JSON.stringify(state));
}

/** State files are small; a bigger one is damaged, not read whole. */
const MAX_STATE = 1 << 20;

/** The container `id` as its directory holds it: its state, why it is damaged, or null if there is none. */
export function readEntry(id: string): Entry | null {
  if (!ID.test(id)) return null;
  const path = `${dirOf(id)}/state.json`;
  let problem: string;
  try {
    const type = fileType(path);
    if (type === "file") {
      const text = readText(path, MAX_STATE + 1);
      if (text.length > MAX_STATE) problem = "state.json is too large";
      else {
        const value = parseJson(text);
        const why = value === undefined ? (text.trim() === "" ? "is empty" : "is not valid JSON") : stateProblem(value, id);
        if (why === null) return value as ContainerState;
        problem = `state.json ${why}`;
      }
    } else if (type === null) {
      if (fileType(dirOf(id)) === null) return null;
      problem = "it has no state.json";
    } else problem = `state.json is a ${type}, not a file`;
  } catch (e) {
    if (fileType(dirOf(id)) === null) return null;
    problem = `state.json cannot be read: ${(e as Error).message}`;
  }
  return { id, problem, names: namesOf(id) };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // not JSON: the caller reports the file as damaged
    return undefined;
  }
}

function namesOf(id: string): string[] {
  return listDir(namesDir()).filter((n) => NAME.test(n) && readLink(`${namesDir()}/${n}`) === id);
}

/** The container's usable state; null if it has none (no such container, or damaged state). */
export function readState(id: string): ContainerState | null {
  const e = readEntry(id);
  return e && !isDamaged(e) ? e : null;
}

/** Whether the container's directory exists (damaged or not). */
export function containerExists(id: string): boolean {
  return ID.test(id) && fileType(dirOf(id)) !== null;
}

export function containerDir(id: string): string {
  return dirOf(id);
}

const ids = () => listDir(stateDir()).filter((e) => ID.test(e));

/** Every container with a state directory, damaged ones included; one removed meanwhile is left out. */
export function listEntries(): Entry[] {
  const out: Entry[] = [];
  for (const id of ids()) {
    const e = readEntry(id);
    if (e) out.push(e);
  }
  const created = (e: Entry) => (isDamaged(e) ? "" : e.created);
  return out.sort((a, b) => created(a).localeCompare(created(b)));
}

/** Every container with a usable state. */
export function listStates(): ContainerState[] {
  return listEntries().filter((e): e is ContainerState => !isDamaged(e));
}

/** A container by id, unique id prefix, or name, damaged or not; unknown references are errors naming them. */
export function resolveEntry(ref: string): Entry {
  if (ref === "") throw new BunkerError("empty container reference");
  if (NAME.test(ref)) {
    const id = readLink(`${namesDir()}/${ref}`);
    if (id !== null) {
      const e = readEntry(id);
      if (e) return e;
    }
  }
  if (/^[0-9a-f]+$/.test(ref)) {
    const matches = ids().filter((e) => e.startsWith(ref));
    if (matches.length > 1) throw new BunkerError(`container id prefix "${ref}" is ambiguous: ${matches.join(", ")}`);
    if (matches.length === 1) {
      const e = readEntry(matches[0]!);
      if (e) return e;
    }
  }
  throw new BunkerError(`no such container: ${ref}`);
}

/**
 * A container by its exact id or name, as OCI clients name them (no prefixes):
 * a 12-digit hex id is bunker's id, anything else a name. Null if none.
 */
export function findExact(ref: string): Entry | null {
  if (ID.test(ref)) return readEntry(ref);
  if (!NAME.test(ref)) return null;
  const id = readLink(`${namesDir()}/${ref}`);
  return id !== null ? readEntry(id) : null;
}

/** A container with a usable state; a damaged one is an error saying how to remove it. */
export function resolveContainer(ref: string): ContainerState {
  const e = resolveEntry(ref);
  if (isDamaged(e)) throw damagedError(e, ref);
  return e;
}

export function damagedError(d: Damaged, ref = d.names[0] ?? d.id): BunkerError {
  return new BunkerError(`container ${ref} is damaged (${d.problem}): remove it with bunker rm -f ${ref}`);
}

/** Whether the container's first process (pid and start time both) is alive. */
export function processAlive(s: ContainerState): boolean {
  return s.pid !== undefined && s.pidStart !== undefined && isAlive(s.pid, s.pidStart);
}

/**
 * The state as it really is: "running" only while the recorded process is
 * alive, "created" while the start goes on (its bunker or its process alive);
 * a vanished process reads as stopped.
 */
export function currentStatus(s: ContainerState): Status {
  if (s.status === "created") return supervisorAlive(s) || processAlive(s) ? "created" : "stopped";
  if (s.status !== "running") return s.status;
  return processAlive(s) ? "running" : "stopped";
}

/** Whether the container waits out its restart policy's back-off (its restarter alive). */
export function restartPending(s: ContainerState): boolean {
  return s.restarting === true && s.status === "stopped" && supervisorAlive(s);
}

/** Made by `create` (or its start failed at once): it has never run. */
export const neverStarted = (s: ContainerState): boolean => s.status === "stopped" && s.started === undefined && s.exitCode === undefined && !s.killedWithSupervisor;

/**
 * Whether the container ended with its bunker process: recorded so by the
 * command that found it, or not yet recorded (its bunker and its process gone,
 * and no end written).
 */
export function killedWithSupervisor(s: ContainerState): boolean {
  if (s.oci) return false;
  return s.killedWithSupervisor === true || (s.status !== "stopped" && currentStatus(s) === "stopped" && !supervisorAlive(s));
}

/** Whether the bunker process responsible for the container is still there. */
export function supervisorAlive(s: ContainerState): boolean {
  return s.supervisor !== undefined && s.supervisorStart !== undefined && isAlive(s.supervisor, s.supervisorStart);
}

/** The container was removed (by another command) while this one waited for it. */
export class ContainerGone extends BunkerError {
  constructor(readonly id: string) {
    super(`no such container: ${id}`);
  }
}

function lock(id: string): { release(): void } {
  const dir = dirOf(id);
  let held;
  try {
    held = lockFile(`${dir}/lock`);
  } catch (e) {
    if (e instanceof SysError && (e.errno === Errno.ENOENT || e.errno === Errno.ENOTDIR)) throw new ContainerGone(id);
    throw e;
  }
  // Removal renames the directory away while holding the lock: a waiter then holds the lock of nothing.
  if (fileType(dir) !== "dir") {
    held?.release();
    throw new ContainerGone(id);
  }
  return held ?? { release: () => {} };
}

/** Runs `fn` holding the container's lock; ContainerGone if the container is (or goes) away first. */
export function withLock<T>(id: string, fn: () => T): T {
  const held = lock(id);
  try {
    return fn();
  } finally {
    held.release();
  }
}

export async function withLockAsync<T>(id: string, fn: () => Promise<T>): Promise<T> {
  const held = lock(id);
  try {
    return await fn();
  } finally {
    held.release();
  }
}

/**
 * Removes the container's directory and its names. The caller holds its lock
 * (or is its only user). Renamed away first: readers never see it half gone,
 * and a removal cut short leaves a temporary name the next command clears.
 */
export function removeState(s: { id: string; name?: string } | Damaged): void {
  const trash = `${stateDir()}/${tempName("gone", s.id)}`;
  const r = rename(dirOf(s.id), trash);
  if (r < 0 && r !== -Errno.ENOENT) throw new BunkerError(`remove container ${s.id}: ${new SysError(`rename ${dirOf(s.id)} to ${trash}`, -r).message}`);
  for (const name of "names" in s ? s.names : s.name !== undefined ? [s.name] : []) unclaimName(name, s.id);
  if (r === 0) removeTree(trash);
  if (r === 0) containerEvent("destroy", "names" in s ? { id: s.id, ...(s.names[0] !== undefined ? { name: s.names[0] } : {}) } : s);
  // An image container's changes, after its state: a bunker killed in between leaves them to reconcileImageRoots.
  const upper = "spec" in s ? (s as ContainerState).spec?.bunker.image?.upper : undefined;
  if (upper !== undefined) removeImageRoot(dirname(upper));
  // --rm: the volumes made for it alone go with it (`rm -v` removes them otherwise).
  const spec = "spec" in s ? (s as ContainerState).spec : undefined;
  if ("autoRemove" in s && s.autoRemove && spec?.bunker.volumes) removeAnonymousVolumes(spec.bunker.volumes);
}

/** Removes temporary files a writer of the container's state left when killed. */
export function clearStateTemps(id: string): void {
  if (!listDir(dirOf(id)).some(isTempFile)) return;
  try {
    withLock(id, () => clearTempFiles(dirOf(id)));
  } catch (e) {
    if (!(e instanceof ContainerGone)) throw e;
  }
}
