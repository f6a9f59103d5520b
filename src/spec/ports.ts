// -p/--publish: [HOSTIP:][HOSTPORT:]CONTAINERPORT[/tcp|udp], ports or equal-length ranges.

import type { PortMapping } from "./types";
import { SpecError } from "./validate";

function port(s: string, what: string, allowZero = false): number {
  if (!/^\d{1,5}$/.test(s)) throw new SpecError(`${what}: "${s}" is not a port number`);
  const n = Number(s);
  if (n > 65535 || (n === 0 && !allowZero)) throw new SpecError(`${what}: port ${n} is out of range (1-65535)`);
  return n;
}

function range(s: string, what: string): [number, number] {
  const m = s.match(/^(\d+)(?:-(\d+))?$/);
  if (!m) throw new SpecError(`${what}: "${s}" is not a port or a range like 8000-8010`);
  const a = port(m[1]!, what);
  const b = m[2] !== undefined ? port(m[2], what) : a;
  if (b < a) throw new SpecError(`${what}: the range ${s} runs backwards`);
  return [a, b];
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parsePublish(value: string): PortMapping[] {
  const what = `invalid --publish "${value}"`;
  let rest = value;
  let proto: "tcp" | "udp" = "tcp";
  const slash = rest.lastIndexOf("/");
  if (slash >= 0) {
    const p = rest.slice(slash + 1);
    if (p !== "tcp" && p !== "udp") throw new SpecError(`${what}: the protocol must be tcp or udp`);
    proto = p;
    rest = rest.slice(0, slash);
  }
  const parts = rest.split(":");
  if (parts.length > 3 || parts.some((p, i) => p === "" && !(parts.length === 3 && i === 1))) {
    throw new SpecError(`${what}: use [HOSTIP:][HOSTPORT:]CONTAINERPORT[/tcp|udp]`);
  }
  let hostIp = "0.0.0.0";
  if (parts.length === 3) {
    hostIp = parts.shift()!;
    const m = hostIp.match(IPV4);
    if (!m || m.slice(1).some((o) => Number(o) > 255)) throw new SpecError(`${what}: "${hostIp}" is not an IPv4 address`);
  }
  const [cFirst, cLast] = range(parts[parts.length - 1]!, what);
  const hostPart = parts.length === 2 ? parts[0]! : "";
  let hFirst = 0;
  if (hostPart !== "") {
    const [a, b] = range(hostPart, what);
    if (b - a !== cLast - cFirst) throw new SpecError(`${what}: the host and container ranges differ in length`);
    hFirst = a;
  }
  const out: PortMapping[] = [];
  for (let i = 0; i <= cLast - cFirst; i++) {
    // Host port 0: any free port, chosen when the container starts.
    out.push({ hostIp, hostPort: hostPart === "" ? 0 : hFirst + i, containerPort: cFirst + i, protocol: proto });
  }
  return out;
}

/** Rejects the same host address, port and protocol given twice. */
export function checkPublished(ports: readonly PortMapping[]): void {
  const seen = new Set<string>();
  for (const p of ports) {
    if (p.hostPort === 0) continue;
    const wildcard = `0.0.0.0:${p.hostPort}/${p.protocol}`;
    const key = `${p.hostIp}:${p.hostPort}/${p.protocol}`;
    if (seen.has(key) || seen.has(wildcard) || (p.hostIp === "0.0.0.0" && [...seen].some((k) => k.endsWith(`:${p.hostPort}/${p.protocol}`)))) {
      throw new SpecError(`host port ${p.hostPort}/${p.protocol} is published twice`);
    }
    seen.add(key);
  }
}

export function formatPort(p: PortMapping): string {
  const host = p.hostIp === "0.0.0.0" ? "0.0.0.0" : p.hostIp;
  return `${host}:${p.hostPort}->${p.containerPort}/${p.protocol}`;
}
