// A user's networks made by `network create`: the bridges, leases, veths and
// names live in the user's rootless network namespace (rootless-netns.ts),
// where `bunker __netns` does for them what root's bunker does on the host
// (network-named.ts, networks.ts). Published ports are slirp4netns's, from
// the host's ports to the container's address there (rootless-publish.ts).

import { openNamespaceOf } from "./namespaces";
import { BunkerError } from "../errors";
import { log } from "../log";
import { readRecord, type NetworkRecord } from "../net/networks";
import { reservePorts } from "../net/ports";
import type { NetworkAttachment, PortMapping } from "../spec/types";
import { listDir, makeDir, readText, removePath, writeAtomic } from "../sys/fs";
import { closeFd } from "../sys/libc";
import { isAlive, startTime } from "../sys/proc";
import { mayBeNetworkName } from "../spec/validate";
import { runInRootlessNetns } from "./netns-run";
import { networksRoot } from "./networks";
import { listLeases } from "../net/ipam";
import { abandoned } from "./network-leases";
import { currentRootlessNetns, ensureRootlessNetns, holderInUse, netnsDir, releaseRootlessNetns } from "./rootless-netns";
import { publishRootless, removeForwards, type Undo } from "./rootless-publish";
import type { AttachedNetwork } from "./store";

/** `bunker __netns OP...` there, its JSON answer; its error as bunker's own. */
async function inNetns<T>(argv: string[], input?: unknown, fd?: number): Promise<T> {
  const r = await runInRootlessNetns(argv, input === undefined ? undefined : new TextEncoder().encode(JSON.stringify(input)), fd);
  if (r.code !== 0) {
    const line = r.stderr.trim().split("\n").at(-1) ?? "";
    throw new BunkerError(line.replace(/^bunker: /, "") || `${argv[0]} in the rootless network namespace failed (status ${r.code})`);
  }
  const out = r.stdout.trim();
  return (out ? JSON.parse(out) : undefined) as T;
}

/** Process `pid`'s network namespace, open while `fn` runs: bunker may open it, its helper in the rootless namespace may not. */
async function withNetnsOf<T>(pid: number, fn: (fd: number) => Promise<T>): Promise<T> {
  const fd = openNamespaceOf(pid, "net");
  try {
    return await fn(fd);
  } finally {
    closeFd(fd);
  }
}

/** `network create` in the user's namespace (the caller lets it go with releaseIfUnused once done). */
export async function createRootless(o: unknown): Promise<NetworkRecord> {
  await ensureRootlessNetns();
  return inNetns<NetworkRecord>(["network-create"], o);
}

/** `network rm` of one network in the user's namespace (the caller lets it go with releaseIfUnused once done). */
export async function removeRootless(ref: string): Promise<NetworkRecord> {
  await ensureRootlessNetns();
  return inNetns<NetworkRecord>(["network-rm", ref]);
}

/** Whether a container of the user holds a lease on one of their networks (from before it runs until its end is undone). */
function leased(): boolean {
  const root = networksRoot();
  return starting() || listDir(root).some((n) => mayBeNetworkName(n) && listDir(`${root}/${n}/leases`).some((f) => f.endsWith(".json")));
}

/** Marks of bunkers between making sure of the namespace and taking their leases: one releasing it meanwhile would pull it from under them. */
const startingDir = () => `${netnsDir()}/starting`;

function markStarting(id: string): () => void {
  makeDir(startingDir());
  const path = `${startingDir()}/${id}`;
  writeAtomic(path, JSON.stringify({ pid: process.pid, start: startTime(process.pid) }));
  return () => removePath(path);
}

/** Whether a live bunker is starting a container on the user's networks (a dead one's mark is removed). */
function starting(): boolean {
  let live = false;
  for (const f of listDir(startingDir())) {
    const path = `${startingDir()}/${f}`;
    let mark: { pid?: number; start?: number } = {};
    try {
      mark = JSON.parse(readText(path, 4096));
    } catch {
      // half-written: its writer is still at it, or died
    }
    if (typeof mark.pid === "number" && typeof mark.start === "number" && isAlive(mark.pid, mark.start)) live = true;
    else if (!f.includes(".tmp")) removePath(path);
  }
  return live;
}

/** The namespace goes once no container of the user runs in it or is about to (a network's bridge is made again by its next container). */
export function releaseIfUnused(): void {
  try {
    releaseRootlessNetns(() => holderInUse() || leased());
  } catch (e) {
    void log.warn(`stop the rootless network namespace: ${(e as Error).message}`);
  }
}

