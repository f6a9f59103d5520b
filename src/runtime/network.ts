// A container's network from start to end: what is set up before clone
// (bridge, lease, host ports), what is plumbed while the child waits (veth,
// helper), and what is undone when it ends, or later when a killed bunker
// could not (stale leases, NAT elements, helpers).

import { log } from "../log";
import { BRIDGE, attachDefaultVeth, detachVeth, ensureBridge, removeBridge, type BridgeConfig, type EnsuredBridge } from "../net/bridge";
import { PACKAGE, helperPath, helperStart, startPasta, startSlirp, stopHelper, tunProblem, type HelperName, type RunningHelper } from "../net/helpers";
import { listHelperRecords, removeHelperRecord, writeHelperRecord, type HelperRecord } from "../net/records";
import { allocate, listLeases, withNetworkLock, type Lease } from "../net/ipam";
import { defaultTable, deleteTableScript, nftPath, runNft, TABLE } from "../net/nat";
import { reservePorts, type Reservation } from "../net/ports";
import { formatIp, parseSubnet } from "../net/addr";
import { routes, addresses } from "../net/rtnl";
import type { ContainerSpec, PortMapping } from "../spec/types";
import { NetlinkSocket } from "../sys/netlink";
import { listDir, readText, removePath } from "../sys/fs";
import { BunkerError } from "../errors";
import { Errno, SysError } from "../sys/errno";
import { stateDir } from "./state";
import { hostResolv, PUBLIC_DNS, resolvConf, resolvConfOf } from "./host-network";
import { containerDir, currentStatus, listStates, supervisorAlive, type ContainerState, type NetworkState } from "./store";
import { abandoned, guardBridge, namespaceOutlives, publish, reconcileLeases, undoLease } from "./network-leases";
import { prepareNamed, readAttachments } from "./network-named";
import { prepareRootless, reconcileRootless } from "./network-rootless";
import { finishInterrupted, networksRoot, unrecorded } from "./networks";
import { listRecords, natTableName, withNetworksLock } from "../net/networks";
import { namesAvailable, reconcileDns, withdraw } from "./network-dns";


export interface PreparedNetwork {
  state: NetworkState;
  /** The container's own line for /etc/hosts, and its resolv.conf. */
  hostsEntry?: { ip: string; extra: string[] };
  resolvConf?: string;
  /** While the child waits: devices and helpers. */
  attach(pid: number): Promise<void>;
  /** Undoes everything; safe to call more than once. */
  release(): void | Promise<void>;
  /** Descriptors that must stay open while the container runs (published ports' sockets, a helper's exit pipe). */
  held(): readonly number[];
}

export const networkDir = () => `${stateDir()}/networks/${BRIDGE}`;

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
      withNetworkLock(dir, (lockFd) => undoLease(dir, l, TABLE, lockFd));
    }
    reservation?.release();
    reservation = undefined;
    nl.close();
  };
  try {
    reservation = reservePorts(wanted, true);
    withNetworkLock(dir, (lockFd) => {
      reconcileLeases(dir, TABLE, lockFd);
      bridge = ensureBridge(nl, dir, spec.bunker.net?.subnet, lockFd);
      if (reservation!.ports.length && !bridge.config.nat) throw new BunkerError("-p needs NAT rules, and nft is not installed: install the nftables package");
      guardBridge(dir, bridge.config.nat ? defaultTable(parseSubnet(bridge.config.subnet)) : undefined, BRIDGE, lockFd);
      // Recorded with its ports before nft runs: a bunker killed from here on leaves a lease that says what to undo.
      lease = allocate(dir, parseSubnet(bridge.config.subnet), id, reservation!.ports);
      if (lease.ports.length) publish(lease, TABLE, lockFd);
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
      attachDefaultVeth(nl, b, id, pid, l.ip);
    },
    release,
    held: () => reservation?.fds() ?? [],
  };
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

/** --network NAME...: the container's name for the networks' DNS, /etc/hosts and resolv.conf naming the first network's gateway. */
async function prepareNamedNetwork(spec: ContainerSpec, id: string, name: string | undefined): Promise<PreparedNetwork> {
  const list = readAttachments(id, spec.bunker.net?.networks ?? []);
  if (!list.length) throw new BunkerError("--network: no network named");
  const names = namesAvailable(list[0]!.name);
  const wanted = spec.bunker.net?.ports ?? [];
  const p = (process.geteuid?.() ?? 0) === 0 ? prepareNamed(id, name, list, wanted, names) : { ...(await prepareRootless(id, name, list, wanted, names)), held: () => [] };
  const first = p.networks[0]!;
  // The networks' resolver answers for the containers and forwards the rest; the host's search and options stay.
  const resolv = names ? resolvConfOf(hostResolv(), [first.gateway]) : resolvConf(hostResolv(), PUBLIC_DNS);
  return {
    state: { mode: "named", ip: first.ip, gateway: first.gateway, subnet: first.subnet, bridge: first.veth, ports: p.ports, networks: p.networks },
    hostsEntry: { ip: first.ip, extra: [`${first.gateway}\thost.bunker.internal`] },
    resolvConf: resolv,
    attach: p.attach,
    release: p.release,
    held: p.held,
  };
}

/** Sets up what the container's network needs before clone. */
export async function prepareNetwork(spec: ContainerSpec, name?: string): Promise<PreparedNetwork> {
  const id = spec.bunker.id;
  const mode = spec.bunker.network;
  if (mode === "bridge") return prepareBridge(spec, id);
  if (mode === "named") return prepareNamedNetwork(spec, id, name);
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
export async function reconcileNetwork(states?: ContainerState[]): Promise<void> {
  reconcileHelpers(states);
  if ((process.geteuid?.() ?? 0) !== 0) return reconcileRootless();
  const dir = networkDir();
  if (listDir(dir).length !== 0) withNetworkLock(dir, (lockFd) => reconcileLeases(dir, TABLE, lockFd));
  const root = networksRoot();
  const records = listRecords(root);
  // A mark is finished under the networks' lock, which its writer held until it died.
  if (records.some((r) => r.pending || r.removing) || unrecorded(root).length) withNetworksLock(root, () => finishInterrupted(root));
  for (const r of records) {
    const at = `${root}/${r.name}`;
    if (r.pending || r.removing || !listDir(`${at}/leases`).length) continue;
    try {
      withNetworkLock(at, (lockFd) => reconcileLeases(at, natTableName(r.id), lockFd, (l) => withdraw(r, l.id)), false);
    } catch (e) {
      // removed since it was listed
      if (!(e instanceof SysError && e.errno === Errno.ENOENT)) throw e;
    }
  }
  reconcileDns((id) => !abandoned(id));
}

/** bunker network prune: the bridge and its NAT table, once no container uses them. */
export function pruneNetwork(): { removed: boolean; leases: number } {
  if ((process.geteuid?.() ?? 0) !== 0) throw new BunkerError("network prune: only root has a bridge to remove");
  const dir = networkDir();
  return withNetworkLock(dir, (lockFd) => {
    reconcileLeases(dir, TABLE, lockFd);
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
