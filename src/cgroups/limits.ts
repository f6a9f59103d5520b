// OCI resources as the files each cgroup version takes them in, in the order
// they must be written.

import { sharesToWeight } from "../spec/resources";
import type { LinuxResources } from "../spec/types";

export interface LimitWrite {
  controller: string;
  /** Candidate files and their values: the first file that exists is written; none existing is an error (unless optional). */
  choices: { file: string; value: string }[];
  /** The flag it comes from, for error messages. */
  flag: string;
  /** docker's implicit swap default, and unlimited swap: skipped where the host has no swap accounting. */
  optional?: boolean;
}

/** The controllers `r` needs, named as cgroup v2 names them. */
export function neededControllers(r: LinuxResources | undefined): string[] {
  if (!r) return [];
  const out = new Set<string>();
  if (r.memory) out.add("memory");
  const c = r.cpu;
  if (c?.quota !== undefined || c?.period !== undefined || c?.shares !== undefined || c?.realtimeRuntime !== undefined || c?.realtimePeriod !== undefined || c?.idle !== undefined) out.add("cpu");
  if (c?.cpus !== undefined || c?.mems !== undefined) out.add("cpuset");
  if (r.pids) out.add("pids");
  if (r.blockIO) out.add("io");
  if (r.hugepageLimits?.length) out.add("hugetlb");
  for (const key of Object.keys(r.unified ?? {})) if (!key.startsWith("cgroup.")) out.add(key.split(".")[0]!);
  return [...out];
}

/** The flags that need each controller, for messages. */
export const CONTROLLER_FLAGS: Record<string, string> = {
  memory: "--memory",
  cpu: "--cpus/--cpu-period/--cpu-quota/--cpu-shares/--cpu-weight",
  cpuset: "--cpuset-cpus",
  pids: "--pids-limit",
  io: "--blkio-weight",
  hugetlb: "linux.resources.hugepageLimits",
};

/** The v1 name of a controller. */
export const V1_NAME: Record<string, string> = { io: "blkio" };

/** blkio weight (10-1000) on io.weight's scale (1-10000), as runc and crun convert it. */
export const ioWeight = (w: number) => 1 + Math.floor(((w - 10) * 9999) / 990);

