// IPv6 for a network: one `ip6` table per network with masquerade of its
// subnet leaving the host, DNAT of published ports to the container's IPv6
// address, and the forwarding isolation between networks. The IPv4 tables
// (nat.ts) are the model: the scripts are nft's language, applied with
// nat.ts's runNft as one transaction, and published ports are map elements.
//
// No route_localnet for IPv6: a packet with source or destination ::1
// arriving on any link but lo is dropped, so [::1]:PORT cannot be DNATed to
// a container. docker serves it with its userland proxy (a process per
// published port, listening on [::]:PORT); without the proxy ::1 does not
// reach the container there either. bunker has no proxy process, so the
// output chain leaves ::1 alone: a connection to [::1]:PORT reaches what the
// host itself listens on, or is refused, rather than being rewritten into a
// packet the kernel then drops. No guard chain is needed for the same reason:
// a container cannot send a packet to the host's ::1 through the bridge.
//
// Isolation: every network's table drops what its bridge forwards to
// another network's bridge and what another network's bridge forwards to
// it, both ways, so that a network whose own table has no IPv6 (an
// IPv4-only one) cannot route to an IPv6 one through the host either.
// Connections to a published port (DNATed by some network's table) pass:
// docker too lets any interface, another network's bridge among them,
// reach a published port. An --internal network forwards nothing that
// enters or leaves its bridge.

import type { PortMapping } from "../spec/types";
import { expandPorts } from "../spec/ports";
import { formatIp6, formatSubnet6, parseIp6, type Subnet6 } from "./addr6";

/** Names of every network's bridge: the default one and the user-defined ones (bk-<id>). */
export const BRIDGE_PATTERNS = ["bunker0", "bk-*"] as const;

export interface Nat6Network {
  /** The table's name in the ip6 family (an ip table of the same name is another table). */
  table: string;
  bridge: string;
  subnet6: Subnet6;
  internal: boolean;
}

const PROTOCOLS = ["tcp", "udp"] as const;

function maps(): [string, string][] {
  return PROTOCOLS.flatMap((p): [string, string][] => [
    [`${p}_ports`, "type inet_service : ipv6_addr . inet_service ;"],
    [`${p}_addr_ports`, "type ipv6_addr . inet_service : ipv6_addr . inet_service ;"],
  ]);
}

const others = `{ ${BRIDGE_PATTERNS.map((p) => `"${p}"`).join(", ")} }`;

/** Each chain: its declaration and its rules. */
function chains(n: Nat6Network): [string, string, string[]][] {
  const b = `"${n.bridge}"`;
  const forward: [string, string, string[]] = [
    "forward",
    "type filter hook forward priority filter; policy accept;",
    n.internal
      ? [`iifname ${b} oifname != ${b} drop`, `oifname ${b} iifname != ${b} drop`]
      : // Published ports stay open to other networks, as to the rest of the world.
        ["ct status dnat accept", `iifname ${b} oifname != ${b} oifname ${others} drop`, `oifname ${b} iifname != ${b} iifname ${others} drop`],
  ];
  if (n.internal) return [forward];
  const net = formatSubnet6(n.subnet6);
  return [
    forward,
    ["prerouting", "type nat hook prerouting priority dstnat; policy accept;", ["fib daddr type local jump published"]],
    ["output", "type nat hook output priority -100; policy accept;", ["ip6 daddr != ::1 fib daddr type local jump published"]],
    [
      "published",
      "",
      [
        "dnat ip6 to ip6 daddr . tcp dport map @tcp_addr_ports",
        "dnat ip6 to tcp dport map @tcp_ports",
        "dnat ip6 to ip6 daddr . udp dport map @udp_addr_ports",
        "dnat ip6 to udp dport map @udp_ports",
      ],
    ],
    [
      "postrouting",
      "type nat hook postrouting priority srcnat; policy accept;",
      // The second: a container reaching a published port of another on the
      // same bridge through the gateway gets the answer from the gateway, as
      // it asked, and not straight from the other container.
      [`ip6 saddr ${net} oifname != ${b} masquerade`, `oifname ${b} ct status dnat ip6 saddr ${net} masquerade`],
    ],
  ];
}

