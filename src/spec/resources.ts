// Resource-limit flags in docker's names and units, turned into OCI linux.resources.

import type { LinuxResources } from "./types";
import { SpecError } from "./validate";

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** docker's sizes: 512m, 1g, 1.5G, 65536k, 1048576 (bytes); binary units. */
export function parseBytes(value: string, flag: string): number {
  const m = value.trim().match(/^(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?$/i);
  if (!m) throw new SpecError(`${flag} "${value}": not a size (use a number with an optional unit: b, k, m, g, e.g. 512m)`);
  const bytes = Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
  if (!Number.isSafeInteger(bytes)) throw new SpecError(`${flag} "${value}": too large`);
  return bytes;
}

/** 64 MiB, 1.5 GiB, 4097 bytes: how limits are shown. */
export function formatBytes(n: number): string {
  for (const [unit, size] of [["TiB", 1024 ** 4], ["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (n >= size) {
      const v = n / size;
      return `${Number.isInteger(v) ? v : v.toFixed(v < 10 ? 2 : 1).replace(/\.?0+$/, "")} ${unit}`;
    }
  }
  return `${n} B`;
}

/** The smallest memory limit docker accepts; below it a container cannot even start its command reliably. */
export const MIN_MEMORY = 6 * 1024 ** 2;
export const CPU_PERIOD = 100_000;

function integer(value: string, flag: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(value.trim())) throw new SpecError(`${flag} "${value}": not a whole number`);
  const n = Number(value);
  if (n < min || n > max) throw new SpecError(`${flag} ${value}: out of range (${min}-${max})`);
  return n;
}

/** A cpuset list: 0-3,6; ascending ranges of CPU numbers. */
export function parseCpuList(value: string, flag: string): number[] {
  const cpus: number[] = [];
  if (value.trim() === "") throw new SpecError(`${flag}: empty CPU list`);
  for (const part of value.split(",")) {
    const m = part.trim().match(/^(\d+)(?:-(\d+))?$/);
    if (!m) throw new SpecError(`${flag} "${value}": "${part}" is not a CPU number or a range like 0-3`);
    const a = Number(m[1]);
    const b = m[2] !== undefined ? Number(m[2]) : a;
    if (b < a) throw new SpecError(`${flag} "${value}": the range ${part} runs backwards`);
    if (b > 8191) throw new SpecError(`${flag} "${value}": CPU ${b} is out of range`);
    for (let c = a; c <= b; c++) cpus.push(c);
  }
  return [...new Set(cpus)].sort((x, y) => x - y);
}

/**
 * The v2 weight for v1 shares: the curve runc and crun use, which maps the
 * defaults onto each other (1024 shares to weight 100) and the ends onto the
 * ends (2 to 1, 262144 to 10000).
 */
export function sharesToWeight(shares: number): number {
  if (shares <= 2) return 1;
  if (shares >= 262144) return 10000;
  const l = Math.log2(shares);
  return Math.ceil(10 ** ((l * l + 125 * l) / 612 - 7 / 34));
}

/** cpu.weight (1-10000) as shares that map back onto exactly it (every weight has some): 100 is 1024. */
export function weightToShares(weight: number): number {
  if (weight <= 1) return 2;
  if (weight >= 10000) return 262144;
  // The curve inverted, then nudged past the rounding up in sharesToWeight.
  const e = Math.log10(weight) + 7 / 34;
  let shares = Math.round(2 ** ((-125 + Math.sqrt(125 * 125 + 4 * 612 * e)) / 2));
  while (sharesToWeight(shares) > weight) shares--;
  while (sharesToWeight(shares) < weight) shares++;
  return shares;
}

export interface ResourceFlags {
  memory?: string;
  memorySwap?: string;
  memoryReservation?: string;
  oomKillDisable?: boolean;
  cpus?: string;
  cpuPeriod?: string;
  cpuQuota?: string;
  cpuShares?: string;
  cpuWeight?: string;
  cpusetCpus?: string;
  pidsLimit?: string;
  blkioWeight?: string;
}

/** The flags as OCI resources; undefined when none limits anything. */
export function parseResources(f: ResourceFlags): LinuxResources | undefined {
  const r: LinuxResources = {};
  if (f.memory !== undefined) {
    const limit = parseBytes(f.memory, "--memory");
    if (limit < MIN_MEMORY) throw new SpecError(`--memory ${f.memory}: the minimum is 6 MiB (6m)`);
    r.memory = { limit };
  }
  // docker's convention: 0 leaves swap as the default.
  if (f.memorySwap !== undefined && f.memorySwap.trim() !== "0") {
    if (!r.memory) throw new SpecError("--memory-swap needs --memory (it is memory plus swap)");
    const swap = f.memorySwap.trim() === "-1" ? -1 : parseBytes(f.memorySwap, "--memory-swap");
    if (swap !== -1 && swap < r.memory.limit!) {
      throw new SpecError(`--memory-swap ${f.memorySwap} is below --memory ${f.memory}: it is the total of memory and swap`);
    }
    r.memory.swap = swap;
  }
  if (f.memoryReservation !== undefined && f.memoryReservation.trim() !== "0") {
    const reservation = parseBytes(f.memoryReservation, "--memory-reservation");
    if (reservation < MIN_MEMORY) throw new SpecError(`--memory-reservation ${f.memoryReservation}: the minimum is 6 MiB (6m)`);
    // A soft limit above the hard one could never be reached: docker refuses it.
    if (r.memory?.limit !== undefined && reservation > r.memory.limit) throw new SpecError(`--memory-reservation ${f.memoryReservation} is above --memory ${f.memory}: the soft limit must not be above the hard one`);
    r.memory = { ...r.memory, reservation };
  }
  if (f.oomKillDisable) r.memory = { ...r.memory, disableOOMKiller: true };
  if (f.cpus !== undefined && (f.cpuPeriod !== undefined || f.cpuQuota !== undefined)) {
    throw new SpecError(`--cpus sets the CPU period and quota itself: give --cpus, or --cpu-period/--cpu-quota, not both`);
  }
  // 0 leaves each as the default, as in docker; the kernel's range is 1 ms to 1 s for the period, at least 1 ms for the quota.
  if (f.cpuPeriod !== undefined && f.cpuPeriod.trim() !== "0") r.cpu = { ...r.cpu, period: integer(f.cpuPeriod, "--cpu-period", 1000, 1_000_000) };
  if (f.cpuQuota !== undefined && f.cpuQuota.trim() !== "0" && f.cpuQuota.trim() !== "-1") r.cpu = { ...r.cpu, quota: integer(f.cpuQuota, "--cpu-quota", 1000, 2 ** 31) };
  if (f.cpus !== undefined) {
    const m = f.cpus.trim().match(/^\d+(?:\.\d+)?$|^\.\d+$/);
    const n = m ? Number(f.cpus) : NaN;
    if (!(n > 0)) throw new SpecError(`--cpus "${f.cpus}": not a positive number of CPUs (e.g. 1.5)`);
    const quota = Math.round(n * CPU_PERIOD);
    if (quota < 1000) throw new SpecError(`--cpus ${f.cpus}: the minimum is 0.01`);
    r.cpu = { ...r.cpu, quota, period: CPU_PERIOD };
  }
  if (f.cpuShares !== undefined && f.cpuShares.trim() !== "0" && f.cpuWeight !== undefined) throw new SpecError("--cpu-shares and --cpu-weight set the same thing: give one");
  // 0 means unset, as in docker.
  if (f.cpuShares !== undefined && f.cpuShares.trim() !== "0") r.cpu = { ...r.cpu, shares: integer(f.cpuShares, "--cpu-shares", 2, 262144) };
  if (f.cpuWeight !== undefined) r.cpu = { ...r.cpu, shares: weightToShares(integer(f.cpuWeight, "--cpu-weight", 1, 10000)) };
  if (f.cpusetCpus !== undefined) {
    parseCpuList(f.cpusetCpus, "--cpuset-cpus");
    r.cpu = { ...r.cpu, cpus: f.cpusetCpus.replace(/\s+/g, "") };
  }
  if (f.pidsLimit !== undefined) {
    const n = integer(f.pidsLimit, "--pids-limit", -1, 2 ** 31);
    // docker's convention: 0 and -1 mean no limit.
    if (n > 0) r.pids = { limit: n };
  }
  if (f.blkioWeight !== undefined) {
    const w = integer(f.blkioWeight, "--blkio-weight", 0, 1000);
    if (w !== 0 && w < 10) throw new SpecError(`--blkio-weight ${f.blkioWeight}: out of range (10-1000, or 0 for none)`);
    if (w !== 0) r.blockIO = { weight: w };
  }
  return Object.keys(r).length ? r : undefined;
}
