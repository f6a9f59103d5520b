// A bridge's leases and what they hold on the host: NAT elements for
// published ports, the loopback guard of the bridge's table, veths. The
// same for the default bridge (bunker0, table ip bunker) and for every
// network made by `network create` (bk-<id>, table ip bk_<id>).

import { log } from "../log";
import { detachLink, hardenBridge, vethName } from "../net/bridge";
import { freeLease, listLeases, type Lease } from "../net/ipam";
import { addPortsScript, deletePresentScript, listElements, NatError, nftPath, repairScript, runNft, undoPortsScript, type NatTable } from "../net/nat";
import { guardIntact } from "../net/guard";
import { addPortsScript6, deletePresentScript6, undoPortsScript6 } from "../net/nat6";
import { NetlinkSocket } from "../sys/netlink";
import { containerExists, currentStatus, listStates, readState, supervisorAlive } from "./store";
import { clearTempFiles } from "./leftovers";

/**
 * Checks the loopback guard (guard.ts) and restores the table if it is
 * damaged, with the elements of the containers running, before
 * route_localnet goes on. Call with the network's lock held. `nat`
 * undefined: the network has no NAT table (nft was missing when it was made).
 */
export function guardBridge(dir: string, t: NatTable | undefined, bridge: string, lockFd: number): void {
  if (!t || !nftPath()) return hardenBridge(false, bridge);
  if (!guardIntact(t.table)) {
    // Closed until the guard is back: should the repair fail, the loopback stays out of reach.
    hardenBridge(false, bridge);
    runNft(repairScript(t), `restore the NAT table of ${bridge}`, lockFd);
    // A flushed table lost the running containers' published ports (their leases are all live: reconciled just before).
    const script = listLeases(dir)
      .filter((l) => l.nat && l.ports.length)
      .map((l) => addPortsScript(l.ports, l.ip, t.table))
      .join("");
    if (script) {
      try {
        runNft(script, "publish the ports of running containers again", lockFd);
      } catch (e) {
        void log.warn((e as Error).message);
      }
    }
  }
  hardenBridge(true, bridge);
}

/** Adds the lease's NAT elements. Call with the network's lock held. */
export function publish(lease: Lease, table: string, lockFd: number): void {
  const what = `publish ports of ${lease.id}`;
  if (lease.ip6) publish6(lease, table, lockFd);
  try {
    runNft(addPortsScript(lease.ports, lease.ip, table), what, lockFd);
  } catch (e) {
    if (!(e instanceof NatError) || !/File exists/.test(e.message)) throw e;
    // Elements for these host ports with another address: left by a bunker that died before it
    // could record them. This start holds the ports (ports.ts), so no running container owns them.
    runNft(deletePresentScript(lease.ports, lease.ip, listElements(table), false, table), `${what}: remove stale elements`, lockFd);
    runNft(addPortsScript(lease.ports, lease.ip, table), what, lockFd);
  }
}

/** The lease's IPv6 elements, over any a killed bunker left for the same host ports. */
function publish6(lease: Lease, table: string, lockFd: number): void {
  const what = `publish ports of ${lease.id} over IPv6`;
  try {
    runNft(addPortsScript6(table, lease.ports, lease.ip6!), what, lockFd);
  } catch (e) {
    if (!(e instanceof NatError) || !/File exists/.test(e.message)) throw e;
    runNft(deletePresentScript6(table, lease.ports, lease.ip6!, listElements(table, "ip6"), false), `${what}: remove stale elements`, lockFd);
    runNft(addPortsScript6(table, lease.ports, lease.ip6!), what, lockFd);
  }
}

/** Whether something besides the container holds its network namespace: a pin, or a container that joined it. */
export function namespaceOutlives(id: string): boolean {
  if (readState(id)?.pinned?.length) return true;
  return listStates().some((s) => s.spec.bunker.net?.joined === `container:${id}` && (currentStatus(s) === "running" || supervisorAlive(s)));
}

/**
 * Removes a lease with the NAT elements it may have: whether they were
 * added is not known for a lease a killed bunker left, so the removal
 * succeeds either way (undoPortsScript), and removes only this container's.
 * Call with the network's lock held.
 */
export function undoLease(dir: string, l: Lease, table: string, lockFd: number): void {
  if (l.nat && l.ports.length && l.ip6) {
    try {
      runNft(undoPortsScript6(table, l.ports, l.ip6), `unpublish ports of ${l.id} over IPv6`, lockFd);
    } catch {
      try {
        const script = deletePresentScript6(table, l.ports, l.ip6, listElements(table, "ip6"), true);
        if (script) runNft(script, `unpublish ports of ${l.id} over IPv6`, lockFd);
      } catch (e) {
        void log.warn((e as Error).message);
      }
    }
  }
  if (l.nat && l.ports.length) {
    const what = `unpublish ports of ${l.id}`;
    try {
      runNft(undoPortsScript(l.ports, l.ip, table), what, lockFd);
    } catch {
      // Some host port of the lease maps to another container now: remove only the elements that still map to this one.
      try {
        const script = deletePresentScript(l.ports, l.ip, listElements(table), true, table);
        if (script) runNft(script, what, lockFd);
      } catch (e) {
        void log.warn((e as Error).message);
      }
    }
  }
  freeLease(dir, l.ip);
}

/** Whether a container no longer needs what it was given: gone, or stopped with nobody looking after it. */
export function abandoned(id: string): boolean {
  const s = readState(id);
  // A damaged state may belong to a live container: its lease goes with `rm -f`, not before.
  if (!s) return !containerExists(id);
  const status = currentStatus(s);
  return status === "stopped" && !supervisorAlive(s);
}

/** The host end of a lease's veth. */
export const leaseVeth = (l: Lease) => l.veth ?? vethName(l.id);

/**
 * Frees leases (and their NAT elements and veths) of containers that are
 * gone; `gone` is told of each. Call with the lock held.
 */
export function reconcileLeases(dir: string, table: string, lockFd: number, gone?: (l: Lease) => void): void {
  // Under the lock every writer of these holds: a temporary file here is a killed writer's.
  clearTempFiles(dir);
  clearTempFiles(`${dir}/leases`);
  for (const l of listLeases(dir)) {
    if (!abandoned(l.id)) continue;
    undoLease(dir, l, table, lockFd);
    gone?.(l);
    try {
      const nl = NetlinkSocket.open(0);
      try {
        detachLink(nl, leaseVeth(l));
      } finally {
        nl.close();
      }
    } catch {
      // the veth went with its namespace
    }
  }
}
