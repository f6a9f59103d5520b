// -p/--publish: [HOSTIP:][HOSTPORT:]CONTAINERPORT[/tcp|udp], ports or equal-length ranges.
// A range stays one mapping (`range` ports long), however long: `-p
// 1-65535:1-65535` is one entry in the state, not 65535.

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

/** How many ports a mapping covers. */
export const countOf = (p: PortMapping) => p.range ?? 1;

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
  const n = cLast - cFirst + 1;
  // Host port 0: any free port for each container port, chosen when the container starts.
  return [{ hostIp, hostPort: hFirst, containerPort: cFirst, protocol: proto, ...(n > 1 ? { range: n } : {}) }];
}

/** Rejects the same host address, port and protocol given twice (0.0.0.0 overlaps every address). */
export function checkPublished(ports: readonly PortMapping[]): void {
  // One entry per -p: a handful, whatever the ranges' lengths.
  const fixed = ports.filter((p) => p.hostPort !== 0);
  for (let i = 0; i < fixed.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = fixed[i]!;
      const b = fixed[j]!;
      if (a.protocol !== b.protocol || (a.hostIp !== b.hostIp && a.hostIp !== "0.0.0.0" && b.hostIp !== "0.0.0.0")) continue;
      const first = Math.max(a.hostPort, b.hostPort);
      if (first <= Math.min(a.hostPort + countOf(a), b.hostPort + countOf(b)) - 1) throw new SpecError(`host port ${first}/${a.protocol} is published twice`);
    }
  }
}

/** One mapping per port. */
export function expandPorts(ports: readonly PortMapping[]): PortMapping[] {
  const out: PortMapping[] = [];
  for (const p of ports) {
    const { range: n = 1, ...one } = p;
    for (let i = 0; i < n; i++) out.push({ ...one, hostPort: p.hostPort === 0 ? 0 : p.hostPort + i, containerPort: p.containerPort + i });
  }
  return out;
}

const span = (first: number, n: number) => (n > 1 ? `${first}-${first + n - 1}` : `${first}`);

export function formatPort(p: PortMapping): string {
  return `${p.hostIp}:${span(p.hostPort, countOf(p))}->${span(p.containerPort, countOf(p))}/${p.protocol}`;
}

/**
 * --expose PORT[/PROTO] or FIRST-LAST[/PROTO]: the ports as an image's
 * ExposedPorts names them ("80/tcp"), one key per port as docker records them.
 */
export function parseExpose(value: string): string[] {
  const what = `--expose ${value}`;
  const m = value.match(/^([^/]*)(?:\/(.*))?$/)!;
  const proto = m[2] ?? "tcp";
  if (proto !== "tcp" && proto !== "udp") throw new SpecError(`${what}: the protocol must be tcp or udp`);
  const [a, b] = range(m[1]!, what);
  return Array.from({ length: b - a + 1 }, (_, i) => `${a + i}/${proto}`);
}
