// A container's cgroups: one directory per hierarchy under a bunker parent
// (/sys/fs/cgroup/bunker/ID on v2; MOUNT/bunker/ID under each v1 hierarchy),
// made with its limits before the container runs and removed once it is empty.

import { kernelRelease } from "../sys/kernel";
import type { LinuxDeviceCgroup, LinuxResources } from "../spec/types";
import { Errno, SysError } from "../sys/errno";
import { fileType, makeDir, ownerOf, readText, removePath, writeValue } from "../sys/fs";
import type { Hierarchy, Layout } from "./detect";
import { applyV1DeviceRules, attachDeviceProgram } from "./devices";
import { readWords } from "./files";
import { neededControllers, V1_NAME, v1Writes, v2Writes, type LimitWrite } from "./limits";
import { BunkerError } from "../errors";

export class CgroupError extends BunkerError {
  override name = "CgroupError";
}

export interface CgroupDir {
  path: string;
  version: 1 | 2;
  /** The controllers it has (v2: those enabled for it). */
  controllers: string[];
}

/** What state.json keeps of a container's cgroups. */
export interface CgroupState {
  dirs: CgroupDir[];
}

/** Where a container's cgroup goes in one hierarchy. */
export interface Placement {
  hierarchy: Hierarchy;
  /** The bunker parent directory. */
  parent: string;
  /** v2: the directory the caller may write below (the root, or a delegated cgroup), whose controllers can be enabled. */
  top?: string;
}

export const PARENT = "bunker";

/** v2 controllers bunker enables for every container when offered (what stats reads); others only for a limit. */
const V2_WANTED = ["cpu", "memory", "pids"];

/**
 * The highest ancestor of `own` (itself included) that belongs to `uid` with
 * a writable cgroup.procs: the subtree delegated to it, as systemd's
 * Delegate=yes makes one. Null when there is none.
 */
export function delegatedRoot(mount: string, own: string, uid: number): string | null {
  const parts = own.split("/").filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const rel = `/${parts.slice(0, i).join("/")}`;
    const dir = ownerOf(`${mount}${rel}`);
    const procs = ownerOf(`${mount}${rel}/cgroup.procs`);
    if (dir?.uid === uid && procs?.uid === uid && (procs.mode & 0o200) !== 0) return rel;
  }
  return null;
}

/** Where the caller may put container cgroups; a string says why nowhere. */
export function placements(layout: Layout, uid: number): Placement[] | string {
  if (layout.mode === "none") return "no cgroup filesystem is mounted on this host";
  if (uid === 0) {
    const out: Placement[] = layout.v1.map((h) => ({ hierarchy: h, parent: `${h.mount}/${PARENT}` }));
    if (layout.v2) out.push({ hierarchy: layout.v2, parent: `${layout.v2.mount}/${PARENT}`, top: layout.v2.mount });
    return out;
  }
  const v2 = layout.v2;
  if (!v2) return "this host has only cgroup v1, which only root may use";
  // Decided on the v2 side alone: a stray v1 hierarchy next to a delegated v2 tree changes nothing.
  const root = delegatedRoot(v2.mount, v2.own, uid);
  if (root === null && layout.mode === "hybrid") return "this host's controllers are on cgroup v1 (a hybrid layout), which only root may use";
  if (root === null) return `your cgroup ${v2.own} is not delegated to you (it is not yours to write)`;
  return [{ hierarchy: v2, parent: `${v2.mount}${root}/${PARENT}`, top: `${v2.mount}${root}` }];
}

/** Which placement carries `controller`: a v1 hierarchy first, else v2 if it offers it. */
function carrier(ps: Placement[], controller: string): Placement | undefined {
  const v1 = V1_NAME[controller] ?? controller;
  return ps.find((p) => p.hierarchy.version === 1 && p.hierarchy.controllers.includes(v1)) ?? ps.find((p) => p.hierarchy.version === 2 && readWords(`${p.top}/cgroup.controllers`).includes(controller));
}

/** The cgroup version that would carry `controller` for the placements, if any does. */
export function carrierVersion(ps: Placement[], controller: string): 1 | 2 | undefined {
  return carrier(ps, controller)?.hierarchy.version;
}

