// aardvark-dns's per-network file (the format netavark writes): the file's
// name is the network's; the first line the addresses it listens on,
// comma-separated; then one line per container: id, IPv4 addresses, IPv6
// addresses, names, separated by single spaces, lists by commas, an empty
// list as an empty field. aardvark-dns reads every file of its directory but
// its pid file, and one line it cannot parse makes it exit (on start or on
// a reload): so nothing goes into a file that was not checked here.

import { parseIp } from "./addr";
import { BunkerError } from "../errors";

export class AardvarkError extends BunkerError {
  override name = "AardvarkError";
}

export interface DnsEntry {
  /** The container's id, 64 or 12 hex digits. */
  id: string;
  ipv4: string[];
  ipv6: string[];
  /** Its name, aliases and short id: what other containers may ask for. */
  names: string[];
}

export interface NetworkFile {
  /** The addresses it listens on (the network's gateways). */
  gateways: string[];
  entries: DnsEntry[];
}

/** aardvark-dns writes its pid here; every other file in its directory is a network. */
export const PID_FILE = "aardvark.pid";

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export function checkNetworkName(name: string): void {
  if (!NAME.test(name) || name.length > 200 || name === PID_FILE) throw new AardvarkError(`"${name}" cannot name a network's DNS file`);
}

function checkIpv6(s: string): void {
  // The form only: the kernel took the address already, or the bind of it fails.
  if (!/^[0-9a-fA-F:.]{2,45}$/.test(s) || !s.includes(":")) throw new AardvarkError(`"${s}" is not an IPv6 address`);
}

export function checkAddress(s: string): void {
  if (s.includes(":")) checkIpv6(s);
  else parseIp(s);
}

/**
 * The entry as it is written: a lower-case id, names in lower case (as
 * aardvark-dns matches them), the short id among them (docker resolves a
 * container by it), no repeats.
 */
export function normalEntry(e: DnsEntry): DnsEntry {
  const id = e.id.toLowerCase();
  if (!/^[0-9a-f]{12}([0-9a-f]{52})?$/.test(id)) throw new AardvarkError(`"${e.id}" is not a container id`);
  for (const a of e.ipv4) parseIp(a);
  for (const a of e.ipv6) checkIpv6(a);
  if (e.ipv4.length + e.ipv6.length === 0) throw new AardvarkError(`container ${id.slice(0, 12)} has no address to resolve to`);
  for (const n of e.names) if (!NAME.test(n) || n.length > 253) throw new AardvarkError(`"${n}" cannot be a container's DNS name`);
  const names = [...new Set([...e.names.map((n) => n.toLowerCase()), id.slice(0, 12)])];
  return { id, ipv4: [...e.ipv4], ipv6: [...e.ipv6], names };
}

export function formatNetworkFile(f: NetworkFile): string {
  const lines = [f.gateways.join(",")];
  for (const e of f.entries) lines.push([e.id, e.ipv4.join(","), e.ipv6.join(","), e.names.join(",")].join(" "));
  return `${lines.join("\n")}\n`;
}

/** A file bunker wrote; null for one it could not have (its gateways line missing or mangled). */
export function parseNetworkFile(text: string): NetworkFile | null {
  const lines = text.split("\n").filter((l) => l !== "");
  const first = lines.shift();
  if (first === undefined) return null;
  const list = (s: string | undefined) => (s ? s.split(",") : []);
  const gateways = list(first.split(" ")[0]);
  try {
    for (const g of gateways) checkAddress(g);
  } catch {
    return null;
  }
  if (gateways.length === 0) return null;
  const entries: DnsEntry[] = [];
  for (const line of lines) {
    const [id, v4, v6, names] = line.split(" ");
    try {
      entries.push(normalEntry({ id: id ?? "", ipv4: list(v4), ipv6: list(v6), names: list(names) }));
    } catch {
      // a line bunker could not have written: dropped on the next write
    }
  }
  return { gateways, entries };
}
