// A container's network from start to end: what is set up before clone
// (bridge, lease, host ports), what is plumbed while the child waits (veth,
// helper), and what is undone when it ends, or later when a killed bunker
// could not (stale leases, NAT elements, helpers).

import { log } from "../log";
import { BRIDGE, attachVeth, detachVeth, ensureBridge, hardenBridge, removeBridge, type BridgeConfig, type EnsuredBridge } from "../net/bridge";
import { PACKAGE, helperPath, helperStart, startPasta, startSlirp, stopHelper, tunProblem, type HelperName, type RunningHelper } from "../net/helpers";
import { listHelperRecords, removeHelperRecord, writeHelperRecord, type HelperRecord } from "../net/records";
import { allocate, freeLease, listLeases, withNetworkLock, type Lease } from "../net/ipam";
import { addPortsScript, deletePresentScript, deleteTableScript, listElements, NatError, nftPath, repairScript, runNft, undoPortsScript } from "../net/nat";
import { guardIntact } from "../net/guard";
import { reservePorts, type Reservation } from "../net/ports";
import { formatIp, parseSubnet } from "../net/addr";
import { routes, addresses } from "../net/rtnl";
import type { ContainerSpec, NetworkMode, PortMapping } from "../spec/types";
import { NetlinkSocket } from "../sys/netlink";
import { listDir, readText, removePath } from "../sys/fs";
import { BunkerError } from "../errors";
import { stateDir } from "./state";
import { containerDir, containerExists, currentStatus, listStates, readState, supervisorAlive, type ContainerState, type NetworkState } from "./store";
import { clearTempFiles } from "./leftovers";


export interface PreparedNetwork {
  state: NetworkState;
  /** The container's own line for /etc/hosts, and its resolv.conf. */
  hostsEntry?: { ip: string; extra: string[] };
  resolvConf?: string;
  /** While the child waits: devices and helpers. */
  attach(pid: number): Promise<void>;
  /** Undoes everything; safe to call more than once. */
  release(): void;
  /** Descriptors that must stay open while the container runs (published ports' sockets, a helper's exit pipe). */
  held(): readonly number[];
}

export const networkDir = () => `${stateDir()}/networks/${BRIDGE}`;

/** Nameservers the container can use: the host's, without loopback ones; else `fallback`. */
export function resolvConf(hostText: string | null, fallback: readonly string[]): string {
  const lines = (hostText ?? "").split("\n");
  const servers = lines.filter((l) => /^\s*nameserver\s+/.test(l)).map((l) => l.trim().split(/\s+/)[1]!).filter((ip) => !/^127\.|^::1$/.test(ip));
  const other = lines.filter((l) => /^\s*(search|options|domain)\s/.test(l)).map((l) => l.trim());
  const use = servers.length ? servers : [...fallback];
  return [...other, ...use.map((s) => `nameserver ${s}`), ""].join("\n");
}

export function hostResolv(): string | null {
  try {
    return readText("/etc/resolv.conf");
  } catch {
    // none on the host: the public resolvers are used
    return null;
  }
}

/** docker's fallback when the host has only loopback nameservers. */
export const PUBLIC_DNS = ["8.8.8.8", "8.8.4.4"];

/**
 * The rootless default: slirp4netns, else pasta, else none with the reason.
 * slirp4netns first: it reports readiness on a pipe and starts in about half
 * of pasta's time (bench/startup.ts).
 */
export function privateMode(root: boolean, pathVar: string): { mode: NetworkMode; notice?: string } {
  if (root) return { mode: "bridge" };
  const tun = tunProblem();
  for (const name of ["slirp4netns", "pasta"] as const) if (helperPath(name, pathVar) && !tun) return { mode: name };
  if (tun) return { mode: "none", notice: `no network for the container (only lo): ${tun}` };
  return { mode: "none", notice: "no network for the container (only lo): neither pasta nor slirp4netns is installed: install the passt or slirp4netns package" };
}

interface HostRoutes {
  /** The default route's gateway, the address of its interface, and that interface. */
  gateway?: string;
  ip?: string;
  oif?: number;
  /** Every IPv4 address of the host but loopback and link-local ones. */
  addresses: { ip: string; index: number }[];
}

function hostRoutes(): HostRoutes {
  const nl = NetlinkSocket.open(0);
  try {
    const all = addresses(nl)
      .filter((a) => a.ip >>> 24 !== 127 && a.ip >>> 16 !== 0xa9fe)
      .map((a) => ({ ip: formatIp(a.ip), index: a.index }));
    const def = routes(nl).find((r) => r.prefix === 0 && r.gateway !== undefined);
    if (!def) return { addresses: all };
    const addr = all.find((a) => a.index === def.oif);
    return { gateway: formatIp(def.gateway!), oif: def.oif, ...(addr ? { ip: addr.ip } : {}), addresses: all };
  } finally {
    nl.close();
  }
}