/** The first controller the limits need that no placement carries, and where it was looked for. */
export function missingController(ps: Placement[], r: LinuxResources | undefined): { controller: string; where: string } | null {
  for (const c of neededControllers(r)) {
    if (carrier(ps, c)) continue;
    const v2 = ps.find((p) => p.hierarchy.version === 2);
    const where = ps.length === 1 && v2 && v2.top !== v2.hierarchy.mount ? `the cgroup delegated to you (${v2.top})` : "this host's cgroups";
    return { controller: c, where };
  }
  return null;
}

/** Whether the placements can enforce device rules: a v1 devices controller, or cgroup v2 (an eBPF program). */
export function enforcesDevices(ps: Placement[]): boolean {
  return ps.some((p) => p.hierarchy.version === 2 || p.hierarchy.controllers.includes("devices"));
}

/** Makes `dir` if missing; true when this call made it. */
function ensureDir(dir: string): boolean {
  try {
    return makeDir(dir, 0o755);
  } catch (e) {
    throw new CgroupError((e as Error).message);
  }
}

/** " (the CPUs available are 0-3)": the parent's effective CPUs (v1 and v2 name the file differently). */
function availableCpus(dir: string): string {
  const parent = dir.slice(0, dir.lastIndexOf("/"));
  for (const f of ["cpuset.cpus.effective", "cpuset.effective_cpus"]) {
    const cpus = readWords(`${parent}/${f}`).join("");
    if (cpus) return ` (the CPUs available are ${cpus})`;
  }
  return "";
}

function write(path: string, value: string, flag?: string): void {
  try {
    writeValue(path, value);
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    let hint = "";
    if ((e.errno === Errno.EINVAL || e.errno === Errno.ERANGE) && path.endsWith("/cpuset.cpus")) hint = availableCpus(path.slice(0, path.lastIndexOf("/")));
    if (e.errno === Errno.EBUSY && path.endsWith("/cgroup.subtree_control")) hint = " (cgroup v2 gives controllers only to the children of a cgroup without processes of its own)";
    throw new CgroupError(`${flag ? `${flag} ${value}: ` : ""}${e.message}${hint}`);
  }
}

/** A new v1 cpuset cgroup starts with no CPUs and no memory nodes: it takes its parent's. */
function inheritCpuset(dir: string): void {
  for (const f of ["cpuset.cpus", "cpuset.mems"]) {
    if (readText(`${dir}/${f}`).trim() !== "") continue;
    write(`${dir}/${f}`, readText(`${dir}/../${f}`).trim() || "0");
  }
}

/** Enables `wanted` (those offered) in subtree_control from `top` down to `parent`; returns what `parent`'s children get. */
function enableControllers(top: string, parent: string, wanted: string[]): string[] {
  const offered = readWords(`${top}/cgroup.controllers`);
  const want = wanted.filter((c) => offered.includes(c));
  for (let dir = top; ; dir = `${dir}/${parent.slice(dir.length + 1).split("/")[0]}`) {
    const enabled = readWords(`${dir}/cgroup.subtree_control`);
    const missing = want.filter((c) => !enabled.includes(c));
    if (missing.length) write(`${dir}/cgroup.subtree_control`, missing.map((c) => `+${c}`).join(" "));
    if (dir === parent) break;
  }
  return want;
}

