// A user's rootless network namespace, as podman's rootless-netns: one per
// user, holding the bridges of their user-defined networks, connected out
// through slirp4netns or pasta (the same choice and errors as a container's
// own), and owned by a user namespace mapped as their containers are, so
// that one of their processes may move a veth end between it and a
// container's network namespace made in that user namespace. It is made on
// first need and goes when nothing uses it.
//
// Its record (rootless-netns/holder.json in the state directory) is written
// before each step, under the namespace's lock: a bunker killed at any
// instant leaves a record that the next ensure or release finds, and undoes
// what it names (a holder, a helper) unless the record says it was finished
// and both still run.

import { log } from "../log";
import { BunkerError } from "../errors";
import { writeIdMaps } from "../identity/maps";
import { resolveIdentity, type Identity } from "../identity/resolve";
import { PACKAGE, helperPath, helperStart, startPasta, startSlirp, stopHelper, type HelperName, type RunningHelper } from "../net/helpers";
import type { ContainerSpec } from "../spec/types";
import { O, SIGNALS, WALL, WNOHANG } from "../sys/constants";
import { Errno } from "../sys/errno";
import { lockFile, makeDir, readLink, readText, removePath, writeAtomic } from "../sys/fs";
import { closeFd, pipe, trySys } from "../sys/libc";
import { isAlive, startTime } from "../sys/proc";
import { hostResolv, privateMode, PUBLIC_DNS, resolvConf } from "./host-network";
import { clearTempFiles } from "./leftovers";
import { spawnHolder } from "./netns-holder";
import { stateDir } from "./state";
import { currentStatus, listStates } from "./store";

export interface RootlessNetns {
  pid: number;
  pidStart: number;
  /** /proc/PID/ns/user and /proc/PID/ns/net of the holder. */
  userns: string;
  netns: string;
  /** What connects it out. */
  helper: HelperName;
  /** slirp4netns's API socket, where ports are published. */
  api?: string;
}

interface HolderRecord {
  /** "creating" until the holder waits and its helper runs. */
  state: "creating" | "ready";
  /** The bunker making it: a "creating" record found under the lock is a killed one's. */
  creator: { pid: number; start: number };
  pid?: number;
  pidStart?: number;
  helper: { name: HelperName; pid?: number; pidStart?: number; pidFile?: string };
  api?: string;
}

/** The namespace's directory in the state directory (the caller's, or --root's). */
export const netnsDir = () => `${stateDir()}/rootless-netns`;
const recordPath = () => `${netnsDir()}/holder.json`;

function readRecord(): HolderRecord | null {
  let text: string;
  try {
    text = readText(recordPath(), 1 << 16);
  } catch {
    // none: no namespace, or one fully undone
    return null;
  }
  try {
    const r = JSON.parse(text) as HolderRecord;
    return typeof r === "object" && r !== null && (r.state === "creating" || r.state === "ready") ? r : null;
  } catch {
    // written atomically: what does not parse is nothing of ours
    return null;
  }
}

const writeRecord = (r: HolderRecord) => writeAtomic(recordPath(), JSON.stringify(r));

function rootlessOnly(what: string): void {
  if ((process.geteuid?.() ?? 0) === 0) throw new BunkerError(`${what}: root's networks live in the host's network namespace, not a rootless one`);
}

/** Holds the namespace's lock around `fn`; the directory is made if missing. */
async function withNetnsLock<T>(fn: () => Promise<T> | T): Promise<T> {
  const dir = netnsDir();
  makeDir(dir);
  const lock = lockFile(`${dir}/lock`)!;
  try {
    // Every writer here holds the lock: a temporary file is a killed one's.
    clearTempFiles(dir);
    return await fn();
  } finally {
    lock.release();
  }
}

function withNetnsLockSync<T>(fn: () => T): T {
  const dir = netnsDir();
  makeDir(dir);
  const lock = lockFile(`${dir}/lock`)!;
  try {
    clearTempFiles(dir);
    return fn();
  } finally {
    lock.release();
  }
}

const alive = (pid: number | undefined, start: number | undefined) => pid !== undefined && start !== undefined && isAlive(pid, start);

/** Whether a finished namespace's holder and helper both still run. */
function working(r: HolderRecord): boolean {
  return r.state === "ready" && alive(r.pid, r.pidStart) && alive(r.helper.pid, r.helper.pidStart);
}

function view(r: HolderRecord): RootlessNetns {
  return {
    pid: r.pid!,
    pidStart: r.pidStart!,
    userns: `/proc/${r.pid}/ns/user`,
    netns: `/proc/${r.pid}/ns/net`,
    helper: r.helper.name,
    ...(r.api !== undefined ? { api: r.api } : {}),
  };
}

/** Kills the holder (it takes no other signal) and reaps it if it is this process's child; waits a little for it to go. */
function killHolder(pid: number, start: number | undefined): void {
  if (start === undefined || !isAlive(pid, start)) return;
  trySys("kill", pid, SIGNALS.SIGKILL);
  for (let i = 0; i < 400; i++) {
    const r = trySys("wait4", pid, 0, WNOHANG | WALL, 0);
    if (r === pid || (r === -Errno.ECHILD && !isAlive(pid, start))) return;
    Bun.sleepSync(5);
  }
}