/**
 * What host.bunker.internal names with a helper: the address that leads to
 * the host's loopback when the user allowed that; otherwise an address of
 * the host itself, which reaches its services bound to all addresses (or to
 * that one) but not those bound to loopback only, as podman does for
 * host.containers.internal. slirp4netns connects from the host, so any
 * address of it works: the default route's. pasta gives the container a
 * copy of the default route's address, which inside means the container
 * itself: only an address of another interface works, if the host has one.
 */
export function helperHostAddress(name: HelperName, allowHostLoopback: boolean, r: HostRoutes): string | undefined {
  if (name === "slirp4netns") return allowHostLoopback ? "10.0.2.2" : (r.ip ?? r.addresses[0]?.ip);
  if (allowHostLoopback) return r.gateway;
  return r.addresses.find((a) => a.index !== r.oif)?.ip;
}

function prepareBridge(spec: ContainerSpec, id: string): PreparedNetwork {
  if ((process.geteuid?.() ?? 0) !== 0) throw new BunkerError("--network bridge needs root: rootless containers use --network pasta or slirp4netns");
  const wanted = spec.bunker.net?.ports ?? [];
  const dir = networkDir();
  const nl = NetlinkSocket.open(0);
  let reservation: Reservation | undefined;
  let lease: Lease | undefined;
  let bridge: EnsuredBridge | undefined;
  let attached = false;
  const release = () => {
    // The kernel deletes the veth with the namespace, which dies with the container's last
    // process. Deleting it here costs a network-wide RCU wait (~15 ms), so only when the
    // namespace lives on: pinned, or joined by another container.
    if (attached && namespaceOutlives(id)) {
      try {
        detachVeth(nl, id);
      } catch (e) {
        void log.warn(`remove the veth of ${id}: ${(e as Error).message}`);
      }
    }
    attached = false;
    if (lease) {
      const l = lease;
      lease = undefined;
      withNetworkLock(dir, (lockFd) => undoLease(dir, l, lockFd));
    }
    reservation?.release();
    reservation = undefined;
    nl.close();
  };
  try {
    reservation = reservePorts(wanted, true);
    withNetworkLock(dir, (lockFd) => {
      reconcileLeases(dir, lockFd);
      bridge = ensureBridge(nl, dir, spec.bunker.net?.subnet, lockFd);
      if (reservation!.ports.length && !bridge.config.nat) throw new BunkerError("-p needs NAT rules, and nft is not installed: install the nftables package");
      guardBridge(dir, bridge.config, lockFd);
      // Recorded with its ports before nft runs: a bunker killed from here on leaves a lease that says what to undo.
      lease = allocate(dir, parseSubnet(bridge.config.subnet), id, reservation!.ports);
      if (lease.ports.length) publish(lease, lockFd);
    });
  } catch (e) {
    release();
    throw e;
  }
  if (bridge!.notice) void log.warn(bridge!.notice);
  const b = bridge!;
  const l = lease!;
  return {
    state: { mode: "bridge", bridge: BRIDGE, ip: l.ip, gateway: b.config.gateway, subnet: b.config.subnet, ports: l.ports },
    hostsEntry: { ip: l.ip, extra: [`${b.config.gateway}\thost.bunker.internal`] },
    resolvConf: resolvConf(hostResolv(), PUBLIC_DNS),
    attach: async (pid) => {
      attached = true;
      attachVeth(nl, b, id, pid, l.ip);
    },
    release,
    held: () => reservation?.fds() ?? [],
  };
}

/**
 * Checks the loopback guard (guard.ts) and restores the table if it is
 * damaged, with the elements of the containers running, before
 * route_localnet goes on. Call with the network's lock held.
 */
function guardBridge(dir: string, config: BridgeConfig, lockFd: number): void {
  if (!config.nat || !nftPath()) return hardenBridge(false);
  if (!guardIntact()) {
    // Closed until the guard is back: should the repair fail, the loopback stays out of reach.
    hardenBridge(false);
    runNft(repairScript(BRIDGE, parseSubnet(config.subnet)), `restore the NAT table of ${BRIDGE}`, lockFd);
    // A flushed table lost the running containers' published ports (their leases are all live: reconciled just before).
    const script = listLeases(dir)
      .filter((l) => l.nat && l.ports.length)
      .map((l) => addPortsScript(l.ports, l.ip))
      .join("");
    if (script) {
      try {
        runNft(script, "publish the ports of running containers again", lockFd);
      } catch (e) {
        void log.warn((e as Error).message);
      }
    }
  }
  hardenBridge(true);
}

