// Networks made with `bunker network create`: one directory per network
// under the state directory's networks/ (networks/<name>/), holding its
// record (network.json), its lock and its leases, beside the default
// bridge's networks/bunker0. The record is written, marked pending, before
// the bridge is made, and again without the mark once all of it is there;
// marked removing before it is taken down. Whoever finds a mark while
// holding the networks' lock finishes the removal: the writer that set it
// held that lock and is gone. So a kill at any instant leaves no bridge
// without its record and no record of a network that is not whole.

import { listDir, lockFile, makeDir, readText, writeAtomic } from "../sys/fs";
import { Errno } from "../sys/errno";
import { BunkerError } from "../errors";
import { mayBeNetworkName, NETWORK_NAME, RESERVED_NETWORK_NAMES } from "../spec/validate";

export interface NetworkRecord {
  name: string;
  /** 64 hex digits, as docker's network ids. */
  id: string;
  driver: "bridge";
  /** The bridge's interface: bk-<first 12 of id>. */
  bridge: string;
  subnet: string;
  gateway: string;
  subnet6?: string;
  gateway6?: string;
  /** --internal: no route out, nothing published. */
  internal: boolean;
  /** Whether its NAT table was made (nft was there). */
  nat: boolean;
  created: string;
  labels?: Record<string, string>;
  pending?: boolean;
  removing?: boolean;
}


export class NetworkError extends BunkerError {
  override name = "NetworkError";
}

/** docker's rule for network names, and none of bunker's own. */
export function validateNetworkName(name: string): void {
  if (!NETWORK_NAME.test(name)) throw new NetworkError(`invalid network name "${name}": use letters, digits, "_", "." and "-", starting with a letter or digit, at most 64`);
  if (RESERVED_NETWORK_NAMES.includes(name)) throw new NetworkError(`network name "${name}" is reserved: choose another`);
}

export const networkPath = (root: string, name: string) => `${root}/${name}`;

export const bridgeName = (id: string) => `bk-${id.slice(0, 12)}`;
export const natTableName = (id: string) => `bk_${id.slice(0, 12)}`;

export function readRecord(root: string, name: string): NetworkRecord | null {
  let text: string;
  try {
    text = readText(`${networkPath(root, name)}/network.json`, 1 << 16);
  } catch (e) {
    if ((e as { errno?: number }).errno === Errno.ENOENT || (e as { errno?: number }).errno === Errno.ENOTDIR) return null;
    throw e;
  }
  try {
    const r = JSON.parse(text) as NetworkRecord;
    return r && r.name === name && typeof r.id === "string" ? r : null;
  } catch {
    // written atomically: a file that does not parse is not ours
    return null;
  }
}

export function writeRecord(root: string, r: NetworkRecord): void {
  makeDir(root);
  makeDir(networkPath(root, r.name));
  writeAtomic(`${networkPath(root, r.name)}/network.json`, JSON.stringify(r));
}

/** Every network's record, pending and removing ones too. */
export function listRecords(root: string): NetworkRecord[] {
  const out: NetworkRecord[] = [];
  for (const name of listDir(root).sort()) {
    if (!mayBeNetworkName(name)) continue;
    const r = readRecord(root, name);
    if (r) out.push(r);
  }
  return out;
}

/** Runs `fn` holding the lock of all networks: creation and removal, so that names and subnets stay unique. */
export function withNetworksLock<T>(root: string, fn: () => T): T {
  makeDir(root.slice(0, root.lastIndexOf("/")));
  makeDir(root);
  const lock = lockFile(`${root}/lock`)!;
  try {
    return fn();
  } finally {
    lock.release();
  }
}

/**
 * A network, or the reference as docker takes it: its name, its full id,
 * or a unique prefix of its id.
 */
export function findRecord(root: string, ref: string): NetworkRecord | null {
  if (mayBeNetworkName(ref)) {
    const r = readRecord(root, ref);
    if (r) return r;
  }
  if (!/^[0-9a-f]{1,64}$/.test(ref)) return null;
  const hits = listRecords(root).filter((r) => r.id.startsWith(ref));
  if (hits.length > 1) throw new NetworkError(`network id prefix "${ref}" names ${hits.length} networks: give more of it`);
  return hits[0] ?? null;
}
