// Names on networks made by `network create`: each container's name,
// aliases and short id, answered by aardvark-dns on the network's gateway
// (net/aardvark.ts), one process for all of a user's networks.

import { log } from "../log";
import { aardvarkPath, dnsAttach, dnsDetach, dnsReconcile } from "../net/aardvark";
import type { Lease } from "../net/ipam";
import type { NetworkRecord } from "../net/networks";
import { stateDir } from "./state";

export const dnsDir = () => `${stateDir()}/dns`;

/** Whether names can be answered here; when not, warns once with what to install. */
export function namesAvailable(network: string): boolean {
  if (aardvarkPath(process.env.PATH ?? "") !== undefined) return true;
  void log.warn(`aardvark-dns not found: containers on network ${network} reach each other by address only; install the aardvark-dns package for names`);
  return false;
}

/** The container's names on the network, once its address is there: throws when they cannot be answered. */
export function announce(r: NetworkRecord, l: Lease): void {
  const names = [...(l.name !== undefined ? [l.name] : []), ...(l.aliases ?? [])];
  dnsAttach(dnsDir(), { name: r.name, gateways: [r.gateway, ...(r.gateway6 ? [r.gateway6] : [])] }, { id: l.id, ipv4: [l.ip], ipv6: l.ip6 ? [l.ip6] : [], names });
}

/** Its names gone from the network; a failure is only worth a warning (the entry goes with the next reconcile). */
export function withdraw(r: NetworkRecord, id: string): void {
  try {
    dnsDetach(dnsDir(), r.name, id);
  } catch (e) {
    void log.warn(`remove the DNS names of ${id} on network ${r.name}: ${(e as Error).message}`);
  }
}

/** Entries of containers that are gone, after a killed bunker. */
export function reconcileDns(alive: (id: string) => boolean): void {
  try {
    dnsReconcile(dnsDir(), alive);
  } catch (e) {
    void log.warn(`bring aardvark-dns up to date: ${(e as Error).message}`);
  }
}
