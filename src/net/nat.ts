// Source NAT for the bridge, DNAT for published ports, and the guard that
// keeps containers off the host's loopback, with nftables.
//
// The rules are written in nft's language and handed to the `nft` program:
// nftables' netlink encoding (expressions, set element concatenations,
// batches) is a large surface, and nft is its reference encoder. nft runs
// when the bridge is created, when a container with published ports starts
// or ends, and when the table is found damaged (see guard.ts); a container
// without ports costs nothing here.
//
// One table per network: `ip bunker` for the default bridge, `ip bk_<id>`
// for a network made with `bunker network create`. Published ports are elements of maps, so adding
// or removing a container's ports never touches a rule (no rule handles to
// track): the key is the host port (and the host address, for -p ADDR:...),
// the value the container's address and port.
//
// Traffic from the host itself to 127.0.0.1:PORT is DNATed in the output
// chain; route_localnet on the bridge lets a packet with a loopback source
// leave through it, and it is masqueraded to the bridge address so the
// container's reply comes back. No userspace proxy process is needed.
//
// route_localnet also lets the bridge accept packets a container addresses
// to 127.0.0.0/8, which would reach services the host binds to loopback
// only (CVE-2020-8558). The `localnet` chain drops them. It runs at the raw
// priority, before conntrack and NAT: there a loopback destination or
// source can only be what the sender wrote, since the replies that NAT
// turns back into 127.0.0.1 still carry the bridge's address at that point.

import { findExecutable } from "../sys/fs";
import type { PortMapping } from "../spec/types";
import { expandPorts } from "../spec/ports";
import { formatSubnet, type Subnet } from "./addr";
import { BunkerError } from "../errors";

export const TABLE = "bunker";
/** The chain that drops loopback-addressed packets from the bridge. */
export const GUARD_CHAIN = "localnet";
/** How many rules GUARD_CHAIN holds when intact. */
export const GUARD_RULES = 2;

export class NatError extends BunkerError {
  override name = "NatError";
}

const SBIN = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin"];

export function nftPath(): string | undefined {
  return findExecutable("nft", SBIN);
}

const PROTOCOLS = ["tcp", "udp"] as const;

function maps(): [string, string][] {
  return PROTOCOLS.flatMap((p): [string, string][] => [
    [`${p}_ports`, "type inet_service : ipv4_addr . inet_service ;"],
    [`${p}_addr_ports`, "type ipv4_addr . inet_service : ipv4_addr . inet_service ;"],
  ]);
}

/** A network's table: its name, the bridge it serves, the bridge's subnet, and whether it reaches beyond the host. */
export interface NatTable {
  table: string;
  bridge: string;
  subnet: Subnet;
  /** --internal: nothing forwarded in or out, nothing masqueraded, no ports published. */
  internal?: boolean;
  /** A network made by `network create`: kept apart from every other network's bridge, as docker's are. */
  isolated?: boolean;
}

export const defaultTable = (subnet: Subnet): NatTable => ({ table: TABLE, bridge: "bunker0", subnet });

/**
 * The forward chain of a network made by `network create`: nothing between
 * its bridge and another bunker bridge (veths are bk<id>, bridges bunker0
 * and bk-<id>); with --internal, nothing between it and anything else.
 */
function forwardRules(t: NatTable): string[] {
  const b = t.bridge;
  if (t.internal) return [`iifname "${b}" oifname != "${b}" drop`, `oifname "${b}" iifname != "${b}" drop`];
  return [`iifname "${b}" oifname "bunker0" drop`, `iifname "${b}" oifname != "${b}" oifname "bk-*" drop`, `oifname "${b}" iifname "bunker0" drop`, `oifname "${b}" iifname != "${b}" iifname "bk-*" drop`];
}

/** Each chain: its declaration and its rules. */
function chains(t: NatTable): [string, string, string[]][] {
  const { bridge, subnet } = t;
  const net = formatSubnet(subnet);
  const forward: [string, string, string[]][] = t.isolated || t.internal ? [["forward", "type filter hook forward priority filter; policy accept;", forwardRules(t)]] : [];
  return [
    [
      GUARD_CHAIN,
      "type filter hook prerouting priority raw; policy accept;",
      [`iifname "${bridge}" ip daddr 127.0.0.0/8 drop`, `iifname "${bridge}" ip saddr 127.0.0.0/8 drop`],
    ],
    ["prerouting", "type nat hook prerouting priority dstnat; policy accept;", ["fib daddr type local jump published"]],
    ["output", "type nat hook output priority -100; policy accept;", ["fib daddr type local jump published"]],
    [
      "published",
      "",
      [
        "dnat ip to ip daddr . tcp dport map @tcp_addr_ports",
        "dnat ip to tcp dport map @tcp_ports",
        "dnat ip to ip daddr . udp dport map @udp_addr_ports",
        "dnat ip to udp dport map @udp_ports",
      ],
    ],
    [
      "postrouting",
      "type nat hook postrouting priority srcnat; policy accept;",
      [...(t.internal ? [] : [`ip saddr ${net} oifname != "${bridge}" masquerade`]), `oifname "${bridge}" ip saddr 127.0.0.0/8 masquerade`, `oifname "${bridge}" ct status dnat ip saddr ${net} masquerade`],
    ],
    ...forward,
  ];
}

/** The whole table, replacing any old one (the add-then-delete makes a missing table fine). */
export function tableScript(t: NatTable): string {
  return [
    `add table ip ${t.table}`,
    `delete table ip ${t.table}`,
    `table ip ${t.table} {`,
    ...maps().map(([name, type]) => `  map ${name} { ${type} }`),
    ...chains(t).map(([name, decl, rules]) => `  chain ${name} {${decl ? ` ${decl}` : ""}\n${rules.map((r) => `    ${r}\n`).join("")}  }`),
    "}",
    "",
  ].join("\n");
}