/** Adds the lease's NAT elements. Call with the network's lock held. */
function publish(lease: Lease, lockFd: number): void {
  const what = `publish ports of ${lease.id}`;
  try {
    runNft(addPortsScript(lease.ports, lease.ip), what, lockFd);
  } catch (e) {
    if (!(e instanceof NatError) || !/File exists/.test(e.message)) throw e;
    // Elements for these host ports with another address: left by a bunker that died before it
    // could record them. This start holds the ports (ports.ts), so no running container owns them.
    runNft(deletePresentScript(lease.ports, lease.ip, listElements(), false), `${what}: remove stale elements`, lockFd);
    runNft(addPortsScript(lease.ports, lease.ip), what, lockFd);
  }
}

const helpersDir = () => `${stateDir()}/helpers`;

function prepareHelper(spec: ContainerSpec, id: string, name: HelperName): PreparedNetwork {
  const binary = helperPath(name, process.env.PATH ?? "");
  if (!binary) throw new BunkerError(`--network ${name}: ${name} not found: install the ${PACKAGE[name]} package`);
  const tun = tunProblem();
  if (tun) throw new BunkerError(`--network ${name}: ${tun}`);
  const wanted = spec.bunker.net?.ports ?? [];
  // The helper binds the host ports itself: find conflicts (and pick free ports) now, for a clear error.
  const ports: PortMapping[] = reservePorts(wanted, false).ports;
  const route = hostRoutes();
  if (name === "pasta" && !route.gateway) throw new BunkerError("--network pasta: the host has no default route for pasta to copy; use --network slirp4netns");
  const allow = spec.bunker.net?.allowHostLoopback === true;
  const hostAddress = helperHostAddress(name, allow, route);
  let helper: RunningHelper | undefined;
  const dir = containerDir(id);
  const records = helpersDir();
  const record: HelperRecord = { id, name, ...(name === "pasta" ? { pidFile: `${records}/${id}.pasta.pid` } : {}) };
  const state: NetworkState = {
    mode: name,
    ports,
    ...(name === "slirp4netns" ? { ip: "10.0.2.100", gateway: "10.0.2.2", subnet: "10.0.2.0/24" } : {}),
    // pasta copies the host's addresses and routes.
    ...(name === "pasta" ? { ip: route.ip!, gateway: route.gateway! } : {}),
    ...(allow ? { hostLoopback: name === "slirp4netns" ? "10.0.2.2" : route.gateway! } : {}),
    ...(hostAddress !== undefined ? { hostAddress } : {}),
  };
  return {
    state,
    ...(state.ip ? { hostsEntry: { ip: state.ip, extra: hostAddress !== undefined ? [`${hostAddress}\thost.bunker.internal`] : [] } } : {}),
    resolvConf: resolvConf(hostResolv(), name === "slirp4netns" ? ["10.0.2.3"] : PUBLIC_DNS),
    attach: async (pid) => {
      // Recorded before it starts: a bunker killed from here on leaves a record the next one finds the helper by.
      writeHelperRecord(records, record);
      helper =
        name === "slirp4netns"
          ? await startSlirp(binary, pid, ports, `${dir}/network.log`, `${dir}/slirp.sock`, allow)
          : await startPasta(binary, pid, ports, `${dir}/network.log`, record.pidFile!, allow);
      record.pid = helper.pid;
      if (helper.pidStart !== undefined) record.pidStart = helper.pidStart;
      writeHelperRecord(records, record);
      state.helper = { name, pid: helper.pid, ...(helper.pidStart !== undefined ? { pidStart: helper.pidStart } : {}) };
    },
    held: () => helper?.fds ?? [],
    release: () => {
      helper?.stop();
      helper = undefined;
      try {
        removeHelperRecord(records, record);
      } catch (e) {
        void log.warn((e as Error).message);
      }
    },
  };
}

/** Whether something besides the container holds its network namespace: a pin, or a container that joined it. */
function namespaceOutlives(id: string): boolean {
  if (readState(id)?.pinned?.length) return true;
  return listStates().some((s) => s.spec.bunker.net?.joined === `container:${id}` && (currentStatus(s) === "running" || supervisorAlive(s)));
}

/** Sets up what the container's network needs before clone. */
export function prepareNetwork(spec: ContainerSpec): PreparedNetwork {
  const id = spec.bunker.id;
  const mode = spec.bunker.network;
  if (mode === "bridge") return prepareBridge(spec, id);
  if (mode === "slirp4netns" || mode === "pasta") {
    reconcileHelpers();
    return prepareHelper(spec, id, mode);
  }
  return {
    state: { mode, ports: [], ...(spec.bunker.net?.joined ? { joined: spec.bunker.net.joined } : {}) },
    attach: async () => {},
    release: () => {},
    held: () => [],
  };
}