export interface PreparedRootless {
  networks: AttachedNetwork[];
  ports: PortMapping[];
  attach(pid: number): Promise<void>;
  release(): Promise<void>;
}

/** A user's container on its networks: leases before clone, veths and names while the child waits, ports through slirp4netns. */
export async function prepareRootless(id: string, name: string | undefined, list: readonly NetworkAttachment[], wanted: readonly PortMapping[], names: boolean): Promise<PreparedRootless> {
  const first = readRecord(networksRoot(), list[0]!.name);
  if (wanted.length && first?.internal) throw new BunkerError(`-p: network ${first.name} is internal: nothing is published from it`);
  // slirp4netns binds the host ports itself: conflicts are found (and free ports picked) now, for a clear error.
  const ports = reservePorts(wanted, false).ports;
  const unmark = markStarting(id);
  let networks: AttachedNetwork[];
  try {
    await ensureRootlessNetns();
    networks = await inNetns<AttachedNetwork[]>(["net-place"], { id, ...(name !== undefined ? { name } : {}), list });
  } finally {
    // The leases, once taken, keep the namespace (leased()).
    unmark();
  }
  let unpublish: Undo | undefined;
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    unpublish?.();
    removePath(forwardsPath(id));
    try {
      await inNetns(["net-release", id]);
    } catch (e) {
      void log.warn(`leave the networks of ${id}: ${(e as Error).message}`);
    }
    releaseIfUnused();
  };
  return {
    networks,
    ports,
    attach: async (pid) => {
      await withNetnsOf(pid, (fd) => inNetns(["net-plumb", id, String(pid), names ? "1" : "0"], undefined, fd));
      // Each forward's id recorded as soon as slirp4netns gives it: a detached container's end, or a killed bunker's, is undone from the record.
      const holder = currentRootlessNetns()?.pid;
      if (ports.length) unpublish = publishRootless(ports, networks[0]!.ip, (ids) => writeAtomic(forwardsPath(id), JSON.stringify({ holder, ids })));
    },
    release,
  };
}

export async function connectRootless(id: string, name: string | undefined, pid: number, attachment: NetworkAttachment): Promise<AttachedNetwork> {
  if (!currentRootlessNetns()) throw new BunkerError(`container ${name ?? id} is not in the rootless network namespace: stop it, connect it, and start it again`);
  return withNetnsOf(pid, (fd) => inNetns<AttachedNetwork>(["net-connect", id, String(pid)], { ...(name !== undefined ? { name } : {}), attachment }, fd));
}

export async function disconnectRootless(id: string, network: string): Promise<boolean> {
  if (!currentRootlessNetns()) return false;
  return inNetns<boolean>(["net-disconnect", id, network]);
}

/** Where a container's published forwards are recorded (slirp4netns's ids). */
const forwardsDir = () => `${netnsDir()}/forwards`;
const forwardsPath = (id: string) => {
  makeDir(forwardsDir());
  return `${forwardsDir()}/${id}.json`;
};

/** Forwards of containers that ended without their bunker (detached, or killed): removed from slirp4netns. */
function reconcileForwards(): void {
  for (const f of listDir(forwardsDir())) {
    const id = f.replace(/\.json$/, "");
    if (!/^[0-9a-f]{12}\.json$/.test(f) || !abandoned(id)) continue;
    try {
      const r = JSON.parse(readText(`${forwardsDir()}/${f}`, 1 << 20)) as { holder?: number; ids?: number[] };
      // Ids of another slirp4netns (the namespace made anew since) would name that one's forwards: only the same holder's.
      if (Array.isArray(r.ids) && r.holder !== undefined && r.holder === currentRootlessNetns()?.pid) removeForwards(r.ids.filter((n) => Number.isSafeInteger(n)));
    } catch {
      // half-written: nothing to remove from it
    }
    removePath(`${forwardsDir()}/${f}`);
  }
}

/** What killed bunkers left of a user's containers on their networks: leases, veths, names, forwards; the namespace, once unused. */
export async function reconcileRootless(): Promise<void> {
  reconcileForwards();
  // Only when some lease is a stopped container's (read from here, where the leases are files of the user's): a helper run costs.
  const root = networksRoot();
  const stale = listDir(root).some((n) => mayBeNetworkName(n) && listLeases(`${root}/${n}`).some((l) => abandoned(l.id)));
  if (stale && currentRootlessNetns()) {
    try {
      await inNetns(["net-reconcile"]);
    } catch (e) {
      void log.warn(`free what stopped containers held on their networks: ${(e as Error).message}`);
    }
  }
  if (currentRootlessNetns()) releaseIfUnused();
}