export function v2Writes(r: LinuxResources): LimitWrite[] {
  const out: LimitWrite[] = [];
  const mem = r.memory;
  if (mem?.limit !== undefined && mem.limit < 0) {
    // OCI's -1: no limit (an update lifting one).
    out.push({ controller: "memory", choices: [{ file: "memory.max", value: "max" }], flag: "--memory" });
    if (mem.swap !== undefined) out.push({ controller: "memory", choices: [{ file: "memory.swap.max", value: "max" }], flag: "--memory-swap", optional: true });
  } else if (mem?.limit !== undefined) {
    out.push({ controller: "memory", choices: [{ file: "memory.max", value: String(mem.limit) }], flag: "--memory" });
    // OCI's swap is memory plus swap; v2 limits swap alone. docker's default is as much swap as memory.
    // Unlimited swap is what a host without swap accounting has anyway.
    if (mem.swap === -1) out.push({ controller: "memory", choices: [{ file: "memory.swap.max", value: "max" }], flag: "--memory-swap", optional: true });
    else if (mem.swap !== undefined) out.push({ controller: "memory", choices: [{ file: "memory.swap.max", value: String(mem.swap - mem.limit) }], flag: "--memory-swap" });
    else out.push({ controller: "memory", choices: [{ file: "memory.swap.max", value: String(mem.limit) }], flag: "--memory", optional: true });
  }
  if (mem?.reservation !== undefined) out.push({ controller: "memory", choices: [{ file: "memory.low", value: String(mem.reservation) }], flag: "--memory-reservation" });
  // disableOOMKiller: v2 has no switch for it; the caller warns (runtime/cgroup.ts).
  const cpu = r.cpu;
  // A period alone keeps the quota unlimited (an update fills in the one in force first).
  if (cpu?.quota !== undefined || cpu?.period !== undefined) {
    const quota = cpu.quota === undefined || cpu.quota < 0 ? "max" : cpu.quota;
    out.push({ controller: "cpu", choices: [{ file: "cpu.max", value: `${quota} ${cpu.period ?? 100000}` }], flag: "--cpus/--cpu-period/--cpu-quota" });
  }
  if (cpu?.idle !== undefined) out.push({ controller: "cpu", choices: [{ file: "cpu.idle", value: String(cpu.idle) }], flag: "linux.resources.cpu.idle" });
  if (cpu?.mems !== undefined) out.push({ controller: "cpuset", choices: [{ file: "cpuset.mems", value: cpu.mems }], flag: "linux.resources.cpu.mems" });
  if (cpu?.shares !== undefined) out.push({ controller: "cpu", choices: [{ file: "cpu.weight", value: String(sharesToWeight(cpu.shares)) }], flag: "--cpu-shares/--cpu-weight" });
  if (cpu?.cpus !== undefined) out.push({ controller: "cpuset", choices: [{ file: "cpuset.cpus", value: cpu.cpus }], flag: "--cpuset-cpus" });
  if (r.pids) out.push({ controller: "pids", choices: [{ file: "pids.max", value: r.pids.limit < 0 ? "max" : String(r.pids.limit) }], flag: "--pids-limit" });
  if (r.blockIO?.weight !== undefined) {
    const w = r.blockIO.weight;
    // BFQ takes the 10-1000 scale itself; the io cost model uses io.weight's.
    const choices = [
      { file: "io.bfq.weight", value: String(w) },
      { file: "io.weight", value: `default ${ioWeight(w)}` },
    ];
    out.push({ controller: "io", choices, flag: "--blkio-weight" });
  }
  const bio = r.blockIO;
  for (const d of bio?.weightDevice ?? []) {
    const dev = `${d.major}:${d.minor}`;
    out.push({ controller: "io", choices: [{ file: "io.bfq.weight", value: `${dev} ${d.weight}` }, { file: "io.weight", value: `${dev} ${ioWeight(d.weight)}` }], flag: "linux.resources.blockIO.weightDevice" });
  }
  // io.max takes one device's limits per write; a key left out keeps what it was.
  const keys = [["throttleReadBpsDevice", "rbps"], ["throttleWriteBpsDevice", "wbps"], ["throttleReadIOPSDevice", "riops"], ["throttleWriteIOPSDevice", "wiops"]] as const;
  for (const [field, key] of keys) {
    for (const d of bio?.[field] ?? []) out.push({ controller: "io", choices: [{ file: "io.max", value: `${d.major}:${d.minor} ${key}=${d.rate}` }], flag: `linux.resources.blockIO.${field}` });
  }
  for (const h of r.hugepageLimits ?? []) out.push({ controller: "hugetlb", choices: [{ file: `hugetlb.${h.pageSize}.max`, value: String(h.limit) }], flag: `linux.resources.hugepageLimits (${h.pageSize})` });
  // Last: they are there to set what the fields above do not say.
  for (const [key, value] of Object.entries(r.unified ?? {})) out.push({ controller: key.split(".")[0]!, choices: [{ file: key, value }], flag: `linux.resources.unified["${key}"]` });
  return out;
}