/**
 * The table made whole again without losing the maps' elements: what is
 * missing is added, and every chain's rules are written afresh. For a table
 * an older bunker made, or one a firewall reload flushed.
 */
export function repairScript(t: NatTable): string {
  const all = chains(t);
  const T = t.table;
  return [
    `add table ip ${T}`,
    ...maps().map(([name, type]) => `add map ip ${T} ${name} { ${type} }`),
    // Every chain exists before any rule names one (published is jumped to).
    ...all.map(([name, decl]) => `add chain ip ${T} ${name}${decl ? ` { ${decl} }` : ""}`),
    ...all.flatMap(([name, , rules]) => [`flush chain ip ${T} ${name}`, ...rules.map((r) => `add rule ip ${T} ${name} ${r}`)]),
    "",
  ].join("\n");
}

interface Element {
  map: string;
  key: string;
  value: string;
}

function element(p: PortMapping, containerIp: string): Element {
  const any = p.hostIp === "0.0.0.0";
  return {
    map: `${p.protocol}_${any ? "" : "addr_"}ports`,
    key: any ? `${p.hostPort}` : `${p.hostIp} . ${p.hostPort}`,
    value: `${containerIp} . ${p.containerPort}`,
  };
}

function byMap(ports: readonly PortMapping[], containerIp: string): Map<string, Element[]> {
  const out = new Map<string, Element[]>();
  for (const p of expandPorts(ports)) {
    const e = element(p, containerIp);
    const list = out.get(e.map) ?? [];
    list.push(e);
    out.set(e.map, list);
  }
  return out;
}

/** One statement per map, however many ports: nft parses a long list far faster than as many statements. */
export function addPortsScript(ports: readonly PortMapping[], containerIp: string, table = TABLE): string {
  return [...byMap(ports, containerIp)].map(([map, es]) => `add element ip ${table} ${map} { ${es.map((e) => `${e.key} : ${e.value}`).join(", ")} }\n`).join("");
}

export function deletePortsScript(ports: readonly PortMapping[], containerIp: string, table = TABLE): string {
  return [...byMap(ports, containerIp)].map(([map, es]) => `delete element ip ${table} ${map} { ${es.map((e) => e.key).join(", ")} }\n`).join("");
}

/**
 * Removes the container's elements whether or not they were ever added:
 * adding an element that is there with the same value changes nothing, and
 * the delete then removes it, or the one the add just made. An element with
 * the same key and another container's value makes the add fail, so what is
 * not this container's is never removed.
 */
export function undoPortsScript(ports: readonly PortMapping[], containerIp: string, table = TABLE): string {
  return addPortsScript(ports, containerIp, table) + deletePortsScript(ports, containerIp, table);
}

export const deleteTableScript = (table = TABLE) => `add table ip ${table}\ndelete table ip ${table}\n`;

/**
 * Runs an nft script as one transaction: all of it applies, or none.
 * `holdFd` (the network's lock) is passed on to nft, so that a bunker killed
 * while nft runs leaves the lock held until nft has finished: whoever takes
 * it next sees the transaction's outcome, never a commit still to come.
 */
export function runNft(script: string, what: string, holdFd?: number): void {
  const nft = nftPath();
  if (!nft) throw new NatError(`${what}: nft not found: install the nftables package`);
  const stdio: ("ignore" | "pipe" | Uint8Array | number)[] = [new TextEncoder().encode(script), "ignore", "pipe"];
  if (holdFd !== undefined) stdio.push(holdFd);
  const r = Bun.spawnSync([nft, "-f", "-"], { stdio: stdio as never, env: {} });
  if (r.exitCode !== 0) {
    const msg = new TextDecoder().decode(r.stderr).split("\n").find((l) => /Error:/.test(l)) ?? `nft exited with status ${r.exitCode}`;
    throw new NatError(`${what}: ${msg.replace(/^.*?Error:\s*/, "")}`);
  }
}

/** The elements of the table's port maps: map name to key to value, in nft's notation as the scripts write it. */
export function listElements(table = TABLE, family: "ip" | "ip6" = "ip"): Map<string, Map<string, string>> {
  const nft = nftPath();
  if (!nft) throw new NatError("list the NAT table: nft not found: install the nftables package");
  const r = Bun.spawnSync([nft, "-j", "list", "table", family, table], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: {} });
  const out = new Map<string, Map<string, string>>();
  if (r.exitCode !== 0) return out;
  const text = (v: unknown): string => {
    const c = (v as { concat?: unknown[] } | null)?.concat;
    return Array.isArray(c) ? c.map(String).join(" . ") : String(v);
  };
  let parsed: { nftables?: { map?: { name: string; elem?: [unknown, unknown][] } }[] };
  try {
    parsed = JSON.parse(new TextDecoder().decode(r.stdout));
  } catch {
    // no table to list (nft printed nothing): no elements
    return out;
  }
  for (const o of parsed.nftables ?? []) {
    if (!o.map) continue;
    out.set(o.map.name, new Map((o.map.elem ?? []).map(([k, v]) => [text(k), text(v)])));
  }
  return out;
}

/** Deletes, of the container's keys, those present in `present` (and, with `onlyOwn`, only where the value is the container's). */
export function deletePresentScript(ports: readonly PortMapping[], containerIp: string, present: Map<string, Map<string, string>>, onlyOwn: boolean, table = TABLE): string {
  const keep = expandPorts(ports).filter((p) => {
    const e = element(p, containerIp);
    const value = present.get(e.map)?.get(e.key);
    return value !== undefined && (!onlyOwn || value === e.value);
  });
  return deletePortsScript(keep, containerIp, table);
}
