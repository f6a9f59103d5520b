// Reading and steering a running container's cgroups: freezing, OOM kills,
// and the usage figures `bunker stats` shows.

import { fileType, writeValue } from "../sys/fs";
import { readOptional } from "./files";
import { CgroupError, type CgroupDir, type CgroupState } from "./tree";

/** A "key value" line of a flat-keyed cgroup file (memory.events, cpu.stat, memory.stat). */
export function keyed(text: string | null, key: string): number | undefined {
  const m = text?.match(new RegExp(`^${key} (\\d+)$`, "m"));
  return m ? Number(m[1]) : undefined;
}

/** The dir that carries `controller`: v1 first; v2 when it has it enabled. */
function dirWith(s: CgroupState, v1: string, v2 = v1): CgroupDir | undefined {
  return s.dirs.find((d) => d.version === 1 && d.controllers.includes(v1)) ?? s.dirs.find((d) => d.version === 2 && d.controllers.includes(v2));
}

const v2Dir = (s: CgroupState) => s.dirs.find((d) => d.version === 2);

/** How to freeze: the v1 freezer where there is one, else v2's cgroup.freeze. */
function freezer(s: CgroupState): { path: string; on: string; off: string; done: (t: string) => boolean; file: string } | null {
  const v1 = s.dirs.find((d) => d.version === 1 && d.controllers.includes("freezer"));
  if (v1) return { path: v1.path, file: "freezer.state", on: "FROZEN", off: "THAWED", done: (t) => t.trim() === "FROZEN" };
  const v2 = v2Dir(s);
  if (v2 && fileType(`${v2.path}/cgroup.freeze`) !== null) return { path: v2.path, file: "cgroup.freeze", on: "1", off: "0", done: () => keyed(readOptional(`${v2.path}/cgroup.events`), "frozen") === 1 };
  return null;
}

/** Freezes (or thaws) every process of the container; waits until the kernel reports them frozen. */
export async function setFrozen(s: CgroupState, frozen: boolean, timeoutMs = 5000): Promise<void> {
  const f = freezer(s);
  if (!f) throw new CgroupError("no freezer: neither a v1 freezer cgroup nor cgroup.freeze of cgroup v2");
  try {
    writeValue(`${f.path}/${f.file}`, frozen ? f.on : f.off);
  } catch (e) {
    throw new CgroupError((e as Error).message);
  }
  if (!frozen) return;
  const end = Date.now() + timeoutMs;
  const state = f.file === "freezer.state" ? `${f.path}/freezer.state` : `${f.path}/cgroup.events`;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    if (f.done(readOptional(state) ?? "")) return;
    if (Date.now() > end) {
      writeValue(`${f.path}/${f.file}`, f.off);
      throw new CgroupError(`the processes did not freeze within ${timeoutMs / 1000} s`);
    }
    // v1 needs the state written again to move on from FREEZING.
    if (f.file === "freezer.state") writeValue(`${f.path}/${f.file}`, f.on);
    await Bun.sleep(delay);
  }
}

/** Whether the container's freezer holds it frozen (or freezing). */
export function isFrozen(s: CgroupState): boolean {
  const f = freezer(s);
  if (!f) return false;
  const t = (readOptional(`${f.path}/${f.file}`) ?? "").trim();
  return f.file === "freezer.state" ? t !== "THAWED" : t === "1";
}

/** How many processes the kernel's OOM killer has killed in the container. */
export function oomKills(s: CgroupState): number {
  const v1 = s.dirs.find((d) => d.version === 1 && d.controllers.includes("memory"));
  if (v1) {
    const n = keyed(readOptional(`${v1.path}/memory.oom_control`), "oom_kill");
    if (n !== undefined) return n;
    // Kernels before 4.13 do not count kills: hitting the limit is the best sign.
    return Number(readOptional(`${v1.path}/memory.failcnt`)?.trim() ?? 0) > 0 ? 1 : 0;
  }
  const v2 = s.dirs.find((d) => d.version === 2 && d.controllers.includes("memory"));
  return v2 ? (keyed(readOptional(`${v2.path}/memory.events`), "oom_kill") ?? 0) : 0;
}

export interface Usage {
  /** CPU time used, in microseconds. */
  cpuUsec?: number;
  /** Memory in use (without the inactive page cache docker also leaves out), and the limit (undefined: none). */
  memory?: number;
  memoryLimit?: number;
  pids?: number;
  pidsLimit?: number;
}

const UNLIMITED_V1 = 2 ** 62;

function limitValue(text: string | null): number | undefined {
  if (text === null) return undefined;
  const t = text.trim();
  if (t === "max") return undefined;
  const n = Number(t);
  return Number.isFinite(n) && n < UNLIMITED_V1 ? n : undefined;
}

function count(text: string | null): number | undefined {
  return text === null ? undefined : text.split("\n").filter((l) => l.trim() !== "").length;
}

/** The container's current usage, from whichever hierarchy carries each figure. */
export function usage(s: CgroupState): Usage {
  const u: Usage = {};
  const acct = dirWith(s, "cpuacct");
  const v2 = v2Dir(s);
  if (acct) u.cpuUsec = Math.round(Number(readOptional(`${acct.path}/cpuacct.usage`) ?? 0) / 1000);
  else if (v2) u.cpuUsec = keyed(readOptional(`${v2.path}/cpu.stat`), "usage_usec");
  const mem = dirWith(s, "memory");
  if (mem?.version === 1) {
    const used = Number(readOptional(`${mem.path}/memory.usage_in_bytes`) ?? 0);
    u.memory = Math.max(0, used - (keyed(readOptional(`${mem.path}/memory.stat`), "total_inactive_file") ?? 0));
    u.memoryLimit = limitValue(readOptional(`${mem.path}/memory.limit_in_bytes`));
  } else if (mem) {
    const used = Number(readOptional(`${mem.path}/memory.current`) ?? 0);
    u.memory = Math.max(0, used - (keyed(readOptional(`${mem.path}/memory.stat`), "inactive_file") ?? 0));
    u.memoryLimit = limitValue(readOptional(`${mem.path}/memory.max`));
  }
  const pids = dirWith(s, "pids");
  if (pids) {
    u.pids = Number(readOptional(`${pids.path}/pids.current`)?.trim() ?? 0);
    u.pidsLimit = limitValue(readOptional(`${pids.path}/pids.max`));
  } else if (v2) u.pids = count(readOptional(`${v2.path}/cgroup.threads`));
  return u;
}

/** The memory limit the container runs with, if any. */
export function memoryLimit(s: CgroupState): number | undefined {
  const mem = dirWith(s, "memory");
  if (!mem) return undefined;
  return limitValue(readOptional(`${mem.path}/${mem.version === 1 ? "memory.limit_in_bytes" : "memory.max"}`));
}