export function v1Writes(r: LinuxResources): LimitWrite[] {
  const out: LimitWrite[] = [];
  const mem = r.memory;
  if (mem?.limit !== undefined && mem.limit < 0) {
    // No limit: memory plus swap first, which may never be below the memory limit.
    out.push({ controller: "memory", choices: [{ file: "memory.memsw.limit_in_bytes", value: "-1" }], flag: "--memory-swap", optional: true });
    out.push({ controller: "memory", choices: [{ file: "memory.limit_in_bytes", value: "-1" }], flag: "--memory" });
  } else if (mem?.limit !== undefined) {
    // The memory limit first: memsw may never be below it.
    out.push({ controller: "memory", choices: [{ file: "memory.limit_in_bytes", value: String(mem.limit) }], flag: "--memory" });
    if (mem.swap === -1) out.push({ controller: "memory", choices: [{ file: "memory.memsw.limit_in_bytes", value: "-1" }], flag: "--memory-swap", optional: true });
    else if (mem.swap !== undefined) out.push({ controller: "memory", choices: [{ file: "memory.memsw.limit_in_bytes", value: String(mem.swap) }], flag: "--memory-swap" });
    else out.push({ controller: "memory", choices: [{ file: "memory.memsw.limit_in_bytes", value: String(mem.limit * 2) }], flag: "--memory", optional: true });
  }
  if (mem?.reservation !== undefined) out.push({ controller: "memory", choices: [{ file: "memory.soft_limit_in_bytes", value: String(mem.reservation) }], flag: "--memory-reservation" });
  if (mem?.swappiness !== undefined) out.push({ controller: "memory", choices: [{ file: "memory.swappiness", value: String(mem.swappiness) }], flag: "linux.resources.memory.swappiness" });
  if (mem?.disableOOMKiller) out.push({ controller: "memory", choices: [{ file: "memory.oom_control", value: "1" }], flag: "--oom-kill-disable" });
  const cpu = r.cpu;
  // The period before the runtime: a runtime may not exceed its period.
  if (cpu?.realtimePeriod !== undefined) out.push({ controller: "cpu", choices: [{ file: "cpu.rt_period_us", value: String(cpu.realtimePeriod) }], flag: "linux.resources.cpu.realtimePeriod" });
  if (cpu?.realtimeRuntime !== undefined) out.push({ controller: "cpu", choices: [{ file: "cpu.rt_runtime_us", value: String(cpu.realtimeRuntime) }], flag: "linux.resources.cpu.realtimeRuntime" });
  if (cpu?.mems !== undefined) out.push({ controller: "cpuset", choices: [{ file: "cpuset.mems", value: cpu.mems }], flag: "linux.resources.cpu.mems" });
  if (cpu?.period !== undefined || cpu?.quota !== undefined) out.push({ controller: "cpu", choices: [{ file: "cpu.cfs_period_us", value: String(cpu.period ?? 100000) }], flag: "--cpus/--cpu-period" });
  if (cpu?.quota !== undefined) out.push({ controller: "cpu", choices: [{ file: "cpu.cfs_quota_us", value: String(cpu.quota) }], flag: "--cpus/--cpu-quota" });
  if (cpu?.shares !== undefined) out.push({ controller: "cpu", choices: [{ file: "cpu.shares", value: String(cpu.shares) }], flag: "--cpu-shares/--cpu-weight" });
  if (cpu?.cpus !== undefined) out.push({ controller: "cpuset", choices: [{ file: "cpuset.cpus", value: cpu.cpus }], flag: "--cpuset-cpus" });
  if (r.pids) out.push({ controller: "pids", choices: [{ file: "pids.max", value: r.pids.limit < 0 ? "max" : String(r.pids.limit) }], flag: "--pids-limit" });
  if (r.blockIO?.weight !== undefined) {
    const value = String(r.blockIO.weight);
    const choices = [
      { file: "blkio.weight", value },
      { file: "blkio.bfq.weight", value },
    ];
    out.push({ controller: "io", choices, flag: "--blkio-weight" });
  }
  const bio = r.blockIO;
  for (const d of bio?.weightDevice ?? []) {
    const value = `${d.major}:${d.minor} ${d.weight}`;
    out.push({ controller: "io", choices: [{ file: "blkio.weight_device", value }, { file: "blkio.bfq.weight_device", value }], flag: "linux.resources.blockIO.weightDevice" });
  }
  const files = [["throttleReadBpsDevice", "read_bps_device"], ["throttleWriteBpsDevice", "write_bps_device"], ["throttleReadIOPSDevice", "read_iops_device"], ["throttleWriteIOPSDevice", "write_iops_device"]] as const;
  for (const [field, file] of files) {
    for (const d of bio?.[field] ?? []) out.push({ controller: "io", choices: [{ file: `blkio.throttle.${file}`, value: `${d.major}:${d.minor} ${d.rate}` }], flag: `linux.resources.blockIO.${field}` });
  }
  for (const h of r.hugepageLimits ?? []) out.push({ controller: "hugetlb", choices: [{ file: `hugetlb.${h.pageSize}.limit_in_bytes`, value: String(h.limit) }], flag: `linux.resources.hugepageLimits (${h.pageSize})` });
  return out;
}