/** Limits one cgroup version has and the other lacks: an error where the controller lives on the other side. */
function versionOnly(dirs: CgroupDir[], r: LinuxResources): void {
  const on = (version: 1 | 2, controller: string) => dirs.some((d) => d.version === version && d.controllers.includes(controller));
  if (r.cpu?.idle !== undefined && !on(2, "cpu")) throw new CgroupError("linux.resources.cpu.idle needs the cpu controller on cgroup v2");
  if ((r.cpu?.realtimeRuntime !== undefined || r.cpu?.realtimePeriod !== undefined) && !on(1, "cpu")) throw new CgroupError("linux.resources.cpu.realtime* needs the cpu controller on cgroup v1 (v2 has no real-time limits)");
  if (r.memory?.swappiness !== undefined && !on(1, "memory")) throw new CgroupError("linux.resources.memory.swappiness needs the memory controller on cgroup v1 (v2 has none per cgroup)");
  if (r.unified && !dirs.some((d) => d.version === 2)) throw new CgroupError("linux.resources.unified needs cgroup v2, and the container's cgroups are all v1");
  for (const key of Object.keys(r.unified ?? {})) {
    const c = key.split(".")[0]!;
    if (c !== "cgroup" && !on(2, c)) throw new CgroupError(`linux.resources.unified["${key}"] needs the ${c} controller on cgroup v2`);
  }
  if (r.memory?.disableOOMKiller && !on(1, "memory")) throw new CgroupError("linux.resources.memory.disableOOMKiller needs the memory controller on cgroup v1 (v2 cannot turn the OOM killer off)");
}

/** cgroup v2 files that came after Linux 5.6, the oldest kernel bunker runs containers on. */
const V2_FILE_SINCE: Record<string, string> = { "cpu.idle": "5.15" };

function applyWrites(dirs: CgroupDir[], writes: LimitWrite[], version: 1 | 2): void {
  for (const w of writes) {
    const name = version === 1 ? (V1_NAME[w.controller] ?? w.controller) : w.controller;
    // cgroup.* files belong to every cgroup, whatever its controllers.
    const dir = dirs.find((d) => d.version === version && (name === "cgroup" || d.controllers.includes(name)));
    if (!dir) continue;
    const choice = w.choices.find((c) => fileType(`${dir.path}/${c.file}`) !== null);
    if (!choice) {
      if (w.optional) continue;
      const since = version === 2 ? w.choices.map((c) => V2_FILE_SINCE[c.file]).find((v) => v !== undefined) : undefined;
      throw new CgroupError(`${w.flag}: this host's ${name} controller has no ${w.choices.map((c) => c.file).join(" or ")}${since ? ` (Linux ${since} or later; this kernel is ${kernelRelease()})` : ""}`);
    }
    write(`${dir.path}/${choice.file}`, choice.value, w.flag);
  }
}

/** The v1 devices controller where the host has one (cheaper, and what a hybrid host's tools read), else cgroup v2's program. */
function applyDeviceRules(dirs: CgroupDir[], rules: readonly LinuxDeviceCgroup[]): void {
  const v1 = dirs.find((d) => d.version === 1 && d.controllers.includes("devices"));
  if (v1) return applyV1DeviceRules(v1.path, rules);
  const v2 = dirs.find((d) => d.version === 2);
  if (v2) attachDeviceProgram(v2.path, rules);
}

/** Makes each missing directory from `base` down to `dir`, which lies below it; on v1 cpuset, each takes its parent's CPUs. */
function ensureParents(base: string, dir: string, cpuset: boolean): void {
  let at = base;
  for (const part of dir.slice(base.length + 1).split("/")) {
    at = `${at}/${part}`;
    ensureDir(at);
    if (cpuset) inheritCpuset(at);
  }
}

/**
 * Makes the container's cgroups at `cgroupsPath` ("/bunker/ID", or the path
 * an OCI config names) below each placement's top, with their limits and
 * device rules; on failure removes what it made (its parents stay).
 */
