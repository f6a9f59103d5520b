// bunker stats [--no-stream] [--json] [ID...]

import { columns, isTerminal, jsonText, shown, writeOut } from "../output";
import { hostMemory, reconcileCgroups, sampleUsage, type Sample } from "../runtime/cgroup";
import { reconcile } from "../runtime/remove";
import { clearLeftovers, currentStatus, listStates, readState, resolveContainer, type ContainerState } from "../runtime/store";
import { formatBytes } from "../spec/resources";
import type { OptionDefs } from "../options";
import { parseCommand } from "./usage";

const options: OptionDefs = {
  "no-stream": { type: "boolean", description: "Print one reading and exit" },
  json: { type: "boolean", description: "JSON: one array per reading" },
};

/** docker's refresh rate; a --no-stream reading measures CPU over half of it. */
const INTERVAL_MS = 1000;

export interface StatsRow {
  id: string;
  name: string | null;
  cpuPercent: number | null;
  memoryUsage: number | null;
  memoryLimit: number | null;
  memoryPercent: number | null;
  pids: number | null;
  pidsLimit: number | null;
}

export function statsRows(before: Sample[], after: Sample[], hostMem: number): StatsRow[] {
  return after.map((a) => {
    const b = before.find((x) => x.state.id === a.state.id);
    const u = a.usage;
    const cpu =
      u?.cpuUsec !== undefined && b?.usage?.cpuUsec !== undefined && a.at > b.at ? Math.max(0, ((u.cpuUsec - b.usage.cpuUsec) / (a.at - b.at)) * 100) : null;
    const limit = u?.memory !== undefined ? (u.memoryLimit ?? (hostMem || null)) : null;
    return {
      id: a.state.id,
      name: a.state.name ?? null,
      cpuPercent: cpu === null ? null : Math.round(cpu * 100) / 100,
      memoryUsage: u?.memory ?? null,
      memoryLimit: limit,
      memoryPercent: u?.memory !== undefined && limit ? Math.round((u.memory / limit) * 10000) / 100 : null,
      pids: u?.pids ?? null,
      pidsLimit: u?.pidsLimit ?? null,
    };
  });
}

export function statsTable(rows: StatsRow[]): string {
  const dash = "--";
  const table = [["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS"]];
  for (const r of rows) {
    table.push([
      shown(r.id),
      shown(r.name ?? ""),
      r.cpuPercent === null ? dash : `${r.cpuPercent.toFixed(2)}%`,
      r.memoryUsage === null ? dash : `${formatBytes(r.memoryUsage)} / ${r.memoryLimit === null ? dash : formatBytes(r.memoryLimit)}`,
      r.memoryPercent === null ? dash : `${r.memoryPercent.toFixed(2)}%`,
      r.pids === null ? dash : String(r.pids),
    ]);
  }
  return columns(table);
}

export async function stats(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, {
    name: "stats",
    description: "Show containers' CPU, memory and process use (running ones unless named), refreshed every second",
    positional: "[ID|NAME...]",
    examples: ["bunker stats", "bunker stats --no-stream --json web"],
    operands: "running",
  });
  if (!parsed) return 0;
  const v = parsed.values;
  clearLeftovers();
  reconcileCgroups();
  const named = parsed.rest.map(resolveContainer);
  // Containers come and go between readings: one removed meanwhile is simply no longer listed.
  const targets = async (): Promise<ContainerState[]> =>
    named.length ? named.map((s) => readState(s.id) ?? s) : (await reconcile(listStates())).filter((s) => currentStatus(s) === "running");
  const tty = isTerminal(1) && !v.json;
  const hostMem = hostMemory();
  let before = sampleUsage(await targets());
  for (;;) {
    await Bun.sleep(v["no-stream"] ? INTERVAL_MS / 2 : INTERVAL_MS);
    const after = sampleUsage(await targets());
    const rows = statsRows(before, after, hostMem);
    before = after;
    const text = v.json ? `${jsonText(rows)}\n` : statsTable(rows);
    await writeOut(tty && !v["no-stream"] ? `\x1b[2J\x1b[H${text}` : text);
    if (v["no-stream"]) return 0;
  }
}
