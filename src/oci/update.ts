// bunker update (runc's): new limits for a running container, as JSON
// (--resources FILE, or - for stdin, as containerd sends them) or runc's
// single-value flags.

import { BunkerError } from "../errors";
import { UsageError, type OptionDefs } from "../options";
import { updateResources } from "../runtime/cgroup";
import { findExact, isDamaged } from "../runtime/store";
import { parseBytes, parseResources } from "../spec/resources";
import type { LinuxResources } from "../spec/types";
import { readJson } from "../runtime/bundle-host";
import { resources } from "./config";
import { oneId, parseOci } from "./parse";
import type { OciGlobals } from "./route";

const OPTIONS: OptionDefs = {
  resources: { type: "string", alias: ["r"], valueHint: "FILE|-", description: "linux.resources as JSON, from a file or stdin" },
  memory: { type: "string", valueHint: "BYTES", description: "Memory limit (k, m, g suffixes)" },
  "memory-swap": { type: "string", valueHint: "BYTES", description: "Memory plus swap limit; -1 for unlimited swap" },
  "memory-reservation": { type: "string", valueHint: "BYTES", description: "Soft memory limit, kept to when memory is short (memory.low; v1 memory.soft_limit_in_bytes)" },
  cpus: { type: "string", valueHint: "N", description: "CPUs' worth of time, docker's way (1.5: a quota of 150000 per 100000 µs)" },
  "cpu-shares": { type: "string", valueHint: "N", description: "CPU shares" },
  "cpu-quota": { type: "string", valueHint: "USEC", description: "CPU time per period" },
  "cpu-period": { type: "string", valueHint: "USEC", description: "CPU period" },
  "cpuset-cpus": { type: "string", valueHint: "LIST", description: "CPUs the container may use" },
  "pids-limit": { type: "string", valueHint: "N", description: "Most processes at once" },
  "blkio-weight": { type: "string", valueHint: "N", description: "Block I/O weight (10-1000)" },
};

const USAGE = "update [--resources FILE|-] [--memory BYTES] [--memory-reservation BYTES] [--cpus N] [--cpu-shares N] [--cpu-quota USEC] [--cpu-period USEC] [--cpuset-cpus LIST] [--pids-limit N] [--blkio-weight N] ID";

async function readResources(from: string): Promise<unknown> {
  if (from !== "-") return readJson(from, "--resources");
  const text = await new Response(Bun.stdin.stream()).text();
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new BunkerError(`--resources (stdin): not valid JSON: ${(e as Error).message}`);
  }
}

/** A whole number of at least `min`; with `unlimited`, -1 too (no limit). */
function count(v: unknown, flag: string, min = 0, unlimited = false): number {
  if (unlimited && v === "-1") return -1;
  if (typeof v !== "string" || !/^-?\d+$/.test(v) || Number(v) < min) throw new UsageError(`update: ${flag} "${v}" is not a whole number${min > 0 ? ` of at least ${min}` : ""}${unlimited ? " (or -1: no limit)" : ""}`);
  return Number(v);
}

function fromFlags(v: Record<string, unknown>): LinuxResources {
  const r: LinuxResources = {};
  if (v.memory !== undefined || v["memory-swap"] !== undefined || v["memory-reservation"] !== undefined) {
    r.memory = {};
    if (v["memory-reservation"] !== undefined) r.memory.reservation = parseBytes(v["memory-reservation"] as string, "--memory-reservation");
    if (v.memory !== undefined) r.memory.limit = v.memory === "-1" ? -1 : parseBytes(v.memory as string, "--memory");
    if (v["memory-swap"] !== undefined) r.memory.swap = v["memory-swap"] === "-1" ? -1 : parseBytes(v["memory-swap"] as string, "--memory-swap");
  }
  const cpu: NonNullable<LinuxResources["cpu"]> = {};
  if (v["cpu-shares"] !== undefined) cpu.shares = count(v["cpu-shares"], "--cpu-shares", 2);
  if (v["cpu-quota"] !== undefined) cpu.quota = count(v["cpu-quota"], "--cpu-quota", 1, true);
  if (v["cpu-period"] !== undefined) cpu.period = count(v["cpu-period"], "--cpu-period", 1);
  if (v.cpus !== undefined) {
    if (v["cpu-quota"] !== undefined || v["cpu-period"] !== undefined) throw new UsageError("update: --cpus sets the quota and period itself: give it or --cpu-quota/--cpu-period, not both");
    Object.assign(cpu, parseResources({ cpus: v.cpus as string })?.cpu);
  }
  if (v["cpuset-cpus"] !== undefined) cpu.cpus = v["cpuset-cpus"] as string;
  if (Object.keys(cpu).length) r.cpu = cpu;
  if (v["pids-limit"] !== undefined) r.pids = { limit: count(v["pids-limit"], "--pids-limit", 1, true) };
  if (v["blkio-weight"] !== undefined) r.blockIO = { weight: count(v["blkio-weight"], "--blkio-weight", 10) };
  return r;
}

export async function update(_g: OciGlobals, argv: string[]): Promise<number> {
  const parsed = parseOci(argv, OPTIONS, USAGE);
  const id = oneId(parsed.rest, USAGE);
  const e = findExact(id);
  if (!e) throw new BunkerError(`container ${id} does not exist`);
  if (isDamaged(e)) throw new BunkerError(`container ${id} is damaged (${e.problem})`);
  const v = parsed.values;
  let r: LinuxResources;
  if (v.resources !== undefined) {
    r = resources(await readResources(v.resources as string), "--resources") ?? {};
    // Device rules are the container's for good: runc's update leaves them too.
    delete r.devices;
  } else r = fromFlags(v);
  if (Object.keys(r).length === 0) return 0;
  updateResources(e, r);
  return 0;
}