/** Undoes what `r` names, in the order that leaves a record as long as something it names may run. */
function undo(r: HolderRecord): void {
  const h = r.helper;
  let helperPid = h.pid;
  if (helperPid === undefined && h.pidFile !== undefined) {
    try {
      // pasta wrote it, but bunker was killed before recording it
      helperPid = Number(readText(h.pidFile, 64).trim());
    } catch {
      // it never got that far
    }
  }
  if (helperPid !== undefined && Number.isInteger(helperPid) && helperPid > 0) stopHelper(helperPid, h.pidStart ?? helperStart(helperPid));
  if (r.pid !== undefined) killHolder(r.pid, r.pidStart ?? startTime(r.pid) ?? undefined);
  const dir = netnsDir();
  for (const f of ["resolv.conf", "slirp.sock", "pasta.pid", "network.log"]) removePath(`${dir}/${f}`);
  removePath(recordPath());
}

/** The ID maps of the user's containers by default (0 → the user, 1.. → their ranges where they have them). */
export function holderMaps(): NonNullable<Identity["userns"]> {
  const identity = resolveIdentity({ uid: process.geteuid?.() ?? 0, gid: process.getegid?.() ?? 0, userns: "private", path: process.env.PATH ?? "" });
  return identity.userns!;
}

async function create(): Promise<RootlessNetns> {
  const chosen = privateMode(false, process.env.PATH ?? "");
  if (chosen.mode !== "slirp4netns" && chosen.mode !== "pasta") throw new BunkerError(`the rootless network namespace: ${chosen.notice?.replace(/^no network for the container \(only lo\): /, "") ?? "no helper"}`);
  const name: HelperName = chosen.mode;
  const binary = helperPath(name, process.env.PATH ?? "");
  if (!binary) throw new BunkerError(`the rootless network namespace: ${name} not found: install the ${PACKAGE[name]} package`);
  const dir = netnsDir();
  const maps = holderMaps();
  const record: HolderRecord = {
    state: "creating",
    creator: { pid: process.pid, start: startTime(process.pid) ?? 0 },
    helper: { name, ...(name === "pasta" ? { pidFile: `${dir}/pasta.pid` } : {}) },
    ...(name === "slirp4netns" ? { api: `${dir}/slirp.sock` } : {}),
  };
  writeRecord(record);
  let exit: [number, number] | undefined;
  let helper: RunningHelper | undefined;
  try {
    // slirp4netns ends when the holder does: the holder keeps its exit pipe's write end.
    if (name === "slirp4netns") exit = pipe("create slirp4netns's exit pipe", O.CLOEXEC);
    const resolv = `${dir}/resolv.conf`;
    writeAtomic(resolv, resolvConf(hostResolv(), name === "slirp4netns" ? ["10.0.2.3"] : PUBLIC_DNS), 0o644);
    const spec = { oci: { linux: { uidMappings: maps.uid, gidMappings: maps.gid } }, bunker: { userns: maps.setup, setgroups: maps.setgroups } } as unknown as ContainerSpec;
    await spawnHolder({
      resolvConf: resolv,
      ...(exit ? { keep: exit[1] } : {}),
      beforeStart: async (pid) => {
        record.pid = pid;
        record.pidStart = startTime(pid) ?? undefined;
        writeRecord(record);
        await writeIdMaps(pid, spec);
        const exitRead = exit?.[0];
        if (exit) exit[0] = -1; // startSlirp takes it
        helper = name === "slirp4netns" ? await startSlirp(binary, pid, [], `${dir}/network.log`, record.api!, false, exitRead) : await startPasta(binary, pid, [], `${dir}/network.log`, record.helper.pidFile!, false);
        record.helper.pid = helper.pid;
        if (helper.pidStart !== undefined) record.helper.pidStart = helper.pidStart;
        writeRecord(record);
      },
    });
    record.state = "ready";
    writeRecord(record);
    return view(record);
  } catch (e) {
    undo(record);
    throw e;
  } finally {
    for (const fd of exit ?? []) closeFd(fd);
  }
}

/** The user's rootless network namespace, made (under its lock) if it is missing or broken. */
export async function ensureRootlessNetns(): Promise<RootlessNetns> {
  rootlessOnly("ensure the rootless network namespace");
  return withNetnsLock(async () => {
    const r = readRecord();
    if (r && working(r)) return view(r);
    if (r) {
      await log.debug(`the rootless network namespace ${r.state === "creating" ? "was left half-made" : "stopped working"}: made again`);
      undo(r);
    }
    return create();
  });
}

/** The user's rootless network namespace if it exists and works, without making one. */
export function currentRootlessNetns(): RootlessNetns | null {
  if ((process.geteuid?.() ?? 0) === 0) return null;
  const r = readRecord();
  return r && working(r) ? view(r) : null;
}

/**
 * Stops and forgets the namespace unless `inUse` (asked under its lock) says
 * a container still needs it; one half-made by a killed bunker, or whose
 * holder or helper died, goes either way. What is called after a container
 * ends, and by a later command for one that ended while bunker was killed.
 */
export function releaseRootlessNetns(inUse: () => boolean): void {
  if ((process.geteuid?.() ?? 0) === 0) return;
  withNetnsLockSync(() => {
    const r = readRecord();
    if (!r) return;
    if (working(r) && inUse()) return;
    undo(r);
  });
}

/** Whether a running container of the user is in the holder's user namespace (the containers that use it, by the kernel's word). */
export function holderInUse(): boolean {
  const r = readRecord();
  if (!r?.pid) return false;
  const holder = readLink(`/proc/${r.pid}/ns/user`);
  return holder !== null && listStates().some((s) => s.pid !== undefined && currentStatus(s) === "running" && readLink(`/proc/${s.pid}/ns/user`) === holder);
}