export function createCgroups(ps: Placement[], cgroupsPath: string, r: LinuxResources | undefined): CgroupState {
  const made: string[] = [];
  const dirs: CgroupDir[] = [];
  const rel = cgroupsPath.split("/").filter(Boolean);
  if (rel.length === 0 || rel.includes("..") || rel.includes(".")) throw new CgroupError(`cgroupsPath "${cgroupsPath}": not a cgroup below the root`);
  try {
    for (const p of ps) {
      const h = p.hierarchy;
      const base = h.version === 2 ? p.top! : h.mount;
      const path = `${base}/${rel.join("/")}`;
      const parent = path.slice(0, path.lastIndexOf("/"));
      if (h.version === 2) {
        if (parent !== base) ensureParents(base, parent, false);
        const controllers = enableControllers(base, parent, [...new Set([...V2_WANTED, ...neededControllers(r)])]);
        if (!ensureDir(path)) throw new CgroupError(`create ${path}: it already exists`);
        made.push(path);
        dirs.push({ path, version: 2, controllers });
        continue;
      }
      if (parent !== base) ensureParents(base, parent, h.controllers.includes("cpuset"));
      if (!ensureDir(path)) throw new CgroupError(`create ${path}: it already exists`);
      made.push(path);
      if (h.controllers.includes("cpuset")) inheritCpuset(path);
      dirs.push({ path, version: 1, controllers: h.controllers });
    }
    if (r) {
      versionOnly(dirs, r);
      // On a hybrid host a controller lives on one side only; each side writes what it carries.
      applyWrites(dirs, v1Writes(r), 1);
      applyWrites(dirs, v2Writes(r), 2);
      if (r.devices) applyDeviceRules(dirs, r.devices);
    }
  } catch (e) {
    for (const dir of made.reverse()) {
      try {
        removePath(dir, true);
      } catch {
        // left for the next reconcile
      }
    }
    throw e;
  }
  return { dirs };
}

/**
 * Changes the limits of existing cgroups (`update`): each write where its
 * controller is; a limit no directory of the container can carry is an error.
 */
export function updateCgroups(state: CgroupState, r: LinuxResources): void {
  for (const c of neededControllers(r)) {
    const v1 = V1_NAME[c] ?? c;
    if (!state.dirs.some((d) => d.controllers.includes(d.version === 1 ? v1 : c))) throw new CgroupError(`the container's cgroups have no ${c} controller`);
  }
  versionOnly(state.dirs, r);
  applyWrites(state.dirs, v1Writes(r), 1);
  applyWrites(state.dirs, v2Writes(r), 2);
}

/** Moves process `pid` (and its threads) into every one of the container's cgroups. */
export function placeProcess(state: CgroupState, pid: number): void {
  for (const d of state.dirs) write(`${d.path}/cgroup.procs`, String(pid));
}

/** Pids in the container's cgroups. */
export function cgroupPids(state: CgroupState): number[] {
  const pids = new Set<number>();
  for (const d of state.dirs) {
    for (const w of readWords(`${d.path}/cgroup.procs`)) pids.add(Number(w));
  }
  return [...pids];
}

/**
 * Removes the container's cgroups, retrying while the kernel finishes the
 * processes that were in them; what still has processes after `timeoutMs`
 * is killed first. Returns the directories it could not remove, each with why.
 */
export async function removeCgroups(state: CgroupState, timeoutMs = 5000, kill: (pid: number) => void = () => {}): Promise<string[]> {
  let end = Date.now() + timeoutMs;
  // The first directory goes last: while it exists, a later bunker knows there is something to clean up.
  let left = [...state.dirs].reverse();
  let killed = false;
  let why = "";
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    while (left.length) {
      try {
        removePath(left[0]!.path, true);
      } catch (e) {
        if (!(e instanceof SysError && e.errno === Errno.ENOENT)) {
          why = e instanceof SysError && e.errno === Errno.EBUSY ? "processes are still in it" : (e as Error).message;
          break;
        }
      }
      left.shift();
    }
    if (left.length === 0) return [];
    if (Date.now() > end) {
      if (killed) return left.map((d) => `${d.path} (${why})`);
      killed = true;
      thaw({ dirs: left });
      for (const pid of cgroupPids({ dirs: left })) kill(pid);
      end = Date.now() + timeoutMs;
    }
    await Bun.sleep(delay);
  }
}

/** Lets frozen processes run again (and so die of a signal they were sent). */
export function thaw(state: CgroupState): void {
  for (const d of state.dirs) {
    try {
      if (d.version === 1 && d.controllers.includes("freezer")) writeValue(`${d.path}/freezer.state`, "THAWED");
      if (d.version === 2 && fileType(`${d.path}/cgroup.freeze`) !== null) writeValue(`${d.path}/cgroup.freeze`, "0");
    } catch {
      // gone already
    }
  }
}