/**
 * Removes a lease with the NAT elements it may have: whether they were
 * added is not known for a lease a killed bunker left, so the removal
 * succeeds either way (undoPortsScript), and removes only this container's.
 * Call with the network's lock held.
 */
function undoLease(dir: string, l: Lease, lockFd: number): void {
  if (l.nat && l.ports.length) {
    const what = `unpublish ports of ${l.id}`;
    try {
      runNft(undoPortsScript(l.ports, l.ip), what, lockFd);
    } catch {
      // Some host port of the lease maps to another container now: remove only the elements that still map to this one.
      try {
        const script = deletePresentScript(l.ports, l.ip, listElements(), true);
        if (script) runNft(script, what, lockFd);
      } catch (e) {
        void log.warn((e as Error).message);
      }
    }
  }
  freeLease(dir, l.ip);
}

/** Whether a container no longer needs what it was given: gone, or stopped with nobody looking after it. */
function abandoned(id: string): boolean {
  const s = readState(id);
  // A damaged state may belong to a live container: its lease goes with `rm -f`, not before.
  if (!s) return !containerExists(id);
  const status = currentStatus(s);
  return status === "stopped" && !supervisorAlive(s);
}

/** Frees leases (and their NAT elements and veths) of containers that are gone. Call with the lock held. */
function reconcileLeases(dir: string, lockFd: number): void {
  // Under the lock every writer of these holds: a temporary file here is a killed writer's.
  clearTempFiles(dir);
  clearTempFiles(`${dir}/leases`);
  for (const l of listLeases(dir)) {
    if (!abandoned(l.id)) continue;
    undoLease(dir, l, lockFd);
    try {
      const nl = NetlinkSocket.open(0);
      try {
        detachVeth(nl, l.id);
      } finally {
        nl.close();
      }
    } catch {
      // the veth went with its namespace
    }
  }
}

/** Stops helpers that killed bunkers left running. */
function reconcileHelpers(states?: ContainerState[]): void {
  for (const s of states ?? listStates()) {
    const h = s.network?.helper;
    if (!h || currentStatus(s) === "running" || supervisorAlive(s)) continue;
    stopHelper(h.pid, h.pidStart);
  }
  const dir = helpersDir();
  for (const r of listHelperRecords(dir)) {
    if (!abandoned(r.id)) continue;
    let pid = r.pid;
    if (pid === undefined && r.pidFile) {
      try {
        pid = Number(readText(r.pidFile, 64).trim());
      } catch {
        // pasta never got as far as writing it
      }
    }
    if (pid !== undefined && Number.isInteger(pid) && pid > 0) stopHelper(pid, r.pidStart ?? helperStart(pid));
    removeHelperRecord(dir, r);
  }
}

/** Everything a killed bunker left: leases, NAT elements, veths, helpers. */
export function reconcileNetwork(states?: ContainerState[]): void {
  reconcileHelpers(states);
  if ((process.geteuid?.() ?? 0) !== 0) return;
  const dir = networkDir();
  if (listDir(dir).length === 0) return;
  withNetworkLock(dir, (lockFd) => reconcileLeases(dir, lockFd));
}

/** bunker network prune: the bridge and its NAT table, once no container uses them. */
export function pruneNetwork(): { removed: boolean; leases: number } {
  if ((process.geteuid?.() ?? 0) !== 0) throw new BunkerError("network prune: only root has a bridge to remove");
  const dir = networkDir();
  return withNetworkLock(dir, (lockFd) => {
    reconcileLeases(dir, lockFd);
    const left = listLeases(dir);
    if (left.length) return { removed: false, leases: left.length };
    const nl = NetlinkSocket.open(0);
    let removed;
    try {
      removed = removeBridge(nl);
    } finally {
      nl.close();
    }
    if (nftPath()) runNft(deleteTableScript(), "remove the NAT table", lockFd);
    for (const f of listDir(dir)) if (f !== "lock" && f !== "leases") removePath(`${dir}/${f}`);
    return { removed, leases: 0 };
  });
}

/** bunker network ls: the bridge as recorded, and its leases. */
export function networkOverview(): { bridge: BridgeConfig | null; leases: Lease[] } {
  if ((process.geteuid?.() ?? 0) !== 0) return { bridge: null, leases: [] };
  const dir = networkDir();
  let bridge: BridgeConfig | null = null;
  try {
    bridge = JSON.parse(readText(`${dir}/network.json`)) as BridgeConfig;
  } catch {
    // no bridge made yet, or its record unreadable: shown as none
    bridge = null;
  }
  return { bridge, leases: listLeases(dir) };
}