/** The whole table, replacing any old one (the add-then-delete makes a missing table fine). */
export function tableScript6(n: Nat6Network): string {
  return [
    `add table ip6 ${n.table}`,
    `delete table ip6 ${n.table}`,
    `table ip6 ${n.table} {`,
    ...maps().map(([name, type]) => `  map ${name} { ${type} }`),
    ...chains(n).map(([name, decl, rules]) => `  chain ${name} {${decl ? ` ${decl}` : ""}\n${rules.map((r) => `    ${r}\n`).join("")}  }`),
    "}",
    "",
  ].join("\n");
}

/** The table made whole again without losing the maps' elements (after a firewall reload flushed it). */
export function repairScript6(n: Nat6Network): string {
  const all = chains(n);
  return [
    `add table ip6 ${n.table}`,
    ...maps().map(([name, type]) => `add map ip6 ${n.table} ${name} { ${type} }`),
    ...all.map(([name, decl]) => `add chain ip6 ${n.table} ${name}${decl ? ` { ${decl} }` : ""}`),
    ...all.flatMap(([name, , rules]) => [`flush chain ip6 ${n.table} ${name}`, ...rules.map((r) => `add rule ip6 ${n.table} ${name} ${r}`)]),
    "",
  ].join("\n");
}

export const deleteTableScript6 = (table: string) => `add table ip6 ${table}\ndelete table ip6 ${table}\n`;

interface Element {
  map: string;
  key: string;
  value: string;
}

/**
 * A port published on every address (docker's default, 0.0.0.0 in the
 * mapping) is published on IPv6 too; one bound to an IPv4 address is not.
 */
function element(p: PortMapping, containerIp6: string): Element | undefined {
  const value = `${formatIp6(parseIp6(containerIp6))} . ${p.containerPort}`;
  if (p.hostIp === "0.0.0.0" || p.hostIp === "::") return { map: `${p.protocol}_ports`, key: `${p.hostPort}`, value };
  if (!p.hostIp.includes(":")) return undefined;
  return { map: `${p.protocol}_addr_ports`, key: `${formatIp6(parseIp6(p.hostIp))} . ${p.hostPort}`, value };
}

function byMap(ports: readonly PortMapping[], containerIp6: string): Map<string, Element[]> {
  const out = new Map<string, Element[]>();
  for (const p of expandPorts(ports)) {
    const e = element(p, containerIp6);
    if (!e) continue;
    const list = out.get(e.map) ?? [];
    list.push(e);
    out.set(e.map, list);
  }
  return out;
}

export function addPortsScript6(table: string, ports: readonly PortMapping[], containerIp6: string): string {
  return [...byMap(ports, containerIp6)].map(([map, es]) => `add element ip6 ${table} ${map} { ${es.map((e) => `${e.key} : ${e.value}`).join(", ")} }\n`).join("");
}

export function deletePortsScript6(table: string, ports: readonly PortMapping[], containerIp6: string): string {
  return [...byMap(ports, containerIp6)].map(([map, es]) => `delete element ip6 ${table} ${map} { ${es.map((e) => e.key).join(", ")} }\n`).join("");
}

/**
 * Removes the container's elements whether or not they were ever added
 * (the same add-then-delete as nat.ts's undoPortsScript): an element with
 * the same key and another container's value makes the add fail, so what
 * is not this container's is never removed.
 */
export function undoPortsScript6(table: string, ports: readonly PortMapping[], containerIp6: string): string {
  return addPortsScript6(table, ports, containerIp6) + deletePortsScript6(table, ports, containerIp6);
}

/**
 * Deletes, of the container's keys, those present in `present` (map name to
 * key to value, as nft -j lists a table's maps: addresses in RFC 5952 form,
 * as formatIp6 writes them) and, with `onlyOwn`, only where the value is
 * still the container's: for elements a killed bunker left, as nat.ts's
 * deletePresentScript does for IPv4.
 */
export function deletePresentScript6(table: string, ports: readonly PortMapping[], containerIp6: string, present: Map<string, Map<string, string>>, onlyOwn: boolean): string {
  const keep = expandPorts(ports).filter((p) => {
    const e = element(p, containerIp6);
    const value = e && present.get(e.map)?.get(e.key);
    return value !== undefined && (!onlyOwn || value === e!.value);
  });
  return deletePortsScript6(table, keep, containerIp6);
}
