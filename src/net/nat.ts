// Source NAT for the bridge and DNAT for published ports, with nftables.
//
// The rules are written in nft's language and handed to the `nft` program:
// nftables' netlink encoding (expressions, set element concatenations,
// batches) is a large surface, and nft is its reference encoder. nft runs
// when the bridge is created and when a container with published ports
// starts or ends; a container without ports costs nothing here.
//
// One table, `ip bunker`. Published ports are elements of maps, so adding
// or removing a container's ports never touches a rule (no rule handles to
// track): the key is the host port (and the host address, for -p ADDR:...),
// the value the container's address and port.
//
// Traffic from the host itself to 127.0.0.1:PORT is DNATed in the output
// chain; route_localnet on the bridge lets a packet with a loopback source
// leave through it, and it is masqueraded to the bridge address so the
// container's reply comes back. No userspace proxy process is needed.

import { findExecutable } from "../sys/fs";
import type { PortMapping } from "../spec/types";
import { formatSubnet, type Subnet } from "./addr";

export const TABLE = "bunker";

export class NatError extends Error {
  override name = "NatError";
}

const SBIN = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin"];

export function nftPath(): string | undefined {
  return findExecutable("nft", SBIN);
}

/** The whole table, replacing any old one (the add-then-delete makes a missing table fine). */
export function tableScript(bridge: string, subnet: Subnet): string {
  const net = formatSubnet(subnet);
  const maps = ["tcp", "udp"].flatMap((p) => [
    `  map ${p}_ports { type inet_service : ipv4_addr . inet_service ; }`,
    `  map ${p}_addr_ports { type ipv4_addr . inet_service : ipv4_addr . inet_service ; }`,
  ]);
  return [
    `add table ip ${TABLE}`,
    `delete table ip ${TABLE}`,
    `table ip ${TABLE} {`,
    ...maps,
    "  chain prerouting { type nat hook prerouting priority dstnat; policy accept; fib daddr type local jump published; }",
    "  chain output { type nat hook output priority -100; policy accept; fib daddr type local jump published; }",
    "  chain published {",
    "    dnat ip to ip daddr . tcp dport map @tcp_addr_ports",
    "    dnat ip to tcp dport map @tcp_ports",
    "    dnat ip to ip daddr . udp dport map @udp_addr_ports",
    "    dnat ip to udp dport map @udp_ports",
    "  }",
    "  chain postrouting {",
    "    type nat hook postrouting priority srcnat; policy accept;",
    `    ip saddr ${net} oifname != "${bridge}" masquerade`,
    `    oifname "${bridge}" ip saddr 127.0.0.0/8 masquerade`,
    `    oifname "${bridge}" ct status dnat ip saddr ${net} masquerade`,
    "  }",
    "}",
    "",
  ].join("\n");
}

function element(p: PortMapping, containerIp: string): { map: string; key: string; value: string } {
  const any = p.hostIp === "0.0.0.0";
  return {
    map: `${p.protocol}_${any ? "" : "addr_"}ports`,
    key: any ? `${p.hostPort}` : `${p.hostIp} . ${p.hostPort}`,
    value: `${containerIp} . ${p.containerPort}`,
  };
}

export function addPortsScript(ports: readonly PortMapping[], containerIp: string): string {
  return ports.map((p) => {
    const e = element(p, containerIp);
    return `add element ip ${TABLE} ${e.map} { ${e.key} : ${e.value} }\n`;
  }).join("");
}

export function deletePortsScript(ports: readonly PortMapping[], containerIp: string): string {
  return ports.map((p) => {
    const e = element(p, containerIp);
    return `delete element ip ${TABLE} ${e.map} { ${e.key} }\n`;
  }).join("");
}

export const deleteTableScript = () => `add table ip ${TABLE}\ndelete table ip ${TABLE}\n`;

/** Runs an nft script as one transaction: all of it applies, or none. */
export function runNft(script: string, what: string): void {
  const nft = nftPath();
  if (!nft) throw new NatError(`${what}: nft not found: install the nftables package`);
  const r = Bun.spawnSync([nft, "-f", "-"], { stdin: new TextEncoder().encode(script), stdout: "ignore", stderr: "pipe", env: {} });
  if (r.exitCode !== 0) {
    const msg = new TextDecoder().decode(r.stderr).split("\n").find((l) => /Error:/.test(l)) ?? `nft exited with status ${r.exitCode}`;
    throw new NatError(`${what}: ${msg.replace(/^.*?Error:\s*/, "")}`);
  }
}
