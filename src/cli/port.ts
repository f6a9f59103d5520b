// bunker port CONTAINER [PORT[/PROTO]]: a running container's published
// ports, as docker lists them ("80/tcp -> 0.0.0.0:8080"), or where one goes.

import { BunkerError } from "../errors";
import { writeOut } from "../output";
import { currentStatus, resolveContainer } from "../runtime/store";
import type { PortMapping } from "../spec/types";
import { UsageError, type OptionDefs } from "../options";
import { parseCommand } from "./usage";

const options: OptionDefs = {};

/** Each port of a mapping (a range is several). */
function eachPort(m: PortMapping): { container: number; host: number }[] {
  return Array.from({ length: m.range ?? 1 }, (_, i) => ({ container: m.containerPort + i, host: m.hostPort + i }));
}

const hostAddress = (ip: string, port: number) => (ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`);

export async function port(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, { name: "port", description: "List a running container's published ports, or where one of them goes", positional: "CONTAINER [PORT[/PROTO]]", examples: ["bunker port web", "bunker port web 80/tcp"] });
  if (!parsed) return 0;
  const [ref, which, extra] = parsed.rest;
  if (ref === undefined) throw new UsageError("port: no container given");
  if (extra !== undefined) throw new UsageError(`port: unexpected argument "${extra}"`);
  let want: { port: number; protocol: string } | undefined;
  if (which !== undefined) {
    const m = /^(\d{1,5})(?:\/(tcp|udp))?$/.exec(which);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw new UsageError(`port: ${which}: give a port, with /tcp or /udp if you like`);
    want = { port: Number(m[1]), protocol: m[2] ?? "tcp" };
  }
  const s = resolveContainer(ref);
  const name = s.name ?? s.id;
  if (currentStatus(s) !== "running") throw new BunkerError(`port: container ${name} is not running`);
  const lines: string[] = [];
  for (const m of s.network?.ports ?? []) {
    for (const p of eachPort(m)) {
      if (want && (p.container !== want.port || m.protocol !== want.protocol)) continue;
      lines.push(want ? hostAddress(m.hostIp, p.host) : `${p.container}/${m.protocol} -> ${hostAddress(m.hostIp, p.host)}`);
    }
  }
  if (want && lines.length === 0) throw new BunkerError(`port: container ${name} does not publish ${want.port}/${want.protocol}`);
  await writeOut(lines.map((l) => `${l}\n`).join(""));
  return 0;
}
